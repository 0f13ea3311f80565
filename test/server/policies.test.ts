/**
 * Every request goes through the WebAssembly policies: the default RBAC policy is installed at init,
 * pushed policies are validated and stored by hash, activation composes (deny wins), and the routes
 * reject bad input with codes.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { issueToken } from '../../engine/auth/tokens.js';
import { devBootstrap } from '../../engine/dev.js';
import { defaultPolicyWasm } from '../../engine/policy/bindings/index.js';
import { compilePolicy } from '../../engine/policy/toolchain/index.js';
import { DEFAULT_POLICY_NAME } from '../../engine/policy/bindings/service.js';
import { completeApproval } from '../helpers/approvals.js';
import { startTestServer } from '../helpers/server.js';
import type { TestServer } from '../helpers/server.js';
import { createHash } from 'node:crypto';
import { assertError } from '../helpers/wire.js';

const DENY_ROTATE = `import { Request, Decision } from "keyward";
export function decide(req: Request): Decision {
  if (req.operationIs("sys.rotate")) return Decision.deny("rotation is frozen this week");
  return Decision.allow();
}
`;

describe('/v1/policies and policy enforcement', () => {
  let s: TestServer;
  let root: string;
  const tokens: Record<string, string> = {};
  let dir: string;
  let denyRotate: { wasm: Uint8Array; sha256: string };

  before(async () => {
    s = await startTestServer();
    root = (await devBootstrap(s.hsm)).rootToken;
    for (const role of ['operator', 'app', 'auditor']) {
      tokens[role] = (
        await issueToken(s.hsm.store.db, { principal: `${role}-1`, roles: [role], now: new Date() })
      ).token;
    }
    tokens.none = (await issueToken(s.hsm.store.db, { principal: 'nobody', roles: [], now: new Date() })).token;
    dir = await mkdtemp(join(tmpdir(), 'keyward-pol-'));
    await writeFile(join(dir, 'deny-rotate.ts'), DENY_ROTATE);
    denyRotate = await compilePolicy(join(dir, 'deny-rotate.ts'));
  });
  after(async () => {
    await s.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('init installed the default RBAC policy, active globally, reported by hash', async () => {
    const r = await s.call('GET', '/v1/policies', { token: root });
    assert.equal(r.status, 200);
    assert.equal(r.body.policies.length, 1);
    const p = r.body.policies[0];
    assert.equal(p.name, DEFAULT_POLICY_NAME);
    assert.equal(
      p.sha256,
      createHash('sha256')
        .update(await defaultPolicyWasm())
        .digest('hex'),
    );
    assert.deepEqual(
      p.bindings.map((b: any) => b.scope),
      ['global'],
    );
  });

  const matrix: Array<[string, string, string, number]> = [
    ['operator', 'POST', '/v1/sys/rotate', 200],
    ['app', 'POST', '/v1/sys/rotate', 403],
    ['auditor', 'POST', '/v1/sys/rotate', 403],
    ['none', 'POST', '/v1/sys/rotate', 403],
    ['app', 'GET', '/v1/auth/whoami', 200],
    ['none', 'GET', '/v1/auth/whoami', 200],
    ['operator', 'GET', '/v1/policies', 200],
    ['app', 'GET', '/v1/policies', 403],
    ['auditor', 'GET', '/v1/policies', 403],
  ];
  for (const [role, method, path, status] of matrix) {
    it(`RBAC: ${role} ${method} ${path} → ${status}`, async () => {
      const r = await s.call(method, path, { token: tokens[role]! });
      assert.equal(r.status, status, JSON.stringify(r.body));
      if (status === 403) assertError(r, 403, 'POLICY_DENIED', /denied/);
    });
  }

  it('push validates and stores by hash; the same bytes twice are one policy', async () => {
    const body = { name: 'deny-rotate', wasm: Buffer.from(denyRotate.wasm).toString('base64') };
    const r = await s.call('POST', '/v1/policies', { token: tokens.operator!, body });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.sha256, denyRotate.sha256);
    assert.equal(r.body.created, true);
    const again = await s.call('POST', '/v1/policies', { token: root, body });
    assert.equal(again.body.created, false);
    assertError(await s.call('POST', '/v1/policies', { token: tokens.app!, body }), 403, 'POLICY_DENIED');
  });

  const badPushes: Array<[string, unknown, number, string]> = [
    ['no body', {}, 400, 'VALIDATION_FAILED'],
    ['wasm not base64', { name: 'x', wasm: '***' }, 400, 'VALIDATION_FAILED'],
    ['bad name', { name: '../etc', wasm: 'AAAA' }, 400, 'VALIDATION_FAILED'],
    ['not a wasm module', { name: 'x', wasm: Buffer.from('hello world').toString('base64') }, 400, 'POLICY_INVALID'],
    ['truncated module', { name: 'x', wasm: 'AGFzbQEAAAA=' }, 400, 'POLICY_INVALID'],
  ];
  for (const [name, body, status, code] of badPushes) {
    it(`push rejects ${name} with ${status} ${code}`, async () => {
      assertError(await s.call('POST', '/v1/policies', { token: root, body }), status, code);
    });
  }

  it('push rejects a module with a clock import, naming it', async () => {
    const src = `import { Request, Decision } from "keyward";
export function decide(req: Request): Decision { return Date.now() > 0 ? Decision.allow() : Decision.deny("x"); }`;
    await writeFile(join(dir, 'clock.ts'), src);
    const { wasm } = await compilePolicy(join(dir, 'clock.ts'));
    const r = await s.call('POST', '/v1/policies', {
      token: root,
      body: { name: 'clock', wasm: Buffer.from(wasm).toString('base64') },
    });
    assertError(r, 400, 'POLICY_INVALID', /import/i);
  });

  /** Activation and deactivation are under dual control (two operators approve; docs/approvals.md). */
  const approved = async (action: 'activate' | 'deactivate', sha256: string, body: unknown) =>
    completeApproval(s, await s.call('POST', `/v1/policies/${sha256}/${action}`, { token: root, body }), root, body);

  it('activate rejects unknown and malformed hashes and bad scopes', async () => {
    // The policies decide (and park the request) before the operation looks for the policy.
    assertError(await approved('activate', 'a'.repeat(64), { scope: 'global' }), 404, 'POLICY_NOT_FOUND');
    assertError(
      await s.call('POST', '/v1/policies/xyz/activate', { token: root, body: { scope: 'global' } }),
      400,
      'VALIDATION_FAILED',
    );
    assertError(
      await s.call('POST', `/v1/policies/${denyRotate.sha256}/activate`, { token: root, body: { scope: 'key' } }),
      400,
      'VALIDATION_FAILED',
    );
    assertError(
      await s.call('POST', `/v1/policies/${denyRotate.sha256}/activate`, {
        token: root,
        body: { scope: 'everywhere' },
      }),
      400,
      'VALIDATION_FAILED',
    );
    assertError(
      await s.call('POST', `/v1/policies/${denyRotate.sha256}/activate`, {
        token: tokens.app!,
        body: { scope: 'global' },
      }),
      403,
      'POLICY_DENIED',
    );
  });

  it('an activated global policy composes with RBAC: its deny wins even for admin', async () => {
    assert.equal((await s.call('POST', '/v1/sys/rotate', { token: root })).status, 200);
    const act = await approved('activate', denyRotate.sha256, { scope: 'global' });
    assert.equal(act.status, 200, JSON.stringify(act.body));
    assertError(
      await s.call('POST', '/v1/sys/rotate', { token: root }),
      403,
      'POLICY_DENIED',
      /rotation is frozen this week/,
    );
    // other operations are still allowed by both
    assert.equal((await s.call('GET', '/v1/auth/whoami', { token: root })).status, 200);
    // and the RBAC deny still applies to the app role
    assertError(await s.call('GET', '/v1/policies', { token: tokens.app! }), 403, 'POLICY_DENIED');
    const off = await approved('deactivate', denyRotate.sha256, { scope: 'global' });
    assert.equal(off.status, 200, JSON.stringify(off.body));
    assert.equal((await s.call('POST', '/v1/sys/rotate', { token: root })).status, 200);
  });

  it('refuses to deactivate the last global policy (lockout guard)', async () => {
    const list = (await s.call('GET', '/v1/policies', { token: root })).body.policies;
    const def = list.find((p: any) => p.name === DEFAULT_POLICY_NAME);
    assertError(await approved('deactivate', def.sha256, { scope: 'global' }), 409, 'POLICY_LOCKOUT');
    assertError(await approved('deactivate', denyRotate.sha256, { scope: 'global' }), 404, 'POLICY_NOT_FOUND');
  });

  it('evaluate runs a stored policy or the active set on an input, without side effects', async () => {
    const input = {
      operation: 'sys.rotate',
      principal: 'p',
      roles: ['app'],
      key: null,
      attributes: {},
      payloadBytes: 0,
      time: 0,
      approvals: 0,
    };
    const one = await s.call('POST', '/v1/policies/evaluate', {
      token: root,
      body: { hash: denyRotate.sha256, input },
    });
    assert.equal(one.status, 200, JSON.stringify(one.body));
    assert.equal(one.body.decision, 'deny');
    assert.equal(one.body.hash, denyRotate.sha256);
    assert.ok(one.body.gas > 0);
    const set = await s.call('POST', '/v1/policies/evaluate', { token: root, body: { input } });
    assert.equal(set.body.decision, 'deny');
    assert.equal(set.body.policies.length, 1);
    const bad = await s.call('POST', '/v1/policies/evaluate', { token: root, body: { input: { operation: 7 } } });
    assertError(bad, 400, 'POLICY_INPUT_INVALID');
  });

  it('a per-key binding applies only to requests on that key', async () => {
    const { PolicyService } = await import('../../engine/policy/bindings/service.js');
    const svc: InstanceType<typeof PolicyService> = s.hsm.policies;
    await svc.activate(denyRotate.sha256, 'key', 'payments', 'test');
    const base = {
      operation: 'sys.rotate',
      principal: 'root',
      roles: ['admin'],
      attributes: {},
      payloadBytes: 0,
      time: 0,
      approvals: 0,
    };
    assert.equal(
      (await svc.decide({ ...base, key: { name: 'payments', type: 'aes256-gcm', version: 1, labels: {} } })).decision,
      'deny',
    );
    assert.equal(
      (await svc.decide({ ...base, key: { name: 'other', type: 'aes256-gcm', version: 1, labels: {} } })).decision,
      'allow',
    );
    assert.equal((await svc.decide({ ...base, key: null })).decision, 'allow');
    await svc.deactivate(denyRotate.sha256, 'key', 'payments');
  });

  it('the default wasm on disk matches what the server installed', async () => {
    const built = new Uint8Array(
      await readFile(new URL('../../build/policies/rbac.wasm', import.meta.url)).catch(() => defaultPolicyWasm()),
    );
    assert.deepEqual(built, await defaultPolicyWasm());
  });
});

describe('default policy recovery', () => {
  it('an initialized store with no global policy gets the default back at open', async () => {
    const s = await startTestServer();
    try {
      const root = (await devBootstrap(s.hsm)).rootToken;
      const { policyBindings } = await import('../../engine/store/index.js');
      await s.hsm.store.db.delete(policyBindings); // what a crash between init's two steps leaves
      await s.restart();
      assert.equal(await s.hsm.policies.hasGlobal(), true);
      const list = (await s.hsm.policies.list()).find((p) => p.name === DEFAULT_POLICY_NAME);
      assert.deepEqual(
        list?.bindings.map((b) => b.scope),
        ['global'],
      );
      assert.ok(root);
    } finally {
      await s.close();
    }
  });
});
