/**
 * Byte helpers for the ceremony formats: strict base64 (RFC 4648 §4, padded, canonical), UTF-8,
 * concatenation, length-prefixed fields, constant-time comparison and best-effort wiping, plus a
 * strict reader for the JSON documents the ceremony exchanges (holder key files, shard files,
 * submissions), which are attacker input.
 *
 * Length-prefixed field, used to build every HPKE `info`, AAD and binary plaintext of ceremony/:
 *
 *   lp(x) = u16be(len(x)) ‖ x            (0 ≤ len(x) ≤ 65535)
 *
 * so that a concatenation of lp() fields parses one way only (no "ab"‖"c" = "a"‖"bc" ambiguity).
 *
 * Zeroization in JavaScript is best effort: `wipe()` overwrites the bytes it is given, but the
 * engine may have copied them (garbage collector moves, string conversions, library internals),
 * and nothing can wipe those copies.
 * @module
 */
import { Buffer } from 'node:buffer';
import { timingSafeEqual } from 'node:crypto';
import { KeywardError, type KeywardCode } from './errors.js';

/** Largest length lp() can encode (u16). */
export const LP_MAX_LEN = 0xffff;

// Padded standard alphabet only: no URL-safe characters, no whitespace, no missing padding.
const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Standard padded base64 (RFC 4648 §4) of `bytes`. */
export function toBase64(bytes: Uint8Array): string {
  if (!(bytes instanceof Uint8Array)) throw new TypeError(`"toBase64" expected Uint8Array, got ${describe(bytes)}`);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/** Expected decoded length for {@link fromBase64}: exact, or a range (inclusive). */
export type LengthSpec = number | { min?: number; max?: number };

/**
 * Decodes strict, canonical base64 (RFC 4648 §4 with padding, no whitespace, unused bits zero), so
 * that every byte string has exactly one accepted text. `what` names the value in the error.
 *
 * Failures throw `KeywardError(code)` when a `code` is given (the text came from a file or a
 * request), else `RangeError` (`TypeError` for a non-string). Returns a fresh Uint8Array (never a
 * pooled Buffer).
 */
export function fromBase64<C extends KeywardCode>(text: string, what: string, expectedLen?: LengthSpec, code?: C): Uint8Array {
  if (typeof text !== 'string' && code === undefined) throw new TypeError(`${what}: expected base64 string, got ${describe(text)}`);
  const r = decodeBase64(text, expectedLen);
  if (typeof r === 'string') {
    throw code === undefined ? new RangeError(`${what}: ${r}`) : new KeywardError(code, `${what}: ${r}`, { details: { field: what } });
  }
  return r;
}

/** The decoded bytes, or what is wrong with `text` ("expected ..., got ..."). */
function decodeBase64(text: unknown, expectedLen?: LengthSpec): Uint8Array | string {
  if (typeof text !== 'string') return `expected base64 string, got ${describe(text)}`;
  if (!BASE64_RE.test(text)) return `expected standard padded base64, got ${text.length} characters that are not`;
  const buf = Buffer.from(text, 'base64');
  // Non-zero unused bits in the last group decode fine but would give two texts for one value.
  if (buf.toString('base64') !== text) return 'expected canonical base64 (unused bits zero), got a non-canonical encoding';
  const len = buf.length;
  if (expectedLen !== undefined) {
    const { min, max } = typeof expectedLen === 'number' ? { min: expectedLen, max: expectedLen } : expectedLen;
    if ((min !== undefined && len < min) || (max !== undefined && len > max)) {
      buf.fill(0);
      const want = min === max ? `${min}` : max === undefined ? `at least ${min ?? 0}` : `${min ?? 0} to ${max}`;
      return `expected ${want} bytes, got ${len}`;
    }
  }
  const out = new Uint8Array(len);
  out.set(buf);
  buf.fill(0);
  return out;
}

/**
 * Compares two byte strings in time that depends only on their lengths (lengths are not secret).
 */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (!(a instanceof Uint8Array) || !(b instanceof Uint8Array)) {
    throw new TypeError(`"constantTimeEqual" expected two Uint8Arrays, got ${describe(a)} and ${describe(b)}`);
  }
  if (a.byteLength !== b.byteLength) return false;
  return timingSafeEqual(a, b);
}

/**
 * Overwrites each array with zeros. Best effort only: JavaScript gives no guarantee that no other
 * copy of the bytes exists (see the module comment). `undefined`/`null` entries are skipped so
 * `finally` blocks can wipe values that may not have been assigned.
 */
export function wipe(...arrays: Array<Uint8Array | null | undefined>): void {
  for (const a of arrays) a?.fill(0);
}

