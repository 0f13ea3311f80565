/**
 * Policy validation (docs/architecture.md): the checks a module must pass before it can be stored or
 * loaded. The module is attacker-controlled bytes (anyone allowed to push a policy can send any
 * wasm), so nothing here trusts what asc would have produced.
 *
 * A policy must be a pure function of its input, bounded in time, memory and stack:
 * - size ≤ MAX_MODULE_BYTES; a valid module for this engine (V8 compiles it);
 * - imports: at most `env.abort (i32, i32, i32, i32) → ()`: no clock, randomness, trace or I/O;
 * - no start section (it would run at instantiation, outside the meter; asc's is exported as
 *   `_start` instead and the host runs it metered), no tables or element segments;
 * - exactly one memory, defined and exported as `memory`, not shared, 32-bit, initial == maximum
 *   ≤ MAX_MEMORY_PAGES; active data segments inside it;
 * - the ABI v1 exports: `keyward_abi_version` = 1 and the input/output regions as immutable i32
 *   constants (inside memory, not overlapping, input capacity ≥ MAX_INPUT_BYTES), and
 *   `evaluate (i32) → i32`; `_start () → ()` optional;
 * - only i32/i64 values anywhere (no floats: NaN bit patterns are not deterministic across
 *   engines; no SIMD, no references) and only plain instructions (no atomics, threads, exceptions,
 *   tail calls, tables, GC, and no data.drop — a dropped segment is instance state the host could
 *   not restore between evaluations): an allow-list of expression kinds;
 * - no recursion and no indirect calls, so the call graph is a DAG whose deepest path bounds the
 *   stack; that path's estimated frame size must stay under MAX_STACK_ESTIMATE_BYTES, so a policy
 *   can never depend on how much native stack the host happens to have left.
 *
 * Failures are collected and reported together: `KeywardError('POLICY_INVALID')` whose message
 * names every offence and whose details list them.
 * @module
 */
import { createHash } from 'node:crypto';
import { KeywardError } from '../../../lib/errors.js';
import { ABI_VERSION, AbiExport, OUTPUT_HEADER_BYTES } from './abi.js';
import { accessors, childrenOf, loadBinaryen, readModule } from './binaryen.js';
import type { Binaryen, BinaryenAccessors, Module } from './binaryen.js';
import { MAX_INPUT_BYTES } from './schema.js';
import { Wasm } from './wasm.js';
import type { WasmModule } from './wasm.js';

/** Largest module accepted, in bytes. */
export const MAX_MODULE_BYTES = 1024 * 1024;
/** Largest fixed memory, in 64 KiB pages (1 MiB). */
export const MAX_MEMORY_PAGES = 16;
/** Largest output region a module may declare. */
export const MAX_OUTPUT_CAPACITY = 64 * 1024;
/** Bound on the estimated stack of the deepest call chain (see `frameEstimate`). */
export const MAX_STACK_ESTIMATE_BYTES = 256 * 1024;
/** Deepest expression nesting accepted (the walkers recurse). */
export const MAX_EXPRESSION_DEPTH = 1000;

const WASM_PAGE = 65536;

/** What validation learned about a module. */
export interface ModuleInfo {
  /** SHA-256 of the module bytes, hex: the policy's identity. */
  sha256: string;
  bytes: number;
  abiVersion: number;
  memoryPages: number;
  input: { ptr: number; capacity: number };
  output: { ptr: number; capacity: number };
  /** Defined (non-imported) functions. */
  functions: number;
  /** Whether the module exports `_start`. */
  hasStart: boolean;
  /** Number of frames on the deepest call chain from `evaluate` or `_start`. */
  maxCallDepth: number;
  /** Estimated stack bytes of that chain. */
  stackEstimate: number;
}

/** A frame's estimated native stack: a fixed overhead plus 8 bytes per parameter and local. */
export function frameEstimate(locals: number): number {
  return 64 + 8 * locals;
}

class Problems {
  list: string[] = [];
  add(message: string): void {
    if (this.list.length < 50 && !this.list.includes(message)) this.list.push(message);
  }
  throwIfAny(): void {
    if (this.list.length > 0) {
      throw new KeywardError('POLICY_INVALID', `invalid policy module: ${this.list.join('; ')}`, {
        details: { problems: this.list },
      });
    }
  }
}

function invalid(message: string, cause?: unknown): KeywardError {
  return new KeywardError('POLICY_INVALID', `invalid policy module: ${message}`, {
    cause,
    details: { problems: [message] },
  });
}

