import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { abiModule, compileFixture, fixedEvaluate, SAMPLE_INPUT, wat } from '../helpers.js';
import { encodePolicyInput } from '../../../../engine/policy/sandbox/abi.js';
import { loadBinaryen, readModule } from '../../../../engine/policy/sandbox/binaryen.js';
import { GAS_BUDGET_DEFAULT, GAS_BUDGET_MAX, meterModule } from '../../../../engine/policy/sandbox/gas.js';
import { validateModule } from '../../../../engine/policy/sandbox/validate.js';
import { loadPolicy } from '../../../../engine/policy/sandbox/host.js';
import type { EvaluationResult, LoadedPolicy } from '../../../../engine/policy/sandbox/host.js';
import { PolicyRegistry } from '../../../../engine/policy/sandbox/registry.js';

const load = async (name: string) => loadPolicy(await compileFixture(name));

/** Runs `n` evaluations and asserts they all give the same result; returns it. */
function same(policy: LoadedPolicy, n: number, run: () => EvaluationResult): EvaluationResult {
  const first = run();
  for (let i = 1; i < n; i++) assert.deepEqual(run(), first);
  return first;
}

describe('faults end in deny, within a bounded and reproducible gas count', () => {
  it('an infinite loop runs out of gas at the budget, every time', async () => {
    const policy = await load('loop');
    const t = performance.now();
    const r = same(policy, 3, () => policy.evaluate(SAMPLE_INPUT));
    assert.ok(performance.now() - t < 2000, 'bounded in time too');
    assert.deepEqual(
      { ...r, hash: '' },
      {
        decision: 'deny',
        approvals: 0,
        group: '',
        reason: 'POLICY_FAULT: out of gas',
        gas: GAS_BUDGET_DEFAULT,
        hash: '',
        fault: 'out_of_gas',
      },
    );
    assert.equal(r.hash, policy.sha256);
    const small = same(policy, 3, () => policy.evaluate(SAMPLE_INPUT, { gasBudget: 5000 }));
    assert.equal(small.gas, 5000);
    assert.equal(small.fault, 'out_of_gas');
  });

  it('a memory bomb traps (fixed memory) and the next evaluation is unaffected', async () => {
    const policy = await load('memory-bomb');
    const r = same(policy, 3, () => policy.evaluate(SAMPLE_INPUT));
    assert.equal(r.decision, 'deny');
    assert.equal(r.fault, 'trap');
    assert.equal(r.reason, 'POLICY_FAULT: trap: unreachable');
    assert.ok(r.gas > 0 && r.gas < GAS_BUDGET_DEFAULT);
    // Out of gas before out of memory with a small budget: the point of failure moves, deterministically.
    const tight = same(policy, 3, () => policy.evaluate(SAMPLE_INPUT, { gasBudget: Math.floor(r.gas / 2) }));
    assert.equal(tight.fault, 'out_of_gas');
  });

  it('an abort is a deny naming the message and where it was thrown', async () => {
    const policy = await load('abort');
    const r = same(policy, 3, () => policy.evaluate(SAMPLE_INPUT));
    assert.equal(r.decision, 'deny');
    assert.equal(r.fault, 'abort');
    assert.equal(r.reason, 'POLICY_FAULT: abort: policy bug: alice (abort.ts:5:35)');
    assert.equal(policy.evaluate({ ...SAMPLE_INPUT, operation: 'decrypt' }).decision, 'allow');
    assert.deepEqual(policy.evaluate(SAMPLE_INPUT), r);
  });

  it('deep recursion never runs: it is rejected at validation (see validate.test.ts)', async () => {
    await assert.rejects(load('recursion'), { code: 'POLICY_INVALID', message: /recursion/ } as object);
  });

  it('malformed output records are denied', async () => {
    const badGroup = await load('bad-group');
    assert.equal(
      badGroup.evaluate(SAMPLE_INPUT).reason,
      'POLICY_FAULT: bad output: approval group longer than 64 characters',
    );
    assert.equal(
      badGroup.evaluate({ ...SAMPLE_INPUT, operation: 'zero' }).reason,
      'POLICY_FAULT: bad output: require_approval with approvals 0, expected 1..32',
    );
    assert.equal(badGroup.evaluate({ ...SAMPLE_INPUT, operation: 'many' }).fault, 'bad_output');
    const outputs: Array<[string, RegExp]> = [
      [fixedEvaluate(99), /unknown decision code 99/],
      [fixedEvaluate(1, 3), /allow with approvals 3, expected 0/],
      [fixedEvaluate(1, 0, 20), /record length 20 does not match its fields/],
      [fixedEvaluate(1, 0, 100000), /record of 100000 bytes/],
      [fixedEvaluate(1, 0, 3), /record of 3 bytes/],
      [fixedEvaluate(0), /unknown decision code 0/],
    ];
    for (const [evaluate, re] of outputs) {
      const r = (await loadPolicy(await wat(abiModule({ evaluate })))).evaluate(SAMPLE_INPUT);
      assert.equal(r.decision, 'deny');
      assert.equal(r.fault, 'bad_output');
      assert.match(r.reason, re);
    }
  });

  it('traps in hand-written code are denied with a stable name', async () => {
    const oob = await loadPolicy(
      await wat(
        abiModule({ evaluate: '(func (export "evaluate") (param i32) (result i32) (i32.load (i32.const 1000000)))' }),
      ),
    );
    assert.equal(oob.evaluate(SAMPLE_INPUT).reason, 'POLICY_FAULT: trap: memory access out of bounds');
    const div = await loadPolicy(
      await wat(
        abiModule({
          evaluate: '(func (export "evaluate") (param i32) (result i32) (i32.div_u (i32.const 1) (i32.const 0)))',
        }),
      ),
    );
    assert.equal(div.evaluate(SAMPLE_INPUT).reason, 'POLICY_FAULT: trap: integer divide by zero');
  });

  it('bad inputs are denied, never thrown', async () => {
    const policy = await load('policies/default/rbac.ts');
    const over = policy.evaluate({ ...SAMPLE_INPUT, operation: 'x'.repeat(500) });
    assert.equal(over.fault, 'input_invalid');
    assert.match(over.reason, /^POLICY_FAULT: invalid policy input: "operation" expected at most 128 UTF-8 bytes/);
    assert.equal(policy.evaluate(new Uint8Array(20000)).fault, 'input_invalid');
    assert.equal(policy.evaluate(new Uint8Array(40)).fault, 'input_rejected');
    // The instance is still good afterwards.
    assert.equal(policy.evaluate({ ...SAMPLE_INPUT, roles: ['admin'] }).decision, 'allow');
    assert.throws(() => policy.evaluate(SAMPLE_INPUT, { gasBudget: 0 }), RangeError);
    assert.throws(() => policy.evaluate(SAMPLE_INPUT, { gasBudget: GAS_BUDGET_MAX + 1 }), RangeError);
  });
});

