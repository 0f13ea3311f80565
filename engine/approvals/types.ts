/**
 * What engine/approvals speaks in (docs/approvals.md): its limits, who acts, the request behind a
 * decision, what the API shows of an approval, and the service's options.
 * @module
 */
import { APPROVAL_STATES } from '../store/index.js';
import type { ApprovalRow, ApprovalState, Db } from '../store/index.js';

/** How long an approval waits for its approvers and execution, by default. */
export const APPROVAL_TTL_MS_DEFAULT = 24 * 60 * 60 * 1000;
/**
 * How long an execution may stay 'executing' before it is settled from the audit log (its node died
 * or stalled): far beyond any request's storage deadlines (2 s each), so a live execution is never
 * settled under it.
 */
export const APPROVAL_EXECUTION_LEASE_MS_DEFAULT = 10 * 60 * 1000;
/** The result code of an execution whose lease ended with no record of it in the audit log. */
export const EXECUTION_LOST = 'APPROVAL_EXECUTION_LOST';
/** Largest page of `GET /v1/approvals`. */
export const APPROVAL_PAGE_MAX = 100;
/** Longest denial reason kept. */
export const MAX_DENY_REASON = 256;

export type { ApprovalState };
export { APPROVAL_STATES };

/** Who acts on an approval: the authenticated principal and its roles. */
export interface Actor {
  principal: string;
  roles: readonly string[];
}

/** The HTTP request behind a decision: what execution must repeat. */
export interface RequestOrigin {
  method: string;
  /** Path with query string. */
  path: string;
  /** The parsed JSON body (`{}` when there was none). */
  body: unknown;
}

/** What the API shows of an approval. */
export interface ApprovalView {
  id: string;
  state: ApprovalState;
  requester: string;
  operation: string;
  key: string | null;
  method: string;
  path: string;
  requestDigest: string;
  policies: string[];
  required: number;
  group: string;
  reason: string;
  /** Principals who approved, in order. */
  approvedBy: string[];
  approvals: number;
  createdAt: string;
  expiresAt: string;
  finishedAt: string | null;
  deniedBy: string | null;
  denyReason: string | null;
  resultStatus: number | null;
  resultCode: string | null;
}

/** The 202 answer to a parked request. */
export interface PendingApproval {
  approvalId: string;
  required: number;
  group: string;
  reason: string;
  expiresAt: string;
}

/** An execution that passed the checks: the policies see `approvals`. */
export interface ExecutionGate {
  id: string;
  approvals: number;
}

export interface ApprovalServiceOptions {
  now: () => Date;
  ttlMs?: number;
  /** An execution's lease (default {@link APPROVAL_EXECUTION_LEASE_MS_DEFAULT}). */
  executionLeaseMs?: number;
  /** The keyed digest of a canonical request body (the audit HMAC; needs the HSM unsealed). */
  digest: (canonicalBody: string) => string;
  /** Called once per approval that expired, inside the expiry's transaction (for its audit record). */
  onExpired?: (tx: Db, row: ApprovalRow) => Promise<void>;
  /**
   * Called once per execution settled past its lease (recoverExecutions), inside the settling
   * transaction (for its audit record), with the outcome the approval was given.
   */
  onRecovered?: (tx: Db, row: ApprovalRow, outcome: { status: number; code: string | null }) => Promise<void>;
  /**
   * Encrypts / decrypts a parked body for storage at a path (the barrier; needs the HSM unsealed).
   * Without them no body is kept and execute always needs the original body.
   */
  sealBody?: (path: string, canonical: Uint8Array) => Uint8Array;
  openBody?: (path: string, blob: Uint8Array) => Promise<Uint8Array>;
}
