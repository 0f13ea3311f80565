/**
 * SHA-256 for the log verifier's hot loop: node:crypto's one-shot `hash()` (Node ≥ 20.12; package.json
 * asks for ≥ 20.19), which skips the Hash object that `createHash` allocates per call. (noble's
 * SHA-256, used where code must also run in browsers, is ~2.5× slower here.)
 *
 * The per-record calls write the digest into a buffer the caller holds (`sha256Into`): asked for a
 * Buffer, `hash()` allocates an ArrayBuffer per digest, which costs more than hashing a ~500-byte
 * leaf (issue 14). The audit log's write side (engine/audit/log/digest.ts) takes it from here: the
 * verifier must not import the log, and engine/audit/math must stay free of Node-only modules.
 * @module
 */
import { hash } from 'node:crypto';

/** SHA-256(data) in a fresh Buffer (for the calls that keep their digest: bench, proofs). */
export const sha256Fast = (data: Uint8Array): Buffer => hash('sha256', data, 'buffer');

/** Writes SHA-256(data) into `out` at `offset` (32 bytes), as latin1 text: no ArrayBuffer per digest. */
export function sha256Into(data: Uint8Array, out: Buffer, offset: number): void {
  // 'binary' is Node's other name for latin1 (the name @types/node allows for a digest).
  if (out.write(hash('sha256', data, 'binary'), offset, 32, 'latin1') !== 32)
    throw new RangeError(`internal: no room for a digest at ${offset} in ${out.length} bytes`);
}

/**
 * The RFC 9162 interior node hash, SHA-256(0x01 ‖ left ‖ right), the same value as merkle.ts's
 * `nodeHash`: the proofs' tile folds (engine/audit/log/read.ts) pass it to merkle.ts.
 */
export function nodeHashFast(left: Uint8Array, right: Uint8Array): Buffer {
  const buf = Buffer.allocUnsafe(65);
  buf[0] = 0x01;
  buf.set(left, 1);
  buf.set(right, 33);
  return sha256Fast(buf);
}
