/**
 * engine/seal: the sealed core (docs/architecture.md, "Keys at rest"). SealManager (seal-manager.ts)
 * holds the only copy of the unseal result and runs init, unseal, seal, rekey (rekey.ts) and root
 * rotation behind one lock; ceremony.ts checks and combines shares; the barrier (barrier.ts) encrypts
 * every secret at rest under the keyring's terms (keyring.ts); audit-hmac.ts derives the audit log's
 * HMAC keys; errors.ts builds the one SEALED error. Reads and writes the store only through
 * ../store's repositories.
 * @module
 */
export { Barrier } from './barrier.js';
export type { KeyringSource } from './barrier.js';
export { Keyring } from './keyring.js';
export { SecretStore } from './secret-store.js';
export { SealManager, assertCeremonyParams, UNSEAL_KEY_LEN } from './seal-manager.js';
export type { SealStatus, UnsealResult, CeremonyResult, RekeyStatus, RekeyResult, HolderInfo } from './seal-manager.js';
export { sealedError } from './errors.js';
export { AUDIT_HMAC_KEY_LEN, deriveAuditHmacKey } from './audit-hmac.js';
export { aeadOpen, aeadSeal } from './aead.js';
