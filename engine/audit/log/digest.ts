/**
 * SHA-256 for the audit log's write side (the batch build in log.ts, the integrator's round), where
 * every record costs about three hashes: its leaf hash, its chain value and a tree node (the
 * integrator checks one chain value per batch this node committed, every one of other batches). node:crypto's one-shot `hash()` gives the digest as latin1 text
 * here (one byte per character) and it is written into a buffer the caller already holds
 * (`sha256Into`, shared with the verifier: engine/audit/verifier/sha256-fast.ts). Asked for
 * a Buffer, `hash()` allocates a new ArrayBuffer for every digest, which costs more than the
 * SHA-256 of a ~500-byte leaf (issue 14, measured on this machine, CPU per call: a leaf 2.7 → 0.9 µs,
 * a 64-byte chain input 1.5–1.7 → 0.63–0.68 µs), and each one is garbage for the collector to sweep.
 * The values are those of engine/audit/verifier/sha256-fast.ts (the tests compare them).
 * @module
 */
import { sha256Into } from '../verifier/sha256-fast.js';

// The digest into a caller's buffer is the verifier's (one definition; read.ts takes its node hash
// from there too).
export { sha256Into };

/**
 * The leaves' UTF-8 with a 0x00 byte in front: reused from batch to batch (the hashing is
 * synchronous). It grows up to SCRATCH_MAX; a larger text gets a buffer of its own.
 */
let scratch = Buffer.allocUnsafeSlow(16 * 1024);
const SCRATCH_MAX = 1024 * 1024;

/**
 * The RFC 9162 leaf hashes, SHA-256(0x00 ‖ leaf), of the leaves in `text` (their UTF-8 joined by
 * "\n", none holding a line feed: the form the log stores a batch in), written one after the other
 * into `out` from `offset`. The text is encoded once after a 0x00 byte and each "\n" overwritten
 * with 0x00, so each leaf's 0x00 ‖ leaf is already contiguous and hashed in place (a line feed byte
 * never occurs inside a multi-byte UTF-8 sequence). Returns the number of leaves (`text` split at
 * "\n"; an empty text is one empty leaf) and the text's UTF-8 length (`octet_length(leaves)`).
 * With `out` undefined, a buffer of 32 bytes per leaf is allocated for them.
 */
export function leafHashesInto(
  text: string,
  out?: Buffer,
  offset = 0,
): { hashes: Buffer; count: number; bytes: number } {
  // Written straight into the scratch buffer when it fits: `write` stops before a character that
  // does not fit whole, so 4 bytes left over (a character's most) mean the whole text was written,
  // and the text's UTF-8 length need not be counted first (a second pass over a batch's leaves).
  let len = scratch.write(text, 1, 'utf8');
  let buf: Buffer;
  if (len + 1 <= scratch.length - 4) buf = scratch.subarray(0, len + 1);
  else {
    len = Buffer.byteLength(text, 'utf8');
    if (scratch.length < len + 1 && len + 1 <= SCRATCH_MAX)
      scratch = Buffer.allocUnsafeSlow(Math.min(SCRATCH_MAX, Math.max(len + 1, 2 * scratch.length)));
    buf = scratch.length > len ? scratch.subarray(0, len + 1) : Buffer.allocUnsafeSlow(len + 1);
    buf.write(text, 1, 'utf8');
  }
  buf[0] = 0x00;
  let count = 1;
  for (let at = buf.indexOf(0x0a, 1); at >= 0; at = buf.indexOf(0x0a, at + 1)) count++;
  const hashes = out ?? Buffer.allocUnsafe(32 * count);
  if (hashes.length < offset + 32 * count) throw new RangeError(`internal: no room for ${count} leaf hashes`);
  let start = 0; // the 0x00 before the leaf
  for (let k = 0; k < count; k++) {
    const nl = k === count - 1 ? buf.length : buf.indexOf(0x0a, start + 1);
    buf[start] = 0x00;
    sha256Into(buf.subarray(start, nl), hashes, offset + 32 * k);
    start = nl;
  }
  return { hashes, count, bytes: len };
}

const digest = Buffer.allocUnsafeSlow(32);

/** Whether SHA-256(data) is `expected` (the integrator's check of a stored chain value). */
export function sha256Is(data: Uint8Array, expected: Uint8Array): boolean {
  sha256Into(data, digest, 0);
  return digest.equals(expected);
}

/**
 * The RFC 9162 interior node hash, SHA-256(0x01 ‖ left ‖ right), for `appendLeaves` and
 * `nodeFromTile` (engine/audit/math/merkle.ts), which keep each node they are given: each is a
 * 32-byte view into a slab of 256 nodes, so a tree extension allocates one ArrayBuffer per 256
 * nodes instead of one per node. A slab stays alive while any node in it is kept.
 */
export function nodeHasher(): (left: Uint8Array, right: Uint8Array) => Uint8Array {
  const input = Buffer.allocUnsafe(65);
  input[0] = 0x01;
  let slab = Buffer.allocUnsafeSlow(32 * 256);
  let used = 0;
  return (left, right) => {
    if (left.length !== 32 || right.length !== 32) throw new TypeError('"left" and "right" expected 32-byte hashes');
    input.set(left, 1);
    input.set(right, 33);
    if (used === slab.length) {
      slab = Buffer.allocUnsafeSlow(32 * 256);
      used = 0;
    }
    sha256Into(input, slab, used);
    used += 32;
    return slab.subarray(used - 32, used);
  };
}
