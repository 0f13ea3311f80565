/**
 * Gas metering and isolation instrumentation, injected into a validated policy at load time with
 * binaryen (docs/architecture.md). The stored module and its hash are untouched: this is how the host runs
 * it, and the same bytes always instrument the same way.
 *
 * Gas. A mutable i32 global holds the gas left. Code is charged by region, ahead of running it,
 * the cost of a region being the number of its expressions (roughly, wasm instructions):
 * - a function's body, charged at entry;
 * - a loop body, charged at the loop header, i.e. on every iteration;
 * - an `if` arm of more than SPLIT_MIN_COST expressions, charged when the arm is entered (smaller
 *   arms are charged with the code around them, whether taken or not);
 * - the rest of a block after a child that may branch away (br, br_if, br_table, return), when
 *   worth a charge — so an early exit does not pay for the code it skips;
 * - memory.copy / memory.fill / memory.init: 1 per 16 bytes, charged before the operation.
 * Each charge is `gas -= cost; if (gas < 0) unreachable`. Structured code has no back edges but
 * loops, so every expression executed was paid for by the charge of its region since it was last
 * reached: the budget bounds the work. Charges depend only on the code and the path taken, so the
 * same input runs out at the same point, and reports the same gas used, every time. (Gas is a
 * deterministic measure of work, an upper bound of the instructions run, not a time.)
 *
 * Isolation. The instrumented module also records the range of memory it writes: every store and
 * bulk write first widens [dirtyLo, dirtyHi). The host copies that range back from its snapshot
 * after each evaluation, and `__kw_run` restores every original mutable global from a shadow copy
 * taken after `_start` — so an evaluation starts from exactly the post-start state, at the cost of
 * what it touched instead of the whole memory.
 *
 * Stack. Recursion and indirect calls are refused by the validator and the deepest call chain's
 * estimated stack is bounded there, so no depth counter is needed here.
 *
 * Added exports (names in `MeterExport`): `__kw_run(len, budget) → i32` (reset globals, set the
 * budget, call `evaluate`), `__kw_init(budget)` (run `_start` metered, then take the global
 * snapshot), and the globals `__kw_gas`, `__kw_dirty_lo`, `__kw_dirty_hi`.
 * @module
 */
import { AbiExport } from './abi.js';
import { accessors, childrenOf } from './binaryen.js';
import type { Binaryen, Module } from './binaryen.js';

/**
 * Gas of one evaluation unless the caller says otherwise: ~1 ms at worst (measured on Node 20: a
 * tight loop burns it in 0.1 ms, memory.fill in 0.2 ms, a loop calling an empty function in ~1 ms).
 * The RBAC policy uses 1–7 k per decision.
 */
export const GAS_BUDGET_DEFAULT = 1_000_000;
/** Largest budget accepted (keeps the i32 counter from wrapping; ~1 s at worst). */
export const GAS_BUDGET_MAX = 1 << 30;
/** Gas for `_start`, run once at load. */
export const GAS_BUDGET_START = 10_000_000;
/** Gas per byte of bulk memory operations is 1 / 2^BULK_GAS_SHIFT. */
export const BULK_GAS_SHIFT = 4;
/** Smallest cost worth a charge of its own (an if arm, the rest of a block after a branch). */
const SPLIT_MIN_COST = 12;

/** Exports added by `meterModule`. */
export const MeterExport = {
  run: '__kw_run',
  init: '__kw_init',
  gas: '__kw_gas',
  dirtyLo: '__kw_dirty_lo',
  dirtyHi: '__kw_dirty_hi',
} as const;

function uniqueName(taken: (name: string) => boolean, base: string): string {
  let name = base;
  for (let i = 1; taken(name); i++) name = `${base}_${i}`;
  return name;
}

/**
 * Instruments `module` in place (see the module comment). `module` must have passed
 * `validateModule`: only allow-listed expressions are walked.
 */
