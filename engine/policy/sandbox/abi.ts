/**
 * Policy ABI v1, host side: the canonical binary encoding of PolicyInput, the output record a
 * policy writes back, and the names and codes both sides agree on (docs/architecture.md).
 *
 * Input (host → module), written at the module's input region; all integers little-endian:
 *
 * ```
 *  offset  size  field
 *  0       4     magic "KWPI" (4B 57 50 49)
 *  4       2     format version u16 = INPUT_FORMAT_VERSION (1)
 *  6       2     reserved u16 = 0
 *  8       4     total length u32, header included (≤ MAX_INPUT_BYTES = 16384)
 *  12      …     the fields of POLICY_INPUT_FIELDS (schema.ts), in order:
 *
 *  str  = u32 byteLength ‖ UTF-8 bytes             (well-formed, bounded per field)
 *  set  = u32 count ‖ count × str                  (sorted by bytes, no duplicates)
 *  map  = u32 count ‖ count × (str key ‖ str value) (sorted by key bytes; keys unique)
 *  opt  = u8 0  |  u8 1 ‖ the nested fields
 *  i32  = 4 bytes two's complement · i64 = 8 bytes two's complement
 *
 *  operation str · principal str · roles set ·
 *  key opt{ name str · type str · version i32 · labels map } ·
 *  attributes map · payloadBytes i64 · time i64 · approvals i32
 * ```
 *
 * The encoding is canonical: equal inputs (as values: role order, map insertion order and duplicate
 * roles don't matter) give equal bytes, so its SHA-256 can name an input in the audit log and
 * `audit replay` can re-run exactly what was decided.
 *
 * Output (module → host), written at the module's output region; `evaluate(len)` returns its
 * length, or a negative code when the module rejected its input:
 *
 * ```
 *  0   u32  decision: 1 allow, 2 deny, 3 require_approval
 *  4   i32  approvals required (1..MAX_REQUIRED_APPROVALS for require_approval, else 0)
 *  8   u32  group length in bytes (UTF-16LE, ≤ 2 × MAX_GROUP_CHARS)
 *  12  u32  reason length in bytes (UTF-16LE, ≤ 2 × MAX_REASON_CHARS)
 *  16  …    group code units, then reason code units
 * ```
 *
 * Strings come back as UTF-16 because that is how AssemblyScript holds them: the module copies its
 * string with one memory.copy instead of transcoding.
 * @module
 */
import { KeywardError } from '../../../lib/errors.js';
import type { PolicyInput } from './input.js';
import {
  INPUT_FORMAT_VERSION,
  INPUT_HEADER_BYTES,
  INPUT_MAGIC,
  MAX_I64_FIELD,
  MAX_INPUT_BYTES,
  POLICY_INPUT_FIELDS,
} from './schema.js';
import type { Field } from './schema.js';
import { compareBytes, compareUtf8, utf8Length, writeUtf8 } from './utf8.js';

/** The ABI version a module must export (`keyward_abi_version`). */
export const ABI_VERSION = 1;

/** Export names of an ABI v1 module. */
export const AbiExport = {
  memory: 'memory',
  abiVersion: 'keyward_abi_version',
  inputPtr: 'keyward_input_ptr',
  inputCapacity: 'keyward_input_capacity',
  outputPtr: 'keyward_output_ptr',
  outputCapacity: 'keyward_output_capacity',
  evaluate: 'evaluate',
  /** Optional: top-level initialisation, run once (metered) before the snapshot. */
  start: '_start',
} as const;

/** Decision codes of the output record. */
export const DecisionCode = { allow: 1, deny: 2, require_approval: 3 } as const;
export type DecisionName = keyof typeof DecisionCode;

/** Size of the fixed part of the output record. */
export const OUTPUT_HEADER_BYTES = 16;
/** Output region the SDK reserves (the host accepts any capacity the validator allowed). */
export const OUTPUT_CAPACITY = 4096;
/** Longest approval group name, in UTF-16 code units. */
export const MAX_GROUP_CHARS = 64;
/** Longest reason, in UTF-16 code units; the SDK truncates longer reasons. */
export const MAX_REASON_CHARS = 1024;
/** Largest approval count a policy may require. */
export const MAX_REQUIRED_APPROVALS = 32;

/** Negative results of `evaluate`: the module's decoder rejected the input, or the output. */
export const EvaluateError = {
  LENGTH: -1,
  MAGIC: -2,
  VERSION: -3,
  TRUNCATED: -4,
  STRING: -5,
  COUNT: -6,
  TAG: -7,
  RANGE: -8,
  TRAILING: -9,
  GROUP_TOO_LONG: -16,
} as const;