/**
 * Validates a policy module.
 * @throws {@link KeywardError} `POLICY_INVALID` naming everything that offends.
 */
export async function validatePolicy(wasm: Uint8Array): Promise<ModuleInfo> {
  preflight(wasm);
  const b = await loadBinaryen();
  const module = readModule(b, wasm);
  try {
    return validateModule(b, module, wasm);
  } finally {
    module.dispose();
  }
}

/** Size, well-formedness (V8 compiles it) and the import allow-list: no binaryen needed. */
export function preflight(wasm: Uint8Array): WasmModule {
  if (!(wasm instanceof Uint8Array)) throw new TypeError(`"wasm" expected Uint8Array, got ${typeof wasm}`);
  if (wasm.length > MAX_MODULE_BYTES)
    throw invalid(`module is ${wasm.length} bytes, over the ${MAX_MODULE_BYTES}-byte limit`);
  let compiled: WasmModule;
  try {
    compiled = new Wasm.Module(wasm);
  } catch (cause) {
    throw invalid(`not a valid WebAssembly module for this engine (${(cause as Error).message})`, cause);
  }
  const bad = Wasm.Module.imports(compiled).filter(
    (i) => !(i.module === 'env' && i.name === 'abort' && i.kind === 'function'),
  );
  if (bad.length > 0) {
    throw invalid(
      `imports ${bad.map((i) => `${i.module}.${i.name} (${i.kind})`).join(', ')}: only env.abort may be imported (no clock, randomness, trace or host I/O)`,
    );
  }
  for (const e of Wasm.Module.exports(compiled)) {
    if (e.kind !== 'function' && e.kind !== 'global' && e.kind !== 'memory')
      throw invalid(`exports ${e.kind} "${e.name}": only functions, globals and the memory may be exported`);
  }
  return compiled;
}

