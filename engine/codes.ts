/**
 * The error codes the engine throws (seal state, keys and crypto, policies, approvals, tokens,
 * storage, the audit log and its math), added to {@link KeywardCode} by declaration merging.
 * Codes of the ceremony that the engine also throws stay in ceremony/codes.ts. server/errors.ts
 * gives each code here a status or lists it as internal; a code in no list does not compile.
 * @module
 */
export const ENGINE_CODES = [
  // request pipeline: auth, policies, dual control
  'UNAUTHENTICATED',
  'VALIDATION_FAILED',
  'POLICY_DENIED',
  'APPROVAL_REQUIRED',
  'APPROVAL_PENDING',
  'APPROVAL_NOT_FOUND',
  'APPROVAL_SELF',
  'APPROVAL_GROUP',
  'APPROVAL_NOT_REQUESTER',
  'APPROVAL_DUPLICATE',
  'APPROVAL_NOT_PENDING',
  'APPROVAL_EXPIRED',
  'APPROVAL_MISMATCH',
  'APPROVAL_DIGEST_MISMATCH',
  'APPROVAL_INSUFFICIENT',
  'TOKEN_INVALID',
  'TOKEN_NOT_FOUND',
  // policies: the service and sandbox, then the offline toolchain (compile, scaffold, cases)
  'POLICY_INVALID',
  'POLICY_NOT_FOUND',
  'POLICY_LOCKOUT',
  'POLICY_INPUT_INVALID',
  'POLICY_METERING_FAILED',
  'POLICY_SOURCE_NOT_FOUND',
  'POLICY_COMPILE_FAILED',
  'POLICY_NAME_INVALID',
  'POLICY_CASES_INVALID',
  // seal state, init, unseal, rekey
  'NOT_INITIALIZED',
  'SEALED',
  'ALREADY_INITIALIZED',
  'ALREADY_UNSEALED',
  'REKEY_IN_PROGRESS',
  'REKEY_NOT_STARTED',
  'SHARD_FOREIGN',
  'SHARD_FORGED',
  'SHARD_DUPLICATE',
  'UNSEAL_FAILED',
  'REKEY_FAILED',
  'KEYRING_FULL',
  // keys and crypto
  'KEY_TYPE_INVALID',
  'KEY_NOT_FOUND',
  'KEY_EXISTS',
  'KEY_TYPE_MISMATCH',
  'KEY_VERIFY_ONLY',
  'KEY_VERSION_NOT_FOUND',
  'KEY_VERSION_DISABLED',
  'KEY_PENDING_DELETION',
  'KEY_DELETION_NOT_ALLOWED',
  'KEY_NOT_EXPORTABLE',
  'WRAPPING_KEY_INVALID',
  'OPERATION_UNSUPPORTED',
  'PUBLIC_KEY_INVALID',
  'PRIVATE_KEY_INVALID',
  'WRAPPED_KEY_INVALID',
  'FORMAT_UNSUPPORTED',
  'CIPHERTEXT_INVALID',
  'CIPHERTEXT_FORMAT',
  'SIGNATURE_INVALID',
  'SIGNATURE_FORMAT',
  'DECRYPTION_FAILED',
  'OPTION_INVALID',
  'OPTION_UNSUPPORTED',
  // the crypto worker pool
  'CRYPTO_BUSY',
  'CRYPTO_POOL_CLOSED',
  'CRYPTO_WORKER_FAILED',
  'CRYPTO_FAILED',
  // storage
  'STORAGE_UNAVAILABLE',
  'STORAGE_CORRUPT',
  // backup and restore (engine/backup.ts)
  'BACKUP_INVALID',
  'BACKUP_SCHEMA_MISMATCH',
  'RESTORE_TARGET_NOT_EMPTY',
  'BACKUP_OLDER_THAN_TARGET',
  'BACKUP_SPOOL_FAILED',
  // the audit log
  'AUDIT_UNAVAILABLE',
  'AUDIT_QUEUE_FULL',
  'AUDIT_RANGE_INVALID',
  'AUDIT_LOG_CORRUPT',
  // the audit math (engine/audit/math/errors.ts AuditErrorCode: the data is wrong)
  'AUDIT_RECORD_INVALID',
  'AUDIT_LEAF_NOT_CANONICAL',
  'AUDIT_PROOF_INVALID',
  'AUDIT_CHECKPOINT_INVALID',
  'AUDIT_BUNDLE_INVALID',
  'AUDIT_REPLAY_MISMATCH',
] as const;

export type EngineCode = (typeof ENGINE_CODES)[number];

declare module '../lib/errors.js' {
  interface KeywardErrorCodes extends Record<EngineCode, true> {}
}
