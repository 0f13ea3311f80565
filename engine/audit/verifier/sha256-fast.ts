/**
 * SHA-256 for the log verifier's hot loop: node:crypto's one-shot `hash()` (Node ≥ 20.12; package.json
 * asks for ≥ 20.19), which skips the Hash object that `createHash` allocates per call. Returns a fresh
 * Buffer. (noble's SHA-256, used where code must also run in browsers, is ~2.5× slower here.)
 * @module
 */
import { hash } from 'node:crypto';

export const sha256Fast = (data: Uint8Array): Buffer => hash('sha256', data, 'buffer');

/**
 * The RFC 9162 leaf hash, SHA-256(0x00 ‖ leaf), the same value as engine/audit/math/merkle.ts's
 * `leafHash` (@noble's, which also runs in the console's browser), for the Node-only paths that hash
 * every record: the audit log's batch build and the integrator.
 */
export function leafHashFast(leaf: Uint8Array): Buffer {
  const prefixed = Buffer.allocUnsafe(leaf.length + 1);
  prefixed[0] = 0x00;
  prefixed.set(leaf, 1);
  return sha256Fast(prefixed);
}

/**
 * The RFC 9162 interior node hash, SHA-256(0x01 ‖ left ‖ right), the same value as merkle.ts's
 * `nodeHash`: the integrator's tree extension and the proofs' tile folds pass it to merkle.ts.
 */
export function nodeHashFast(left: Uint8Array, right: Uint8Array): Buffer {
  const buf = Buffer.allocUnsafe(65);
  buf[0] = 0x01;
  buf.set(left, 1);
  buf.set(right, 33);
  return sha256Fast(buf);
}