const EVALUATE_ERROR_TEXT: Record<number, string> = {
  [EvaluateError.LENGTH]: 'input length does not match its header',
  [EvaluateError.MAGIC]: 'input magic is not "KWPI"',
  [EvaluateError.VERSION]: 'input format version not supported by the policy',
  [EvaluateError.TRUNCATED]: 'input truncated',
  [EvaluateError.STRING]: 'input string out of bounds',
  [EvaluateError.COUNT]: 'input set or map has too many entries',
  [EvaluateError.TAG]: 'input optional tag is neither 0 nor 1',
  [EvaluateError.RANGE]: 'input number out of range',
  [EvaluateError.TRAILING]: 'input has trailing bytes',
  [EvaluateError.GROUP_TOO_LONG]: `approval group longer than ${MAX_GROUP_CHARS} characters`,
};

/** Human text for a negative `evaluate` result. */
export function evaluateErrorText(code: number): string {
  return EVALUATE_ERROR_TEXT[code] ?? `unknown error code ${code}`;
}

// ---------------------------------------------------------------------------------------------
// Encoder

// One scratch buffer: encoding is synchronous, so it is never shared between two calls.
const SCRATCH = new Uint8Array(MAX_INPUT_BYTES);

class EncodeError extends Error {}

interface Sink {
  buf: Uint8Array;
  pos: number;
  limit: number;
}
const sink: Sink = { buf: SCRATCH, pos: 0, limit: 0 };

function fail(path: string, message: string): never {
  throw new EncodeError(`"${path}" ${message}`);
}

function need(n: number): void {
  if (sink.pos + n > sink.limit) throw new EncodeError(`encoded input exceeds ${MAX_INPUT_BYTES} bytes`);
}

function putU32(v: number): void {
  need(4);
  const b = sink.buf;
  let p = sink.pos;
  b[p++] = v & 0xff;
  b[p++] = (v >>> 8) & 0xff;
  b[p++] = (v >>> 16) & 0xff;
  b[p++] = (v >>> 24) & 0xff;
  sink.pos = p;
}

function putI64(v: number): void {
  // v is a non-negative safe integer (checked by the caller): split into two u32 halves.
  putU32(v % 0x100000000);
  putU32(Math.floor(v / 0x100000000));
}

// Field paths for error messages are passed in pieces and only joined on failure: building them
// eagerly for every field and map entry was a third of the encoding time.
// `suffix`: '' for the field itself, KEY_SUFFIX for a map key, else the map key whose value it is.
const KEY_SUFFIX = '\0key';
function stringPath(prefix: string, name: string, suffix: string): string {
  return prefix + name + (suffix === '' ? '' : suffix === KEY_SUFFIX ? ' key' : '.' + suffix);
}

function putString(s: unknown, maxBytes: number, prefix: string, name: string, suffix: string): void {
  if (typeof s !== 'string') fail(stringPath(prefix, name, suffix), `expected string, got ${typeName(s)}`);
  need(4);
  const start = sink.pos;
  const end = writeUtf8(s, sink.buf, start + 4, Math.min(sink.limit, start + 4 + maxBytes));
  if (end === -1) fail(stringPath(prefix, name, suffix), 'expected well-formed Unicode, got a lone surrogate');
  if (end === -2) {
    const n = utf8Length(s);
    if (n > maxBytes) fail(stringPath(prefix, name, suffix), `expected at most ${maxBytes} UTF-8 bytes, got ${n}`);
    need(4 + n); // the string fits its bound: the whole input is what overflows
  }
  sink.pos = start;
  putU32(end - start - 4);
  sink.pos = end;
}

function typeName(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
}

function isPlainRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The strings of a set in canonical order: sorted by bytes, without duplicates (copied only if needed). */
function canonicalSet(items: readonly string[]): readonly string[] {
  let sorted = true;
  for (let i = 1; i < items.length && sorted; i++) sorted = compareUtf8(items[i - 1]!, items[i]!) < 0;
  if (sorted) return items;
  const out = items.slice().sort(compareUtf8);
  let w = 0;
  for (let r = 0; r < out.length; r++) if (r === 0 || out[r] !== out[w - 1]) out[w++] = out[r]!;
  out.length = w;
  return out;
}

/** Keys of a map in canonical order (sorted by bytes). */
function canonicalKeys(m: Record<string, unknown>): string[] {
  const keys = Object.keys(m);
  for (let i = 1; i < keys.length; i++) {
    if (compareUtf8(keys[i - 1]!, keys[i]!) > 0) return keys.sort(compareUtf8);
  }
  return keys;
}

