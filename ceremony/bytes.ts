/**
 * Byte layouts of the ceremony formats: length-prefixed fields and their reader. The generic
 * helpers (base64, UTF-8, concatenation, equality, wiping) are in lib/bytes.ts; the JSON documents
 * the ceremony exchanges (holder key files, shard files, submissions) are read by strict zod
 * schemas through lib/json.ts, the validator the server uses too.
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
  if (bytes.byteLength > LP_MAX_LEN)
    throw new RangeError(`"lp" expected at most ${LP_MAX_LEN} bytes, got ${bytes.byteLength}`);
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
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff)
    throw new RangeError(`"u32be" expected an integer 0..2^32-1, got ${n}`);
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
