/**
 * The audit log's HMAC keys (docs/architecture.md, "Keys at rest"): one per epoch, derived from the
 * root key and never stored, so sensitive record fields can be matched by whoever holds the root key
 * and by no one else.
 * @module
 */
import { hkdfSync } from 'node:crypto';

/** Length of an audit HMAC key, in bytes. */
export const AUDIT_HMAC_KEY_LEN = 32;

/**
 * HKDF-SHA-256(root key, salt "", info "keyward/audit-hmac/v1/epoch-<N>"), 32 bytes. The caller owns
 * (and wipes) the copy.
 */
export function deriveAuditHmacKey(rootKey: Uint8Array, epoch: number): Uint8Array {
  if (!Number.isSafeInteger(epoch) || epoch < 1)
    throw new TypeError(`"epoch" expected a positive integer, got ${String(epoch)}`);
  return new Uint8Array(
    hkdfSync('sha256', rootKey, new Uint8Array(0), `keyward/audit-hmac/v1/epoch-${epoch}`, AUDIT_HMAC_KEY_LEN),
  );
}
