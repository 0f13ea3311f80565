/**
 * The policy host: load (validate → meter → compile → instantiate → run `_start` → snapshot) and
 * evaluate, in-process and synchronously.
 *
 * `evaluate` never throws for anything the policy or the request does, never allows by accident and
 * never hangs: a trap, an abort, running out of gas, a stack overflow, a malformed or oversize
 * output, an unknown decision code or an input the encoder refuses all come back as
 * `decision: 'deny'` with a `POLICY_FAULT: ...` reason and a `fault` kind. (Programmer errors —
 * a gas budget that is not an integer in range — throw `RangeError`.)
 *
 * Isolation: one instance per loaded policy, reset before and after every evaluation — the globals
 * inside wasm (`__kw_run` copies them back from the post-start shadow, see gas.ts), the memory by
 * copying back, from the post-start snapshot, the input bytes and the range the policy wrote.
 * Nothing one evaluation does is visible to the next. This costs a few hundred nanoseconds where a
 * fresh instance per call costs tens of microseconds (bench/policy measures both).
 * @module
 */
import { createHash } from 'node:crypto';
import { KeywardError } from '../../../lib/errors.js';
import {
  DecisionCode,
  EvaluateError,
  MAX_GROUP_CHARS,
  MAX_REASON_CHARS,
  MAX_REQUIRED_APPROVALS,
  OUTPUT_HEADER_BYTES,
  encodePolicyInputInto,
  evaluateErrorText,
} from './abi.js';
import type { DecisionName } from './abi.js';
import { loadBinaryen, readModule } from './binaryen.js';
import { GAS_BUDGET_DEFAULT, GAS_BUDGET_MAX, GAS_BUDGET_START, MeterExport, meterModule } from './gas.js';
import type { PolicyInput } from './input.js';
import { MAX_INPUT_BYTES } from './schema.js';
import { preflight, validateModule } from './validate.js';
import type { ModuleInfo } from './validate.js';
import { Wasm } from './wasm.js';
import type { WasmGlobal, WasmMemory, WasmModule } from './wasm.js';

/** Why the host, not the policy, decided (always with `decision: 'deny'`). */
export const POLICY_FAULTS = [
  'out_of_gas',
  'trap',
  'abort',
  'stack_overflow',
  'bad_output',
  'input_rejected',
  'input_invalid',
  'host_error',
] as const;
export type PolicyFault = (typeof POLICY_FAULTS)[number];

export interface EvaluationResult {
  decision: DecisionName;
  /** Approvals required (require_approval), else 0. */
  approvals: number;
  /** Group whose members approve (require_approval), else "". */
  group: string;
  reason: string;
  /** Gas used (≤ the budget; equal to it when it ran out). */
  gas: number;
  /** SHA-256 of the policy module, hex. */
  hash: string;
  fault: PolicyFault | null;
}

export interface EvaluateOptions {
  /** Gas for this evaluation, 1..GAS_BUDGET_MAX (default GAS_BUDGET_DEFAULT). */
  gasBudget?: number;
}

interface MeteredExports {
  memory: WasmMemory;
  [MeterExport.run]: (len: number, budget: number) => number;
  [MeterExport.init]: (budget: number) => void;
  [MeterExport.gas]: WasmGlobal;
  [MeterExport.dirtyLo]: WasmGlobal;
  [MeterExport.dirtyHi]: WasmGlobal;
}

/** Thrown by the `env.abort` import to unwind the policy. */
class PolicyAbort extends Error {}

/** Stable names for V8's trap messages (fault reasons end up in audit records). */
function trapName(message: string): string {
  if (/unreachable/i.test(message)) return 'unreachable';
  if (/out of bounds/i.test(message)) return 'memory access out of bounds';
  if (/divi(de|sion) by zero/i.test(message)) return 'integer divide by zero';
  if (/unrepresentable/i.test(message)) return 'integer result unrepresentable';
  if (/overflow/i.test(message)) return 'integer overflow';
  return message;
}

