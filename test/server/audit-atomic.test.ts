/**
 * A state change and its audit record commit in one transaction (docs/architecture.md, "The audit log"): when the database
 * refuses the record, the change is not made either, and when it accepts it, the change's record is
 * written once, carrying what changed. Covers every state-changing route, the approval steps, and
 * the key purge.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import { issueToken } from '../../engine/auth/tokens.js';
import { decodeRecord } from '../../engine/audit/math/record.js';
import type { AuditRecord } from '../../engine/audit/math/record.js';
import { devBootstrap } from '../../engine/dev.js';
import { DELETION_RETENTION_DAYS } from '../../engine/keys/service.js';
import { auditHeadSize, queryRows, readAuditRecords } from '../../engine/store/index.js';
import { startTestServer } from '../helpers/server.js';
import type { TestServer } from '../helpers/server.js';
import { assertError } from '../helpers/wire.js';

const DAY = 86_400_000;

describe('state changes and their audit records commit together', { timeout: 180_000 }, () => {
  let s: TestServer;
  let root: string;
  let op1: string;
  let op2: string;
  let victimId: string;
  let pendingApproval: string;
  let defaultPolicy: string;

  const db = () => s.hsm.store.db;
  const count = async (table: string, where = 'true') =>
    Number((await queryRows<{ n: string }>(db(), sql.raw(`select count(*) as n from ${table} where ${where}`)))[0]!.n);
  const records = async (): Promise<AuditRecord[]> =>
    (await readAuditRecords(db(), 0, 1_000_000)).map((r) => decodeRecord(r.leaf));

  /** Runs `fn` while the database refuses every audit append (a constraint the head update violates). */
  async function refusingAppends<T>(fn: () => Promise<T>): Promise<T> {
    await db().execute(sql.raw('ALTER TABLE audit_head ADD CONSTRAINT test_refuse_appends CHECK (size < 0) NOT VALID'));
    try {
      return await fn();
    } finally {
      await db().execute(sql.raw('ALTER TABLE audit_head DROP CONSTRAINT test_refuse_appends'));
    }
  }

  before(async () => {
    s = await startTestServer();
    root = (await devBootstrap(s.hsm)).rootToken;
    op1 = (await issueToken(db(), { principal: 'op-1', roles: ['operator'], now: new Date() })).token;
    op2 = (await issueToken(db(), { principal: 'op-2', roles: ['operator'], now: new Date() })).token;
    victimId = (await issueToken(db(), { principal: 'victim', roles: ['app'], now: new Date() })).tokenId;
    for (const name of ['k', 'parked']) {
      assert.equal((await s.call('POST', '/v1/keys', { token: root, body: { name, type: 'aes256-gcm' } })).status, 201);
      assert.equal(
        (await s.call('POST', `/v1/keys/${name}/config`, { token: root, body: { deletionAllowed: true } })).status,
        200,
      );
    }
    const parked = await s.call('DELETE', '/v1/keys/parked', { token: op1 });
    assert.equal(parked.status, 202, JSON.stringify(parked.body));
    pendingApproval = parked.body.approvalId;
    defaultPolicy = (await s.call('GET', '/v1/policies', { token: root })).body.policies[0].sha256;
  });
  after(() => s.close());

  const cases: Array<[string, () => Promise<{ status: number; body: any; headers: Headers }>, () => Promise<void>]> = [
    [
      'key.create',
      () => s.call('POST', '/v1/keys', { token: root, body: { name: 'fresh', type: 'ed25519' } }),
      async () => {
        assertError(await s.call('GET', '/v1/keys/fresh', { token: root }), 404, 'KEY_NOT_FOUND');
        assert.equal(await count('barrier_entries', "path like 'keys/%'"), 2, 'no material stored for it');
      },
    ],
    [
      'key.rotate',
      () => s.call('POST', '/v1/keys/k/rotate', { token: root, body: {} }),
      async () => {
        assert.equal((await s.call('GET', '/v1/keys/k', { token: root })).body.latestVersion, 1);
      },
    ],
    [
      'key.config',
      () => s.call('POST', '/v1/keys/k/config', { token: root, body: { deletionAllowed: false } }),
      async () => {
        assert.equal((await s.call('GET', '/v1/keys/k', { token: root })).body.deletionAllowed, true);
      },
    ],
    [
      'key.delete (parked for approval)',
      () => s.call('DELETE', '/v1/keys/k', { token: op1 }),
      async () => {
        assert.equal(await count('approvals'), 1, 'no approval was parked');
      },
    ],
    [
      'auth.token.create',
      () => s.call('POST', '/v1/auth/tokens', { token: root, body: { principal: 'new', roles: ['app'], ttl: 3600 } }),
      async () => {
        assert.equal(await count('tokens', "principal = 'new'"), 0);
      },
    ],
    [
      'auth.token.revoke',
      () => s.call('DELETE', `/v1/auth/tokens/${victimId}`, { token: root }),
      async () => {
        assert.equal(await count('tokens', `id = '${victimId}' and revoked_at is null`), 1);
      },
    ],
    [
      'policy.activate',
      () => s.call('POST', `/v1/policies/${defaultPolicy}/activate`, { token: root, body: { scope: 'key', key: 'k' } }),
      async () => {
        assert.equal(await count('policy_bindings', "scope = 'key'"), 0);
      },
    ],
    [
      'sys.rotate',
      () => s.call('POST', '/v1/sys/rotate', { token: root, body: {} }),
      async () => {
        assert.equal(await count('keyring', 'active_term = 1'), 1);
      },
    ],
    [
      'approval.approve',
      () => s.call('POST', `/v1/approvals/${pendingApproval}/approve`, { token: op2, body: {} }),
      async () => {
        assert.equal(await count('approval_grants'), 0);
      },
    ],
    [
      'approval.deny',
      () => s.call('POST', `/v1/approvals/${pendingApproval}/deny`, { token: op2, body: { reason: 'no' } }),
      async () => {
        assert.equal(await count('approvals', "state = 'pending'"), 1);
      },
    ],
  ];

  for (const [op, request, unchanged] of cases) {
    it(`${op}: a refused record leaves the change unmade (503), and the server recovers`, async () => {
      const size = await auditHeadSize(db());
      const res = await refusingAppends(request);
      assertError(res, 503, 'AUDIT_UNAVAILABLE');
      assert.equal(res.headers.get('retry-after'), '1');
      assert.equal(await auditHeadSize(db()), size, 'nothing was appended');
      await unchanged();
      assert.equal((await s.call('GET', '/v1/sys/health')).status, 200);
    });
  }

  it('the same changes, accepted: each commits with one record that says what changed', async () => {
    const rotated = await s.call('POST', '/v1/keys/k/rotate', { token: root, body: {} });
    assert.equal(rotated.status, 200);
    const created = await s.call('POST', '/v1/auth/tokens', {
      token: root,
      body: { principal: 'new', roles: ['app'], ttl: 3600 },
    });
    assert.equal(created.status, 201);
    const approved = await s.call('POST', `/v1/approvals/${pendingApproval}/approve`, { token: op2, body: {} });
    assert.equal(approved.status, 200, JSON.stringify(approved.body));
    const parked = await s.call('DELETE', '/v1/keys/k', { token: op1 });
    assert.equal(parked.status, 202);

    const all = await records();
    const one = (requestId: string | null) => {
      const found = all.filter((r) => r.requestId === requestId);
      assert.equal(found.length, 1, `one record for request ${requestId}, got ${found.length}`);
      return found[0]!;
    };
    const rot = one(rotated.headers.get('x-request-id'));
    assert.equal(rot.operation, 'key.rotate');
    assert.equal(rot.status, 200);
    assert.deepEqual(rot.details, { version: 2 });
    const tok = one(created.headers.get('x-request-id'));
    assert.deepEqual(tok.details, {
      tokenId: created.body.tokenId,
      tokenPrincipal: 'new',
      roles: 'app',
      expiresAt: created.body.expiresAt,
    });
    assert.equal(one(approved.headers.get('x-request-id')).approvalId, pendingApproval);
    const park = one(parked.headers.get('x-request-id'));
    assert.equal(park.approvalId, parked.body.approvalId);
    assert.equal(park.status, 202);
    assert.equal(park.code, 'APPROVAL_PENDING');
    assert.equal(park.details?.required, 2);
    // The ceremony's record committed with the ceremony, naming it and the root token.
    const init = all.find((r) => r.operation === 'sys.init')!;
    assert.equal(init.details?.generation, 1);
    assert.match(String(init.details?.ceremonyId), /^[0-9a-f-]{36}$/);
    assert.match(String(init.details?.rootTokenId), /^tok_[0-9a-f]{16}$/);
  });

  it('a key purge commits with its record', async () => {
    assert.equal(
      (await s.call('DELETE', '/v1/keys/parked', { token: root })).status,
      202,
      'deletion itself needs approvals',
    );
    // Schedule behind the pipeline's back, as an executed approval would have.
    await db().execute(sql.raw(`UPDATE keys SET delete_after = now() WHERE name = 'parked'`));
    const later = new Date(Date.now() + (DELETION_RETENTION_DAYS + 1) * DAY);
    await refusingAppends(() => assert.rejects(s.hsm.keys.purgeExpired(later)));
    assert.equal(await count('keys', "name = 'parked'"), 1, 'not purged without its record');
    assert.deepEqual(await s.hsm.keys.purgeExpired(later), ['parked']);
    const purge = (await records()).filter((r) => r.operation === 'key.purge');
    assert.equal(purge.length, 1);
    assert.equal(purge[0]!.key, 'parked');
    assert.match(String(purge[0]!.details?.keyId), /^key_[0-9a-f]{24}$/);
  });
});