/** The checks that need binaryen, on an already read module. */
export function validateModule(b: Binaryen, module: Module, wasm: Uint8Array): ModuleInfo {
  const x = accessors(b);
  const problems = new Problems();
  const typeName = (t: number) =>
    t === b.f32
      ? 'f32'
      : t === b.f64
        ? 'f64'
        : t === b.v128
          ? 'v128'
          : t === b.i32
            ? 'i32'
            : t === b.i64
              ? 'i64'
              : 'a reference type';
  const intType = (t: number) => t === b.i32 || t === b.i64;
  // asc emits no name section: binaryen then names functions by index.
  const fnName = (name: string) => (/^\d+$/.test(name) ? `#${name}` : `$${name}`);

  // Imports were checked by preflight; the abort signature is what the host implements.
  const functionCount = module.getNumFunctions();
  const functions: { name: string; ref: number; imported: boolean }[] = [];
  for (let i = 0; i < functionCount; i++) {
    const ref = module.getFunctionByIndex(i);
    const info = b.getFunctionInfo(ref);
    const imported = !!info.module;
    functions.push({ name: info.name, ref, imported });
    if (imported) {
      const params = b.expandType(info.params);
      if (params.length !== 4 || !params.every((p) => p === b.i32) || info.results !== b.none) {
        problems.add(`imports env.abort with the wrong signature: expected (i32, i32, i32, i32) → ()`);
      }
    }
  }

  if (module.getStart())
    problems.add('has a start section (code run at instantiation, outside the gas meter): export it as _start instead');
  if (module.getNumTables() > 0) problems.add('declares a table: indirect calls are not allowed');
  if (module.getNumElementSegments() > 0) problems.add('declares element segments: indirect calls are not allowed');

  // Memory.
  let memoryBytes = 0;
  let memoryPages = 0;
  if (!module.hasMemory()) problems.add('declares no memory: expected one fixed memory exported as "memory"');
  else {
    const mem = module.getMemoryInfo();
    if (mem.shared) problems.add('memory is shared: threads are not allowed');
    if (mem.is64) problems.add('memory is 64-bit: expected a 32-bit memory');
    if (mem.max === undefined)
      problems.add(`memory has no maximum: expected initial == maximum ≤ ${MAX_MEMORY_PAGES} pages`);
    else if (mem.initial !== mem.max)
      problems.add(`memory grows from ${mem.initial} to ${mem.max} pages: expected initial == maximum (fixed memory)`);
    else if (mem.max > MAX_MEMORY_PAGES)
      problems.add(`memory is ${mem.max} pages: expected at most ${MAX_MEMORY_PAGES}`);
    else if (mem.max === 0) problems.add('memory is 0 pages: expected room for the input and output regions');
    memoryPages = mem.initial;
    memoryBytes = mem.initial * WASM_PAGE;
  }

  // Globals: integers only.
  const globalCount = module.getNumGlobals();
  const globals = new Map<string, { mutable: boolean; type: number; init: number }>();
  for (let i = 0; i < globalCount; i++) {
    const g = b.getGlobalInfo(module.getGlobalByIndex(i));
    globals.set(g.name, { mutable: g.mutable, type: g.type, init: g.init });
    if (!intType(g.type))
      problems.add(
        `global ${g.name} has type ${typeName(g.type)}: only i32 and i64 are allowed (no floats, SIMD or references)`,
      );
  }

  // Exports.
  const exports = new Map<string, { kind: number; value: string }>();
  for (let i = 0; i < module.getNumExports(); i++) {
    const e = b.getExportInfo(module.getExportByIndex(i));
    exports.set(e.name, { kind: e.kind, value: e.value });
  }
  const constExport = (name: string): number | undefined => {
    const e = exports.get(name);
    if (!e || e.kind !== b.ExternalGlobal) {
      problems.add(`missing export "${name}": expected an immutable i32 global (ABI v${ABI_VERSION})`);
      return undefined;
    }
    const g = globals.get(e.value);
    if (!g || g.mutable || g.type !== b.i32 || b.getExpressionId(g.init) !== b.ConstId) {
      problems.add(`export "${name}" is not an immutable i32 constant`);
      return undefined;
    }
    return (b.getExpressionInfo(g.init) as unknown as { value: number }).value;
  };
  const funcExport = (name: string, params: number[], results: number, required: boolean): string | undefined => {
    const e = exports.get(name);
    if (!e) {
      if (required) problems.add(`missing export "${name}": expected a function (ABI v${ABI_VERSION})`);
      return undefined;
    }
    if (e.kind !== b.ExternalFunction) {
      problems.add(`export "${name}" is not a function`);
      return undefined;
    }
    const info = b.getFunctionInfo(module.getFunction(e.value));
    const p = b.expandType(info.params);
    if (info.module || p.length !== params.length || p.some((t, i) => t !== params[i]) || info.results !== results) {
      const sig = (ts: number[], r: number) =>
        `(${ts.map(typeName).join(', ')}) → ${r === b.none ? '()' : typeName(r)}`;
      problems.add(`export "${name}" has signature ${sig(p, info.results)}: expected ${sig(params, results)}`);
      return undefined;
    }
    return e.value;
  };
  const mem = exports.get(AbiExport.memory);
  if (module.hasMemory() && (!mem || mem.kind !== b.ExternalMemory))
    problems.add(`missing export "${AbiExport.memory}": the memory must be exported as "memory"`);
  const version = constExport(AbiExport.abiVersion);
  if (version !== undefined && version !== ABI_VERSION)
    problems.add(`exports ABI version ${version}: expected ${ABI_VERSION}`);
  const inputPtr = constExport(AbiExport.inputPtr);
  const inputCapacity = constExport(AbiExport.inputCapacity);
  const outputPtr = constExport(AbiExport.outputPtr);
  const outputCapacity = constExport(AbiExport.outputCapacity);
  const evaluateName = funcExport(AbiExport.evaluate, [b.i32], b.i32, true);
  const startName = funcExport(AbiExport.start, [], b.none, false);
  if (
    inputPtr !== undefined &&
    inputCapacity !== undefined &&
    outputPtr !== undefined &&
    outputCapacity !== undefined &&
    memoryBytes > 0
  ) {
    const inside = (ptr: number, cap: number) => ptr >= 0 && cap >= 0 && ptr + cap <= memoryBytes;
    if (inputCapacity < MAX_INPUT_BYTES)
      problems.add(`input region holds ${inputCapacity} bytes: expected at least ${MAX_INPUT_BYTES}`);
    if (outputCapacity < OUTPUT_HEADER_BYTES || outputCapacity > MAX_OUTPUT_CAPACITY) {
      problems.add(
        `output region holds ${outputCapacity} bytes: expected ${OUTPUT_HEADER_BYTES}..${MAX_OUTPUT_CAPACITY}`,
      );
    }
    if (!inside(inputPtr, inputCapacity))
      problems.add(`input region [${inputPtr}, +${inputCapacity}) is outside the ${memoryBytes}-byte memory`);
    if (!inside(outputPtr, outputCapacity))
      problems.add(`output region [${outputPtr}, +${outputCapacity}) is outside the ${memoryBytes}-byte memory`);
    if (inputPtr < outputPtr + outputCapacity && outputPtr < inputPtr + inputCapacity)
      problems.add('input and output regions overlap');
  }

  // Data segments: constant offsets, inside memory.
  const segments = x._BinaryenGetNumDataSegments(module.ptr);
  for (let i = 0; i < segments; i++) {
    const seg = x._BinaryenGetDataSegmentByIndex(module.ptr, i);
    if (x._BinaryenGetDataSegmentPassive(seg)) continue;
    let offset: number;
    try {
      offset = x._BinaryenGetDataSegmentByteOffset(module.ptr, seg) >>> 0;
    } catch {
      problems.add(`data segment ${i} has a non-constant offset`);
      continue;
    }
    const length = x._BinaryenGetDataSegmentByteLength(seg);
    if (offset + length > memoryBytes)
      problems.add(`data segment ${i} [${offset}, +${length}) is outside the ${memoryBytes}-byte memory`);
  }

  // Code: types, the allow-list of expressions, and the call graph.
  const allowed = new Set<number>([
    b.NopId,
    b.BlockId,
    b.IfId,
    b.LoopId,
    b.BreakId,
    b.SwitchId,
    b.CallId,
    b.LocalGetId,
    b.LocalSetId,
    b.GlobalGetId,
    b.GlobalSetId,
    b.LoadId,
    b.StoreId,
    b.MemoryInitId,
    b.MemoryCopyId,
    b.MemoryFillId,
    b.ConstId,
    b.UnaryId,
    b.BinaryId,
    b.SelectId,
    b.DropId,
    b.ReturnId,
    b.MemorySizeId,
    b.MemoryGrowId,
    b.UnreachableId,
  ]);
  const kindName = expressionKindNames(b);
  const calls = new Map<string, Set<string>>();
  const frames = new Map<string, number>();
  const stack: number[] = [];
  const depths: number[] = [];
  for (const fn of functions) {
    if (fn.imported) continue;
    const info = b.getFunctionInfo(fn.ref);
    const params = b.expandType(info.params);
    const results = b.expandType(info.results);
    for (const t of [...params, ...results, ...info.vars]) {
      if (!intType(t))
        problems.add(
          `function ${fnName(fn.name)} uses ${typeName(t)} values: only i32 and i64 are allowed (no floats, SIMD or references)`,
        );
    }
    if (results.length > 1)
      problems.add(`function ${fnName(fn.name)} returns several values (multi-value is not allowed)`);
    frames.set(fn.name, frameEstimate(params.length + info.vars.length));
    const callees = new Set<string>();
    calls.set(fn.name, callees);
    stack.length = 0;
    depths.length = 0;
    stack.push(info.body);
    depths.push(1);
    while (stack.length > 0) {
      const e = stack.pop()!;
      const depth = depths.pop()!;
      const id = b.getExpressionId(e);
      if (!allowed.has(id)) {
        problems.add(`function ${fnName(fn.name)} uses ${kindName(id)}: not allowed in a policy`);
        continue;
      }
      const t = b.getExpressionType(e);
      if (t !== b.none && t !== b.unreachable && !intType(t)) {
        problems.add(
          `function ${fnName(fn.name)} computes ${typeName(t)} values: only i32 and i64 are allowed (no floats, SIMD or references)`,
        );
      }
      if (depth > MAX_EXPRESSION_DEPTH) {
        problems.add(`function ${fnName(fn.name)} nests expressions deeper than ${MAX_EXPRESSION_DEPTH}`);
        continue;
      }
      if (id === b.CallId) {
        if (x.Call.isReturn(e))
          problems.add(`function ${fnName(fn.name)} uses return_call: tail calls are not allowed`);
        callees.add(x.Call.getTarget(e));
      } else if ((id === b.LoadId && x.Load.isAtomic(e)) || (id === b.StoreId && x.Store.isAtomic(e))) {
        problems.add(`function ${fnName(fn.name)} uses atomic memory accesses: threads are not allowed`);
      }
      const before = stack.length;
      childrenOf(b, x, e, id, stack);
      for (let i = before; i < stack.length; i++) depths.push(depth + 1);
    }
  }

  // Recursion and stack depth: the call graph must be a DAG; its deepest path is bounded.
  // Iterative depth-first search (a module may chain thousands of functions).
  const imported = new Set(functions.filter((f) => f.imported).map((f) => f.name));
  const state = new Map<string, 1 | 2>(); // 1 on the current path, 2 done
  const deepest = new Map<string, { frames: number; bytes: number }>();
  const importFrame = { frames: 1, bytes: frameEstimate(4) };
  let cycle: string[] | undefined;
  for (const root of functions) {
    if (root.imported || state.has(root.name)) continue;
    const path: { name: string; callees: string[]; next: number }[] = [
      { name: root.name, callees: [...(calls.get(root.name) ?? [])], next: 0 },
    ];
    state.set(root.name, 1);
    while (path.length > 0) {
      const top = path[path.length - 1]!;
      if (top.next < top.callees.length) {
        const callee = top.callees[top.next++]!;
        if (imported.has(callee) || state.get(callee) === 2) continue;
        if (state.get(callee) === 1) {
          cycle ??= [...path.slice(path.findIndex((p) => p.name === callee)).map((p) => p.name), callee];
          continue;
        }
        state.set(callee, 1);
        path.push({ name: callee, callees: [...(calls.get(callee) ?? [])], next: 0 });
        continue;
      }
      let best = { frames: 0, bytes: 0 };
      for (const callee of top.callees) {
        const d = imported.has(callee) ? importFrame : deepest.get(callee);
        if (d && (d.bytes > best.bytes || (d.bytes === best.bytes && d.frames > best.frames))) best = d;
      }
      deepest.set(top.name, { frames: best.frames + 1, bytes: best.bytes + (frames.get(top.name) ?? 0) });
      state.set(top.name, 2);
      path.pop();
    }
  }
  let maxCallDepth = 0;
  let stackEstimate = 0;
  for (const name of [evaluateName, startName]) {
    const d = name === undefined ? undefined : deepest.get(name);
    if (d) {
      maxCallDepth = Math.max(maxCallDepth, d.frames);
      stackEstimate = Math.max(stackEstimate, d.bytes);
    }
  }
  if (cycle)
    problems.add(
      `recursion: function ${cycle.map(fnName).join(' → ')} (recursive calls are not allowed: the stack must be bounded)`,
    );
  if (stackEstimate > MAX_STACK_ESTIMATE_BYTES) {
    problems.add(
      `deepest call chain (${maxCallDepth} frames) needs an estimated ${stackEstimate} bytes of stack: expected at most ${MAX_STACK_ESTIMATE_BYTES}`,
    );
  }

  problems.throwIfAny();
  return {
    sha256: createHash('sha256').update(wasm).digest('hex'),
    bytes: wasm.length,
    abiVersion: version!,
    memoryPages,
    input: { ptr: inputPtr!, capacity: inputCapacity! },
    output: { ptr: outputPtr!, capacity: outputCapacity! },
    functions: functions.filter((f) => !f.imported).length,
    hasStart: startName !== undefined,
    maxCallDepth,
    stackEstimate,
  };
}

