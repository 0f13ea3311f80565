/**
 * engine/approvals: dual control — requests parked by a `require_approval` decision, their
 * approvals and denials, and their one execution (docs/approvals.md).
 * @module
 */
export { APPROVAL_PAGE_MAX, APPROVAL_STATES, APPROVAL_TTL_MS_DEFAULT, ApprovalService, MAX_DENY_REASON, approvalBodyPath, assertApprovalId, canonicalBody } from './service.js';
export type { Actor, ApprovalServiceOptions, ApprovalState, ApprovalView, ExecutionGate, PendingApproval, RequestOrigin } from './service.js';
