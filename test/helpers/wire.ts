/**
 * What the server and CLI tests put on and read off the wire, once: base64 for JSON bodies, and the
 * check of an error answer (docs/architecture.md: one error table, `{ error: { code, message } }`).
 */
import assert from 'node:assert/strict';

/** Base64 (standard alphabet, padded) of a string's UTF-8 bytes or of bytes, as request bodies carry them. */
export const b64 = (s: string | Uint8Array): string => Buffer.from(s).toString('base64');

/**
 * Asserts an error answer: `status`, `error.code` equal to `code`, a non-empty `error.message`,
 * and, when given, `message` matching it.
 */
export function assertError(res: { status: number; body: any }, status: number, code: string, message?: RegExp): void {
  assert.equal(res.status, status, `expected ${status} ${code}, got ${res.status} ${JSON.stringify(res.body)}`);
  assert.equal(res.body?.error?.code, code);
  assert.equal(typeof res.body.error.message, 'string');
  assert.ok(res.body.error.message.length > 0);
  if (message) assert.match(res.body.error.message, message);
}
