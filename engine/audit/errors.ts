/**
 * The error codes of the audit math, and the argument asserts its modules share.
 *
 * A `KeywardError` with one of {@link AuditErrorCode} means the *data* is wrong (a record, a leaf,
 * a proof, a checkpoint, a bundle: usually attacker input). A `TypeError`/`RangeError` means the
 * caller passed arguments of the wrong type or range (a programming error).
 * @module
 */
import { bytesToHex } from '@noble/hashes/utils.js';
import { KeywardError } from '../../lib/errors.js';

/** Every code the audit math throws. */
export type AuditErrorCode =
  /** A record handed to `encodeRecord`, or decoded from a leaf, breaks the record format. */
  | 'AUDIT_RECORD_INVALID'
  /** A leaf is not the exact RFC 8785 bytes of its own JSON value (not UTF-8, not JSON, re-serialized). */
  | 'AUDIT_LEAF_NOT_CANONICAL'
  /** An inclusion, consistency or range proof does not verify. */
  | 'AUDIT_PROOF_INVALID'
  /** A signed note / checkpoint is malformed or lacks a valid signature from a trusted key. */
  | 'AUDIT_CHECKPOINT_INVALID'
  /** An attestation bundle is malformed or inconsistent with itself. */
  | 'AUDIT_BUNDLE_INVALID'
  /** Re-evaluating a recorded policy input gave another decision or gas than the record holds. */
  | 'AUDIT_REPLAY_MISMATCH';

/** Shorthand for `new KeywardError<AuditErrorCode>(...)`. */
export function auditError(code: AuditErrorCode, message: string, options?: { cause?: unknown; details?: Record<string, unknown> }): KeywardError<AuditErrorCode> {
  return new KeywardError(code, message, options);
}

/** Asserts a Uint8Array (of length `len` if given); `what` names the parameter. */
export function abytes(b: unknown, what: string, len?: number): asserts b is Uint8Array {
  if (!(b instanceof Uint8Array)) throw new TypeError(`"${what}" expected Uint8Array, got ${b === null ? 'null' : Array.isArray(b) ? 'array' : typeof b}`);
  if (len !== undefined && b.length !== len) throw new RangeError(`"${what}" expected Uint8Array of length ${len}, got length=${b.length}`);
}

/** Asserts a non-negative safe integer (a tree size, index or level); `what` names the parameter. */
export function aindex(n: unknown, what: string): asserts n is number {
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
    throw new RangeError(`"${what}" expected a non-negative safe integer, got ${typeof n === 'number' ? n : typeof n}`);
  }
}

/** Lowercase hex of `bytes` (for messages and map keys; never use on secrets). */
export const toHex: (bytes: Uint8Array) => string = bytesToHex;
