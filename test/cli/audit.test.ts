/**
 * `keyward audit keys|export|verify-bundle|verify|replay` against a real server: bundles verify
 * offline only under the pinned keys and fail on any changed byte; --replay and `audit replay`
 * re-run every decision; the live `audit verify` names the record behind each kind of tampering
 * done directly in the database (edited leaf, edited leaf with the chain recomputed, swapped rows,
 * deleted newest rows).
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ed25519 } from '@noble/curves/ed25519.js';
import { sql } from 'drizzle-orm';
import { issueToken } from '../../engine/auth/tokens.js';
import { SignatureType, verifierKeyString } from '../../engine/audit/math/index.js';
import { devBootstrap } from '../../engine/dev.js';
import { readAuditHead, readAuditRecords, withTransaction } from '../../engine/store/index.js';
import { deleteAuditRecordsFrom, setAuditChain, setAuditLeaf } from '../helpers/audit-store.js';
import { fails, ok, runCli } from '../helpers/cli.js';
import { startTestServer } from '../helpers/server.js';
import type { TestServer } from '../helpers/server.js';
import { b64 } from '../helpers/wire.js';

describe('keyward audit (CLI)', { timeout: 600_000 }, () => {
  let s: TestServer;
  let env: Record<string, string>;
  let app: string;
  let dir: string;
  let trusted: string;
  const f = (name: string) => join(dir, name);

  /** A few allowed, denied, failed and unauthenticated requests. */
  async function traffic(n: number): Promise<void> {
    for (let i = 0; i < n; i++)
      assert.equal(
        (await s.call('POST', '/v1/keys/k/encrypt', { token: app, body: { plaintext: b64(`m${i}`) } })).status,
        200,
      );
    assert.equal((await s.call('POST', '/v1/keys/k/rotate', { token: app, body: {} })).status, 403);
    assert.equal(
      (await s.call('POST', '/v1/keys/nope/encrypt', { token: app, body: { plaintext: b64('x') } })).status,
      404,
    );
    assert.equal(
      (await s.call('POST', '/v1/keys/k/encrypt', { token: 'kwt_bogus', body: { plaintext: b64('x') } })).status,
      401,
    );
  }

  /** Integrates every committed record and returns the signed size. */
  async function signedSize(): Promise<number> {
    const cp = await s.call('GET', '/v1/audit/checkpoint', { token: env.KEYWARD_TOKEN });
    assert.equal(cp.status, 200, JSON.stringify(cp.body));
    return cp.body.size as number;
  }

  before(async () => {
    s = await startTestServer();
    const root = (await devBootstrap(s.hsm)).rootToken;
    const now = new Date();
    const auditor = (await issueToken(s.hsm.store.db, { principal: 'eve-auditor', roles: ['auditor'], now })).token;
    app = (await issueToken(s.hsm.store.db, { principal: 'svc', roles: ['app'], now })).token;
    assert.equal(
      (await s.call('POST', '/v1/keys', { token: root, body: { name: 'k', type: 'aes256-gcm' } })).status,
      201,
    );
    await traffic(10);
    env = { KEYWARD_ADDR: s.url, KEYWARD_TOKEN: auditor };
    dir = await mkdtemp(join(tmpdir(), 'keyward-audit-cli-'));
    trusted = f('trusted.txt');
  });
  after(async () => {
    await s.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('pins the keys, exports the log and verifies the bundle offline', async () => {
    const k = ok(await runCli(['audit', 'keys', '--out', trusted, '--json'], env)).json();
    const lines = (await readFile(trusted, 'utf8')).split('\n').filter((l) => l && !l.startsWith('#'));
    assert.deepEqual(lines, k.keys);
    assert.equal(lines.length, 2);
    fails(await runCli(['audit', 'keys', '--out', trusted], env), 'FILE_EXISTS');
    ok(await runCli(['audit', 'keys', '--out', trusted, '--force'], env));

    const e = ok(await runCli(['audit', 'export', '--out', f('all.json'), '--json'], env)).json();
    assert.equal(e.from, 0);
    assert.equal(e.to, e.treeSize);
    assert.equal(e.records, e.treeSize);
    assert.ok(e.records > 15, `expected the setup's records, got ${e.records}`);
    assert.equal(e.inputs, 0);
    const human = ok(
      await runCli(['audit', 'export', '--from', '2', '--to', '9', '--out', f('range.json')], env),
    ).stdout;
    assert.match(human, /Exported records \[2, 9\) \(7 records\) to .*range\.json/);
    assert.match(human, /Signed tree size \d+/);
    fails(await runCli(['audit', 'export', '--out', f('all.json')], env), 'FILE_EXISTS', /--force/);

    // Offline: it takes no --addr or --token (an unknown option), and an unreachable KEYWARD_ADDR is never used.
    const addr = await runCli(
      ['audit', 'verify-bundle', f('all.json'), '--trusted-key', trusted, '--addr', 'http://127.0.0.1:1'],
      {},
    );
    assert.equal(addr.code, 1);
    assert.match(addr.stdout, /Unsupported option name \("--addr"\)/);
    const v = ok(
      await runCli(['audit', 'verify-bundle', f('all.json'), '--trusted-key', trusted, '--json'], {
        KEYWARD_ADDR: 'http://127.0.0.1:1',
      }),
    ).json();
    assert.equal(v.ok, true);
    assert.deepEqual([v.from, v.to, v.records, v.treeSize], [0, e.to, e.records, e.treeSize]);
    assert.deepEqual(
      v.signatures.map((x: any) => x.type),
      ['ed25519', 'ml-dsa-44'],
    );
    assert.equal(v.replayed, 0);
    const out = ok(await runCli(['audit', 'verify-bundle', f('range.json'), '--trusted-key', trusted], {})).stdout;
    assert.match(out, /^OK .*range\.json: records \[2, 9\) \(7 records\)/);
    assert.match(out, /Signatures 2 verified/);
  });

  it('rejects a bundle with any one byte changed, naming what failed', async () => {
    const text = await readFile(f('range.json'), 'utf8');
    const bundle = JSON.parse(text);
    const cases: Array<{ what: string; edit: (t: string) => string; code: string; message: RegExp }> = [
      {
        what: 'a record',
        edit: (t) => t.replace(/"status\\":200/, '"status\\":201'),
        code: 'AUDIT_PROOF_INVALID',
        message: /range proof: records \[2, 9\) lead to root/,
      },
      {
        what: 'a record, made non-canonical',
        edit: (t) => t.replace(/\{\\"approvalId/, ' {\\"approvalId'),
        code: 'AUDIT_LEAF_NOT_CANONICAL',
        message: /record 0 \(index 2\): leaf is not canonical/,
      },
      {
        what: 'the checkpoint signature',
        edit: (t) => {
          const sig = bundle.checkpoint.split('\n— ')[1].split(' ')[1] as string;
          const flipped = sig.slice(0, 10) + (sig[10] === 'A' ? 'B' : 'A') + sig.slice(11);
          return t.replace(sig, flipped);
        },
        code: 'AUDIT_CHECKPOINT_INVALID',
        message: /does not verify/,
      },
      {
        what: 'the tree size',
        edit: (t) =>
          t.replace(
            `"treeSize": ${bundle.treeSize}`,
            `"treeSize": ${String(bundle.treeSize).slice(0, -1)}${(bundle.treeSize + 1) % 10}`,
          ),
        code: 'AUDIT_BUNDLE_INVALID',
        message: /treeSize/,
      },
      {
        what: 'a range proof hash',
        edit: (t) => {
          const h = bundle.rangeProof.left[0] as string;
          return t.replace(h, (h[0] === 'A' ? 'B' : 'A') + h.slice(1));
        },
        code: 'AUDIT_PROOF_INVALID',
        message: /range proof/,
      },
    ];
    for (const c of cases) {
      const edited = c.edit(text);
      assert.notEqual(edited, text, c.what);
      assert.equal(
        Buffer.byteLength(edited) - Buffer.byteLength(text),
        c.what.includes('non-canonical') ? 1 : 0,
        c.what,
      );
      await writeFile(f('edited.json'), edited);
      const r = fails(
        await runCli(['audit', 'verify-bundle', f('edited.json'), '--trusted-key', trusted], {}),
        c.code,
        c.message,
      );
      assert.match(r.stderr, /edited\.json: /, c.what);
      assert.equal(r.stdout, '', c.what);
    }
  });

  it('trusts only the pinned keys, never the copy inside the bundle', async () => {
    const bundle = JSON.parse(await readFile(f('range.json'), 'utf8'));
    const other = verifierKeyString(bundle.origin, SignatureType.ed25519, ed25519.getPublicKey(randomBytes(32)));
    await writeFile(f('other.txt'), `# another log's key under the same name\n${other}\n`);
    fails(
      await runCli(['audit', 'verify-bundle', f('range.json'), '--trusted-key', f('other.txt')], {}),
      'AUDIT_CHECKPOINT_INVALID',
      /no signature line from trusted key/,
    );
    // The real keys plus another one: every pinned key must have signed.
    await writeFile(
      f('plus.txt'),
      `${await readFile(trusted, 'utf8')}${verifierKeyString('witness.example', SignatureType.ed25519, ed25519.getPublicKey(randomBytes(32)))}\n`,
    );
    fails(
      await runCli(['audit', 'verify-bundle', f('range.json'), '--trusted-key', f('plus.txt')], {}),
      'AUDIT_CHECKPOINT_INVALID',
      /witness\.example/,
    );
    // Only one of the two real keys pinned: still verifies (the other signature line is ignored).
    await writeFile(
      f('one.txt'),
      (await readFile(trusted, 'utf8'))
        .split('\n')
        .filter((l) => l.includes('/ml-dsa-44+') || l.startsWith('#'))
        .join('\n'),
    );
    const v = ok(
      await runCli(['audit', 'verify-bundle', f('range.json'), '--trusted-key', f('one.txt'), '--json'], {}),
    ).json();
    assert.deepEqual(
      v.signatures.map((x: any) => x.type),
      ['ml-dsa-44'],
    );
  });

  it('--replay re-runs every decision of an export with inputs', async () => {
    const e = ok(
      await runCli(['audit', 'export', '--include-inputs', '--out', f('inputs.json'), '--json'], env),
    ).json();
    assert.ok(e.inputs > 10);
    assert.equal(e.wasm, true, '--include-inputs implies --include-wasm');
    assert.equal((await stat(f('inputs.json'))).mode & 0o777, 0o600, 'a bundle with inputs is private');
    const v = ok(
      await runCli(['audit', 'verify-bundle', f('inputs.json'), '--trusted-key', trusted, '--replay', '--json'], {}),
    ).json();
    assert.equal(v.notReplayable, 0);
    assert.ok(v.replayed >= v.recordsWithDecisions && v.recordsWithDecisions > 10, JSON.stringify(v));
    assert.match(
      ok(await runCli(['audit', 'verify-bundle', f('inputs.json'), '--trusted-key', trusted, '--replay'], {})).stdout,
      /Replayed \d+ decisions of \d+ records with policy decisions: all match/,
    );
    // Without inputs (or without wasm) there is nothing to replay: refuse rather than pass silently.
    fails(
      await runCli(['audit', 'verify-bundle', f('all.json'), '--trusted-key', trusted, '--replay'], {}),
      'AUDIT_REPLAY_UNAVAILABLE',
      /--include-inputs/,
    );
  });

  it('--previous-checkpoint: a later export proves the log only grew; an older one is refused', async () => {
    ok(await runCli(['audit', 'export', '--out', f('p1.json')], env));
    await traffic(3);
    const e2 = ok(
      await runCli(
        [
          'audit',
          'export',
          '--from',
          '5',
          '--to',
          '8',
          '--previous-checkpoint',
          f('p1.json'),
          '--out',
          f('p2.json'),
          '--json',
        ],
        env,
      ),
    ).json();
    const p1 = JSON.parse(await readFile(f('p1.json'), 'utf8'));
    assert.equal(e2.consistencyFrom, p1.treeSize);
    ok(
      await runCli(
        ['audit', 'verify-bundle', f('p2.json'), '--trusted-key', trusted, '--previous-checkpoint', f('p1.json')],
        {},
      ),
    );
    // The checkpoint as GET /v1/audit/checkpoint serves it works too.
    await writeFile(f('cp1.json'), JSON.stringify({ size: p1.treeSize, note: p1.checkpoint }));
    ok(
      await runCli(
        ['audit', 'verify-bundle', f('p2.json'), '--trusted-key', trusted, '--previous-checkpoint', f('cp1.json')],
        {},
      ),
    );
    fails(
      await runCli(
        ['audit', 'verify-bundle', f('p1.json'), '--trusted-key', trusted, '--previous-checkpoint', f('p2.json')],
        {},
      ),
      'AUDIT_BUNDLE_INVALID',
      /rolled back or this is a stale export/,
    );
    // A later export without the proof cannot show it.
    await traffic(1);
    ok(await runCli(['audit', 'export', '--from', '5', '--to', '8', '--out', f('p3.json')], env));
    fails(
      await runCli(
        ['audit', 'verify-bundle', f('p3.json'), '--trusted-key', trusted, '--previous-checkpoint', f('p1.json')],
        {},
      ),
      'AUDIT_BUNDLE_INVALID',
      /expected a consistency proof/,
    );
  });

  it('audit replay re-evaluates every recorded decision with no mismatch', async () => {
    const r = ok(await runCli(['audit', 'replay', '--trusted-key', trusted, '--json'], env)).json();
    assert.equal(r.ok, true);
    assert.deepEqual(r.mismatches, []);
    assert.equal(r.notReplayable, 0);
    assert.ok(r.replayedDecisions > 20 && r.noDecision >= 2, JSON.stringify(r));
    assert.equal(r.replayedRecords + r.noDecision + r.notReplayable, r.records);
    const human = ok(await runCli(['audit', 'replay', '--from', '3', '--to', '12'], env));
    assert.match(human.stdout, /^OK: replayed \d+ decisions of \d+ records in \[3, 12\) of .*: 0 mismatches/m);
    assert.match(human.stderr, /pin them/);
    // Replay needs an auditor (or admin): an app token is denied.
    fails(await runCli(['audit', 'replay', '--trusted-key', trusted], { ...env, KEYWARD_TOKEN: app }), 'POLICY_DENIED');
  });

  it('audit verify passes on a clean log, with a records/s figure', async () => {
    const size = await signedSize();
    const v = ok(await runCli(['audit', 'verify', '--trusted-key', trusted, '--json'], env)).json();
    assert.equal(v.ok, true);
    assert.equal(v.pinned, true);
    assert.ok(v.checkpoint.size >= size);
    assert.equal(v.checked, v.head);
    assert.equal(v.records, v.head);
    assert.ok(v.recordsPerSecond > 0);
    const human = ok(
      await runCli(['audit', 'verify', '--from', '4', '--to', '10', '--trusted-key', trusted], env),
    ).stdout;
    assert.match(human, /^OK: records \[4, 10\) of .* verified \(6 records\)/);
    assert.match(human, /Records \[0, \d+\) hash to the root signed at size/);
    assert.match(human, /\d records\/s$/m);
    // The server's own keys work, with a warning to pin them.
    const unpinned = ok(await runCli(['audit', 'verify'], env));
    assert.match(unpinned.stderr, /warning: .*pin them/);
    assert.match(unpinned.stdout, /not pinned/);
    // A checkpoint kept from an earlier export must still be a prefix of the log.
    ok(await runCli(['audit', 'verify', '--trusted-key', trusted, '--previous-checkpoint', f('p1.json')], env));
    fails(
      await runCli(['audit', 'verify', '--trusted-key', trusted, '--to', '99999999'], env),
      'AUDIT_RANGE_INVALID',
      /beyond the log's head/,
    );
    fails(
      await runCli(['audit', 'verify', '--trusted-key', trusted, '--from', '99999999'], env),
      'AUDIT_RANGE_INVALID',
      /not below the log's head/,
    );
    fails(
      await runCli(['audit', 'verify', '--trusted-key', f('other.txt')], env),
      'AUDIT_CHECKPOINT_INVALID',
      /no signature line from trusted key/,
    );
  });

  it('reports wrong inputs clearly, with exit 1', async () => {
    const noOut = await runCli(['audit', 'export'], env);
    assert.equal(noOut.code, 1);
    assert.match(noOut.stdout + noOut.stderr, /--out/);
    fails(
      await runCli(['audit', 'verify-bundle', f('missing.json'), '--trusted-key', trusted], {}),
      'FILE_UNREADABLE',
      /missing\.json: ENOENT/,
    );
    await writeFile(f('garbage.json'), '{"format": "keyward.audit.attestation/v1", "records": [');
    fails(
      await runCli(['audit', 'verify-bundle', f('garbage.json'), '--trusted-key', trusted], {}),
      'AUDIT_BUNDLE_INVALID',
      /garbage\.json: bundle: is not JSON/,
    );
    await writeFile(f('shape.json'), '{"format": "keyward.audit.attestation/v1"}');
    fails(
      await runCli(['audit', 'verify-bundle', f('shape.json'), '--trusted-key', trusted], {}),
      'AUDIT_BUNDLE_INVALID',
      /bundle: [a-z]+: is missing/,
    );
    await writeFile(f('bad-keys.txt'), '# pinned\nnot a verifier key\n');
    fails(
      await runCli(['audit', 'verify-bundle', f('all.json'), '--trusted-key', f('bad-keys.txt')], {}),
      'AUDIT_CHECKPOINT_INVALID',
      /bad-keys\.txt: trusted keys file, line 2: /,
    );
    await writeFile(f('empty-keys.txt'), '# nothing pinned\n');
    fails(
      await runCli(['audit', 'verify-bundle', f('all.json'), '--trusted-key', f('empty-keys.txt')], {}),
      'AUDIT_CHECKPOINT_INVALID',
      /at least one verifier key/,
    );
    const noKey = await runCli(['audit', 'verify-bundle', f('all.json')], {});
    assert.equal(noKey.code, 1);
    assert.match(noKey.stdout + noKey.stderr, /--trusted-key/);
    // A usage error from clipanion's validator, naming the flag; nothing reaches the server.
    const notIndex = await runCli(['audit', 'verify', '--from', 'abc'], env);
    assert.equal(notIndex.code, 1, notIndex.stdout + notIndex.stderr);
    assert.match(notIndex.stdout, /Invalid value for --from/);
    fails(
      await runCli(['audit', 'export', '--from', '9', '--to', '3', '--out', f('x.json')], env),
      'USAGE',
      /--from < --to/,
    );
    fails(await runCli(['audit', 'export', '--to', '99999999', '--out', f('x.json')], env), 'AUDIT_RANGE_INVALID');
  });

  describe('audit verify on a tampered database', () => {
    // The server integrates only when asked (GET /v1/audit/checkpoint), never between two of a test's
    // writes: a background round reading a row whose chain rechain() has not reached yet found a real
    // break, and a server that finds one signs nothing again until restart (seen on PostgreSQL in CI).
    before(() => s.hsm.integrator!.stop());
    const db = () => s.hsm.store.db;
    const verify = () => runCli(['audit', 'verify', '--trusted-key', trusted], env);
    const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

    async function leafOf(idx: number): Promise<string> {
      const [row] = await readAuditRecords(db(), idx, idx + 1);
      return Buffer.from(row!.leaf).toString('utf8');
    }
    const setLeaf = (idx: number, leaf: string) => setAuditLeaf(db(), idx, leaf);
    /**
     * What a careful attacker does after editing row `from`: recompute every chain value from it, and
     * the head's, with the head row locked. Records still being appended (a failed `verify` returns
     * while the CLI's other requests are in flight) wait, then find the head moved and build on the
     * new one; unlocked, one landing between the read and the head's update kept the old chain and
     * broke the log for real (seen on PostgreSQL in CI).
     */
    async function rechain(from: number): Promise<void> {
      await withTransaction(db(), async (tx) => {
        await readAuditHead(tx, { lock: true });
        const rows = await readAuditRecords(tx, Math.max(0, from - 1), Number.MAX_SAFE_INTEGER);
        let prev: Buffer = from === 0 ? Buffer.alloc(32) : Buffer.from(rows.shift()!.chain);
        for (const r of rows) {
          const lh = createHash('sha256').update(Buffer.of(0)).update(r.leaf).digest();
          prev = createHash('sha256').update(prev).update(lh).digest();
          await setAuditChain(tx, r.idx, prev);
        }
        await tx.execute(sql.raw(`UPDATE audit_head SET chain = decode('${hex(prev)}', 'hex')`));
      });
    }
    /** An integrated record of an allowed encrypt by svc. */
    async function pickRecord(size: number): Promise<number> {
      const rows = await readAuditRecords(db(), 0, size);
      const r = rows.find(
        (x) =>
          x.idx > 5 && Buffer.from(x.leaf).toString().includes('"operation":"encrypt","policies":[{"decision":"allow"'),
      );
      assert.ok(r, 'an allowed encrypt record');
      return r.idx;
    }

    it('an edited leaf is named by its chain value; with the chain recomputed, by the signed root', async () => {
      const size = await signedSize();
      const n = await pickRecord(size);
      const original = await leafOf(n);
      const edited = original.replace('"principal":"svc"', '"principal":"bob"');
      assert.notEqual(edited, original);
      await setLeaf(n, edited);
      fails(
        await verify(),
        'AUDIT_LOG_CORRUPT',
        new RegExp(`record ${n}: chain mismatch \\(edited, reordered or deleted row\\)`),
      );

      await rechain(n);
      const r = fails(
        await verify(),
        'AUDIT_LOG_CORRUPT',
        /records \[0, \d+\) do not hash to the root signed at size \d+/,
      );
      assert.match(r.stderr, new RegExp(`record ${n} is the first that differs from the signed tree`));

      // Put it back: the log verifies again.
      await setLeaf(n, original);
      await rechain(n);
      ok(await verify());
    });

    it('two swapped rows are named by the first', async () => {
      const size = await signedSize();
      const [i, j] = [7, 11];
      assert.ok(j < size);
      const [a, b] = [await leafOf(i), await leafOf(j)];
      await setLeaf(i, b);
      await setLeaf(j, a);
      fails(await verify(), 'AUDIT_LOG_CORRUPT', new RegExp(`record ${i}: chain mismatch`));
      await setLeaf(i, a);
      await setLeaf(j, b);
      ok(await verify());
    });

    it('deleted newest rows are named', async () => {
      const size = await signedSize(); // no background round: the rows after it stay unintegrated
      await deleteAuditRecordsFrom(db(), size - 3);
      // The first page is read while the checkpoint is asked for: whether the CLI's own requests are
      // recorded after the gap by then or not, the first missing record is named.
      const r = fails(
        await verify(),
        'AUDIT_LOG_CORRUPT',
        new RegExp(
          `record ${size - 3}: missing, the next stored record is \\d+ \\(deleted rows\\)|records \\[${size - 3}, \\d+\\) are missing`,
        ),
      );
      // The server's integrator noticed too, and refuses to sign over the gap.
      assert.match(r.stderr, /refuses to sign/);
    });
  });
});
