/**
 * Backup and restore (docs/backup.md), end to end on one running server: `keyward backup` through
 * POST /v1/sys/backup (decided and audited), `keyward restore` into a new PGlite data directory and
 * (with KEYWARD_TEST_DATABASE_URL) into a new PostgreSQL database; each restored server starts
 * sealed, the original shards unseal it, a ciphertext made before the backup decrypts, the token,
 * the pending approval and the keys are back, and `keyward audit verify` passes with a consistency
 * proof from the backup's checkpoint. Refusals: a non-empty target, a damaged file, a file whose
 * header was rewritten to match an edited body (caught by the seal at the first unseal: the server
 * stays sealed), and a snapshot of another schema version.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { toPublicKeyFile } from '../../ceremony/index.js';
import type { HolderKey, ShardFile } from '../../ceremony/index.js';
import { hashToken } from '../../engine/auth/tokens.js';
import { fromBase64 } from '../../lib/bytes.js';
import { verifyConsistency } from '../../engine/audit/math/index.js';
import { Hsm } from '../../engine/hsm.js';
import { backupTables } from '../../engine/store/backup.js';
import { openStore, readAuditRecordsText } from '../../engine/store/index.js';
import type { Store, StoreOptions } from '../../engine/store/index.js';
import { checkBackupFile, restoreBackup, writeBackup } from '../../engine/backup.js';
import { statusFor } from '../../server/errors.js';
import { createLogger } from '../../server/log.js';
import { listen } from '../../server/main.js';
import { activateGlobalPolicy, approverTokens, parkedId } from '../helpers/approvals.js';
import { makeHolders, submissionFor } from '../helpers/ceremony.js';
import { compileFixture } from '../engine/policy/helpers.js';
import { fails, ok, runCli } from '../helpers/cli.js';
import { startTestServer } from '../helpers/server.js';
import type { TestServer } from '../helpers/server.js';
import { adminDatabaseUrl, createTestDatabaseUrl, pgliteTestImage } from '../helpers/store.js';
import { b64 } from '../helpers/wire.js';
import { saveBackup } from '../../cli/commands/backup.js';

/** A server over a restored store, driven with plain fetch. */
interface Restored {
  url: string;
  hsm: Hsm;
  call(method: string, path: string, o?: { body?: unknown; token?: string }): Promise<{ status: number; body: any }>;
  close(): Promise<void>;
}

