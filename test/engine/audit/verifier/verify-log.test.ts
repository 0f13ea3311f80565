/**
 * The log verifier (engine/audit/verifier/verify-log.ts): the same verdicts, naming the same first record,
 * whether the per-record checks run in this thread or in worker threads, for stored bytes and for
 * the text/hex form GET /v1/audit/records serves.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { encodeRecord } from '../../../../engine/audit/math/record.js';
import { LogVerifier, RootMismatch } from '../../../../engine/audit/verifier/verify-log.js';
import type { StoredRecord } from '../../../../engine/audit/verifier/verify-log.js';
import { mth, refLeafHash, sampleRecord } from '../helpers.js';

const N = 2500;
const CHUNK = 300;

/** A log as stored: leaves and chain_i = SHA-256(chain_{i-1} ‖ SHA-256(0x00 ‖ leaf_i)). */
function makeLog(n: number): {
  rows: Array<{ index: number; leaf: Uint8Array; chain: Uint8Array }>;
  hashes: Uint8Array[];
} {
  let chain: Uint8Array = new Uint8Array(32);
  const rows = [];
  const hashes = [];
  for (let i = 0; i < n; i++) {
    const leaf = encodeRecord(sampleRecord(i));
    const lh = refLeafHash(leaf);
    chain = createHash('sha256').update(chain).update(lh).digest();
    rows.push({ index: i, leaf, chain });
    hashes.push(lh);
  }
  return { rows, hashes };
}

const log = makeLog(N);
const asText = (r: { index: number; leaf: Uint8Array; chain: Uint8Array }): StoredRecord => ({
  index: r.index,
  leaf: Buffer.from(r.leaf).toString('utf8'),
  chain: Buffer.from(r.chain).toString('hex'),
});

async function run(
  rows: StoredRecord[],
  workers: number,
  opts: ConstructorParameters<typeof LogVerifier>[0] = {},
): Promise<{ root: Uint8Array; size: number }> {
  const v = new LogVerifier({ ...opts, workers });
  try {
    for (let i = 0; i < rows.length; i += CHUNK) await v.add(rows.slice(i, i + CHUNK));
    await v.finish();
    return { root: v.root(), size: v.size };
  } finally {
    await v.close();
  }
}

const failure = (index: number, code: string, text: RegExp) => (err: any) => {
  assert.equal(err.code, code, err.message);
  assert.equal(err.details?.index, index, err.message);
  assert.match(err.message, text);
  return true;
};