const utf16 = new TextDecoder('utf-16le');

/**
 * UTF-16LE text of a policy's output, remembering the last bytes decoded and their text: a policy
 * gives the same reason (and group) for most requests, and comparing its bytes costs less than a
 * TextDecoder call (~0.5% of the dev server's CPU went to decoding the same reason, issue 14).
 */
class Utf16Memo {
  #bytes = new Uint8Array(0);
  #text = '';

  decode(mem: Uint8Array, from: number, to: number): string {
    const last = this.#bytes;
    const n = to - from;
    if (n === last.length) {
      let i = 0;
      while (i < n && mem[from + i] === last[i]) i++;
      if (i === n) return this.#text;
    }
    this.#bytes = mem.slice(from, to);
    this.#text = utf16.decode(this.#bytes);
    return this.#text;
  }
}

/** A validated, metered, instantiated policy. Create with `loadPolicy`. */
export class LoadedPolicy {
  /** SHA-256 of the module bytes, hex: the policy's identity. */
  readonly sha256: string;
  readonly info: ModuleInfo;
  readonly #exports: MeteredExports;
  readonly #mem: Uint8Array;
  readonly #view: DataView;
  readonly #snapshot: Uint8Array;
  readonly #inputPtr: number;
  readonly #inputCapacity: number;
  readonly #outputPtr: number;
  readonly #outputCapacity: number;
  #abortMessage = '';
  readonly #group = new Utf16Memo();
  readonly #reason = new Utf16Memo();

  private constructor(info: ModuleInfo, instantiate: (abort: (...args: number[]) => never) => MeteredExports) {
    this.info = info;
    this.sha256 = info.sha256;
    this.#exports = instantiate((msg, file, line, col) => this.#abort(msg!, file!, line!, col!));
    const memory = this.#exports.memory;
    this.#mem = new Uint8Array(memory.buffer);
    this.#view = new DataView(memory.buffer);
    this.#inputPtr = info.input.ptr;
    this.#inputCapacity = Math.min(info.input.capacity, MAX_INPUT_BYTES);
    this.#outputPtr = info.output.ptr;
    this.#outputCapacity = info.output.capacity;
    try {
      this.#exports[MeterExport.init](GAS_BUDGET_START);
    } catch (cause) {
      const detail =
        cause instanceof PolicyAbort
          ? `abort: ${this.#abortMessage}`
          : cause instanceof Error
            ? cause.message
            : String(cause);
      throw new KeywardError('POLICY_INVALID', `invalid policy module: _start faulted (${detail})`, {
        cause,
        details: { problems: ['_start faulted'] },
      });
    }
    this.#snapshot = this.#mem.slice();
  }

  /** Same as `sha256`. */
  get hash(): string {
    return this.sha256;
  }

  /** @internal Used by `loadPolicy`. */
  static create(info: ModuleInfo, metered: WasmModule): LoadedPolicy {
    return new LoadedPolicy(info, (abort) => {
      const instance = new Wasm.Instance(metered, { env: { abort } });
      return instance.exports as unknown as MeteredExports;
    });
  }

