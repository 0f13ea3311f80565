/**
 * The raw page format of GET /v1/audit/records (engine/audit/verifier/records-page.ts) and the log
 * verifier fed from it (LogVerifier.addPage): the same verdicts, naming the same first record, as
 * the per-record `add` of the JSON page.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { encodeRecord } from '../../../../engine/audit/math/record.js';
import {
  RecordsPageError,
  decodeRecordsPage,
  encodeRecordsPage,
} from '../../../../engine/audit/verifier/records-page.js';
import { LogVerifier } from '../../../../engine/audit/verifier/verify-log.js';
import { mth, refLeafHash, sampleRecord } from '../helpers.js';

const N = 2300;
let chain: Uint8Array = new Uint8Array(32);
const leaves: Uint8Array[] = [];
const chains: Uint8Array[] = [];
const hashes: Uint8Array[] = [];
for (let i = 0; i < N; i++) {
  const leaf = encodeRecord(sampleRecord(i));
  hashes.push(refLeafHash(leaf));
  chain = createHash('sha256').update(chain).update(hashes[i]!).digest();
  leaves.push(leaf);
  chains.push(chain);
}

/** The raw page of records [from, to), as the server writes it. */
function pageOf(from: number, to: number, edit?: (leaves: Uint8Array[], chains: Uint8Array[]) => void): Buffer {
  const l = leaves.slice(from, to);
  const c = chains.slice(from, to);
  edit?.(l, c);
  const body = Buffer.concat(l.flatMap((x) => [x, Buffer.from('\n')]));
  return encodeRecordsPage({ size: N, from, count: to - from, next: to < N ? to : null }, Buffer.concat(c), body);
}

/** `body` in a SharedArrayBuffer, as `keyward audit verify` reads a page (the workers read it in place). */
function shared(body: Buffer): Buffer {
  const out = Buffer.from(new SharedArrayBuffer(body.length));
  body.copy(out);
  return out;
}

async function verifyPages(bodies: Buffer[], workers: number, inShared = false): Promise<Uint8Array> {
  const v = new LogVerifier({ workers, rootChecks: [{ size: N, root: mth(hashes), what: 'the root at N' }] });
  try {
    for (const b of bodies) await v.addPage(decodeRecordsPage(inShared ? shared(b) : b));
    await v.finish();
    return v.root();
  } finally {
    await v.close();
  }
}

const failure = (index: number, text: RegExp) => (err: any) => {
  assert.equal(err.code, 'AUDIT_LOG_CORRUPT', err.message);
  assert.equal(err.details?.index, index, err.message);
  assert.match(err.message, text);
  return true;
};

describe('the raw page of audit records', () => {
  it('round-trips, and its leaves are the exact bytes', () => {
    const p = decodeRecordsPage(pageOf(5, 9));
    assert.deepEqual([p.size, p.from, p.count, p.next], [N, 5, 4, 9]);
    assert.deepEqual(Buffer.from(p.chains), Buffer.concat(chains.slice(5, 9)));
    for (let i = 0; i < 4; i++)
      assert.deepEqual(
        Buffer.from(p.leaves.subarray(p.offsets[i]!, p.offsets[i + 1]! - 1)),
        Buffer.from(leaves[5 + i]!),
      );
    const empty = decodeRecordsPage(
      encodeRecordsPage({ size: 3, from: 3, count: 0, next: null }, new Uint8Array(0), new Uint8Array(0)),
    );
    assert.deepEqual([empty.count, empty.next, empty.offsets.length], [0, null, 1]);
  });

  it('refuses a malformed page, saying what was expected', () => {
    const good = pageOf(0, 3);
    const nl = good.indexOf(0x0a);
    const cases: Array<[Buffer, RegExp]> = [
      [Buffer.from('no header at all'), /first line of JSON/],
      [Buffer.from('{"size":1,\n'), /not JSON/],
      [Buffer.from('{"size":1,"from":0,"count":-1,"next":null}\n'), /non-negative integers/],
      [Buffer.from('{"size":1,"from":0,"count":1,"next":"x"}\n'), /non-negative integers/],
      [good.subarray(0, nl + 1 + 40), /expected 3 chain values/],
      [good.subarray(0, good.length - 1), /expected 3 leaves each ending in a line feed, got 2/],
      [Buffer.concat([good, Buffer.from('{}\n')]), /more bytes after them/],
      // A leaf holding a line feed shifts the count.
      [pageOf(0, 3, (l) => (l[1] = Buffer.concat([l[1]!, Buffer.from('\n{}')]))), /more bytes after them/],
    ];
    for (const [body, re] of cases)
      assert.throws(
        () => decodeRecordsPage(body),
        (e: Error) => e instanceof RecordsPageError && re.test(e.message),
        re.source,
      );
  });

  for (const workers of [0, 2]) {
    describe(`verified from bytes with ${workers} worker threads`, () => {
      it('folds pages of any size (chunks cut inside them) to the signed root', async () => {
        const root = await verifyPages([pageOf(0, 1), pageOf(1, 1500), pageOf(1500, 1501), pageOf(1501, N)], workers);
        assert.deepEqual(root, mth(hashes));
      });

      it('reads a page in a SharedArrayBuffer in place, with the same verdicts', async () => {
        const pages = [pageOf(0, 1), pageOf(1, 1500), pageOf(1500, N)];
        assert.deepEqual(await verifyPages(pages, workers, true), mth(hashes));
        const badChain = pageOf(0, N, (_, c) => (c[2100] = new Uint8Array(32)));
        await assert.rejects(verifyPages([badChain], workers, true), failure(2100, /record 2100: chain mismatch/));
        const edited = pageOf(0, N, (l) => (l[7] = Buffer.from(' ' + Buffer.from(l[7]!).toString())));
        await assert.rejects(verifyPages([edited], workers, true), (err: any) => {
          assert.equal(err.code, 'AUDIT_LEAF_NOT_CANONICAL', err.message);
          assert.equal(err.details?.index, 7);
          return true;
        });
      });

      it('names an edited leaf, a broken chain value and a missing page by their first record', async () => {
        const edited = pageOf(1000, N, (l) => {
          const t = Buffer.from(l[1234 - 1000]!)
            .toString()
            .replace('"principal":"alice"', '"principal":"alicf"');
          l[1234 - 1000] = Buffer.from(t);
        });
        await assert.rejects(
          verifyPages([pageOf(0, 1000), edited], workers),
          failure(1234, /record 1234: chain mismatch/),
        );
        const badChain = pageOf(0, N, (_, c) => (c[2100] = new Uint8Array(32)));
        await assert.rejects(verifyPages([badChain], workers), failure(2100, /record 2100: chain mismatch/));
        await assert.rejects(
          verifyPages([pageOf(0, 600), pageOf(602, N)], workers),
          failure(600, /record 600: missing, the next stored record is 602 \(deleted rows\)/),
        );
      });
    });
  }
});