describe('LogVerifier', { timeout: 60_000 }, () => {
  const verifiers: LogVerifier[] = [];
  after(() => Promise.all(verifiers.map((v) => v.close())));

  for (const workers of [0, 2]) {
    describe(`with ${workers} worker threads`, () => {
      it('folds an intact log to the RFC 9162 root, from bytes and from text/hex; checks roots at their sizes', async () => {
        const want = mth(log.hashes);
        const rootChecks = [
          { size: 0, root: mth([]), what: 'empty' },
          { size: 777, root: mth(log.hashes.slice(0, 777)), what: 'the root at 777' },
          { size: N, root: want, what: 'the root at N' },
        ];
        for (const rows of [log.rows, log.rows.map(asText)]) {
          const got = await run(rows, workers, { rootChecks });
          assert.equal(got.size, N);
          assert.deepEqual(got.root, want);
        }
      });

      it('names an edited leaf (chain not recomputed) and reports nothing after it', async () => {
        const rows: StoredRecord[] = log.rows.map(asText);
        rows[1234] = {
          ...rows[1234]!,
          leaf: (rows[1234]!.leaf as string).replace('"principal":"alice"', '"principal":"alicf"'),
        };
        rows[2000] = { ...rows[2000]!, leaf: 'not json' }; // a later failure must not be the one reported
        await assert.rejects(run(rows, workers), failure(1234, 'AUDIT_LOG_CORRUPT', /record 1234: chain mismatch/));
      });

      it('names a non-canonical leaf, a bad record, invalid UTF-8 and an oversized leaf by their own codes', async () => {
        const cases: Array<[StoredRecord, string]> = [
          [
            { ...asText(log.rows[10]!), leaf: ' ' + Buffer.from(log.rows[10]!.leaf).toString() },
            'AUDIT_LEAF_NOT_CANONICAL',
          ],
          [{ ...log.rows[10]!, leaf: Uint8Array.of(0x7b, 0xff, 0x7d) }, 'AUDIT_LEAF_NOT_CANONICAL'],
          // A byte order mark before a canonical record: the bytes hashed are not canonical JSON.
          [
            { ...log.rows[10]!, leaf: Uint8Array.of(0xef, 0xbb, 0xbf, ...log.rows[10]!.leaf) },
            'AUDIT_LEAF_NOT_CANONICAL',
          ],
          [{ ...asText(log.rows[10]!), leaf: '{"v":2}' }, 'AUDIT_RECORD_INVALID'],
          [{ ...asText(log.rows[10]!), leaf: 'x'.repeat(70_000) }, 'AUDIT_RECORD_INVALID'],
          [{ ...log.rows[10]!, leaf: new Uint8Array(70_000) }, 'AUDIT_RECORD_INVALID'],
          [{ ...asText(log.rows[10]!), chain: 'zz' }, 'AUDIT_LOG_CORRUPT'],
        ];
        for (const [bad, code] of cases) {
          const rows: StoredRecord[] = log.rows.slice(0, 50);
          rows[10] = bad;
          await assert.rejects(run(rows, workers), failure(10, code, /^record 10: /));
        }
      });

      it('names deleted and swapped rows', async () => {
        const deleted = log.rows.filter((r) => r.index !== 600 && r.index !== 601);
        await assert.rejects(
          run(deleted, workers),
          failure(600, 'AUDIT_LOG_CORRUPT', /record 600: missing, the next stored record is 602 \(deleted rows\)/),
        );
        // Swapped leaves keep their indexes and chain values: the chain breaks at the first of them.
        const swapped = log.rows.slice();
        swapped[900] = { ...log.rows[901]!, index: 900, chain: log.rows[900]!.chain };
        swapped[901] = { ...log.rows[900]!, index: 901, chain: log.rows[901]!.chain };
        await assert.rejects(run(swapped, workers), failure(900, 'AUDIT_LOG_CORRUPT', /chain mismatch/));
      });

      it('a consistent rewrite (chain recomputed) fails the signed root at its size, as a RootMismatch', async () => {
        const rewritten = makeLog(N);
        const signed = mth(log.hashes.slice(0, 2000));
        await assert.rejects(
          run(
            rewritten.rows.map((r, i) => (i === 0 ? { ...r } : r)),
            workers,
            {
              rootChecks: [{ size: 2000, root: signed.map((b, i) => (i === 0 ? b ^ 1 : b)), what: 'the signed root' }],
            },
          ),
          (err: unknown) =>
            err instanceof RootMismatch &&
            err.check.size === 2000 &&
            /do not hash to the signed root/.test(err.message),
        );
      });
    });
  }

  it('checksLater: records added before setChecks are checked, and folded against the checks set', async () => {
    for (const workers of [0, 2]) {
      const v = new LogVerifier({ workers, checksLater: true });
      verifiers.push(v);
      // More chunks in flight than the verifier's depth: none is folded yet.
      for (let i = 0; i < 1500; i += 100) await v.add(log.rows.slice(i, i + 100));
      assert.equal(v.size, 0);
      await assert.rejects(v.finish(), /setChecks before finish/);
      const bad = mth(log.hashes.slice(0, 1000)).map((b, i) => (i === 0 ? b ^ 1 : b));
      v.setChecks({ rootChecks: [{ size: 1000, root: bad, what: 'the signed root' }], keepLeafHashesBelow: 1000 });
      assert.throws(() => v.setChecks({}), /already set/);
      await assert.rejects(v.finish(), (err: unknown) => err instanceof RootMismatch && err.check.size === 1000);
      assert.equal(v.leafHashes.length, 1000);
      await v.close();
    }
  });

  it('keeps leaf hashes below the asked index only', async () => {
    const v = new LogVerifier({ workers: 0, keepLeafHashesBelow: 100 });
    verifiers.push(v);
    await v.add(log.rows.slice(0, 300));
    await v.finish();
    assert.equal(v.leafHashes.length, 100);
    assert.ok(Buffer.from(v.leafHashes.get(99)).equals(log.hashes[99]!));
    assert.throws(() => v.leafHashes.get(100), RangeError);
  });
});
