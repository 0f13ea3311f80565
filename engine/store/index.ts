/**
 * engine/store: the drizzle schema, its generated migrations, the PGlite and PostgreSQL drivers, and
 * the repositories over the tables (docs/architecture.md, "The parts"). Every SQL statement of the
 * engine lives in this folder; services call the repository functions.
 * @module
 */
export {
  CONNECT_TIMEOUT_S,
  DATA_DIR_LOCK_FILE,
  MIGRATION_LOCK_KEY,
  MIGRATIONS_SCHEMA,
  MIGRATIONS_TABLE,
  POOL_MAX,
  dumpStoreImage,
  pgliteClientOf,
  migrationsFolder,
  openStore,
  redactDatabaseUrl,
  storeImageBlob,
} from './driver.js';
export type { Db, Store, StoreDriver, StoreOptions } from './driver.js';
export { postgresConnectOptions, postgresConnection, postgresTarget } from './pg-socket.js';
export type { PostgresConnectOptions, PostgresConnection, PostgresTarget } from './pg-socket.js';
export {
  deleteEntry,
  escapeLike,
  findTokenByHash,
  getCommitments,
  getEntry,
  getKeyring,
  getSealConfig,
  getToken,
  initCeremony,
  insertEntryIfAbsent,
  insertToken,
  listEntries,
  listTokens,
  lockKeyring,
  putEntry,
  putKeyring,
  putSealConfig,
  queryRows,
  replaceCeremony,
  revokeToken,
  withTransaction,
} from './repos.js';
export type { CeremonyWrite } from './repos.js';
export { bindPolicy, getPolicy, insertPolicy, listBindings, listPolicies, unbindPolicy } from './policy-repos.js';
export type { PolicyMeta } from './policy-repos.js';
export {
  addApprovalGrant,
  claimApproval,
  countApprovalGrants,
  countPendingApprovals,
  denyApproval,
  expireApprovals,
  getApproval,
  getApprovalTarget,
  insertApproval,
  listApprovalGrants,
  listApprovals,
  settleApproval,
  overdueExecutions,
  settleOverdueExecution,
} from './approval-repos.js';
export { APPROVAL_STATES } from './schema.js';
export type { ApprovalRow, ApprovalState, NewApprovalRow } from './schema.js';
export * from './key-repos.js';
export {
  MAX_SHARES,
  SINGLETON_ID,
  barrierEntries,
  keyVersions,
  keyring,
  keys,
  policies,
  policyBindings,
  sealConfig,
  shardCommitments,
  tokens,
} from './schema.js';
export type {
  BarrierEntryRow,
  KeyRow,
  KeyVersionRow,
  KeyringRow,
  NewKeyRow,
  NewBarrierEntryRow,
  NewKeyringRow,
  NewSealConfigRow,
  NewShardCommitmentRow,
  NewTokenRow,
  PolicyBindingRow,
  PolicyRow,
  SealConfigRow,
  SealHolder,
  ShardCommitmentRow,
  TokenRow,
} from './schema.js';
export { bytea, toPlainBytes } from './columns.js';
export {
  AUDIT_CHAIN_SEED,
  advanceAuditTree,
  appendAuditLeaves,
  auditChainAt,
  auditCheckpointAt,
  auditHeadSize,
  casAppendAuditBatch,
  directAuditAppender,
  ensureAuditRows,
  getAuditInputs,
  getAuditTiles,
  getAuditTree,
  latestAuditCheckpoint,
  putAuditCheckpoint,
  putAuditTile,
  readAuditBatches,
  readAuditRoundBatches,
  readAuditBatchInputs,
  readAuditHead,
  readAuditRecords,
  readAuditRecordsRaw,
  readAuditRecordsText,
  tryIntegratorLock,
} from './audit-repos.js';
export type {
  AuditBatchAppender,
  AuditRoundBatch,
  AuditBatchRow,
  AuditBatchWrite,
  AuditHead,
  AuditRecordRow,
  AuditRecordsRaw,
  AuditRecordText,
  AuditTreeState,
  StoredInput,
  TileRun,
  TreeAdvance,
} from './audit-repos.js';
export { auditBatches, auditCheckpoints, auditHead, auditInputs, auditTiles, auditTree } from './schema.js';
export type { AuditCheckpointRow } from './schema.js';
export { CommitScope, writeTransaction } from './commit-scope.js';
export type { CommitNote, CommitWriter } from './commit-scope.js';
