/**
 * Dual control with two server nodes on one PostgreSQL database: approvals made on either node
 * count, the same principal approving on both at once counts once, and the requester executing on
 * both nodes at once gets exactly one execution. (PostgreSQL only: PGlite is one process.)
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { fromBase64 } from '../../lib/bytes.js';
import { decodeRecord } from '../../engine/audit/math/record.js';
import { issueToken } from '../../engine/auth/tokens.js';
import { devBootstrap, devUnseal } from '../../engine/dev.js';
import { Hsm } from '../../engine/hsm.js';
import { compileFixture } from '../engine/policy/helpers.js';
import { openStore, readAuditRecords } from '../../engine/store/index.js';
import type { Store } from '../../engine/store/index.js';
import { statusFor } from '../../server/errors.js';
import { createLogger } from '../../server/log.js';
import { listen } from '../../server/main.js';
import type { RunningServer } from '../../server/main.js';
import { createTestDatabaseUrl, describePostgres } from '../helpers/store.js';
import { b64 } from '../helpers/wire.js';

describePostgres('approvals with two nodes on one PostgreSQL', { timeout: 180_000 }, () => {
  let db: { url: string; drop(): Promise<void> };
  const stores: Store[] = [];
  const hsms: Hsm[] = [];
  const servers: RunningServer[] = [];
  let root: string;
  const tokens: Record<string, string> = {};

  const call = async (node: number, method: string, path: string, token: string, body?: unknown) => {
    const res = await fetch(servers[node]!.url + path, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, body: (await res.json()) as any };
  };

  before(async () => {
    db = await createTestDatabaseUrl();
    const openNode = async (i: number) => {
      const store = await openStore({ databaseUrl: db.url });
      stores.push(store);
      hsms.push(await Hsm.open({ store, statusOf: statusFor, node: `node-${i}` }));
    };
    await openNode(0);
    const dev = await devBootstrap(hsms[0]!);
    root = dev.rootToken;
    // Set-up, not under test: the example policy guarding tier=critical keys, active globally.
    const policy = { wasm: await compileFixture('policies/examples/critical-decrypt.ts') };
    const { sha256 } = await hsms[0]!.policies.push(policy.wasm, 'critical-decrypt', 'test');
    await hsms[0]!.policies.activate(sha256, 'global', undefined, 'test');
    await openNode(1);
    await devUnseal(hsms[1]!, fromBase64(dev.unsealShare, 'share'));
    for (const [principal, role] of [
      ['svc', 'app'],
      ['op-a', 'operator'],
      ['op-b', 'operator'],
    ] as const) {
      tokens[principal] = (await issueToken(stores[0]!.db, { principal, roles: [role], now: new Date() })).token;
    }
    const log = createLogger({ write: () => {} });
    for (const hsm of hsms) servers.push(await listen({ hsm, log, listen: '127.0.0.1:0' }));
  });

  after(async () => {
    for (const s of servers) await s.close();
    for (const h of hsms) await h.close();
    await db?.drop();
  });

  it('counts approvals from both nodes once each and executes exactly once when both nodes race', async () => {
    assert.equal(
      (await call(0, 'POST', '/v1/keys', root, { name: 'crown', type: 'aes256-gcm', labels: { tier: 'critical' } }))
        .status,
      201,
    );
    const plaintext = b64('crown jewels');
    const ct = (await call(1, 'POST', '/v1/keys/crown/encrypt', tokens.svc!, { plaintext })).body.ciphertext;
    const parked = await call(0, 'POST', '/v1/keys/crown/decrypt', tokens.svc!, { ciphertext: ct });
    assert.equal(parked.status, 202, JSON.stringify(parked.body));
    const id = parked.body.approvalId as string;

    // The same principal on both nodes at once: one approval.
    const dup = await Promise.all(
      [0, 1].map((n) => call(n, 'POST', `/v1/approvals/${id}/approve`, tokens['op-a']!, {})),
    );
    assert.deepEqual(dup.map((r) => r.status).sort(), [200, 409], JSON.stringify(dup.map((r) => r.body)));
    assert.equal(dup.find((r) => r.status === 409)!.body.error.code, 'APPROVAL_DUPLICATE');
    // Not enough yet, on either node.
    assert.equal(
      (await call(1, 'POST', `/v1/approvals/${id}/execute`, tokens.svc!, { ciphertext: ct })).body.error.code,
      'APPROVAL_INSUFFICIENT',
    );
    assert.equal((await call(1, 'POST', `/v1/approvals/${id}/approve`, tokens['op-b']!, {})).status, 200);
    assert.equal((await call(0, 'GET', `/v1/approvals/${id}`, tokens.svc!)).body.approvals, 2);

    // The requester executes on both nodes, several times each, all at once.
    const runs = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        call(i % 2, 'POST', `/v1/approvals/${id}/execute`, tokens.svc!, { ciphertext: ct }),
      ),
    );
    const ok = runs.filter((r) => r.status === 200);
    assert.equal(ok.length, 1, JSON.stringify(runs.map((r) => [r.status, r.body.error?.code])));
    assert.equal(ok[0]!.body.plaintext, plaintext);
    assert.ok(
      runs
        .filter((r) => r.status !== 200)
        .every((r) => r.status === 409 && r.body.error.code === 'APPROVAL_NOT_PENDING'),
    );
    assert.equal((await call(1, 'GET', `/v1/approvals/${id}`, tokens.svc!)).body.state, 'executed');

    const recs = (await readAuditRecords(stores[1]!.db, 0, 1_000_000))
      .map((r) => decodeRecord(r.leaf))
      .filter((r) => r.approvalId === id);
    assert.equal(recs.filter((r) => r.operation === 'decrypt' && r.status === 200).length, 1);
    assert.equal(recs.filter((r) => r.operation === 'approval.approve').length, 3);
    assert.deepEqual(new Set(recs.map((r) => r.node)), new Set(['node-0', 'node-1']));
  });
});
