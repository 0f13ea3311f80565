/**
 * engine/audit/log: the audit log in the database (docs/architecture.md, "The audit log", steps 2
 * to 6). The per-node group-commit queue (log.ts), the integrator that extends the tree and signs
 * checkpoints (integrator.ts), the signing keys kept under the barrier (signing.ts), and pages,
 * proofs and bundles read back (read.ts). Every statement is in ../../store/audit-repos.ts; the
 * records, trees and notes themselves are ../math.
 * @module
 */
export { AUDIT_BATCH_MAX, AUDIT_DEADLINE_MS_DEFAULT, AUDIT_QUEUE_MAX_DEFAULT, AuditLog } from './log.js';
export type { AuditLogOptions } from './log.js';
export { AuditIntegrator, INTEGRATE_INTERVAL_MS, INTEGRATE_MAX, INTEGRATOR_LOCK_KEY } from './integrator.js';
export type { Checkpoint, CheckpointSigner, IntegratorOptions } from './integrator.js';
export { AUDIT_KEYS_PATH, loadAuditSigner } from './signing.js';
export type { AuditSigner, AuditVerifierKeys } from './signing.js';
export {
  AUDIT_EXPORT_MAX,
  AUDIT_PAGE_MAX,
  auditConsistencyProof,
  auditInclusionProof,
  auditRangeProof,
  auditRecordsPage,
  exportBundle,
} from './read.js';
export type { ExportOptions, RecordsPage } from './read.js';