async function serve(opts: StoreOptions | Store): Promise<Restored> {
  const store = 'db' in opts ? opts : await openStore(opts);
  const hsm = await Hsm.open({ store, statusOf: statusFor });
  const running = await listen({
    hsm,
    log: createLogger({ write: () => undefined }),
    listen: '127.0.0.1:0',
    ceremonyRate: { burst: 10_000, perMinute: 60_000 },
  });
  return {
    url: running.url,
    hsm,
    async call(method, path, o = {}) {
      const headers: Record<string, string> = {};
      if (o.token) headers.authorization = `Bearer ${o.token}`;
      if (o.body !== undefined) headers['content-type'] = 'application/json';
      const res = await fetch(running.url + path, {
        method,
        headers,
        ...(o.body !== undefined ? { body: JSON.stringify(o.body) } : {}),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : undefined };
    },
    async close() {
      await running.close();
      await hsm.close();
    },
  };
}

describe('backup and restore', { timeout: 300_000 }, () => {
  let s: TestServer;
  let dir: string;
  let root: string;
  let app: string;
  let holders: HolderKey[];
  let shards: ShardFile[];
  let ciphertext: string;
  let approvalId: string;
  let backup: string;
  let header: any;
  let trusted: string;
  const f = (name: string) => join(dir, name);
  /** A backup file's NDJSON: the file is gzipped (docs/backup.md). */
  const plain = async (file: string) => gunzipSync(await readFile(file)).toString('utf8');
  const env = () => ({ KEYWARD_ADDR: s.url, KEYWARD_TOKEN: root });

  async function unseal(r: Restored): Promise<{ status: number; body: any }> {
    let last = { status: 0, body: undefined as any };
    for (const i of [0, 1]) {
      const st = (await r.call('GET', '/v1/sys/seal-status')).body;
      last = await r.call('POST', '/v1/sys/unseal', { body: await submissionFor(holders[i]!, shards[i]!, st) });
      if (last.status !== 200) return last;
    }
    return last;
  }

  /** Everything the backup held, checked on a restored server. */
  async function checkRestored(r: Restored): Promise<void> {
    const st = (await r.call('GET', '/v1/sys/seal-status')).body;
    assert.equal(st.sealed, true, 'a restored server starts sealed');
    assert.equal(st.ceremonyId, header.ceremony.id);
    assert.equal((await r.call('GET', '/v1/auth/whoami', { token: root })).status, 503);
    const u = await unseal(r);
    assert.equal(u.status, 200, JSON.stringify(u.body));
    assert.equal(u.body.sealed, false);
    // The unseal that checked the backup's seal says so in the log.
    const leaves = await readAuditRecordsText(r.hsm.store.db, header.audit.headSize, 1_000_000);
    const unsealed = leaves.map((l) => JSON.parse(l.leaf)).filter((rec) => rec.details?.restoredBackup);
    assert.deepEqual(
      unsealed.map((rec) => [rec.operation, rec.details.restoredBackup]),
      [['sys.unseal', header.id]],
    );
    // A ciphertext made before the backup decrypts; the app token and the parked approval are back.
    const dec = await r.call('POST', '/v1/keys/k/decrypt', { token: app, body: { ciphertext } });
    assert.equal(dec.status, 200, JSON.stringify(dec.body));
    assert.equal(Buffer.from(dec.body.plaintext, 'base64').toString(), 'before the backup');
    assert.equal((await r.call('GET', '/v1/auth/whoami', { token: app })).body.principal, 'app1');
    const ap = await r.call('GET', `/v1/approvals/${approvalId}`, { token: root });
    assert.equal(ap.status, 200, JSON.stringify(ap.body));
    assert.equal(ap.body.state, 'pending');
    const keys = (await r.call('GET', '/v1/keys', { token: root })).body.keys.map((k: { name: string }) => k.name);
    assert.deepEqual(keys.sort(), ['k', 'old']);
    // The log: a fresh checkpoint, consistent with the backup's (a proof from the server, checked here).
    const cp = header.audit.checkpoint;
    let now: any;
    for (let i = 0; i < 100; i++) {
      now = await r.call('GET', '/v1/audit/checkpoint', { token: root });
      if (now.status === 200 && now.body.size > header.audit.headSize) break;
      await new Promise((res) => setTimeout(res, 50));
    }
    assert.equal(now.status, 200, JSON.stringify(now.body));
    assert.ok(now.body.size > cp.size);
    const proof = await r.call('GET', `/v1/audit/proofs/consistency?from=${cp.size}&to=${now.body.size}`, {
      token: root,
    });
    assert.equal(proof.status, 200);
    verifyConsistency(
      cp.size,
      now.body.size,
      proof.body.proof.map((h: string) => fromBase64(h, 'proof')),
      fromBase64(cp.root, 'root'),
      fromBase64(now.body.root, 'root'),
    );
    // …and the whole log verifies against the original server's pinned keys, from the kept checkpoint.
    const kept = f(`kept-${r.url.split(':').pop()}.txt`);
    await writeFile(kept, cp.note);
    const v = ok(
      await runCli(['audit', 'verify', '--trusted-key', trusted, '--previous-checkpoint', kept, '--json'], {
        KEYWARD_ADDR: r.url,
        KEYWARD_TOKEN: root,
      }),
    ).json();
    assert.ok(v.records >= now.body.size || v.treeSize >= now.body.size, JSON.stringify(v));
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'keyward-backup-test-'));
    s = await startTestServer();
    holders = await makeHolders(['alice', 'bob']);
    const init = await s.call('POST', '/v1/sys/init', {
      body: { holders: holders.map((h) => toPublicKeyFile(h)), threshold: 2 },
    });
    shards = init.body.shards;
    root = init.body.rootToken;
    for (const i of [0, 1]) {
      const st = (await s.call('GET', '/v1/sys/seal-status')).body;
      await s.call('POST', '/v1/sys/unseal', { body: await submissionFor(holders[i]!, shards[i]!, st) });
    }
    const call = async (method: string, path: string, body?: unknown, token = root) => {
      const r = await s.call(method, path, { token, ...(body !== undefined ? { body } : {}) });
      assert.ok(r.status < 300, `${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
      return r.body;
    };
    await call('POST', '/v1/keys', { name: 'k', type: 'aes256-gcm' });
    await call('POST', '/v1/keys', { name: 'old', type: 'ed25519' });
    app = (await call('POST', '/v1/auth/tokens', { principal: 'app1', roles: ['app'] })).token;
    ciphertext = (await call('POST', '/v1/keys/k/encrypt', { plaintext: b64('before the backup') }, app)).ciphertext;
    await call('POST', '/v1/keys/old/config', { deletionAllowed: true });
    approvalId = (await call('DELETE', '/v1/keys/old')).approvalId;
    assert.match(approvalId, /^apr_/);
    trusted = f('trusted.txt');
    ok(await runCli(['audit', 'keys', '--out', trusted], env()));
    backup = f('keyward.backup');
    const out = ok(await runCli(['backup', '--out', backup, '--json'], env())).json();
    header = JSON.parse((await plain(backup)).split('\n')[0]!);
    assert.equal(out.id, header.id);
  });

  after(async () => {
    await s?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('backs up a running server through the pipeline: every table, the ceremony and the log, audited', async () => {
    assert.equal(header.format, 'keyward.backup/v1');
    assert.equal(header.ceremony.threshold, 2);
    assert.deepEqual(
      header.ceremony.holders.map((h: { name: string }) => h.name),
      ['alice', 'bob'],
    );
    assert.deepEqual(
      header.tables.map((t: { name: string }) => t.name).sort(),
      backupTables()
        .map((t) => t.name)
        .sort(),
    );
    const rows = Object.fromEntries(header.tables.map((t: { name: string; rows: number }) => [t.name, t.rows]));
    assert.equal(rows.keys, 2);
    assert.equal(rows.tokens, 2);
    assert.equal(rows.approvals, 1);
    assert.equal(rows.seal_config, 1);
    // The checkpoint signed for the backup covers the log up to the request itself.
    const cp = header.audit.checkpoint;
    assert.ok(cp && cp.size === header.audit.treeSize && cp.size >= header.audit.headSize - 1, JSON.stringify(cp));
    assert.ok(cp.note.startsWith(`${header.audit.origin}\n${cp.size}\n${cp.root}\n`));
    // The request was decided and recorded; an app token is refused (and recorded too).
    const refused = await s.call('POST', '/v1/sys/backup', { token: app, body: {} });
    assert.equal(refused.status, 403);
    const ops = (await readAuditRecordsText(s.hsm.store.db, 0, 1_000_000)).map(
      (r) => JSON.parse(r.leaf) as { operation: string; decision: string; status: number },
    );
    const backups = ops.filter((o) => o.operation === 'sys.backup');
    assert.deepEqual(
      backups.map((o) => [o.decision, o.status]),
      [
        ['allow', 200],
        ['deny', 403],
      ],
    );
    // An existing file is not overwritten.
    fails(await runCli(['backup', '--out', backup], env()), 'FILE_EXISTS');
    // The file is private.
    assert.equal((await stat(backup)).mode & 0o777, 0o600);
  });

  it('restores into a new PGlite data directory: sealed, the same shards unseal it, everything is back', async () => {
    const dataDir = f('restored-pglite');
    const res = ok(await runCli(['restore', backup, '--data-dir', dataDir, '--json'])).json();
    assert.equal(res.id, header.id);
    assert.equal(res.ceremonyId, header.ceremony.id);
    const r = await serve({ dataDir });
    try {
      await checkRestored(r);
    } finally {
      await r.close();
    }
    // Restoring again into it is refused, and so is a non-empty directory of anything.
    fails(await runCli(['restore', backup, '--data-dir', dataDir]), 'RESTORE_TARGET_NOT_EMPTY', /not empty/);
  });

  it('restores into a new PostgreSQL database, and refuses one that is not empty', async (t) => {
    if (adminDatabaseUrl() === undefined) return t.skip('needs KEYWARD_TEST_DATABASE_URL');
    const db = await createTestDatabaseUrl();
    try {
      ok(await runCli(['restore', backup, '--database-url', db.url]));
      fails(
        await runCli(['restore', backup, '--database-url', db.url]),
        'RESTORE_TARGET_NOT_EMPTY',
        /table \w+ has rows/,
      );
      const r = await serve({ databaseUrl: db.url });
      try {
        await checkRestored(r);
      } finally {
        await r.close();
      }
    } finally {
      await db.drop();
    }
  });

  it('refuses a damaged file before writing anything', async () => {
    const text = await plain(backup);
    const gz = await readFile(backup);
    const cases: Array<[string, string, RegExp]> = [
      ['truncated', text.slice(0, text.length - 10), /truncated|does not match/],
      [
        'one byte changed',
        text.replace(/"principal":"app1"(?![^]*"principal":"app1")/, '"principal":"app2"'),
        /does not match/,
      ],
      ['a row dropped', text.replace(/\n\{[^\n]*"principal":"app1"[^\n]*/, ''), /does not match/],
      ['not a backup', '{"format":"something/else"}\n{}\n', /expected a keyward\.backup\/v1 file/],
    ];
    for (const [what, body, message] of cases) {
      const file = f(`damaged-${what.replace(/ /g, '-')}`);
      await writeFile(file, body);
      const target = f(`never-${what.replace(/ /g, '-')}`);
      fails(await runCli(['restore', file, '--data-dir', target]), 'BACKUP_INVALID', message);
      await assert.rejects(readFile(join(target, 'PG_VERSION')), 'nothing was written');
    }
    // The gzip itself damaged: cut short, or a byte flipped in the body's member (in process: the
    // CLI's check is this function).
    const flipped = Buffer.from(gz);
    flipped[gz.length - 200] = flipped[gz.length - 200]! ^ 0x55;
    for (const [what, bytes] of [
      ['a gzip cut short', gz.subarray(0, gz.length - 100)],
      ['a gzip byte flipped', flipped],
    ] as const) {
      const file = f(`damaged-${what.replace(/ /g, '-')}`);
      await writeFile(file, bytes);
      await assert.rejects(checkBackupFile(file), (err: any) => {
        assert.equal(err.code, 'BACKUP_INVALID', what);
        assert.match(err.message, /truncated or damaged|does not match/, what);
        return true;
      });
    }
  });

  it('a spool the server cannot write is 503 BACKUP_SPOOL_FAILED, and the server stays up', async () => {
    // The temporary directory is gone: the route's mkdtemp fails.
    const saved = process.env.TMPDIR;
    process.env.TMPDIR = f('no-such-tmpdir');
    let r;
    try {
      r = await s.call('POST', '/v1/sys/backup', { token: root, body: {} });
    } finally {
      if (saved === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = saved;
    }
    assert.equal(r.status, 503, JSON.stringify(r.body));
    assert.equal(r.body.error.code, 'BACKUP_SPOOL_FAILED');
    assert.match(r.body.error.message, /\(ENOENT\)/);
    assert.doesNotMatch(r.body.error.message, /no-such-tmpdir/, 'the path stays out of the answer');
    assert.equal(r.headers.get('retry-after'), '1');
    // The spool file itself fails while the snapshot reads the database (before, its stream's error
    // was an unhandled rejection that stopped the server).
    const { hsm } = s;
    const src = {
      db: hsm.store.db,
      barrier: hsm.seal.barrier,
      driver: hsm.store.driver,
      node: 'test',
      version: 'test',
      now: () => new Date(),
    };
    await assert.rejects(writeBackup(src, f('no-such-dir/body.gz')), (err: any) => {
      assert.equal(err.code, 'BACKUP_SPOOL_FAILED');
      return true;
    });
    assert.equal((await s.call('GET', '/v1/auth/whoami', { token: root })).status, 200);
  });

  it('the CLI never replaces a file that appears at --out while the backup is on its way', async () => {
    const bytes = await readFile(backup);
    const out = f('appeared.backup');
    let pull = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(c) {
        if (pull++ === 0) c.enqueue(bytes.subarray(0, 100));
        else {
          await writeFile(out, "someone else's file");
          c.enqueue(bytes.subarray(100));
          c.close();
        }
      },
    });
    await assert.rejects(saveBackup(body, out), (err: any) => err.code === 'FILE_EXISTS');
    assert.equal(await readFile(out, 'utf8'), "someone else's file");
    await assert.rejects(stat(`${out}.partial`), 'the partial file is removed');
  });

  it('restores an uncompressed backup, as releases before gzip wrote them', async () => {
    const file = f('plain.backup');
    await writeFile(file, await plain(backup));
    const store = await openStore({ memory: true, image: await pgliteTestImage() });
    try {
      const { head, tables } = await restoreBackup(store.db, file);
      assert.equal(head.header.id, header.id);
      assert.deepEqual(tables, header.tables);
    } finally {
      await store.close();
    }
  });

  it('an edited body with a rewritten header restores, but the first unseal refuses it: the seal', async () => {
    // The attack the seal is for: an admin token of the attacker's, with the header made to match.
    const text = await plain(backup);
    const [head, seal, ...rest] = text.split('\n');
    const evil = 'kwt_' + 'A'.repeat(43);
    const row = JSON.stringify({
      id: 'tok_evil0000000000',
      token_hash: '\\x' + Buffer.from(hashToken(evil)).toString('hex'),
      principal: 'mallory',
      roles: ['admin'],
      created_at: '2026-01-01T00:00:00+00:00',
      expires_at: null,
      revoked_at: null,
      created_by: 'init',
    });
    const at = rest.indexOf('@tokens');
    rest.splice(at + 1, 0, row);
    const body = rest.join('\n');
    const h = JSON.parse(head!);
    h.tables = h.tables.map((t: { name: string; rows: number }) =>
      t.name === 'tokens' ? { ...t, rows: t.rows + 1 } : t,
    );
    h.body = { sha256: createHash('sha256').update(body).digest('hex'), bytes: Buffer.byteLength(body) };
    const file = f('forged.backup');
    await writeFile(file, `${JSON.stringify(h)}\n${seal}\n${body}`);
    // Restored in process into an in-memory store (the CLI path is the same function).
    const store = await openStore({ memory: true, image: await pgliteTestImage() });
    await restoreBackup(store.db, file);
    const r = await serve(store);
    try {
      const u = await unseal(r);
      assert.equal(u.status, 409, JSON.stringify(u.body));
      assert.equal(u.body.error.code, 'BACKUP_INVALID');
      assert.match(u.body.error.message, /fails its seal|does not match/);
      assert.equal((await r.call('GET', '/v1/sys/seal-status')).body.sealed, true);
      assert.equal((await r.call('GET', '/v1/auth/whoami', { token: evil })).status, 503);
      // And it stays so: the next quorum is refused the same way.
      assert.equal((await unseal(r)).body.error.code, 'BACKUP_INVALID');
    } finally {
      await r.close();
    }
  });

  it('refuses a backup older than the store it would go into: BACKUP_OLDER_THAN_TARGET', async () => {
    // The original server's store: the same ceremony, its log ahead of the backup's (nothing written).
    const ahead = (await readAuditRecordsText(s.hsm.store.db, 0, 1_000_000)).length;
    assert.ok(ahead > header.audit.headSize);
    await assert.rejects(restoreBackup(s.hsm.store.db, backup), (err: any) => {
      assert.equal(err.code, 'BACKUP_OLDER_THAN_TARGET');
      assert.match(err.message, new RegExp(`${ahead} audit records to the backup's ${header.audit.headSize}`));
      return true;
    });
  });

  it('refuses a backup of another schema version', async () => {
    const text = await plain(backup);
    const nl = text.indexOf('\n');
    const h = JSON.parse(text.slice(0, nl));
    h.schema = { ...h.schema, migrations: h.schema.migrations + 1 };
    const file = f('future.backup');
    await writeFile(file, JSON.stringify(h) + text.slice(nl));
    fails(
      await runCli(['restore', file, '--data-dir', f('restored-future')]),
      'BACKUP_SCHEMA_MISMATCH',
      /schema migration/,
    );
  });

  it('gzips only for a client whose Accept names application/gzip; any other gets the plain file, as CLIs before gzip read it', async () => {
    const post = (accept: string | undefined) =>
      fetch(`${s.url}/v1/sys/backup`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${root}`,
          'content-type': 'application/json',
          ...(accept === undefined ? {} : { accept }),
        },
        body: '{}',
      });
    // A CLI of the release before gzip sends Accept: application/json; curl sends */*.
    for (const [accept, gzip] of [
      ['application/json', false],
      [undefined, false],
      ['*/*', false],
      ['application/gzip;q=0, application/json', false],
      ['application/gzip, application/json;q=0.9', true], // what @keyward/client sends
    ] as const) {
      const r = await post(accept);
      assert.equal(r.status, 200, String(accept));
      assert.equal(r.headers.get('content-type'), gzip ? 'application/gzip' : 'application/x-ndjson', String(accept));
      assert.match(r.headers.get('vary') ?? '', /\baccept\b/i);
      const bytes = Buffer.from(await r.arrayBuffer());
      assert.deepEqual([...bytes.subarray(0, 2)], gzip ? [0x1f, 0x8b] : [0x7b, 0x22], String(accept)); // gzip magic or {"
      const file = f(`negotiated-${gzip}.backup`);
      await writeFile(file, bytes);
      const { header: h } = await checkBackupFile(file);
      assert.equal(h.id, r.headers.get('keyward-backup-id'));
      if (!gzip) assert.equal(h.id, JSON.parse(bytes.subarray(0, bytes.indexOf(0x0a)).toString('utf8')).id);
      await rm(file);
    }
  });

  it('an approved backup is written by `keyward approval execute --out`, never over a file', async () => {
    await activateGlobalPolicy(s, root, 'park-backup', await compileFixture('park-backup'));
    const penv = env();
    const id = parkedId(await runCli(['backup', '--out', f('never.backup.gz')], penv));
    const [approver] = await approverTokens(s.hsm.store.db, 1);
    assert.equal((await s.call('POST', `/v1/approvals/${id}/approve`, { token: approver!, body: {} })).status, 200);
    // Refused before executing: no --out, or an --out that exists.
    const noOut = await runCli(['approval', 'execute', id], penv);
    assert.notEqual(noOut.code, 0);
    assert.match(noOut.stdout + noOut.stderr, /runs a backup.*--out FILE/);
    fails(await runCli(['approval', 'execute', id, '--out', backup], penv), 'FILE_EXISTS');
    const out = f('approved.backup.gz');
    const res = ok(await runCli(['approval', 'execute', id, '--out', out, '--json'], penv)).json();
    const { header: h } = await checkBackupFile(out);
    assert.deepEqual([...(await readFile(out)).subarray(0, 2)], [0x1f, 0x8b], 'the client asked for gzip');
    assert.equal(res.id, h.id);
    assert.notEqual(h.id, header.id);
    assert.equal((await stat(out)).mode & 0o777, 0o600);
    assert.equal((await s.call('GET', `/v1/approvals/${id}`, { token: root })).body.state, 'executed');
  });
});