const ENCODER = new TextEncoder();
const STRICT_DECODER = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** UTF-8 bytes of `text`. */
export function utf8(text: string): Uint8Array {
  if (typeof text !== 'string') throw new TypeError(`"utf8" expected string, got ${describe(text)}`);
  return ENCODER.encode(text);
}

/** Decodes strict UTF-8 (no replacement characters); `undefined` when `bytes` is not valid UTF-8. */
export function fromUtf8(bytes: Uint8Array): string | undefined {
  try {
    return STRICT_DECODER.decode(bytes);
  } catch {
    return undefined;
  }
}

/** Concatenation of `arrays` into a new Uint8Array. */
export function concatBytes(...arrays: Uint8Array[]): Uint8Array {
  let len = 0;
  for (const a of arrays) {
    if (!(a instanceof Uint8Array)) throw new TypeError(`"concatBytes" expected Uint8Arrays, got ${describe(a)}`);
    len += a.byteLength;
  }
  const out = new Uint8Array(len);
  let off = 0;
  for (const a of arrays) {
    out.set(a, off);
    off += a.byteLength;
  }
  return out;
}

/** Length-prefixed field: u16be(len) ‖ bytes (see the module comment). */
export function lp(bytes: Uint8Array): Uint8Array {
  if (!(bytes instanceof Uint8Array)) throw new TypeError(`"lp" expected Uint8Array, got ${describe(bytes)}`);
  if (bytes.byteLength > LP_MAX_LEN) throw new RangeError(`"lp" expected at most ${LP_MAX_LEN} bytes, got ${bytes.byteLength}`);
  const out = new Uint8Array(2 + bytes.byteLength);
  out[0] = bytes.byteLength >>> 8;
  out[1] = bytes.byteLength & 0xff;
  out.set(bytes, 2);
  return out;
}

/** One byte holding `n` (0 ≤ n ≤ 255). */
export function u8(n: number): Uint8Array {
  if (!Number.isInteger(n) || n < 0 || n > 0xff) throw new RangeError(`"u8" expected an integer 0..255, got ${n}`);
  return Uint8Array.of(n);
}

/** Four bytes holding `n` big-endian (0 ≤ n < 2^32). */
export function u32be(n: number): Uint8Array {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError(`"u32be" expected an integer 0..2^32-1, got ${n}`);
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, n, false);
  return out;
}

/**
 * Reads the binary layouts built with lp()/u8(). Every read is bounds-checked; a short or overlong
 * input throws `KeywardError(code)` with `what` in the message, because these bytes come from
 * outside (they decrypted fine, but the sender may still be hostile).
 */
export class ByteReader<C extends KeywardCode> {
  #off = 0;
  readonly #bytes: Uint8Array;
  readonly #code: C;
  readonly #what: string;

  constructor(bytes: Uint8Array, code: C, what: string) {
    this.#bytes = bytes;
    this.#code = code;
    this.#what = what;
  }

  /** Bytes not read yet. */
  get remaining(): number {
    return this.#bytes.byteLength - this.#off;
  }

  u8(field: string): number {
    this.#need(1, field);
    return this.#bytes[this.#off++]!;
  }

