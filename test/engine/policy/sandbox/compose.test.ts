import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { composeDecisions } from '../../../../engine/policy/sandbox/compose.js';
import type { EvaluationResult } from '../../../../engine/policy/sandbox/host.js';

const h = (c: string) => c.repeat(64);
const allow = (hash: string, reason = 'ok'): EvaluationResult => ({
  decision: 'allow',
  approvals: 0,
  group: '',
  reason,
  gas: 10,
  hash,
  fault: null,
});
const deny = (hash: string, reason = 'no'): EvaluationResult => ({
  decision: 'deny',
  approvals: 0,
  group: '',
  reason,
  gas: 20,
  hash,
  fault: null,
});
const approve = (hash: string, approvals: number, group = 'operator'): EvaluationResult => ({
  decision: 'require_approval',
  approvals,
  group,
  reason: `${approvals} from ${group}`,
  gas: 30,
  hash,
  fault: null,
});
const fault = (hash: string): EvaluationResult => ({
  decision: 'deny',
  approvals: 0,
  group: '',
  reason: 'POLICY_FAULT: out of gas',
  gas: 1000,
  hash,
  fault: 'out_of_gas',
});

describe('composeDecisions', () => {
  it('allows when every policy allows', () => {
    const r = composeDecisions([allow(h('a'), 'role app'), allow(h('b'))]);
    assert.equal(r.decision, 'allow');
    assert.equal(r.reason, 'role app');
    assert.equal(r.decidedBy, h('a'));
  });

  it('any deny denies, whatever the others say', () => {
    for (const others of [[allow(h('a'))], [approve(h('a'), 3)], [allow(h('a')), approve(h('c'), 2)]]) {
      const r = composeDecisions([...others, deny(h('d'), 'label mismatch')]);
      assert.equal(r.decision, 'deny');
      assert.equal(r.reason, 'label mismatch');
      assert.equal(r.decidedBy, h('d'));
    }
  });

  it('a fault is a deny', () => {
    const r = composeDecisions([allow(h('a')), fault(h('f'))]);
    assert.equal(r.decision, 'deny');
    assert.equal(r.reason, 'POLICY_FAULT: out of gas');
    assert.deepEqual(r.policies[1], {
      sha256: h('f'),
      decision: 'deny',
      gas: 1000,
      reason: 'POLICY_FAULT: out of gas',
      fault: 'out_of_gas',
    });
  });

  it('no policy ⇒ deny', () => {
    const r = composeDecisions([]);
    assert.equal(r.decision, 'deny');
    assert.equal(r.decidedBy, null);
    assert.deepEqual(r.policies, []);
  });

  it('the strongest approval requirement wins over allow; ties go to the first', () => {
    const r = composeDecisions([
      allow(h('a')),
      approve(h('b'), 2, 'operator'),
      approve(h('c'), 3, 'security'),
      approve(h('d'), 3, 'other'),
    ]);
    assert.equal(r.decision, 'require_approval');
    assert.equal(r.approvals, 3);
    assert.equal(r.group, 'security');
    assert.equal(r.decidedBy, h('c'));
    assert.deepEqual(
      r.requirements.map((x) => x.approvals),
      [2, 3, 3],
    );
  });

  it('approval requirements alone are a (conditional) allow, not a deny', () => {
    assert.equal(composeDecisions([approve(h('b'), 1)]).decision, 'require_approval');
  });

  it('records every policy, in order, for the audit log', () => {
    const r = composeDecisions([allow(h('a')), approve(h('b'), 2), deny(h('c'))]);
    assert.deepEqual(
      r.policies.map((p) => [p.sha256[0], p.decision, p.gas]),
      [
        ['a', 'allow', 10],
        ['b', 'require_approval', 30],
        ['c', 'deny', 20],
      ],
    );
  });
});
