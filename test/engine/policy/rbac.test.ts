import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { before, describe, it } from 'node:test';
import { compileFixture, ROOT } from './helpers.js';
import { decideBuiltinRbac } from './rbac-oracle.js';
import { parseCases, runCases } from '../../../engine/policy/toolchain/cases.js';
import { loadDefaultPolicy } from '../../../engine/policy/bindings/default.js';
import { loadPolicy } from '../../../engine/policy/sandbox/host.js';
import type { LoadedPolicy } from '../../../engine/policy/sandbox/host.js';
import { defaultPolicyPath } from '../../../engine/policy/toolchain/paths.js';

const json = (path: string): unknown => JSON.parse(readFileSync(ROOT + path, 'utf8'));

function assertAllPass(policy: LoadedPolicy, cases: unknown): number {
  const results = runCases(policy, cases);
  const failed = results.filter((r) => !r.pass).map((r) => `${r.name}: ${r.mismatches.join('; ')}`);
  assert.deepEqual(failed, []);
  return results.length;
}

describe('the default RBAC policy (policies/default/rbac.ts)', () => {
  let rbac: LoadedPolicy;
  before(async () => {
    rbac = await loadDefaultPolicy();
  });

  it('is found under the package root', () => {
    assert.equal(defaultPolicyPath(), `${ROOT}build/policies/rbac.wasm`);
  });

  it('passes its cases file: the whole role × operation matrix', () => {
    assert.ok(assertAllPass(rbac, json('policies/default/rbac.cases.json')) >= 200);
  });

  it('agrees with the role matrix it replaces, roles in any order and combination', () => {
    const cases = parseCases(json('policies/default/rbac.cases.json'));
    const ops = [...new Set(cases.map((c) => c.input.operation))];
    const roles = ['admin', 'operator', 'app', 'auditor', 'monitor', 'root'];
    for (let mask = 0; mask < 1 << roles.length; mask++) {
      const set = roles.filter((_, i) => mask & (1 << i)).sort();
      for (const operation of ops) {
        const expected = decideBuiltinRbac(set, operation);
        const got = rbac.evaluate({
          operation,
          principal: 'p',
          roles: [...set].reverse(),
          attributes: {},
          payloadBytes: 0,
          time: 0,
          approvals: 0,
        });
        assert.deepEqual(
          [got.decision, got.reason],
          [expected.decision, expected.reason],
          `${set.join('+')} ${operation}`,
        );
      }
    }
  });

  it('token administration is admin-only; whoami is anyone', () => {
    for (const role of ['operator', 'app', 'auditor']) {
      for (const operation of ['auth.token.create', 'auth.token.revoke']) {
        assert.equal(
          rbac.evaluate({
            operation,
            principal: 'p',
            roles: [role],
            attributes: {},
            payloadBytes: 0,
            time: 0,
            approvals: 0,
          }).decision,
          'deny',
        );
      }
    }
    assert.equal(
      rbac.evaluate({
        operation: 'auth.whoami',
        principal: 'p',
        roles: [],
        attributes: {},
        payloadBytes: 0,
        time: 0,
        approvals: 0,
      }).decision,
      'allow',
    );
  });

  it('is reported by hash like any other policy', async () => {
    const built = await loadPolicy(await compileFixture('policies/default/rbac.ts'));
    assert.equal(rbac.sha256, built.sha256);
    assert.equal(
      rbac.evaluate({
        operation: 'sys.seal',
        principal: 'p',
        roles: ['operator'],
        attributes: {},
        payloadBytes: 0,
        time: 0,
        approvals: 0,
      }).hash,
      built.sha256,
    );
  });
});

describe('the example policy (policies/examples/critical-decrypt.ts)', () => {
  it('passes its cases file', async () => {
    const policy = await loadPolicy(await compileFixture('policies/examples/critical-decrypt.ts'));
    assert.ok(assertAllPass(policy, json('policies/examples/critical-decrypt.cases.json')) >= 10);
  });
});

describe('runCases', () => {
  it('reports what differs, case by case', async () => {
    const policy = await loadDefaultPolicy();
    const [ok, bad] = runCases(policy, [
      { name: 'fine', input: { operation: 'auth.whoami', principal: 'p' }, expect: { decision: 'allow' } },
      {
        name: 'wrong',
        input: { operation: 'sys.seal', principal: 'p', roles: ['app'] },
        expect: { decision: 'allow', reasonContains: 'operator' },
      },
    ]);
    assert.equal(ok!.pass, true);
    assert.equal(bad!.pass, false);
    assert.deepEqual(bad!.mismatches, [
      'decision: expected "allow", got "deny"',
      'reason: expected to contain "operator", got "no role of [app] permits sys.seal"',
    ]);
  });

  it('refuses malformed cases files, naming the case', () => {
    assert.throws(() => parseCases('{}'), { code: 'POLICY_CASES_INVALID', message: /expected a JSON array/ } as object);
    assert.throws(
      () => parseCases([{ name: 'x', input: { operation: 'o', principal: 'p' }, expect: { decision: 'maybe' } }]),
      { code: 'POLICY_CASES_INVALID', message: /case 0 "x"/ } as object,
    );
    assert.throws(() => parseCases([{ name: 'y', input: { operation: 'o' }, expect: { decision: 'allow' } }]), {
      code: 'POLICY_CASES_INVALID',
      message: /case 0 "y": .*principal: is missing/,
    } as object);
  });
});