describe('isolation', () => {
  it('a policy counting calls in globals and heap memory sees a fresh state every time', async () => {
    const policy = await load('counter');
    for (let i = 0; i < 5; i++) assert.equal(policy.evaluate(SAMPLE_INPUT).reason, 'calls=1 seen=1 longest=alice');
    // A reason as long as the last one but not the same is decoded afresh (the host remembers the last text).
    assert.equal(policy.evaluate({ ...SAMPLE_INPUT, principal: 'carol' }).reason, 'calls=1 seen=1 longest=carol');
    assert.equal(
      policy.evaluate({ ...SAMPLE_INPUT, principal: 'a-much-longer-principal' }).reason,
      'calls=1 seen=1 longest=a-much-longer-principal',
    );
    assert.equal(policy.evaluate({ ...SAMPLE_INPUT, principal: 'bo' }).reason, 'calls=1 seen=1 longest=bo');
  });

  it('a short input does not see the tail of a longer previous one', async () => {
    // evaluate(len): deny if any byte of the input region after the input is non-zero.
    const scan = `(func (export "evaluate") (param $len i32) (result i32) (local $i i32)
      (local.set $i (i32.add (i32.const 1024) (local.get $len)))
      (block $done (loop $next
        (br_if $done (i32.ge_u (local.get $i) (i32.const 17408)))
        (if (i32.load8_u (local.get $i)) (then
          (i32.store (i32.const 17408) (i32.const 2))
          (i32.store offset=4 (i32.const 17408) (i32.const 0))
          (i32.store offset=8 (i32.const 17408) (i32.const 0))
          (i32.store offset=12 (i32.const 17408) (i32.const 0))
          (return (i32.const 16))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
      ${fixedEvaluate(1)
        .replace(/^\(func \$evaluate \(export "evaluate"\) \(param \$len i32\) \(result i32\)/, '')
        .replace(/\)$/, '')})`;
    const policy = await loadPolicy(await wat(abiModule({ evaluate: scan })));
    const long = { ...SAMPLE_INPUT, attributes: { blob: 'x'.repeat(1000) } };
    assert.equal(policy.evaluate(long, { gasBudget: 10_000_000 }).decision, 'allow');
    assert.equal(policy.evaluate(SAMPLE_INPUT, { gasBudget: 10_000_000 }).decision, 'allow');
  });

  it('writes anywhere in memory are undone (memory.fill over the whole heap)', async () => {
    const scribble = `(func (export "evaluate") (param $len i32) (result i32)
      (if (i32.load8_u (i32.const 40000)) (then (memory.fill (i32.const 17408) (i32.const 0) (i32.const 16)) (return (i32.const 16))))
      (memory.fill (i32.const 30000) (i32.const 255) (i32.const 100000))
      ${fixedEvaluate(1)
        .replace(/^\(func \$evaluate \(export "evaluate"\) \(param \$len i32\) \(result i32\)/, '')
        .replace(/\)$/, '')})`;
    const policy = await loadPolicy(await wat(abiModule({ evaluate: scribble })));
    // If the fill survived, the second call would see it and write decision 0 (a bad output).
    for (let i = 0; i < 3; i++) assert.equal(policy.evaluate(SAMPLE_INPUT).decision, 'allow');
  });

  it('the same input gives the same result and gas on separately loaded instances', async () => {
    const wasm = await compileFixture('policies/default/rbac.ts');
    const [a, b] = [await loadPolicy(wasm), await loadPolicy(wasm)];
    for (const input of [
      SAMPLE_INPUT,
      { ...SAMPLE_INPUT, operation: 'sys.seal' },
      { ...SAMPLE_INPUT, roles: ['auditor'], operation: 'audit.export' },
    ]) {
      const x = a.evaluate(input);
      assert.deepEqual(b.evaluate(input), x);
      assert.deepEqual(a.evaluate(encodePolicyInput(input)), x);
    }
  });
});

