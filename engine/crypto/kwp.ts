/**
 * AES-256 Key Wrap with Padding (RFC 5649; NIST SP 800-38F §6.3 "KWP-AE"), through node:crypto's
 * `id-aes256-wrap-pad` (OpenSSL). The building block of BYOK key import (byok.ts).
 *
 * KWP is deterministic authenticated encryption of key material: the 32-bit alternative IV
 * A65959A6 ‖ u32be(len) is checked on unwrap, together with the zero padding, so a modified wrapped
 * key, a wrong KEK or a wrong length fails. Unwrap reports every failure the same way (`undefined`)
 * so callers can answer with one generic error.
 *
 *   wrapped length = 8 + 8·⌈len/8⌉   (at least 16 bytes; one AES block when len ≤ 8)
 * @module
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { abytes } from '../../lib/bytes.js';
import { SYMMETRIC_KEY_LEN } from './algs.js';

/** RFC 5649 §3: the alternative initial value (AIV) prefix. */
const KWP_AIV = new Uint8Array([0xa6, 0x59, 0x59, 0xa6]);
const KWP_CIPHER = 'id-aes256-wrap-pad';
/** Smallest wrapped output: the 8-byte AIV block plus one 8-byte semiblock. */
export const KWP_MIN_WRAPPED_LEN = 16;
/** RFC 5649 allows up to 2^32 − 1 bytes; Keyward never wraps more than this. */
export const KWP_MAX_PLAINTEXT_LEN = 64 * 1024;

/** Length of the KWP output for `plaintextLen` bytes. */
export function kwpWrappedLength(plaintextLen: number): number {
  return 8 + 8 * Math.ceil(plaintextLen / 8);
}

/**
 * Wraps `plaintext` (1..64 KiB) under the 32-byte `kek`.
 * @throws {TypeError|RangeError} for a KEK or plaintext of the wrong type or size.
 */
export function kwpWrap(kek: Uint8Array, plaintext: Uint8Array): Uint8Array {
  abytes(kek, 'kek', SYMMETRIC_KEY_LEN);
  abytes(plaintext, 'plaintext');
  if (plaintext.length < 1 || plaintext.length > KWP_MAX_PLAINTEXT_LEN) {
    throw new RangeError(`"plaintext" expected 1..${KWP_MAX_PLAINTEXT_LEN} bytes, got length=${plaintext.length}`);
  }
  const c = createCipheriv(KWP_CIPHER, kek, KWP_AIV);
  const a = c.update(plaintext);
  const b = c.final();
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/**
 * Unwraps a KWP blob under `kek`: the plaintext, or `undefined` for any failure (wrong KEK, modified
 * blob, bad padding or length, a length that is not a multiple of 8). `wrapped` is attacker input.
 * @throws {TypeError|RangeError} only for a KEK of the wrong type or size.
 */
export function kwpUnwrap(kek: Uint8Array, wrapped: Uint8Array): Uint8Array | undefined {
  abytes(kek, 'kek', SYMMETRIC_KEY_LEN);
  if (!(wrapped instanceof Uint8Array)) return undefined;
  if (
    wrapped.length < KWP_MIN_WRAPPED_LEN ||
    wrapped.length % 8 !== 0 ||
    wrapped.length > kwpWrappedLength(KWP_MAX_PLAINTEXT_LEN)
  )
    return undefined;
  try {
    const d = createDecipheriv(KWP_CIPHER, kek, KWP_AIV);
    const a = d.update(wrapped);
    const b = d.final();
    const out = new Uint8Array(a.length + b.length);
    out.set(a, 0);
    out.set(b, a.length);
    a.fill(0);
    b.fill(0);
    return out;
  } catch {
    return undefined;
  }
}