function putFields(fields: readonly Field[], rec: Record<string, unknown>, prefix: string): void {
  for (let fi = 0; fi < fields.length; fi++) {
    const f = fields[fi]!;
    const v = rec[f.name];
    switch (f.kind) {
      case 'string':
        putString(v, f.maxBytes, prefix, f.name, '');
        break;
      case 'i32': {
        const n = v === undefined ? 0 : v;
        if (typeof n !== 'number' || !Number.isInteger(n) || n < f.min || n > f.max)
          fail(prefix + f.name, `expected an integer in [${f.min}, ${f.max}], got ${String(n)}`);
        putU32(n | 0);
        break;
      }
      case 'i64': {
        const n = v === undefined ? 0 : v;
        if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < f.min)
          fail(prefix + f.name, `expected a safe integer ≥ ${f.min}, got ${String(n)}`);
        putI64(n);
        break;
      }
      case 'set': {
        const arr = v === undefined ? [] : v;
        if (!Array.isArray(arr)) fail(prefix + f.name, `expected an array of strings, got ${typeName(arr)}`);
        for (let i = 0; i < arr.length; i++)
          if (typeof arr[i] !== 'string') fail(`${prefix}${f.name}.${i}`, `expected string, got ${typeName(arr[i])}`);
        const items = canonicalSet(arr as string[]);
        if (items.length > f.maxEntries)
          fail(prefix + f.name, `expected at most ${f.maxEntries} entries, got ${items.length}`);
        putU32(items.length);
        for (let i = 0; i < items.length; i++) putString(items[i], f.maxBytes, prefix, f.name, '');
        break;
      }
      case 'map': {
        const m = v === undefined ? {} : v;
        if (!isPlainRecord(m)) fail(prefix + f.name, `expected an object of strings, got ${typeName(m)}`);
        const keys = canonicalKeys(m);
        if (keys.length > f.maxEntries)
          fail(prefix + f.name, `expected at most ${f.maxEntries} entries, got ${keys.length}`);
        putU32(keys.length);
        for (let i = 0; i < keys.length; i++) {
          const k = keys[i]!;
          putString(k, f.maxKeyBytes, prefix, f.name, KEY_SUFFIX);
          putString(m[k], f.maxValueBytes, prefix, f.name, k);
        }
        break;
      }
      case 'optional': {
        need(1);
        if (v === undefined || v === null) {
          sink.buf[sink.pos++] = 0;
        } else {
          if (!isPlainRecord(v)) fail(prefix + f.name, `expected an object or null, got ${typeName(v)}`);
          sink.buf[sink.pos++] = 1;
          putFields(f.fields, v, prefix + f.name + '.');
        }
        break;
      }
    }
  }
}

function encodeTo(input: PolicyInput, buf: Uint8Array, offset: number, limit: number): number {
  if (!isPlainRecord(input)) throw new TypeError(`"input" expected a PolicyInput object, got ${typeName(input)}`);
  sink.buf = buf;
  sink.pos = offset;
  sink.limit = limit;
  try {
    putU32(INPUT_MAGIC);
    buf[sink.pos++] = INPUT_FORMAT_VERSION & 0xff;
    buf[sink.pos++] = INPUT_FORMAT_VERSION >>> 8;
    buf[sink.pos++] = 0;
    buf[sink.pos++] = 0;
    putU32(0); // total length, patched below
    putFields(POLICY_INPUT_FIELDS, input as unknown as Record<string, unknown>, '');
    const len = sink.pos - offset;
    sink.pos = offset + 8;
    putU32(len);
    return len;
  } catch (err) {
    if (err instanceof EncodeError)
      throw new KeywardError('POLICY_INPUT_INVALID', `invalid policy input: ${err.message}`, { cause: err });
    throw err;
  } finally {
    sink.buf = SCRATCH;
  }
}

/**
 * Encodes a PolicyInput canonically (layout above).
 * @throws {@link KeywardError} `POLICY_INPUT_INVALID` naming the offending field (wrong type, over a
 *   bound, lone surrogate, or the whole encoding over MAX_INPUT_BYTES).
 */
export function encodePolicyInput(input: PolicyInput): Uint8Array {
  const len = encodeTo(input, SCRATCH, 0, MAX_INPUT_BYTES);
  return SCRATCH.slice(0, len);
}

/**
 * Encodes straight into `target` at `offset` (the host writes a module's input region this way,
 * without an intermediate copy) and returns the length. `target` must have MAX_INPUT_BYTES of room
 * after `offset`; on error, bytes after `offset` may have been overwritten.
 */
export function encodePolicyInputInto(input: PolicyInput, target: Uint8Array, offset: number): number {
  if (offset < 0 || offset + MAX_INPUT_BYTES > target.length) {
    throw new RangeError(
      `"target" expected ${MAX_INPUT_BYTES} bytes of room after offset ${offset}, got ${target.length - offset}`,
    );
  }
  return encodeTo(input, target, offset, offset + MAX_INPUT_BYTES);
}

// ---------------------------------------------------------------------------------------------
// Decoder (replay, inspection, tests). Strict: it accepts only canonical encodings.

const utf8 = new TextDecoder('utf-8', { fatal: true });

