/**
 * binaryen.js (the version asc uses), loaded on first use — importing it costs ~0.5 s, which the
 * CLI should not pay for commands that never touch a policy — plus typings for the expression
 * accessors binaryen.js provides but its index.d.ts leaves out, and a structured walker.
 * @module
 */
import type BinaryenDefault from 'binaryen';

export type Binaryen = typeof BinaryenDefault;
export type Module = InstanceType<Binaryen['Module']>;
type Expr = number;

/** Accessors of binaryen.js expression classes (`binaryen.Loop.setBody(...)` etc.) used here. */
export interface BinaryenAccessors {
  Block: {
    getNumChildren(e: Expr): number;
    getChildAt(e: Expr, i: number): Expr;
    insertChildAt(e: Expr, i: number, child: Expr): void;
  };
  If: {
    getCondition(e: Expr): Expr;
    getIfTrue(e: Expr): Expr;
    getIfFalse(e: Expr): Expr;
    setIfTrue(e: Expr, x: Expr): void;
    setIfFalse(e: Expr, x: Expr): void;
  };
  Loop: { getBody(e: Expr): Expr; setBody(e: Expr, body: Expr): void };
  Break: { getCondition(e: Expr): Expr; getValue(e: Expr): Expr };
  Switch: { getCondition(e: Expr): Expr; getValue(e: Expr): Expr };
  Call: {
    getNumOperands(e: Expr): number;
    getOperandAt(e: Expr, i: number): Expr;
    getTarget(e: Expr): string;
    isReturn(e: Expr): boolean;
  };
  LocalSet: { getValue(e: Expr): Expr };
  GlobalSet: { getValue(e: Expr): Expr };
  Load: { getPtr(e: Expr): Expr; isAtomic(e: Expr): boolean };
  Store: {
    getPtr(e: Expr): Expr;
    setPtr(e: Expr, p: Expr): void;
    getValue(e: Expr): Expr;
    isAtomic(e: Expr): boolean;
    getOffset(e: Expr): number;
    getBytes(e: Expr): number;
  };
  MemoryInit: {
    getDest(e: Expr): Expr;
    setDest(e: Expr, d: Expr): void;
    getOffset(e: Expr): Expr;
    getSize(e: Expr): Expr;
    setSize(e: Expr, s: Expr): void;
  };
  MemoryCopy: {
    getDest(e: Expr): Expr;
    setDest(e: Expr, d: Expr): void;
    getSource(e: Expr): Expr;
    getSize(e: Expr): Expr;
    setSize(e: Expr, s: Expr): void;
  };
  MemoryFill: {
    getDest(e: Expr): Expr;
    setDest(e: Expr, d: Expr): void;
    getValue(e: Expr): Expr;
    getSize(e: Expr): Expr;
    setSize(e: Expr, s: Expr): void;
  };
  Unary: { getValue(e: Expr): Expr };
  Binary: { getLeft(e: Expr): Expr; getRight(e: Expr): Expr };
  Select: { getIfTrue(e: Expr): Expr; getIfFalse(e: Expr): Expr; getCondition(e: Expr): Expr };
  Drop: { getValue(e: Expr): Expr };
  Return: { getValue(e: Expr): Expr };
  MemoryGrow: { getDelta(e: Expr): Expr };
  Function: { setBody(func: number, body: Expr): void };
  _BinaryenFunctionAddVar(func: number, type: number): number;
  _BinaryenGetDataSegmentByteOffset(module: number, segment: number): number;
  _BinaryenGetDataSegmentByteLength(segment: number): number;
  _BinaryenGetDataSegmentPassive(segment: number): number;
  _BinaryenGetNumDataSegments(module: number): number;
  _BinaryenGetDataSegmentByIndex(module: number, index: number): number;
}

let loading: Promise<Binaryen> | undefined;

/** binaryen.js, imported once. */
export function loadBinaryen(): Promise<Binaryen> {
  loading ??= import('binaryen').then((m) => m.default);
  return loading;
}

/** The accessors above, on the loaded binaryen object. */
export function accessors(b: Binaryen): BinaryenAccessors {
  return b as unknown as BinaryenAccessors;
}

/** Reads a module with every feature enabled, so that what it uses can be inspected (and refused). */
export function readModule(b: Binaryen, wasm: Uint8Array): Module {
  return b.readBinaryWithFeatures(wasm, b.Features.All);
}

/**
 * The children of an expression among the ids the validator accepts (control flow, calls, locals,
 * globals, plain loads/stores, bulk memory, numeric ops). Other ids have no children listed: the
 * validator rejects them before anything walks into them.
 */
export function childrenOf(b: Binaryen, x: BinaryenAccessors, e: Expr, id: number, out: Expr[]): void {
  switch (id) {
    case b.BlockId: {
      const n = x.Block.getNumChildren(e);
      for (let i = 0; i < n; i++) out.push(x.Block.getChildAt(e, i));
      break;
    }
    case b.IfId:
      out.push(x.If.getCondition(e), x.If.getIfTrue(e));
      if (x.If.getIfFalse(e)) out.push(x.If.getIfFalse(e));
      break;
    case b.LoopId:
      out.push(x.Loop.getBody(e));
      break;
    case b.BreakId:
      if (x.Break.getValue(e)) out.push(x.Break.getValue(e));
      if (x.Break.getCondition(e)) out.push(x.Break.getCondition(e));
      break;
    case b.SwitchId:
      if (x.Switch.getValue(e)) out.push(x.Switch.getValue(e));
      out.push(x.Switch.getCondition(e));
      break;
    case b.CallId: {
      const n = x.Call.getNumOperands(e);
      for (let i = 0; i < n; i++) out.push(x.Call.getOperandAt(e, i));
      break;
    }
    case b.LocalSetId:
      out.push(x.LocalSet.getValue(e));
      break;
    case b.GlobalSetId:
      out.push(x.GlobalSet.getValue(e));
      break;
    case b.LoadId:
      out.push(x.Load.getPtr(e));
      break;
    case b.StoreId:
      out.push(x.Store.getPtr(e), x.Store.getValue(e));
      break;
    case b.MemoryInitId:
      out.push(x.MemoryInit.getDest(e), x.MemoryInit.getOffset(e), x.MemoryInit.getSize(e));
      break;
    case b.MemoryCopyId:
      out.push(x.MemoryCopy.getDest(e), x.MemoryCopy.getSource(e), x.MemoryCopy.getSize(e));
      break;
    case b.MemoryFillId:
      out.push(x.MemoryFill.getDest(e), x.MemoryFill.getValue(e), x.MemoryFill.getSize(e));
      break;
    case b.UnaryId:
      out.push(x.Unary.getValue(e));
      break;
    case b.BinaryId:
      out.push(x.Binary.getLeft(e), x.Binary.getRight(e));
      break;
    case b.SelectId:
      out.push(x.Select.getIfTrue(e), x.Select.getIfFalse(e), x.Select.getCondition(e));
      break;
    case b.DropId:
      out.push(x.Drop.getValue(e));
      break;
    case b.ReturnId:
      if (x.Return.getValue(e)) out.push(x.Return.getValue(e));
      break;
    case b.MemoryGrowId:
      out.push(x.MemoryGrow.getDelta(e));
      break;
    default:
      break; // Nop, Const, LocalGet, GlobalGet, MemorySize, Unreachable: leaves
  }
}
