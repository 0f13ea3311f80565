/**
 * Shard commitments (docs/architecture.md, "Keys at rest"): at init the server stores, for every shard, a hash binding the
 * ceremony id, the shard index and the share. A submitted share is checked against the commitment
 * of the index it claims *before* it is kept, so a wrong, forged, foreign (another ceremony) or
 * duplicated shard is rejected with a reason instead of silently producing a wrong secret at
 * combine time.
 *
 *   commitment = SHA-256( "keyward/shard-commitment/v1" ‖ 0x00
 *                       ‖ lp(utf8(ceremonyId)) ‖ u8(index) ‖ share )        (32 bytes)
 *
 * The share (32 random bytes of y plus x) has full entropy, so the unkeyed hash reveals nothing
 * useful about it. The domain label keeps these hashes apart from every other SHA-256 in Keyward.
 *
 * Ceremony ids are also defined here, since the commitment is what first binds them: 1 to 128
 * characters of `A-Z a-z 0-9 . _ : -` starting with a letter or digit (a UUID fits).
 * @module
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes, constantTimeEqual, describe, utf8 } from '../lib/bytes.js';
import { lp, u8 } from './bytes.js';

/** Ceremony ids: 1–128 of `A-Z a-z 0-9 . _ : -`, starting with a letter or digit. */
export const CEREMONY_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
/** Length of a commitment (SHA-256). */
export const COMMITMENT_LEN = 32;
// b"keyward/shard-commitment/v1\0"
const COMMITMENT_LABEL = utf8('keyward/shard-commitment/v1\0');

/** True if `id` is a well-formed ceremony id. */
export function isCeremonyId(id: unknown): id is string {
  return typeof id === 'string' && CEREMONY_ID_PATTERN.test(id);
}

/** The commitment of share number `index` (0-based) of ceremony `ceremonyId`. */
export function shardCommitment(ceremonyId: string, index: number, share: Uint8Array): Uint8Array {
  assertArgs('shardCommitment', ceremonyId, index, share);
  return sha256(concatBytes(COMMITMENT_LABEL, lp(utf8(ceremonyId)), u8(index), share));
}

/**
 * True if `share` is share `index` of `ceremonyId` according to the stored `commitment`, compared
 * in constant time.
 */
export function verifyShardCommitment(
  ceremonyId: string,
  index: number,
  share: Uint8Array,
  commitment: Uint8Array,
): boolean {
  assertArgs('verifyShardCommitment', ceremonyId, index, share);
  if (!(commitment instanceof Uint8Array)) {
    throw new TypeError(`"verifyShardCommitment" expected commitment to be a Uint8Array, got ${describe(commitment)}`);
  }
  return constantTimeEqual(shardCommitment(ceremonyId, index, share), commitment);
}

function assertArgs(fn: string, ceremonyId: string, index: number, share: Uint8Array): void {
  if (!isCeremonyId(ceremonyId))
    throw new RangeError(`"${fn}" expected a ceremony id (${CEREMONY_ID_PATTERN}), got ${describe(ceremonyId)}`);
  if (!Number.isInteger(index) || index < 0 || index > 0xff)
    throw new RangeError(`"${fn}" expected index 0..255, got ${describe(index)}`);
  if (!(share instanceof Uint8Array))
    throw new TypeError(`"${fn}" expected share to be a Uint8Array, got ${describe(share)}`);
}