describe('gas metering', () => {
  it('keeps modules valid (binaryen validation of the instrumented module)', async () => {
    const b = await loadBinaryen();
    for (const name of [
      'policies/default/rbac.ts',
      'policies/examples/critical-decrypt.ts',
      'echo',
      'counter',
      'loop',
      'memory-bomb',
      'abort',
    ]) {
      const wasm = await compileFixture(name);
      const m = readModule(b, wasm);
      try {
        validateModule(b, m, wasm);
        meterModule(b, m);
        assert.ok(m.validate(), name);
      } finally {
        m.dispose();
      }
    }
  });

  it('charges the path taken: an early exit costs less than the full walk', async () => {
    const policy = await load('policies/default/rbac.ts');
    const whoami = policy.evaluate({ ...SAMPLE_INPUT, operation: 'auth.whoami' });
    const denied = policy.evaluate({ ...SAMPLE_INPUT, roles: ['auditor'], operation: 'sys.seal' });
    assert.ok(whoami.gas > 0 && whoami.gas * 2 < denied.gas, `${whoami.gas} vs ${denied.gas}`);
  });
});

describe('PolicyRegistry', () => {
  it('loads once per hash, dedupes concurrent loads and evicts the least recently used', async () => {
    const registry = new PolicyRegistry({ maxEntries: 2 });
    const [rbac, counter, abort] = await Promise.all([
      compileFixture('policies/default/rbac.ts'),
      compileFixture('counter'),
      compileFixture('abort'),
    ]);
    const [x, y] = await Promise.all([registry.load(rbac), registry.load(rbac)]);
    assert.equal(x.policy, y.policy);
    assert.equal(registry.get(x.sha256), x.policy);
    const c = await registry.load(counter);
    registry.get(x.sha256); // rbac is now the most recently used
    await registry.load(abort);
    assert.equal(registry.size, 2);
    assert.equal(registry.has(c.sha256), false);
    assert.equal(registry.has(x.sha256), true);
    assert.equal(registry.get('0'.repeat(64)), undefined);
    await assert.rejects(registry.load(new Uint8Array([1, 2, 3])), { code: 'POLICY_INVALID' } as object);
    assert.throws(() => new PolicyRegistry({ maxEntries: 0 }), RangeError);
  });
});
