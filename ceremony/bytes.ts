/**
 * Byte layouts of the ceremony formats: length-prefixed fields and their reader, plus a strict
 * reader for the JSON documents the ceremony exchanges (holder key files, shard files,
 * submissions), which are attacker input. The generic helpers (base64, UTF-8, concatenation,
 * equality, wiping) are in lib/bytes.ts.
 *
 * Length-prefixed field, used to build every HPKE `info`, AAD and binary plaintext of ceremony/:
 *
 *   lp(x) = u16be(len(x)) ‖ x            (0 ≤ len(x) ≤ 65535)
 *
 * so that a concatenation of lp() fields parses one way only (no "ab"‖"c" = "a"‖"bc" ambiguity).
 * @module
 */
import { KeywardError, type KeywardCode } from '../lib/errors.js';
import { decodeBase64, describe, isObjectRecord, type LengthSpec } from '../lib/bytes.js';

/** Largest length lp() can encode (u16). */
export const LP_MAX_LEN = 0xffff;

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
    if (!isObjectRecord(value)) throw new KeywardError(code, `${what}: expected a JSON object, got ${describe(value)}`);
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

  /** A strict base64 field (see lib/bytes.ts fromBase64) of the given decoded length. */
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
    if (v !== undefined && !isObjectRecord(v)) this.problem(field, `expected a JSON object, got ${describe(v)}`);
    const obj = isObjectRecord(v) ? v : {};
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
