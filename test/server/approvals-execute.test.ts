/**
 * The first hour of dual control, as a requester meets it (issue 11): execute defaults to the body
 * the request was parked with (kept encrypted under the barrier, handed to the requester only, gone
 * once the approval ends); what can be refused before parking is refused at once (a key that
 * doesn't allow deletion); and "not enough approvals" says how many were gathered and how many more
 * are needed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import { decodeRecord } from '../../engine/audit/math/record.js';
import { issueToken } from '../../engine/auth/tokens.js';
import { devBootstrap } from '../../engine/dev.js';
import { approvalBodyPath } from '../../engine/approvals/index.js';
import { compileFixture } from '../engine/policy/helpers.js';
import { getEntry, readAuditRecords } from '../../engine/store/index.js';
import { startTestServer } from '../helpers/server.js';
import type { TestServer } from '../helpers/server.js';
import { assertError } from '../helpers/wire.js';

describe('approval execute defaults and pre-parking checks', { timeout: 240_000 }, () => {
  let s: TestServer;
  let root: string;
  let app: string;
  let op1: string;
  let op2: string;
  let op3: string;
  let sha256: string;
  const token = async (principal: string, roles: string[]) =>
    (await issueToken(s.hsm.store.db, { principal, roles, now: new Date() })).token;

  before(async () => {
    s = await startTestServer();
    root = (await devBootstrap(s.hsm)).rootToken;
    app = await token('svc', ['app']);
    op1 = await token('op-1', ['operator']);
    op2 = await token('op-2', ['operator']);
    op3 = await token('op-3', ['operator']);
    const policy = { wasm: await compileFixture('policies/examples/critical-decrypt.ts') };
    const pushed = await s.call('POST', '/v1/policies', {
      token: root,
      body: { name: 'critical-decrypt', wasm: Buffer.from(policy.wasm).toString('base64') },
    });
    assert.equal(pushed.status, 201, JSON.stringify(pushed.body));
    sha256 = pushed.body.sha256;
    for (const name of ['vault', 'vault2', 'vault3'])
      assert.equal((await s.call('POST', '/v1/keys', { token: root, body: { name, type: 'aes256-gcm' } })).status, 201);
  });
  after(() => s.close());

  /** op-1 asks to activate the policy on `key`: parked (202). */
  async function parkActivation(key: string): Promise<string> {
    const parked = await s.call('POST', `/v1/policies/${sha256}/activate`, { token: op1, body: { scope: 'key', key } });
    assert.equal(parked.status, 202, JSON.stringify(parked.body));
    return parked.body.approvalId;
  }

  const approve = async (id: string, ...tokens: string[]) => {
    for (const t of tokens)
      assert.equal((await s.call('POST', `/v1/approvals/${id}/approve`, { token: t, body: {} })).status, 200);
  };

  it('a key-scoped policy activation executes with no body: the parked body is used (the README example that failed)', async () => {
    const id = await parkActivation('vault');
    // Kept under the barrier: the row's blob is ciphertext, not the body.
    const blob = await getEntry(s.hsm.store.db, approvalBodyPath(id));
    assert.ok(blob, 'the parked body is kept');
    assert.ok(!Buffer.from(blob).includes(Buffer.from('"scope"')), 'kept encrypted');

    await approve(id, op2);
    const short = await s.call('POST', `/v1/approvals/${id}/execute`, { token: op1 });
    assertError(short, 409, 'APPROVAL_INSUFFICIENT');
    assert.match(short.body.error.message, /needs 2 approvals from "operator": 1 of 2 gathered, 1 more needed/);

    await approve(id, op3);
    // Someone else's empty execute gets no body from the store: refused as before, and the approval survives.
    assertError(await s.call('POST', `/v1/approvals/${id}/execute`, { token: op2 }), 403, 'APPROVAL_NOT_REQUESTER');
    assertError(
      await s.call('POST', `/v1/approvals/${id}/execute`, { token: 'kwt_not-a-token' }),
      401,
      'UNAUTHENTICATED',
    );
    assert.equal((await s.call('GET', `/v1/approvals/${id}`, { token: op1 })).body.state, 'pending');

    const done = await s.call('POST', `/v1/approvals/${id}/execute`, { token: op1 });
    assert.equal(done.status, 200, JSON.stringify(done.body));
    assert.deepEqual(
      { key: done.body.key, scope: done.body.scope, active: done.body.active },
      { key: 'vault', scope: 'key', active: true },
    );
    assert.equal(await getEntry(s.hsm.store.db, approvalBodyPath(id)), undefined, 'the body is dropped once executed');
  });

  it('an explicit `{}` also means "the parked body"; a different body is still refused by digest', async () => {
    const id = await parkActivation('vault2');
    await approve(id, op2, op3);
    assertError(
      await s.call('POST', `/v1/approvals/${id}/execute`, { token: op1, body: { scope: 'key', key: 'vault3' } }),
      409,
      'APPROVAL_DIGEST_MISMATCH',
    );
    const done = await s.call('POST', `/v1/approvals/${id}/execute`, { token: op1, body: {} });
    assert.equal(done.status, 200, JSON.stringify(done.body));
    assert.equal(done.body.key, 'vault2');
  });

  it('a denied approval drops its kept body', async () => {
    const id = await parkActivation('vault3');
    assert.equal(
      (await s.call('POST', `/v1/approvals/${id}/deny`, { token: op2, body: { reason: 'no' } })).status,
      200,
    );
    assert.equal(await getEntry(s.hsm.store.db, approvalBodyPath(id)), undefined);
    assertError(await s.call('POST', `/v1/approvals/${id}/execute`, { token: op1 }), 409, 'APPROVAL_NOT_PENDING');
  });

  it('deleting a key that does not allow deletion is refused at once (409), not parked for approvers', async () => {
    assert.equal(
      (await s.call('POST', '/v1/keys', { token: root, body: { name: 'keep', type: 'aes256-gcm' } })).status,
      201,
    );
    const pendingBefore = (await s.hsm.store.db.execute(sql`SELECT count(*)::int AS n FROM approvals`)) as unknown as {
      rows?: Array<{ n: number }>;
    } & Array<{ n: number }>;
    const count = (r: typeof pendingBefore) => Number((r.rows ?? r)[0]!.n);
    const before = count(pendingBefore);
    assertError(await s.call('DELETE', '/v1/keys/keep', { token: op1 }), 409, 'KEY_DELETION_NOT_ALLOWED');
    assert.equal(
      count((await s.hsm.store.db.execute(sql`SELECT count(*)::int AS n FROM approvals`)) as never),
      before,
      'no approval was created',
    );
    // The check runs after the policies: a principal they deny learns nothing about the key.
    assertError(await s.call('DELETE', '/v1/keys/keep', { token: app }), 403, 'POLICY_DENIED');
    const recs = (await readAuditRecords(s.hsm.store.db, 0, 1_000_000))
      .map((r) => decodeRecord(r.leaf))
      .filter((r) => r.operation === 'key.delete' && r.key === 'keep');
    assert.deepEqual(
      recs.map((r) => [r.principal, r.decision, r.status, r.code, r.approvalId]),
      [
        ['op-1', 'require_approval', 409, 'KEY_DELETION_NOT_ALLOWED', null],
        ['svc', 'deny', 403, 'POLICY_DENIED', null],
      ],
    );
    // Once allowed, the same request parks as before.
    assert.equal(
      (await s.call('POST', '/v1/keys/keep/config', { token: root, body: { deletionAllowed: true } })).status,
      200,
    );
    assert.equal((await s.call('DELETE', '/v1/keys/keep', { token: op1 })).status, 202);
  });

  it('key list marks a key scheduled for deletion with its purge time', async () => {
    const list = await s.call('GET', '/v1/keys', { token: root });
    const byName = Object.fromEntries(list.body.keys.map((k: any) => [k.name, k.deleteAfter]));
    assert.equal(byName.vault, null);
  });
});
