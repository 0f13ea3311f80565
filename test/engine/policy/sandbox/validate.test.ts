import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { abiModule, compileFixture, fixedEvaluate, wat } from '../helpers.js';
import { loadBinaryen } from '../../../../engine/policy/sandbox/binaryen.js';
import { loadPolicy } from '../../../../engine/policy/sandbox/host.js';
import { MAX_MODULE_BYTES, validatePolicy } from '../../../../engine/policy/sandbox/validate.js';

/** Asserts validation fails with POLICY_INVALID and a message matching every pattern. */
async function rejects(wasm: Uint8Array | Promise<Uint8Array>, ...patterns: RegExp[]): Promise<void> {
  const bytes = await wasm;
  for (const attempt of [() => validatePolicy(bytes), () => loadPolicy(bytes)]) {
    await assert.rejects(attempt(), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'POLICY_INVALID', err.message);
      for (const p of patterns) assert.match(err.message, p);
      return true;
    });
  }
}

describe('validatePolicy: compiled AssemblyScript', () => {
  it('accepts the default policy and describes it', async () => {
    const info = await validatePolicy(await compileFixture('policies/default/rbac.ts'));
    assert.equal(info.abiVersion, 1);
    assert.equal(info.memoryPages, 4);
    assert.equal(info.input.capacity, 16384);
    assert.equal(info.hasStart, true);
    assert.match(info.sha256, /^[0-9a-f]{64}$/);
    assert.ok(info.maxCallDepth >= 1 && info.stackEstimate > 0);
  });

  it('rejects randomness (Math.random imports env.seed)', () =>
    rejects(compileFixture('random'), /imports env\.seed \(function\): only env\.abort may be imported/));
  it('rejects the clock (Date.now)', () => rejects(compileFixture('clock'), /imports env\.Date\.now/));
  it('rejects trace', () => rejects(compileFixture('trace'), /imports env\.trace/));
  it('rejects floating point', () => rejects(compileFixture('float'), /computes f64 values|uses f64 values/));
  it('rejects recursion (the stack must be bounded)', () =>
    rejects(compileFixture('recursion'), /recursion: function #\d+ → #\d+/));
  it('rejects indirect calls', () => rejects(compileFixture('indirect'), /declares a table/, /call_indirect/));

  it('rejects a module without evaluate (export removed with binaryen)', async () => {
    const b = await loadBinaryen();
    const m = b.readBinary(await compileFixture('policies/default/rbac.ts'));
    m.removeExport('evaluate');
    const bytes = m.emitBinary();
    m.dispose();
    await rejects(bytes, /missing export "evaluate"/);
  });
});

describe('validatePolicy: what asc cannot produce (modules built with binaryen)', () => {
  it('accepts a minimal hand-written ABI v1 module', async () => {
    const info = await validatePolicy(await wat(abiModule()));
    assert.equal(info.hasStart, false);
  });

  const cases: Array<[string, string, RegExp[]]> = [
    ['wrong ABI version', abiModule({ abiVersion: 2 }), [/exports ABI version 2: expected 1/]],
    ['memory without a maximum', abiModule({ memory: '(memory (export "memory") 2)' }), [/memory has no maximum/]],
    ['growable memory', abiModule({ memory: '(memory (export "memory") 2 8)' }), [/memory grows from 2 to 8 pages/]],
    [
      'memory over the limit',
      abiModule({ memory: '(memory (export "memory") 64 64)' }),
      [/memory is 64 pages: expected at most 16/],
    ],
    ['shared memory', abiModule({ memory: '(memory (export "memory") 2 2 shared)' }), [/memory is shared/]],
    [
      'imported memory',
      abiModule({ memory: '(import "env" "memory" (memory 2 2)) (export "memory" (memory 0))' }),
      [/imports env\.memory \(memory\)/],
    ],
    ['memory not exported', abiModule({ memory: '(memory 2 2)' }), [/missing export "memory"/]],
    ['a start section', abiModule({ extra: '(func $init) (start $init)' }), [/has a start section/]],
    [
      'SIMD',
      abiModule({
        extra: '(func (export "v") (param i32) (result i32) (i32x4.extract_lane 0 (i32x4.splat (local.get 0))))',
      }),
      [/uses SIMD/],
    ],
    ['v128 locals', abiModule({ extra: '(func (export "v") (local v128))' }), [/uses v128 values/]],
    [
      'f32 arithmetic',
      abiModule({
        extra:
          '(func (export "f") (param i32) (result i32) (i32.trunc_f32_s (f32.add (f32.convert_i32_s (local.get 0)) (f32.const 0.5))))',
      }),
      [/computes f32 values/],
    ],
    ['a float global', abiModule({ extra: '(global $g (mut f64) (f64.const 0))' }), [/global \S+ has type f64/]],
    [
      'atomics',
      abiModule({ extra: '(func (export "a") (result i32) (i32.atomic.load (i32.const 0)))' }),
      [/atomic memory accesses/],
    ],
    [
      'tail calls',
      abiModule({ extra: '(func $t (export "t") (result i32) (return_call $evaluate (i32.const 0)))' }),
      [/return_call: tail calls/],
    ],
    ['exceptions', abiModule({ extra: '(tag $e) (func (export "x") (throw $e))' }), [/throw \(exceptions\)/]],
    [
      'data.drop (state that would outlive an evaluation)',
      abiModule({ extra: '(data $p "passive") (func (export "d") (data.drop $p))' }),
      [/data\.drop/],
    ],
    [
      'a table and call_indirect',
      abiModule({
        extra:
          '(type $t (func (result i32))) (table 1 funcref) (func (export "i") (result i32) (call_indirect (type $t) (i32.const 0)))',
      }),
      [/declares a table/, /call_indirect/],
    ],
    [
      'mutual recursion',
      abiModule({
        extra:
          '(func $a (param i32) (result i32) (call $b (local.get 0))) (func $b (export "b") (param i32) (result i32) (call $a (local.get 0)))',
      }),
      [/recursion: function #\d+ → #\d+ → #\d+/],
    ],
    [
      'evaluate with the wrong signature',
      abiModule({ evaluate: '(func (export "evaluate") (param i64) (result i32) (i32.const 16))' }),
      [/export "evaluate" has signature \(i64\) → i32: expected \(i32\) → i32/],
    ],
    ['no evaluate', abiModule({ evaluate: '' }), [/missing export "evaluate"/]],
    [
      'a mutable ABI global',
      abiModule({
        abiVersion: 1,
        extra: '(global $v (export "keyward_abi_version2") (mut i32) (i32.const 1))',
      }).replace('(global (export "keyward_abi_version") i32', '(global (export "keyward_abi_version") (mut i32)'),
      [/"keyward_abi_version" is not an immutable i32 constant/],
    ],
    [
      'an input region outside memory',
      abiModule({ inputPtr: 130000 }),
      [/input region \[130000, \+16384\) is outside the 131072-byte memory/],
    ],
    [
      'an input region too small',
      abiModule({ inputCapacity: 100 }),
      [/input region holds 100 bytes: expected at least 16384/],
    ],
    ['overlapping regions', abiModule({ outputPtr: 2048 }), [/overlap/]],
    [
      'data outside memory',
      abiModule({ extra: '(data (i32.const 131070) "abcd")' }),
      [/data segment 0 \[131070, \+4\) is outside/],
    ],
    [
      'a deep call chain',
      deepChain(5000),
      [/deepest call chain \(500\d frames\) needs an estimated \d+ bytes of stack/],
    ],
  ];
  for (const [name, text, patterns] of cases) {
    it(`rejects ${name}`, async () => rejects(wat(text), ...patterns));
  }

  it('rejects other imports, naming them all', () =>
    rejects(
      wat(
        abiModule({
          imports:
            '(import "env" "seed" (func (result f64))) (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32))) (import "env" "g" (global i32))',
        }),
      ),
      /imports env\.seed \(function\), wasi_snapshot_preview1\.fd_write \(function\), env\.g \(global\)/,
    ));

  it('rejects env.abort with another signature', () =>
    rejects(
      wat(abiModule({ imports: '(import "env" "abort" (func (param i32)))' })),
      /env\.abort with the wrong signature/,
    ));

  it('reports several problems at once', async () => {
    await assert.rejects(
      validatePolicy(
        await wat(
          abiModule({ abiVersion: 7, memory: '(memory (export "memory") 1 3)', extra: '(global f32 (f32.const 1))' }),
        ),
      ),
      (err: Error & { details?: { problems: string[] } }) => {
        assert.ok(err.details!.problems.length >= 3, err.message);
        return true;
      },
    );
  });

  it('rejects garbage and oversize modules', async () => {
    await rejects(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 99]), /not a valid WebAssembly module/);
    const b = await loadBinaryen();
    const m = b.parseText(abiModule());
    m.addCustomSection('padding', new Uint8Array(MAX_MODULE_BYTES));
    const big = m.emitBinary();
    m.dispose();
    await rejects(big, /module is \d+ bytes, over the 1048576-byte limit/);
  });

  it('rejects a module whose _start faults (at load)', async () => {
    const bytes = await wat(abiModule({ extra: '(func (export "_start") (loop $l (br $l)))' }));
    await validatePolicy(bytes); // statically fine
    await assert.rejects(loadPolicy(bytes), { code: 'POLICY_INVALID', message: /_start faulted/ } as object);
  });
});

/** A valid module whose evaluate calls a chain of `n` functions. */
function deepChain(n: number): string {
  const fns = Array.from(
    { length: n },
    (_, i) => `(func $f${i} (result i32) ${i + 1 < n ? `(call $f${i + 1})` : '(i32.const 0)'})`,
  ).join('\n');
  return abiModule({
    evaluate: `${fixedEvaluate(1).replace('(i32.const 16))', '(i32.add (i32.const 16) (call $f0)))')}`,
    extra: fns,
  });
}