export function meterModule(b: Binaryen, module: Module): void {
  const x = accessors(b);
  const globalTaken = (n: string) => module.getGlobal(n) !== 0;
  const functionTaken = (n: string) => module.getFunction(n) !== 0;

  // Original mutable globals, before ours are added.
  const originals: { name: string; type: number }[] = [];
  for (let i = 0; i < module.getNumGlobals(); i++) {
    const g = b.getGlobalInfo(module.getGlobalByIndex(i));
    if (g.mutable) originals.push({ name: g.name, type: g.type });
  }
  const functions: number[] = [];
  for (let i = 0; i < module.getNumFunctions(); i++) {
    const f = module.getFunctionByIndex(i);
    if (!b.getFunctionInfo(f).module) functions.push(f);
  }

  const gas = uniqueName(globalTaken, '__kw_gas');
  module.addGlobal(gas, b.i32, true, module.i32.const(0));
  const lo = uniqueName(globalTaken, '__kw_dirty_lo');
  module.addGlobal(lo, b.i32, true, module.i32.const(-1));
  const hi = uniqueName(globalTaken, '__kw_dirty_hi');
  module.addGlobal(hi, b.i32, true, module.i32.const(0));
  const shadows = originals.map((g) => {
    const name = uniqueName(globalTaken, `__kw_shadow_${g.name}`);
    module.addGlobal(name, g.type, true, g.type === b.i64 ? module.i64.const(0n) : module.i32.const(0));
    return name;
  });

  const charge = (cost: number /* expression */): number =>
    module.block(null, [
      module.global.set(gas, module.i32.sub(module.global.get(gas, b.i32), cost)),
      module.if(module.i32.lt_s(module.global.get(gas, b.i32), module.i32.const(0)), module.unreachable()),
    ]);
  // Widen the dirty range to [start, end) (both i32 expressions; `start` is evaluated twice).
  const track = (start: () => number, end: () => number): number[] => [
    module.if(module.i32.lt_u(start(), module.global.get(lo, b.i32)), module.global.set(lo, start())),
    module.if(module.i32.gt_u(end(), module.global.get(hi, b.i32)), module.global.set(hi, end())),
  ];

  for (const fn of functions) {
    let storeTemp = -1;
    const temp = () => x._BinaryenFunctionAddVar(fn, b.i32);

    // Whether the expression just walked contains a branch (br, br_if, br_table, return), i.e.
    // whether code after it in a block may be skipped.
    let branched = false;

    // The cost of e charged to the current region; charges the regions that start inside e (loop
    // bodies, big if arms, the rest of a block after a branch) and instruments stores and bulk
    // writes on the way.
    const region = (e: number): number => {
      const id = b.getExpressionId(e);
      if (id === b.LoopId) {
        const body = x.Loop.getBody(e);
        x.Loop.setBody(e, module.block(null, [charge(module.i32.const(region(body))), body], b.auto));
        return 1;
      }
      if (id === b.BlockId) return block(e);
      if (id === b.IfId) {
        let n = 1 + region(x.If.getCondition(e));
        const arm = (get: (e: number) => number, set: (e: number, v: number) => void) => {
          const a = get(e);
          if (!a) return;
          const cost = region(a);
          if (cost > SPLIT_MIN_COST) set(e, module.block(null, [charge(module.i32.const(cost)), a], b.auto));
          else n += cost;
        };
        arm(x.If.getIfTrue, x.If.setIfTrue);
        arm(x.If.getIfFalse, x.If.setIfFalse);
        return n;
      }
      if (id === b.BreakId || id === b.SwitchId || id === b.ReturnId) branched = true;
      const kids: number[] = [];
      childrenOf(b, x, e, id, kids);
      let n = 1;
      for (const k of kids) n += region(k);
      if (id === b.StoreId) instrumentStore(e);
      else if (id === b.MemoryCopyId || id === b.MemoryFillId || id === b.MemoryInitId) instrumentBulk(e, id);
      return n;
    };

    // A block is a sequence: after a child that may branch away, the remaining children become a
    // region of their own (charged where they start) when they are worth a charge.
    const block = (e: number): number => {
      const count = x.Block.getNumChildren(e);
      const children: number[] = [];
      for (let i = 0; i < count; i++) children.push(x.Block.getChildAt(e, i));
      const outer = branched;
      let anyBranch = false;
      const costs: number[] = [];
      const branches: boolean[] = [];
      for (const child of children) {
        branched = false;
        costs.push(region(child));
        branches.push(branched);
        anyBranch ||= branched;
      }
      branched = outer || anyBranch;
      const starts: number[] = [0];
      for (let i = 0; i + 1 < count; i++) {
        if (!branches[i]) continue;
        let rest = 0;
        for (let j = i + 1; j < count; j++) rest += costs[j]!;
        if (rest > SPLIT_MIN_COST) starts.push(i + 1);
      }
      const segmentCost = (k: number) => {
        let c = 0;
        for (let j = starts[k]!; j < (starts[k + 1] ?? count); j++) c += costs[j]!;
        return c;
      };
      for (let k = starts.length - 1; k >= 1; k--)
        x.Block.insertChildAt(e, starts[k]!, charge(module.i32.const(segmentCost(k))));
      return 1 + segmentCost(0);
    };

    const instrumentStore = (e: number) => {
      if (storeTemp < 0) storeTemp = temp();
      const t = storeTemp;
      const width = (x.Store.getOffset(e) + x.Store.getBytes(e)) | 0;
      x.Store.setPtr(
        e,
        module.block(
          null,
          [
            module.local.set(t, x.Store.getPtr(e)),
            ...track(
              () => module.local.get(t, b.i32),
              () => module.i32.add(module.local.get(t, b.i32), module.i32.const(width)),
            ),
            module.local.get(t, b.i32),
          ],
          b.i32,
        ),
      );
    };

    const instrumentBulk = (e: number, id: number) => {
      const dst = temp();
      const len = temp();
      const acc = id === b.MemoryCopyId ? x.MemoryCopy : id === b.MemoryFillId ? x.MemoryFill : x.MemoryInit;
      acc.setDest(e, module.local.tee(dst, acc.getDest(e), b.i32));
      acc.setSize(
        e,
        module.block(
          null,
          [
            module.local.set(len, acc.getSize(e)),
            charge(module.i32.shr_u(module.local.get(len, b.i32), module.i32.const(BULK_GAS_SHIFT))),
            ...track(
              () => module.local.get(dst, b.i32),
              () => module.i32.add(module.local.get(dst, b.i32), module.local.get(len, b.i32)),
            ),
            module.local.get(len, b.i32),
          ],
          b.i32,
        ),
      );
    };

    const body = b.getFunctionInfo(fn).body;
    const cost = region(body);
    x.Function.setBody(fn, module.block(null, [charge(module.i32.const(cost)), body], b.auto));
  }

  const exported = (name: string): string | undefined => {
    const ref = module.getExport(name);
    return ref ? b.getExportInfo(ref).value : undefined;
  };
  const evaluate = exported(AbiExport.evaluate);
  if (evaluate === undefined) throw new Error(`meterModule: no "${AbiExport.evaluate}" export (validate first)`);
  const start = exported(AbiExport.start);
  const reset = [module.global.set(lo, module.i32.const(-1)), module.global.set(hi, module.i32.const(0))];

  // __kw_run(len, budget): back to the post-start globals, then evaluate under the budget.
  const run = uniqueName(functionTaken, MeterExport.run);
  module.addFunction(
    run,
    b.createType([b.i32, b.i32]),
    b.i32,
    [],
    module.block(
      null,
      [
        ...originals.map((g, i) => module.global.set(g.name, module.global.get(shadows[i]!, g.type))),
        module.global.set(gas, module.local.get(1, b.i32)),
        ...reset,
        module.call(evaluate, [module.local.get(0, b.i32)], b.i32),
      ],
      b.i32,
    ),
  );
  // __kw_init(budget): _start under the budget, then snapshot the globals.
  const init = uniqueName(functionTaken, MeterExport.init);
  module.addFunction(
    init,
    b.createType([b.i32]),
    b.none,
    [],
    module.block(null, [
      module.global.set(gas, module.local.get(0, b.i32)),
      ...(start === undefined ? [] : [module.call(start, [], b.none)]),
      ...originals.map((g, i) => module.global.set(shadows[i]!, module.global.get(g.name, g.type))),
      ...reset,
    ]),
  );
  const addExport = (kind: 'function' | 'global', internal: string, external: string) => {
    if (module.getExport(external)) module.removeExport(external);
    if (kind === 'function') module.addFunctionExport(internal, external);
    else module.addGlobalExport(internal, external);
  };
  addExport('function', run, MeterExport.run);
  addExport('function', init, MeterExport.init);
  addExport('global', gas, MeterExport.gas);
  addExport('global', lo, MeterExport.dirtyLo);
  addExport('global', hi, MeterExport.dirtyHi);
}