  /**
   * Evaluates the policy on one input (a PolicyInput, or its canonical encoding). See the module
   * comment for the guarantees.
   */
  evaluate(input: PolicyInput | Uint8Array, options?: EvaluateOptions): EvaluationResult {
    const budget = options?.gasBudget ?? GAS_BUDGET_DEFAULT;
    if (!Number.isInteger(budget) || budget < 1 || budget > GAS_BUDGET_MAX) {
      throw new RangeError(`"gasBudget" expected an integer in [1, ${GAS_BUDGET_MAX}], got ${budget}`);
    }
    const mem = this.#mem;
    const inputPtr = this.#inputPtr;
    let len: number;
    if (input instanceof Uint8Array) {
      if (input.length > this.#inputCapacity) {
        return this.#fault(
          'input_invalid',
          `input is ${input.length} bytes, over the ${this.#inputCapacity}-byte input region`,
          0,
        );
      }
      mem.set(input, inputPtr);
      len = input.length;
    } else {
      try {
        len = encodePolicyInputInto(input, mem, inputPtr);
      } catch (err) {
        this.#restore(inputPtr, inputPtr + MAX_INPUT_BYTES);
        return this.#fault('input_invalid', err instanceof Error ? err.message : String(err), 0);
      }
    }
    const exports = this.#exports;
    let result: EvaluationResult;
    try {
      const written = exports[MeterExport.run](len, budget);
      result = this.#output(written, budget - (exports[MeterExport.gas].value as number));
    } catch (err) {
      const left = exports[MeterExport.gas].value as number;
      const gas = left < 0 ? budget : budget - left;
      if (err instanceof PolicyAbort) result = this.#fault('abort', `abort: ${this.#abortMessage}`, gas);
      else if (err instanceof Wasm.RuntimeError)
        result =
          left < 0
            ? this.#fault('out_of_gas', 'out of gas', gas)
            : this.#fault('trap', `trap: ${trapName(err.message)}`, gas);
      else if (err instanceof RangeError && /call stack/i.test(err.message))
        result = this.#fault('stack_overflow', 'stack overflow', gas);
      else result = this.#fault('host_error', `host error: ${err instanceof Error ? err.message : String(err)}`, gas);
    } finally {
      this.#restore(inputPtr, inputPtr + len);
      this.#restore(
        (exports[MeterExport.dirtyLo].value as number) >>> 0,
        (exports[MeterExport.dirtyHi].value as number) >>> 0,
      );
    }
    return result;
  }

  /** Copies [from, to) back from the snapshot (clamped to memory). */
  #restore(from: number, to: number): void {
    const end = Math.min(to, this.#mem.length);
    if (from < end) this.#mem.set(this.#snapshot.subarray(from, end), from);
  }

  #fault(fault: PolicyFault, detail: string, gas: number): EvaluationResult {
    return {
      decision: 'deny',
      approvals: 0,
      group: '',
      reason: `POLICY_FAULT: ${detail}`,
      gas,
      hash: this.sha256,
      fault,
    };
  }

  // The output record is written by untrusted code: check every field before believing it.
  #output(written: number, gas: number): EvaluationResult {
    if (written < 0) {
      if (written === EvaluateError.GROUP_TOO_LONG)
        return this.#fault('bad_output', `bad output: ${evaluateErrorText(written)}`, gas);
      return this.#fault('input_rejected', `input rejected by the policy: ${evaluateErrorText(written)}`, gas);
    }
    if (written < OUTPUT_HEADER_BYTES || written > this.#outputCapacity) {
      return this.#fault(
        'bad_output',
        `bad output: record of ${written} bytes, expected ${OUTPUT_HEADER_BYTES}..${this.#outputCapacity}`,
        gas,
      );
    }
    const view = this.#view;
    const p = this.#outputPtr;
    const code = view.getUint32(p, true);
    const approvals = view.getInt32(p + 4, true);
    const groupBytes = view.getUint32(p + 8, true);
    const reasonBytes = view.getUint32(p + 12, true);
    if (
      groupBytes % 2 !== 0 ||
      reasonBytes % 2 !== 0 ||
      groupBytes > 2 * MAX_GROUP_CHARS ||
      reasonBytes > 2 * MAX_REASON_CHARS
    ) {
      return this.#fault(
        'bad_output',
        `bad output: group/reason lengths ${groupBytes}/${reasonBytes} bytes out of bounds`,
        gas,
      );
    }
    if (OUTPUT_HEADER_BYTES + groupBytes + reasonBytes !== written) {
      return this.#fault('bad_output', `bad output: record length ${written} does not match its fields`, gas);
    }
    let decision: DecisionName;
    if (code === DecisionCode.allow) decision = 'allow';
    else if (code === DecisionCode.deny) decision = 'deny';
    else if (code === DecisionCode.require_approval) decision = 'require_approval';
    else return this.#fault('bad_output', `bad output: unknown decision code ${code}`, gas);
    if (decision === 'require_approval' ? approvals < 1 || approvals > MAX_REQUIRED_APPROVALS : approvals !== 0) {
      return this.#fault(
        'bad_output',
        `bad output: ${decision} with approvals ${approvals}, expected ${decision === 'require_approval' ? `1..${MAX_REQUIRED_APPROVALS}` : '0'}`,
        gas,
      );
    }
    if (decision !== 'require_approval' && groupBytes !== 0)
      return this.#fault('bad_output', `bad output: ${decision} with an approval group`, gas);
    const body = p + OUTPUT_HEADER_BYTES;
    const group = groupBytes === 0 ? '' : this.#group.decode(this.#mem, body, body + groupBytes);
    const reason =
      reasonBytes === 0 ? '' : this.#reason.decode(this.#mem, body + groupBytes, body + groupBytes + reasonBytes);
    return { decision, approvals, group, reason, gas, hash: this.sha256, fault: null };
  }

  // env.abort(message, fileName, line, column): AssemblyScript strings, read defensively.
  #abort(msg: number, file: number, line: number, col: number): never {
    this.#abortMessage = `${this.#asString(msg)} (${this.#asString(file)}:${line >>> 0}:${col >>> 0})`;
    throw new PolicyAbort('policy aborted');
  }

  #asString(ptr: number): string {
    ptr >>>= 0;
    if (ptr === 0) return 'null';
    if (ptr < 4 || ptr > this.#mem.length) return '?';
    const bytes = this.#view.getUint32(ptr - 4, true);
    if (bytes % 2 !== 0 || ptr + bytes > this.#mem.length) return '?';
    const n = Math.min(bytes, 2 * 256);
    return utf16.decode(this.#mem.subarray(ptr, ptr + n)) + (n < bytes ? '…' : '');
  }
}

/** A module's validation result and its metered bytes: what loading needs besides compiling. */
export interface MeteredPolicy {
  info: ModuleInfo;
  metered: Uint8Array;
}

/**
 * Validates and meters a policy module with binaryen (validate.ts, gas.ts): the expensive half of
 * loading, and the same for the same bytes every time (the build records it for the bundled
 * policies, engine/policy/bindings/prebuilt.ts).
 * @throws {@link KeywardError} `POLICY_INVALID` (see validate.ts).
 */
export async function meterPolicy(wasm: Uint8Array): Promise<MeteredPolicy> {
  preflight(wasm);
  const b = await loadBinaryen();
  const module = readModule(b, wasm);
  try {
    const info = validateModule(b, module, wasm);
    meterModule(b, module);
    return { info, metered: module.emitBinary() };
  } finally {
    module.dispose();
  }
}

/**
 * Validates, meters, compiles and instantiates a policy module. `prebuilt`, when given, is this
 * module's {@link meterPolicy} result made earlier by trusted code (the build): it is used only if
 * it names these bytes' SHA-256, and spares loading binaryen (about half a second per process).
 * @throws {@link KeywardError} `POLICY_INVALID` (see validate.ts), also if `_start` faults;
 *   `POLICY_METERING_FAILED` if instrumentation broke a valid module (a bug: please report).
 */
export async function loadPolicy(wasm: Uint8Array, prebuilt?: MeteredPolicy): Promise<LoadedPolicy> {
  let m: MeteredPolicy;
  if (prebuilt && prebuilt.info.sha256 === createHash('sha256').update(wasm).digest('hex')) {
    preflight(wasm);
    m = prebuilt;
  } else m = await meterPolicy(wasm);
  let compiled: WasmModule;
  try {
    compiled = new Wasm.Module(m.metered);
  } catch (cause) {
    // The input was valid and metering only adds code: this is a bug of ours, not of the policy.
    throw new KeywardError(
      'POLICY_METERING_FAILED',
      `metering produced an invalid module: ${(cause as Error).message}`,
      { cause },
    );
  }
  return LoadedPolicy.create(m.info, compiled);
}
