/**
 * HMAC-SHA256 (RFC 2104, FIPS 198-1) through node:crypto, with a constant-time verifier.
 * Keys are the 32 raw bytes of an `hmac-sha256` key version.
 * @module
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { abytes } from '../../lib/bytes.js';
import { SYMMETRIC_KEY_LEN } from './algs.js';

export const HMAC_SHA256_LEN = 32;

/**
 * HMAC-SHA256 of `message` under `key`. Keyward keys are 32 bytes; other lengths (published
 * vectors, HKDF outputs) are accepted as RFC 2104 allows, but must not be empty.
 */
export function hmac(key: Uint8Array, message: Uint8Array): Uint8Array {
  abytes(key, 'key');
  abytes(message, 'message');
  if (key.length === 0)
    throw new RangeError(
      `"key" expected a non-empty Uint8Array (Keyward keys are ${SYMMETRIC_KEY_LEN} bytes), got length=0`,
    );
  const d = createHmac('sha256', key).update(message).digest();
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
}

/**
 * True when `mac` is the HMAC-SHA256 of `message` under `key`. Constant time in the MAC value;
 * a MAC of the wrong length (truncated, empty) is false, never an error.
 */
export function verifyHmac(key: Uint8Array, message: Uint8Array, mac: Uint8Array): boolean {
  const expected = hmac(key, message);
  if (!(mac instanceof Uint8Array) || mac.length !== expected.length) return false;
  return timingSafeEqual(expected, mac);
}