function expressionKindNames(b: Binaryen): (id: number) => string {
  const names = new Map<number, string>();
  const known: Array<[string, string]> = [
    ['CallIndirectId', 'call_indirect (indirect calls)'],
    ['AtomicRMWId', 'atomic read-modify-write (threads)'],
    ['AtomicCmpxchgId', 'atomic compare-exchange (threads)'],
    ['AtomicWaitId', 'memory.atomic.wait (threads)'],
    ['AtomicNotifyId', 'memory.atomic.notify (threads)'],
    ['AtomicFenceId', 'atomic.fence (threads)'],
    ['SIMDExtractId', 'SIMD'],
    ['SIMDReplaceId', 'SIMD'],
    ['SIMDShuffleId', 'SIMD'],
    ['SIMDTernaryId', 'SIMD'],
    ['SIMDShiftId', 'SIMD'],
    ['SIMDLoadId', 'SIMD'],
    ['SIMDLoadStoreLaneId', 'SIMD'],
    ['TableGetId', 'table.get (tables)'],
    ['TableSetId', 'table.set (tables)'],
    ['TableSizeId', 'table.size (tables)'],
    ['TableGrowId', 'table.grow (tables)'],
    ['RefFuncId', 'ref.func (function references)'],
    ['CallRefId', 'call_ref (indirect calls)'],
    ['TryId', 'try (exceptions)'],
    ['TryTableId', 'try_table (exceptions)'],
    ['ThrowId', 'throw (exceptions)'],
    ['DataDropId', 'data.drop (instance state that would survive an evaluation)'],
    ['RethrowId', 'rethrow (exceptions)'],
  ];
  for (const [key, label] of known) {
    const id = (b as unknown as Record<string, number>)[key];
    if (typeof id === 'number') names.set(id, label);
  }
  return (id) => names.get(id) ?? `expression kind ${id} (not on the allow-list)`;
}
