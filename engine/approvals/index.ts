/**
 * engine/approvals: dual control — requests parked by a `require_approval` decision, their
 * approvals and denials, and their one execution (docs/approvals.md). service.ts is the service the
 * pipeline calls, rules.ts the separation-of-duties rules (no I/O), types.ts what they speak in;
 * every statement is in ../store/approval-repos.ts.
 * @module
 */
export { ApprovalService } from './service.js';
export { APPROVAL_PAGE_MAX, APPROVAL_STATES, APPROVAL_TTL_MS_DEFAULT, MAX_DENY_REASON } from './types.js';
export type {
  Actor,
  ApprovalServiceOptions,
  ApprovalState,
  ApprovalView,
  ExecutionGate,
  PendingApproval,
  RequestOrigin,
} from './types.js';
export { approvalBodyPath, assertApprovalId, canonicalBody } from './rules.js';