  /** A length-prefixed field; returns a view into the input (copy it if it must outlive the input). */
  lp(field: string): Uint8Array {
    this.#need(2, `length of ${field}`);
    const len = (this.#bytes[this.#off]! << 8) | this.#bytes[this.#off + 1]!;
    this.#off += 2;
    this.#need(len, field);
    const out = this.#bytes.subarray(this.#off, this.#off + len);
    this.#off += len;
    return out;
  }

  /** Everything left; returns a view into the input. */
  rest(): Uint8Array {
    const out = this.#bytes.subarray(this.#off);
    this.#off = this.#bytes.byteLength;
    return out;
  }

  #need(n: number, field: string): void {
    if (this.remaining < n) {
      throw new KeywardError(this.#code, `${this.#what}: expected ${n} more bytes for ${field}, got ${this.remaining}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Strict reading of JSON documents. Every ceremony file is attacker input: the reader checks the
// exact set of fields, each field's type, pattern and range, and reports every offending field in
// one error (like sigstore's assertBundle), never an uncaught SyntaxError or TypeError.
// ---------------------------------------------------------------------------------------------

/** Largest JSON document (characters) the ceremony parsers read; real files are under 8 KiB. */
export const MAX_DOCUMENT_CHARS = 64 * 1024;

/**
 * Reads the fields of one JSON object. Getters record problems instead of throwing and return a
 * placeholder, so that {@link FieldReader.done} can report all problems at once; callers must not
 * use the values before `done()` returned.
 */
export class FieldReader<C extends KeywardCode> {
  readonly #obj: Record<string, unknown>;
  readonly #code: C;
  readonly #what: string;
  readonly #prefix: string;
  readonly #problems: string[];
  readonly #fields: string[];
  readonly #seen = new Set<string>();

  private constructor(obj: Record<string, unknown>, code: C, what: string, prefix: string, problems: string[], fields: string[]) {
    this.#obj = obj;
    this.#code = code;
    this.#what = what;
    this.#prefix = prefix;
    this.#problems = problems;
    this.#fields = fields;
  }

  /**
   * Starts reading `input`: JSON text (parsed here) or an already-parsed value. Throws
   * `KeywardError(code)` at once if it is not a JSON object.
   */
  static open<C extends KeywardCode>(input: unknown, code: C, what: string): FieldReader<C> {
    let value = input;
    if (typeof input === 'string') {
      if (input.length > MAX_DOCUMENT_CHARS) {
        throw new KeywardError(code, `${what}: expected at most ${MAX_DOCUMENT_CHARS} characters, got ${input.length}`);
      }
      try {
        value = JSON.parse(input);
      } catch (err) {
        throw new KeywardError(code, `${what}: expected a JSON object, got text that is not JSON`, { cause: err });
      }
    }
    if (!isPlainObject(value)) throw new KeywardError(code, `${what}: expected a JSON object, got ${describe(value)}`);
    return new FieldReader(value, code, what, '', [], []);
  }

  /** Records a problem with `field` (for checks across fields). */
  problem(field: string, message: string): void {
    this.#fields.push(this.#prefix + field);
    this.#problems.push(`field "${this.#prefix + field}" ${message}`);
  }

  /** True if no problem has been recorded so far (on this object or any nested one). */
  get ok(): boolean {
    return this.#problems.length === 0;
  }

  #get(field: string): unknown {
    this.#seen.add(field);
    if (!Object.hasOwn(this.#obj, field)) {
      this.problem(field, 'is missing');
      return undefined;
    }
    return this.#obj[field];
  }

  /** A string field equal to `expected`. */
  literal<T extends string>(field: string, expected: T): T {
    const v = this.#get(field);
    if (v !== undefined && v !== expected) this.problem(field, `expected ${JSON.stringify(expected)}, got ${describe(v)}`);
    return expected;
  }

  /** A string field matching `pattern`; `description` says what is allowed. */
  string(field: string, pattern: RegExp, description: string): string {
    const v = this.#get(field);
    if (v === undefined) return '';
    if (typeof v !== 'string' || !pattern.test(v)) {
      this.problem(field, `expected ${description}, got ${describe(v)}`);
      return '';
    }
    return v;
  }

  /** An integer field in [min, max]. */
  int(field: string, min: number, max: number): number {
    const v = this.#get(field);
    if (v === undefined) return min;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
      this.problem(field, `expected an integer from ${min} to ${max}, got ${describe(v)}`);
      return min;
    }
    return v;
  }

  /** A strict base64 field (see {@link fromBase64}) of the given decoded length. */
  base64(field: string, len?: LengthSpec): Uint8Array {
    const v = this.#get(field);
    if (v === undefined) return new Uint8Array(0);
    const r = decodeBase64(v, len);
    if (typeof r === 'string') {
      this.problem(field, r);
      return new Uint8Array(0);
    }
    return r;
  }

  /** A nested object field; its problems are reported with `field.` in front. */
  object(field: string): FieldReader<C> {
    const v = this.#get(field);
    if (v !== undefined && !isPlainObject(v)) this.problem(field, `expected a JSON object, got ${describe(v)}`);
    const obj = isPlainObject(v) ? v : {};
    return new FieldReader(obj, this.#code, this.#what, `${this.#prefix}${field}.`, this.#problems, this.#fields);
  }

  /** Records every field that was not read as unknown (call on nested readers before `done`). */
  rejectUnknown(): this {
    for (const k of Object.keys(this.#obj)) {
      if (!this.#seen.has(k)) this.problem(k, 'is not part of the format');
    }
    return this;
  }

  /** Rejects unknown fields, then throws one `KeywardError(code)` listing every problem, if any. */
  done(): void {
    this.rejectUnknown();
    if (this.#problems.length > 0) {
      throw new KeywardError(this.#code, `${this.#what}: ${this.#problems.join('; ')}`, {
        details: { fields: [...new Set(this.#fields)] },
      });
    }
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

/**
 * Short, safe description of a value for error messages: its type, and for short strings and
 * numbers the value itself. Only call it on non-secret values.
 */
export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return `array of length ${v.length}`;
  if (v instanceof Uint8Array) return `Uint8Array of length ${v.byteLength}`;
  switch (typeof v) {
    case 'string':
      return v.length <= 64 ? `string ${JSON.stringify(v)}` : `string of ${v.length} characters`;
    case 'number':
      return `number ${v}`;
    case 'object':
      return 'object';
    default:
      return typeof v;
  }
}
