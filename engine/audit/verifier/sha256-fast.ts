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

/**
 * The RFC 9162 leaf hashes of the leaves in `text` (their UTF-8 joined by "\n", none holding a line
 * feed: the form the audit log stores a batch in), concatenated, 32 bytes each, in order. One
 * UTF-8 encoding and one buffer for the whole batch instead of one copy per leaf: the text is
 * encoded after a 0x00 byte and every "\n" is overwritten with 0x00, so each leaf's 0x00 ‖ leaf is
 * already contiguous and hashed in place (a line feed byte never occurs inside a multi-byte UTF-8
 * sequence). `count` is the number of leaves: `text` split at "\n" (an empty text is one empty leaf);
 * `bytes` is the text's UTF-8 length (what the database's `octet_length(leaves)` gives).
 */
export function leafHashesOfJoined(text: string): { hashes: Buffer; count: number; bytes: number } {
  const len = Buffer.byteLength(text, 'utf8');
  const buf = Buffer.allocUnsafeSlow(len + 1);
  buf[0] = 0x00;
  buf.write(text, 1, 'utf8');
  let count = 1;
  for (let at = buf.indexOf(0x0a, 1); at >= 0; at = buf.indexOf(0x0a, at + 1)) count++;
  const hashes = Buffer.allocUnsafe(32 * count);
  let start = 0; // the 0x00 before the leaf
  for (let k = 0; k < count; k++) {
    const nl = k === count - 1 ? buf.length : buf.indexOf(0x0a, start + 1);
    buf[start] = 0x00;
    hashes.set(hash('sha256', buf.subarray(start, nl), 'buffer'), 32 * k);
    start = nl;
  }
  return { hashes, count, bytes: len };
}
