/**
 * The error codes of the audit math, and the argument asserts its modules share (byte asserts and
 * hex are lib/bytes.ts's `abytes` and `toHex`).
 *
 * A `KeywardError` with one of {@link AuditErrorCode} means the *data* is wrong (a record, a leaf,
 * a proof, a checkpoint, a bundle: usually attacker input). A `TypeError`/`RangeError` means the
 * caller passed arguments of the wrong type or range (a programming error).
 * @module
 */
import { KeywardError } from '../../../lib/errors.js';

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
export function auditError(
  code: AuditErrorCode,
  message: string,
  options?: { cause?: unknown; details?: Record<string, unknown> },
): KeywardError<AuditErrorCode> {
  return new KeywardError(code, message, options);
}

/** Asserts a non-negative safe integer (a tree size, index or level); `what` names the parameter. */
export function aindex(n: unknown, what: string): asserts n is number {
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
    throw new RangeError(`"${what}" expected a non-negative safe integer, got ${typeof n === 'number' ? n : typeof n}`);
  }
}