class Reader {
  pos = INPUT_HEADER_BYTES;
  constructor(
    readonly buf: Uint8Array,
    readonly view: DataView,
  ) {}
  fail(message: string): never {
    throw new KeywardError('POLICY_INPUT_INVALID', `malformed policy input at byte ${this.pos}: ${message}`);
  }
  take(n: number, what: string): number {
    if (this.pos + n > this.buf.length)
      this.fail(`expected ${n} more bytes for ${what}, got ${this.buf.length - this.pos}`);
    const p = this.pos;
    this.pos += n;
    return p;
  }
  u32(what: string): number {
    return this.view.getUint32(this.take(4, what), true);
  }
  bytes(maxBytes: number, what: string): Uint8Array {
    const n = this.u32(what);
    if (n > maxBytes) this.fail(`expected ${what} of at most ${maxBytes} bytes, got ${n}`);
    const p = this.take(n, what);
    return this.buf.subarray(p, p + n);
  }
  str(b: Uint8Array, what: string): string {
    try {
      return utf8.decode(b);
    } catch {
      return this.fail(`${what} is not valid UTF-8`);
    }
  }
}

function readFields(r: Reader, fields: readonly Field[], prefix: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of fields) {
    const path = prefix + f.name;
    switch (f.kind) {
      case 'string':
        out[f.name] = r.str(r.bytes(f.maxBytes, path), path);
        break;
      case 'i32': {
        const n = r.view.getInt32(r.take(4, path), true);
        if (n < f.min || n > f.max) r.fail(`expected ${path} in [${f.min}, ${f.max}], got ${n}`);
        out[f.name] = n;
        break;
      }
      case 'i64': {
        const p = r.take(8, path);
        const n = r.view.getBigInt64(p, true);
        if (n < BigInt(f.min) || n > BigInt(MAX_I64_FIELD)) r.fail(`expected ${path} in [${f.min}, 2^53-1], got ${n}`);
        out[f.name] = Number(n);
        break;
      }
      case 'set':
      case 'map': {
        const count = r.u32(path);
        if (count > f.maxEntries) r.fail(`expected at most ${f.maxEntries} ${path} entries, got ${count}`);
        let prev: Uint8Array | null = null;
        const items: string[] = [];
        const map: Record<string, string> = {};
        for (let i = 0; i < count; i++) {
          const k = r.bytes(f.kind === 'set' ? f.maxBytes : f.maxKeyBytes, path);
          if (prev && compareBytes(prev, k) >= 0) r.fail(`expected ${path} sorted by bytes without duplicates`);
          prev = k;
          const key = r.str(k, path);
          if (f.kind === 'set') items.push(key);
          else
            Object.defineProperty(map, key, {
              value: r.str(r.bytes(f.maxValueBytes, `${path}.${key}`), path),
              enumerable: true,
              writable: true,
              configurable: true,
            });
        }
        out[f.name] = f.kind === 'set' ? items : map;
        break;
      }
      case 'optional': {
        const tag = r.buf[r.take(1, path)];
        if (tag === 0) out[f.name] = null;
        else if (tag === 1) out[f.name] = readFields(r, f.fields, path + '.');
        else r.fail(`expected ${path} tag 0 or 1, got ${tag}`);
        break;
      }
    }
  }
  return out;
}

/**
 * Decodes a canonical encoding back to the JSON form (`key` is `null` when absent).
 * @throws {@link KeywardError} `POLICY_INPUT_INVALID` for anything but a canonical v1 encoding.
 */
export function decodePolicyInput(bytes: Uint8Array): PolicyInput {
  if (!(bytes instanceof Uint8Array)) throw new TypeError(`"bytes" expected Uint8Array, got ${typeName(bytes)}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const r = new Reader(bytes, view);
  if (bytes.length < INPUT_HEADER_BYTES || bytes.length > MAX_INPUT_BYTES) {
    r.pos = 0;
    r.fail(`expected ${INPUT_HEADER_BYTES}..${MAX_INPUT_BYTES} bytes, got ${bytes.length}`);
  }
  if (view.getUint32(0, true) !== INPUT_MAGIC) r.fail('expected magic "KWPI"');
  const version = view.getUint16(4, true);
  if (version !== INPUT_FORMAT_VERSION || view.getUint16(6, true) !== 0)
    r.fail(`expected format version ${INPUT_FORMAT_VERSION}, got ${version}`);
  const total = view.getUint32(8, true);
  if (total !== bytes.length) r.fail(`expected total length ${bytes.length} in the header, got ${total}`);
  const out = readFields(r, POLICY_INPUT_FIELDS, '');
  if (r.pos !== bytes.length) r.fail(`expected end of input, got ${bytes.length - r.pos} trailing bytes`);
  return out as unknown as PolicyInput;
}
