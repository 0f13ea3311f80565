/**
 * Shared assertions for the ceremony tests.
 * @module
 */
import assert from 'node:assert/strict';
import { KeywardError } from '../../lib/errors.js';

/** Asserts that `action` rejects (or throws) a KeywardError with `code`; returns the error. */
export async function rejectsWithCode(
  action: Promise<unknown> | (() => unknown),
  code: string,
  message?: RegExp,
): Promise<KeywardError> {
  let caught: unknown;
  try {
    await (typeof action === 'function' ? action() : action);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught !== undefined, `expected a KeywardError ${code}, but nothing was thrown`);
  assert.ok(caught instanceof KeywardError, `expected a KeywardError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, `expected code ${code}, got ${caught.code}: ${caught.message}`);
  if (message) assert.match(caught.message, message);
  return caught;
}

/** A copy of `bytes` with bit 0 of byte `i` flipped (negative i counts from the end). */
export function flipByte(bytes: Uint8Array, i: number): Uint8Array {
  const out = bytes.slice();
  const at = i < 0 ? out.length + i : i;
  out[at] = out[at]! ^ 0x01;
  return out;
}

/** `b64` (standard base64) with bit 0 of decoded byte `i` flipped, re-encoded. */
export function flipBase64(b64: string, i: number): string {
  return Buffer.from(flipByte(new Uint8Array(Buffer.from(b64, 'base64')), i)).toString('base64');
}

/** Bytes 0..n-1 plus `offset`, mod 256: a recognizable, deterministic byte string. */
export function counting(n: number, offset = 0): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i + offset) & 0xff);
}
