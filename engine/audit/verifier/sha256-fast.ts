/**
 * SHA-256 for the log verifier's hot loop: node:crypto's one-shot `hash()` (Node ≥ 20.12; package.json
 * asks for ≥ 20.19), which skips the Hash object that `createHash` allocates per call. Returns a fresh
 * Buffer. (noble's SHA-256, used where code must also run in browsers, is ~2.5× slower here.)
 * @module
 */
import { hash } from 'node:crypto';

export const sha256Fast = (data: Uint8Array): Buffer => hash('sha256', data, 'buffer');

/**
 * The RFC 9162 interior node hash, SHA-256(0x01 ‖ left ‖ right), the same value as merkle.ts's
 * `nodeHash`: the proofs' tile folds (engine/audit/log/read.ts) pass it to merkle.ts. (The audit
 * log's write side hashes into its own buffers: engine/audit/log/digest.ts.)
 */
export function nodeHashFast(left: Uint8Array, right: Uint8Array): Buffer {
  const buf = Buffer.allocUnsafe(65);
  buf[0] = 0x01;
  buf.set(left, 1);
  buf.set(right, 33);
  return sha256Fast(buf);
}
