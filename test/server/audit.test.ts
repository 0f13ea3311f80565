/**
 * The audit log over REST: a record for every request and ceremony step, signed checkpoints that
 * verify under the published keys, inclusion and consistency proofs, the HMAC lookup, the
 * checkpoint header, and fail-closed behaviour when the database refuses the append.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import { issueToken } from '../../engine/auth/tokens.js';
import { devBootstrap } from '../../engine/dev.js';
import { decodeRecord } from '../../engine/audit/math/record.js';
import { leafHash, verifyConsistency, verifyInclusion } from '../../engine/audit/math/merkle.js';
import { parseVerifierKey, verifyNote } from '../../engine/audit/math/note.js';
import { startTestServer } from '../helpers/server.js';
import type { TestServer } from '../helpers/server.js';
import { assertError, b64 } from '../helpers/wire.js';
import { readAuditRecords } from '../../engine/store/index.js';
import { setAuditLeaf } from '../helpers/audit-store.js';

const fromB64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));

describe('/v1/audit', { timeout: 120_000 }, () => {
  let s: TestServer;
  let root: string;
  let auditor: string;
  let app: string;

  before(async () => {
    s = await startTestServer();
    root = (await devBootstrap(s.hsm)).rootToken;
    auditor = (await issueToken(s.hsm.store.db, { principal: 'eve-auditor', roles: ['auditor'], now: new Date() }))
      .token;
    app = (await issueToken(s.hsm.store.db, { principal: 'svc', roles: ['app'], now: new Date() })).token;
    assert.equal(
      (await s.call('POST', '/v1/keys', { token: root, body: { name: 'k', type: 'aes256-gcm' } })).status,
      201,
    );
  });
  after(() => s.close());

  async function allRecords() {
    const out: { index: number; leaf: string; chain: string }[] = [];
    for (let from = 0; ;) {
      const page = await s.call('GET', `/v1/audit/records?from=${from}&limit=50`, { token: auditor });
      assert.equal(page.status, 200, JSON.stringify(page.body));
      out.push(...page.body.records);
      if (page.body.next === null) return out;
      from = page.body.next;
    }
  }

  it('records the ceremony, allowed, denied, failed and unauthenticated requests', async () => {
    const enc = await s.call('POST', '/v1/keys/k/encrypt', { token: app, body: { plaintext: b64('x') } });
    assert.equal(enc.status, 200);
    assertError(await s.call('POST', '/v1/keys/k/rotate', { token: app, body: {} }), 403, 'POLICY_DENIED');
    assertError(
      await s.call('POST', '/v1/keys/nope/encrypt', { token: app, body: { plaintext: b64('x') } }),
      404,
      'KEY_NOT_FOUND',
    );
    assertError(
      await s.call('POST', '/v1/keys/k/encrypt', { token: 'kwt_not-a-real-token', body: { plaintext: b64('x') } }),
      401,
      'UNAUTHENTICATED',
    );

    const records = (await allRecords()).map((r) => ({
      ...decodeRecord(new TextEncoder().encode(r.leaf)),
      index: r.index,
    }));
    const ops = records.map((r) => r.operation);
    assert.deepEqual(ops.slice(0, 2), ['sys.init', 'sys.unseal']);
    assert.equal(records[1]!.details?.holder, 'dev');
    assert.equal(records[1]!.details?.unsealed, true);

    const allowed = records.find((r) => r.operation === 'encrypt' && r.status === 200)!;
    assert.equal(allowed.principal, 'svc');
    assert.equal(allowed.key, 'k');
    assert.equal(allowed.decision, 'allow');
    assert.match(allowed.inputDigest!, /^[0-9a-f]{64}$/);
    assert.equal(allowed.policies.length, 1);
    assert.match(allowed.policies[0]!.sha256, /^[0-9a-f]{64}$/);
    assert.ok(allowed.policies[0]!.gas > 0);
    assert.equal(allowed.requestId, enc.headers.get('x-request-id'));

    const denied = records.find((r) => r.operation === 'key.rotate')!;
    assert.equal(denied.decision, 'deny');
    assert.equal(denied.status, 403);
    assert.equal(denied.code, 'POLICY_DENIED');

    const missing = records.find((r) => r.operation === 'encrypt' && r.code === 'KEY_NOT_FOUND')!;
    assert.equal(missing.status, 404);
    assert.equal(missing.decision, 'none');

    const unauth = records.find((r) => r.code === 'UNAUTHENTICATED')!;
    assert.equal(unauth.status, 401);
    assert.equal(unauth.principal, null);
    const token = unauth.details?.token as string;
    assert.match(token, /^hmac-sha256:1:[A-Za-z0-9_-]{43}$/);
    assert.ok(
      !records.some((r) => JSON.stringify(r).includes('kwt_not-a-real-token')),
      'the token itself is never recorded',
    );
    // An auditor can find it by the value they know.
    const h = await s.call('POST', '/v1/audit/hash', { token: auditor, body: { value: 'kwt_not-a-real-token' } });
    assert.equal(h.body.hash, token);
  });

  it('signs checkpoints that verify under the published keys, with inclusion and consistency proofs', async () => {
    const keys = await s.call('GET', '/v1/audit/keys', { token: auditor });
    assert.equal(keys.status, 200);
    assert.match(keys.body.ed25519, /^keyward\/log\/[0-9a-f]{16}\+[0-9a-f]{8}\+/);
    const trusted = [parseVerifierKey(keys.body.ed25519), parseVerifierKey(keys.body.mlDsa44)];

    const cp1 = await s.call('GET', '/v1/audit/checkpoint', { token: auditor });
    assert.equal(cp1.status, 200);
    const v1 = verifyNote(cp1.body.note, trusted);
    assert.equal(v1.size, cp1.body.size);
    assert.equal(b64(v1.root), cp1.body.root);

    for (let i = 0; i < 5; i++)
      await s.call('POST', '/v1/keys/k/encrypt', { token: app, body: { plaintext: b64(`m${i}`) } });
    const cp2 = await s.call('GET', '/v1/audit/checkpoint', { token: auditor });
    const v2 = verifyNote(cp2.body.note, trusted);
    assert.ok(v2.size > v1.size);
    // The header names a checkpoint too.
    assert.match(cp2.headers.get('keyward-checkpoint') ?? '', /^\d+ [A-Za-z0-9+/]+=*$/);

    const records = await allRecords();
    for (const index of [0, 1, Math.floor(v2.size / 2), v2.size - 1]) {
      const p = await s.call('GET', `/v1/audit/proofs/inclusion?index=${index}&size=${v2.size}`, { token: auditor });
      assert.equal(p.status, 200, JSON.stringify(p.body));
      const lh = leafHash(new TextEncoder().encode(records[index]!.leaf));
      assert.equal(p.body.leafHash, b64(lh));
      verifyInclusion(lh, index, v2.size, p.body.proof.map(fromB64), v2.root);
    }
    const c = await s.call('GET', `/v1/audit/proofs/consistency?from=${v1.size}&to=${v2.size}`, { token: auditor });
    assert.equal(c.status, 200, JSON.stringify(c.body));
    verifyConsistency(v1.size, v2.size, c.body.proof.map(fromB64), v1.root, v2.root);

    // Sizes without a checkpoint, reversed ranges and garbage are 400s.
    assertError(
      await s.call('GET', `/v1/audit/proofs/inclusion?index=0&size=${v2.size + 1000}`, { token: auditor }),
      400,
      'AUDIT_RANGE_INVALID',
    );
    assertError(
      await s.call('GET', `/v1/audit/proofs/inclusion?index=5&size=2`, { token: auditor }),
      400,
      'AUDIT_RANGE_INVALID',
    );
    assertError(
      await s.call('GET', `/v1/audit/proofs/consistency?from=0&to=${v2.size}`, { token: auditor }),
      400,
      'AUDIT_RANGE_INVALID',
    );
    assertError(
      await s.call('GET', '/v1/audit/proofs/inclusion?index=abc&size=1', { token: auditor }),
      400,
      'VALIDATION_FAILED',
    );
    assertError(await s.call('GET', '/v1/audit/records?from=-1', { token: auditor }), 400, 'VALIDATION_FAILED');
    assertError(await s.call('GET', '/v1/audit/records?from=5&to=2', { token: auditor }), 400, 'AUDIT_RANGE_INVALID');
    assertError(
      await s.call('POST', '/v1/audit/hash', { token: auditor, body: { value: 5 } }),
      400,
      'VALIDATION_FAILED',
    );
    assertError(await s.call('POST', '/v1/audit/hash', { token: auditor, body: {} }), 400, 'VALIDATION_FAILED');
  });

  it('is only readable by auditors and admins under the default policy', async () => {
    assertError(await s.call('GET', '/v1/audit/records', { token: app }), 403, 'POLICY_DENIED');
    assertError(await s.call('GET', '/v1/audit/records'), 401, 'UNAUTHENTICATED');
    assert.equal((await s.call('GET', '/v1/audit/records', { token: root })).status, 200);
  });

  it('fails closed: no output when the record cannot be committed, and recovers', async () => {
    const db = s.hsm.store.db;
    // A constraint the next append violates stands in for a database that refuses the write.
    await db.execute(sql.raw('ALTER TABLE audit_head ADD CONSTRAINT test_refuse_appends CHECK (size < 0) NOT VALID'));
    try {
      const res = await s.call('POST', '/v1/keys/k/encrypt', { token: app, body: { plaintext: b64('secret') } });
      assertError(res, 503, 'AUDIT_UNAVAILABLE');
      assert.equal(res.headers.get('retry-after'), '1');
      assert.equal(res.body.ciphertext, undefined);
      const denied = await s.call('POST', '/v1/keys/k/rotate', { token: app, body: {} });
      assertError(denied, 503, 'AUDIT_UNAVAILABLE');
    } finally {
      await db.execute(sql.raw('ALTER TABLE audit_head DROP CONSTRAINT test_refuse_appends'));
    }
    const ok = await s.call('POST', '/v1/keys/k/encrypt', { token: app, body: { plaintext: b64('secret') } });
    assert.equal(ok.status, 200);
    assert.equal((await s.call('GET', '/v1/sys/health')).status, 200);
  });

  it('stops signing over an edited record and names it', async () => {
    await s.hsm.integrator!.stop(); // no background round may integrate the record before the edit
    const before = await s.call('GET', '/v1/audit/checkpoint', { token: auditor });
    await s.call('POST', '/v1/keys/k/encrypt', { token: app, body: { plaintext: b64('y') } });
    const size = (await s.call('GET', `/v1/audit/records?from=0&limit=1`, { token: auditor })).body.size as number;
    // Edit the newest (not yet integrated) record behind the log's back.
    const db = s.hsm.store.db;
    const [last] = await readAuditRecords(db, size - 1, size);
    await setAuditLeaf(db, size - 1, Buffer.from(last!.leaf).toString('utf8').replace('"svc"', '"mallory"'));
    await assert.rejects(
      s.hsm.integrator!.integrate(),
      (err: any) => err.code === 'AUDIT_LOG_CORRUPT' && err.message.includes(`record ${size - 1}`),
    );
    assert.ok(before.body.size < size);
  });
});

describe('audit log tail check at unseal', { timeout: 120_000 }, () => {
  it('refuses to sign on when the stored tree no longer matches the newest signed checkpoint', async () => {
    const s = await startTestServer();
    try {
      await devBootstrap(s.hsm);
      const cp = await s.hsm.integrator!.integrate({ fresh: true });
      assert.ok(cp && cp.size > 0);
      const keys = await s.hsm.auditKeys();
      const trusted = [parseVerifierKey(keys.ed25519), parseVerifierKey(keys.mlDsa44)];
      await s.hsm.integrator!.verifyTail((note) => verifyNote(note, trusted)); // clean: passes
      await s.hsm.integrator!.stop();

      // A checkpoint note signed by another key is refused...
      const db = s.hsm.store.db;
      const forged = cp!.note.replace(/— (\S+) (\S+)\n/, '— $1 ' + Buffer.alloc(68, 7).toString('base64') + '\n');
      await db.execute(sql`UPDATE audit_checkpoints SET note = ${forged} WHERE size = ${cp!.size}`);
      await assert.rejects(
        s.hsm.integrator!.verifyTail((note) => verifyNote(note, trusted)),
        (err: any) => err.code === 'AUDIT_LOG_CORRUPT' && /does not verify/.test(err.message),
      );
      // ...and once a check failed, nothing is signed again.
      await assert.rejects(s.hsm.integrator!.integrate(), (err: any) => err.code === 'AUDIT_LOG_CORRUPT');
    } finally {
      await s.close();
    }
  });

  it('names a rolled-back tree', async () => {
    const s = await startTestServer();
    try {
      await devBootstrap(s.hsm);
      await s.hsm.integrator!.integrate({ fresh: true });
      await s.hsm.integrator!.stop();
      const keys = await s.hsm.auditKeys();
      const trusted = [parseVerifierKey(keys.ed25519), parseVerifierKey(keys.mlDsa44)];
      await s.hsm.store.db.execute(sql.raw(`UPDATE audit_tree SET root = sha256('x'::bytea)`));
      await assert.rejects(
        s.hsm.integrator!.verifyTail((note) => verifyNote(note, trusted)),
        (err: any) => err.code === 'AUDIT_LOG_CORRUPT' && /does not hash to the signed root/.test(err.message),
      );
    } finally {
      await s.close();
    }
  });
});
