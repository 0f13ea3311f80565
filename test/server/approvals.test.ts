/**
 * Dual control over REST (docs/approvals.md): parked requests (202), separation of duties enforced by
 * the server, execution exactly once with the original body, denial, expiry, a restart in the middle
 * of a flow, a custom policy asking for approvals on decrypt with tier=critical keys, and an audit
 * record naming the approval id for every step.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import { fromBase64 } from '../../lib/bytes.js';
import { sealSubmission } from '../../ceremony/index.js';
import { decodeRecord } from '../../engine/audit/math/record.js';
import type { AuditRecord } from '../../engine/audit/math/record.js';
import { issueToken } from '../../engine/auth/tokens.js';
import { devBootstrap } from '../../engine/dev.js';
import type { Hsm } from '../../engine/hsm.js';
import { compileFixture } from '../engine/policy/helpers.js';
import { readAuditRecords } from '../../engine/store/index.js';
import { activateGlobalPolicy, approverTokens, completeApproval } from '../helpers/approvals.js';
import { startTestServer } from '../helpers/server.js';
import type { TestServer } from '../helpers/server.js';
import { assertError, b64 } from '../helpers/wire.js';

async function records(hsm: Hsm): Promise<AuditRecord[]> {
  return (await readAuditRecords(hsm.store.db, 0, 1_000_000)).map((r) => decodeRecord(r.leaf));
}

async function unseal(hsm: Hsm, share: string): Promise<void> {
  const status = hsm.seal.status();
  await hsm.submitUnseal(
    await sealSubmission({
      purpose: 'unseal',
      sessionPublicKey: fromBase64(status.sessionPublicKey!, 'sessionPublicKey'),
      nonce: status.nonce!,
      ceremonyId: status.ceremonyId!,
      index: 0,
      holder: 'dev',
      share: fromBase64(share, 'share'),
    }),
  );
  assert.equal(hsm.seal.sealed, false);
}

describe('/v1/approvals', { timeout: 240_000 }, () => {
  let s: TestServer;
  let share: string;
  let root: string;
  let app: string;
  let op1: string;
  let op2: string;
  let op3: string;
  const token = async (principal: string, roles: string[]) =>
    (await issueToken(s.hsm.store.db, { principal, roles, now: new Date() })).token;

  /** A fresh key whose deletion is allowed, and op1's parked request to delete it. */
  async function parkedDeletion(name: string, requester = op1) {
    assert.equal((await s.call('POST', '/v1/keys', { token: root, body: { name, type: 'aes256-gcm' } })).status, 201);
    assert.equal(
      (await s.call('POST', `/v1/keys/${name}/config`, { token: root, body: { deletionAllowed: true } })).status,
      200,
    );
    const parked = await s.call('DELETE', `/v1/keys/${name}`, { token: requester });
    assert.equal(parked.status, 202, JSON.stringify(parked.body));
    return parked.body.approvalId as string;
  }

  before(async () => {
    s = await startTestServer();
    const dev = await devBootstrap(s.hsm);
    root = dev.rootToken;
    share = dev.unsealShare;
    app = await token('svc', ['app']);
    op1 = await token('op-1', ['operator']);
    op2 = await token('op-2', ['operator']);
    op3 = await token('op-3', ['operator']);
  });
  after(() => s.close());

  it('parks a dual-controlled request: 202 with the approval, nothing done, the request audited with its id', async () => {
    assert.equal(
      (await s.call('POST', '/v1/keys', { token: root, body: { name: 'parked', type: 'aes256-gcm' } })).status,
      201,
    );
    assert.equal(
      (await s.call('POST', '/v1/keys/parked/config', { token: root, body: { deletionAllowed: true } })).status,
      200,
    );
    const res = await s.call('DELETE', '/v1/keys/parked', { token: root });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    assert.deepEqual(Object.keys(res.body).sort(), ['approvalId', 'expiresAt', 'group', 'reason', 'required']);
    assert.match(res.body.approvalId, /^apr_[0-9a-f]{32}$/);
    assert.equal(res.body.required, 2);
    assert.equal(res.body.group, 'operator');
    assert.ok(Date.parse(res.body.expiresAt) > Date.now() + 23 * 3600_000);
    assert.equal(res.headers.get('location'), `/v1/approvals/${res.body.approvalId}`);
    assert.equal((await s.call('GET', '/v1/keys/parked', { token: root })).body.deleteAfter, null);

    const shown = await s.call('GET', `/v1/approvals/${res.body.approvalId}`, { token: op2 });
    assert.equal(shown.status, 200);
    assert.equal(shown.body.state, 'pending');
    assert.equal(shown.body.requester, 'root');
    assert.equal(shown.body.operation, 'key.delete');
    assert.equal(shown.body.key, 'parked');
    assert.equal(shown.body.method, 'DELETE');
    assert.equal(shown.body.path, '/v1/keys/parked');
    assert.match(shown.body.requestDigest, /^hmac-sha256:1:/, 'keyed, never a plain hash of the body');
    assert.equal(shown.body.policies.length, 1);
    assert.equal(shown.body.approvals, 0);

    const rec = (await records(s.hsm)).find(
      (r) => r.approvalId === res.body.approvalId && r.operation === 'key.delete',
    )!;
    assert.equal(rec.status, 202);
    assert.equal(rec.code, 'APPROVAL_PENDING');
    assert.equal(rec.decision, 'require_approval');
    assert.equal(rec.principal, 'root');
  });

  it('refuses self-approval, approvers outside the group, and counts each principal once', async () => {
    const id = await parkedDeletion('sod');
    assertError(await s.call('POST', `/v1/approvals/${id}/approve`, { token: op1, body: {} }), 403, 'APPROVAL_SELF');
    assertError(await s.call('POST', `/v1/approvals/${id}/deny`, { token: op1, body: {} }), 403, 'APPROVAL_SELF');
    // admin is not operator: the decision named the group, and holding another role doesn't count.
    assertError(await s.call('POST', `/v1/approvals/${id}/approve`, { token: root, body: {} }), 403, 'APPROVAL_GROUP');
    // app may not even see it: the answer is the one for an approval that does not exist.
    assertError(
      await s.call('POST', `/v1/approvals/${id}/approve`, { token: app, body: {} }),
      404,
      'APPROVAL_NOT_FOUND',
    );
    const first = await s.call('POST', `/v1/approvals/${id}/approve`, { token: op2, body: {} });
    assert.equal(first.status, 200);
    assert.deepEqual(first.body.approvedBy, ['op-2']);
    assertError(
      await s.call('POST', `/v1/approvals/${id}/approve`, { token: op2, body: {} }),
      409,
      'APPROVAL_DUPLICATE',
    );
    // Another token of the same principal is the same person.
    const op2again = await token('op-2', ['operator']);
    assertError(
      await s.call('POST', `/v1/approvals/${id}/approve`, { token: op2again, body: {} }),
      409,
      'APPROVAL_DUPLICATE',
    );
    const shown = await s.call('GET', `/v1/approvals/${id}`, { token: op1 });
    assert.equal(shown.body.approvals, 1);
    // One approval of two: the policies still say require_approval, so execute is refused and nothing runs.
    assertError(await s.call('POST', `/v1/approvals/${id}/execute`, { token: op1 }), 409, 'APPROVAL_INSUFFICIENT');
    assert.equal((await s.call('GET', `/v1/approvals/${id}`, { token: op1 })).body.state, 'pending');
    assert.equal((await s.call('GET', '/v1/keys/sod', { token: root })).body.deleteAfter, null);
  });

  it('who may not see an approval gets the answer an approval that does not exist gets, whatever its state', async () => {
    const pending = await parkedDeletion('unseen');
    const done = await parkedDeletion('unseen-done');
    for (const t of [op2, op3])
      assert.equal((await s.call('POST', `/v1/approvals/${done}/approve`, { token: t, body: {} })).status, 200);
    assert.equal((await s.call('POST', `/v1/approvals/${done}/execute`, { token: op1 })).status, 200);
    const ghost = 'apr_' + '0'.repeat(12) + 'f'.repeat(20);
    const strangers = [app, await token('aud', ['auditor'])];
    /** Every approval route's answer to `t` for `id`, with the id itself blanked out. */
    const answers = async (t: string, id: string) => {
      const calls: Array<[string, string, unknown]> = [
        ['GET', `/v1/approvals/${id}`, undefined],
        ['POST', `/v1/approvals/${id}/approve`, {}],
        ['POST', `/v1/approvals/${id}/deny`, { reason: 'no' }],
        ['POST', `/v1/approvals/${id}/execute`, undefined],
        ['POST', `/v1/approvals/${id}/execute`, {}],
        // A body the target route would reject (400) had it been dispatched.
        ['POST', `/v1/approvals/${id}/execute`, { bogus: 1 }],
      ];
      const out = [];
      for (const [method, path, body] of calls) {
        const r = await s.call(method, path, { token: t, ...(body !== undefined ? { body } : {}) });
        out.push(`${method} ${path.replace(id, '<id>')}: ${r.status} ${JSON.stringify(r.body).replaceAll(id, '<id>')}`);
      }
      return out;
    };
    for (const t of strangers) {
      const none = await answers(t, ghost);
      assert.ok(
        none.every((a) => / 404 .*APPROVAL_NOT_FOUND/.test(a)),
        none.join('\n'),
      );
      assert.deepEqual(await answers(t, pending), none);
      assert.deepEqual(await answers(t, done), none);
    }
    // Nothing they did changed it; those who may see it still get their own answers.
    const shown = await s.call('GET', `/v1/approvals/${pending}`, { token: op2 });
    assert.equal(shown.body.state, 'pending');
    assert.equal(shown.body.approvals, 0);
    assertError(
      await s.call('POST', `/v1/approvals/${pending}/execute`, { token: op2 }),
      403,
      'APPROVAL_NOT_REQUESTER',
    );
    assertError(
      await s.call('POST', `/v1/approvals/${pending}/execute`, { token: op2, body: { bogus: 1 } }),
      403,
      'APPROVAL_NOT_REQUESTER',
    );
    assertError(
      await s.call('POST', `/v1/approvals/${done}/approve`, { token: op2, body: {} }),
      409,
      'APPROVAL_NOT_PENDING',
    );
  });

  it('executes once, for the requester only, and a second execute is refused', async () => {
    const id = await parkedDeletion('once');
    for (const t of [op2, op3])
      assert.equal((await s.call('POST', `/v1/approvals/${id}/approve`, { token: t, body: {} })).status, 200);
    assertError(await s.call('POST', `/v1/approvals/${id}/execute`, { token: op2 }), 403, 'APPROVAL_NOT_REQUESTER');
    assertError(await s.call('POST', `/v1/approvals/${id}/execute`, { token: 'kwt_bogus' }), 401, 'UNAUTHENTICATED');
    const done = await s.call('POST', `/v1/approvals/${id}/execute`, { token: op1 });
    assert.equal(done.status, 200, JSON.stringify(done.body));
    assert.equal(done.body.name, 'once');
    assert.ok(Date.parse(done.body.deleteAfter) > Date.now());
    assertError(await s.call('POST', `/v1/approvals/${id}/execute`, { token: op1 }), 409, 'APPROVAL_NOT_PENDING');
    const shown = (await s.call('GET', `/v1/approvals/${id}`, { token: op1 })).body;
    assert.equal(shown.state, 'executed');
    assert.equal(shown.resultStatus, 200);
    assertError(
      await s.call('POST', `/v1/approvals/${id}/approve`, { token: await token('op-4', ['operator']), body: {} }),
      409,
      'APPROVAL_NOT_PENDING',
    );

    const recs = (await records(s.hsm)).filter((r) => r.approvalId === id);
    assert.deepEqual(
      recs.map((r) => [r.operation, r.status, r.code]),
      [
        ['key.delete', 202, 'APPROVAL_PENDING'],
        ['approval.approve', 200, null],
        ['approval.approve', 200, null],
        // An execute without a body that can't use the parked one is refused before dispatch.
        ['approval.execute', 403, 'APPROVAL_NOT_REQUESTER'],
        ['key.delete', 200, null],
        ['approval.execute', 409, 'APPROVAL_NOT_PENDING'],
        ['approval.read', 200, null],
        ['approval.approve', 409, 'APPROVAL_NOT_PENDING'],
      ],
    );
    const executed = recs[4]!;
    assert.equal(executed.decision, 'allow');
    assert.equal(executed.principal, 'op-1');
  });

  it('checks the body on execute: a different body is refused, the same JSON in another key order is not', async () => {
    const policy = { wasm: await compileFixture('policies/examples/critical-decrypt.ts') };
    const pushed = await s.call('POST', '/v1/policies', {
      token: root,
      body: { name: 'critical-decrypt', wasm: Buffer.from(policy.wasm).toString('base64') },
    });
    assert.equal(pushed.status, 201, JSON.stringify(pushed.body));
    const body = { scope: 'key', key: 'vault' };
    const parked = await s.call('POST', `/v1/policies/${pushed.body.sha256}/activate`, { token: op1, body });
    assert.equal(parked.status, 202);
    const id = parked.body.approvalId;
    for (const t of [op2, op3]) await s.call('POST', `/v1/approvals/${id}/approve`, { token: t, body: {} });
    assertError(
      await s.call('POST', `/v1/approvals/${id}/execute`, { token: op1, body: { scope: 'key', key: 'other' } }),
      409,
      'APPROVAL_DIGEST_MISMATCH',
    );
    assertError(
      await s.call('POST', `/v1/approvals/${id}/execute`, { token: op1, body: { scope: 'global' } }),
      409,
      'APPROVAL_DIGEST_MISMATCH',
    );
    // The target route validates the body first, as it did the original.
    assertError(
      await s.call('POST', `/v1/approvals/${id}/execute`, { token: op1, body: { scope: 'nowhere' } }),
      400,
      'VALIDATION_FAILED',
    );
    assert.equal(
      (await s.call('GET', `/v1/approvals/${id}`, { token: op1 })).body.state,
      'pending',
      'a refused execute uses nothing up',
    );
    const done = await s.call('POST', `/v1/approvals/${id}/execute`, {
      token: op1,
      body: { key: 'vault', scope: 'key' },
    });
    assert.equal(done.status, 200, JSON.stringify(done.body));
    assert.deepEqual([done.body.scope, done.body.key, done.body.active], ['key', 'vault', true]);
  });

  it('a denial by any approver ends the request', async () => {
    const id = await parkedDeletion('denied');
    assert.equal((await s.call('POST', `/v1/approvals/${id}/approve`, { token: op2, body: {} })).status, 200);
    const denied = await s.call('POST', `/v1/approvals/${id}/deny`, {
      token: op3,
      body: { reason: 'not during the freeze' },
    });
    assert.equal(denied.status, 200, JSON.stringify(denied.body));
    assert.equal(denied.body.state, 'denied');
    assert.equal(denied.body.deniedBy, 'op-3');
    assert.equal(denied.body.denyReason, 'not during the freeze');
    assertError(
      await s.call('POST', `/v1/approvals/${id}/approve`, { token: await token('op-5', ['operator']), body: {} }),
      409,
      'APPROVAL_NOT_PENDING',
    );
    assertError(
      await s.call('POST', `/v1/approvals/${id}/deny`, { token: op2, body: {} }),
      409,
      'APPROVAL_NOT_PENDING',
    );
    assertError(await s.call('POST', `/v1/approvals/${id}/execute`, { token: op1 }), 409, 'APPROVAL_NOT_PENDING');
    assert.equal((await s.call('GET', '/v1/keys/denied', { token: root })).body.deleteAfter, null);
    const recs = (await records(s.hsm)).filter((r) => r.approvalId === id && r.operation === 'approval.deny');
    assert.deepEqual(
      recs.map((r) => [r.principal, r.status]),
      [
        ['op-3', 200],
        ['op-2', 409],
      ],
    );
  });

  it('an expired approval can be neither approved nor executed, and its expiry is one audit record', async () => {
    const id = await parkedDeletion('late');
    assert.equal((await s.call('POST', `/v1/approvals/${id}/approve`, { token: op2, body: {} })).status, 200);
    assert.equal((await s.call('POST', `/v1/approvals/${id}/approve`, { token: op3, body: {} })).status, 200);
    // Time passes: the deadline is now behind us.
    await s.hsm.store.db.execute(sql`UPDATE approvals SET expires_at = now() - interval '1 second' WHERE id = ${id}`);
    assertError(await s.call('POST', `/v1/approvals/${id}/execute`, { token: op1 }), 410, 'APPROVAL_EXPIRED');
    assertError(
      await s.call('POST', `/v1/approvals/${id}/approve`, { token: await token('op-6', ['operator']), body: {} }),
      410,
      'APPROVAL_EXPIRED',
    );
    assertError(await s.call('POST', `/v1/approvals/${id}/deny`, { token: op2, body: {} }), 410, 'APPROVAL_EXPIRED');
    assert.equal((await s.call('GET', `/v1/approvals/${id}`, { token: op1 })).body.state, 'expired');
    assert.equal((await s.call('GET', '/v1/keys/late', { token: root })).body.deleteAfter, null);
    const expiries = (await records(s.hsm)).filter((r) => r.operation === 'approval.expire' && r.approvalId === id);
    assert.equal(expiries.length, 1);
    assert.equal(expiries[0]!.key, 'late');
    assert.equal(expiries[0]!.details?.operation, 'key.delete');
  });

  it('survives a restart in the middle of a flow', async () => {
    const id = await parkedDeletion('restarted');
    assert.equal((await s.call('POST', `/v1/approvals/${id}/approve`, { token: op2, body: {} })).status, 200);
    await s.restart();
    assertError(await s.call('POST', `/v1/approvals/${id}/approve`, { token: op3, body: {} }), 503, 'SEALED');
    await unseal(s.hsm, share);
    const second = await s.call('POST', `/v1/approvals/${id}/approve`, { token: op3, body: {} });
    assert.equal(second.status, 200, JSON.stringify(second.body));
    assert.deepEqual(second.body.approvedBy, ['op-2', 'op-3']);
    const done = await s.call('POST', `/v1/approvals/${id}/execute`, { token: op1 });
    assert.equal(done.status, 200, JSON.stringify(done.body));
    assert.equal(done.body.name, 'restarted');
  });

  it('lists by state with pagination; principals see their own requests and those they may approve', async () => {
    const pending = await s.call('GET', '/v1/approvals?state=pending&limit=1', { token: root });
    assert.equal(pending.status, 200);
    assert.equal(pending.body.approvals.length, 1);
    assert.ok(pending.body.approvals.every((a: any) => a.state === 'pending'));
    const all: any[] = [];
    let after: string | null = null;
    do {
      const page: { status: number; body: any } = await s.call(
        'GET',
        `/v1/approvals?limit=2${after ? `&after=${after}` : ''}`,
        { token: root },
      );
      assert.equal(page.status, 200);
      all.push(...page.body.approvals);
      after = page.body.next;
    } while (after);
    assert.ok(all.length >= 7);
    assert.deepEqual(
      all.map((a) => a.id),
      [...all.map((a) => a.id)].sort(),
      'oldest first',
    );
    assert.equal(new Set(all.map((a) => a.id)).size, all.length);
    assert.ok(
      all.some((a) => a.state === 'executed') &&
        all.some((a) => a.state === 'denied') &&
        all.some((a) => a.state === 'expired'),
    );
    // The app requested nothing and approves nothing.
    assert.deepEqual((await s.call('GET', '/v1/approvals', { token: app })).body.approvals, []);
    assertError(await s.call('GET', `/v1/approvals/${all[0].id}`, { token: app }), 404, 'APPROVAL_NOT_FOUND');
    assertError(await s.call('GET', '/v1/approvals?state=maybe', { token: root }), 400, 'VALIDATION_FAILED');
    assertError(await s.call('GET', '/v1/approvals?limit=0', { token: root }), 400, 'VALIDATION_FAILED');
    assertError(await s.call('GET', '/v1/approvals/apr_nope', { token: root }), 400, 'VALIDATION_FAILED');
    assertError(await s.call('GET', `/v1/approvals/apr_${'0'.repeat(32)}`, { token: root }), 404, 'APPROVAL_NOT_FOUND');
    assertError(
      await s.call('POST', `/v1/approvals/apr_${'0'.repeat(32)}/execute`, { token: root }),
      404,
      'APPROVAL_NOT_FOUND',
    );
    assertError(await s.call('POST', `/v1/approvals/apr_${'0'.repeat(32)}/execute`, {}), 401, 'UNAUTHENTICATED');
    assertError(await s.call('GET', '/v1/approvals', {}), 401, 'UNAUTHENTICATED');
  });

  it('a custom policy asks for approvals on decrypt with keys labelled tier=critical', async () => {
    const policy = { wasm: await compileFixture('policies/examples/critical-decrypt.ts') };
    const sha256 = (
      await s.call('POST', '/v1/policies', {
        token: root,
        body: { name: 'critical-decrypt', wasm: Buffer.from(policy.wasm).toString('base64') },
      })
    ).body.sha256;
    // Activating it is itself dual-controlled.
    const activated = await completeApproval(
      s,
      await s.call('POST', `/v1/policies/${sha256}/activate`, { token: root, body: { scope: 'global' } }),
      root,
      { scope: 'global' },
    );
    assert.equal(activated.status, 200, JSON.stringify(activated.body));

    for (const [name, tier] of [
      ['ledger', 'critical'],
      ['logs', 'standard'],
    ]) {
      assert.equal(
        (await s.call('POST', '/v1/keys', { token: root, body: { name, type: 'aes256-gcm', labels: { tier } } }))
          .status,
        201,
      );
    }
    const plain = b64('the ledger');
    const ct = (await s.call('POST', '/v1/keys/ledger/encrypt', { token: app, body: { plaintext: plain } })).body
      .ciphertext;
    const logs = (await s.call('POST', '/v1/keys/logs/encrypt', { token: app, body: { plaintext: plain } })).body
      .ciphertext;
    assert.equal(
      (await s.call('POST', '/v1/keys/logs/decrypt', { token: app, body: { ciphertext: logs } })).body.plaintext,
      plain,
    );

    const parked = await s.call('POST', '/v1/keys/ledger/decrypt', { token: app, body: { ciphertext: ct } });
    assert.equal(parked.status, 202, JSON.stringify(parked.body));
    assert.equal(parked.body.reason, 'decrypting with a critical key needs two operators');
    const [a1, a2] = await approverTokens(s.hsm.store.db);
    await s.call('POST', `/v1/approvals/${parked.body.approvalId}/approve`, { token: a1, body: {} });
    await s.call('POST', `/v1/approvals/${parked.body.approvalId}/approve`, { token: a2, body: {} });
    const out = await s.call('POST', `/v1/approvals/${parked.body.approvalId}/execute`, {
      token: app,
      body: { ciphertext: ct },
    });
    assert.equal(out.status, 200, JSON.stringify(out.body));
    assert.equal(out.body.plaintext, plain);
    assertError(
      await s.call('POST', `/v1/approvals/${parked.body.approvalId}/execute`, { token: app, body: { ciphertext: ct } }),
      409,
      'APPROVAL_NOT_PENDING',
    );
    const rec = (await records(s.hsm)).find(
      (r) => r.approvalId === parked.body.approvalId && r.operation === 'decrypt' && r.status === 200,
    )!;
    assert.equal(rec.policies.length, 2);
    assert.ok(rec.policies.every((p) => p.decision === 'allow'));
  });

  it('an approved Vault transit encrypt to a key that does not exist yet creates it and encrypts, once', async () => {
    // A policy that parks every encrypt (activated last: the tests above encrypt freely).
    await activateGlobalPolicy(s, root, 'park-encrypt', await compileFixture('park-encrypt'));

    // May encrypt (app) and create keys (operator): Vault's upsert makes the key on the first encrypt.
    const upserter = await token('upserter', ['app', 'operator']);
    const body = { plaintext: b64('made under the approval') };
    const parked = await s.call('POST', '/v1/transit/encrypt/upserted', { token: upserter, body });
    // Parked: Vault's transit answers 403 with the approval beside its `errors`.
    assert.equal(parked.status, 403, JSON.stringify(parked.body));
    const id = parked.body.approval.approvalId as string;
    assert.match(parked.body.errors[0], /encrypt needs 1 approvals from "operator"/);
    // Parking created nothing.
    assertError(await s.call('GET', '/v1/keys/upserted', { token: root }), 404, 'KEY_NOT_FOUND');
    assert.equal((await s.call('POST', `/v1/approvals/${id}/approve`, { token: op2, body: {} })).status, 200);
    // Executed with the parked body (no body sent): the key is created, then the plaintext encrypted.
    const out = await s.call('POST', `/v1/approvals/${id}/execute`, { token: upserter });
    assert.equal(out.status, 200, JSON.stringify(out.body));
    assert.match(out.body.data.ciphertext, /^vault:v1:/);
    const key = await s.call('GET', '/v1/keys/upserted', { token: root });
    assert.deepEqual([key.status, key.body.type, key.body.latestVersion], [200, 'aes256-gcm', 1]);
    const shown = (await s.call('GET', `/v1/approvals/${id}`, { token: upserter })).body;
    assert.deepEqual([shown.state, shown.resultStatus], ['executed', 200]);
    // Once: a second execute is refused and makes nothing more.
    assertError(await s.call('POST', `/v1/approvals/${id}/execute`, { token: upserter }), 409, 'APPROVAL_NOT_PENDING');
    // The ciphertext is the created key's (decrypting is not parked).
    const dec = await s.call('POST', '/v1/transit/decrypt/upserted', {
      token: upserter,
      body: { ciphertext: out.body.data.ciphertext },
    });
    assert.equal(dec.body.data.plaintext, body.plaintext);
    // The log: the creation (the upserter's own key.create, decided with the key to be) and the
    // encrypt under the approval, in that order; no other record names the key.
    const recs = (await records(s.hsm)).filter((r) => r.key === 'upserted' && r.operation !== 'decrypt');
    assert.deepEqual(
      recs.map((r) => [r.operation, r.status, r.approvalId]),
      [
        ['encrypt', 202, id],
        ['key.create', 200, null],
        ['encrypt', 200, id],
        ['key.read', 200, null],
      ],
    );
  });

  it('documents the routes', async () => {
    const doc = (await s.call('GET', '/openapi.json')).body;
    assert.ok(doc.paths['/v1/approvals/{id}/execute'].post);
    assert.ok(doc.paths['/v1/approvals'].get);
  });
});
