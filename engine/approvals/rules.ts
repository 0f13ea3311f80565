/**
 * The rules of dual control (docs/approvals.md), apart from storage: approval ids, where a parked body
 * is kept, the canonical body, who may see an approval, the separation-of-duties checks, and the
 * error that says why an approval can no longer be used. No I/O.
 * @module
 */
import { randomBytes } from 'node:crypto';
import canonicalize from 'canonicalize';
import { KeywardError } from '../../lib/errors.js';
import type { ApprovalRow, ApprovalState } from '../store/index.js';
import type { Actor, ApprovalView } from './types.js';

const ID_RE = /^apr_[0-9a-f]{32}$/;

/** Where a parked request's body is kept (a barrier entry). */
export function approvalBodyPath(id: string): string {
  return `approvals/${id}/body`;
}

export function assertApprovalId(id: string): void {
  if (!ID_RE.test(id))
    throw new KeywardError('VALIDATION_FAILED', `expected an approval id like apr_<32 hex>, got "${id.slice(0, 80)}"`);
}

/**
 * An approval id: creation time (48-bit milliseconds), a sequence number within that millisecond
 * (16 bits), and 64 random bits (unguessable). Ids sort as they were made by one {@link ApprovalIds}.
 */
export function newApprovalId(now: Date, seq = 0): string {
  if (!Number.isInteger(seq) || seq < 0 || seq > 0xffff) throw new RangeError(`"seq" expected 0 to 65535, got ${seq}`);
  return (
    'apr_' +
    now.getTime().toString(16).padStart(12, '0').slice(-12) +
    seq.toString(16).padStart(4, '0') +
    randomBytes(8).toString('hex')
  );
}

/**
 * A node's approval ids, strictly increasing in the order they are made: two in the same
 * millisecond differ by their sequence number (not by chance, as with random bits alone, which let
 * a later approval sort before an earlier one and so fall behind a page cursor already past it), and
 * a clock that steps back keeps the last millisecond. Across nodes, ids order by the nodes' clocks.
 */
export class ApprovalIds {
  #ms = -1;
  #seq = 0;

  next(now: Date): string {
    let ms = now.getTime();
    if (ms > this.#ms) this.#seq = 0;
    else {
      ms = this.#ms;
      this.#seq++;
      // 65,536 in one millisecond: borrow the next one.
      if (this.#seq > 0xffff) {
        ms++;
        this.#seq = 0;
      }
    }
    this.#ms = ms;
    return newApprovalId(new Date(ms), this.#seq);
  }
}

/** RFC 8785 canonical JSON of a request body; no body is `{}`. */
export function canonicalBody(body: unknown): string {
  const text = canonicalize(body === undefined ? {} : body);
  if (text === undefined) throw new KeywardError('VALIDATION_FAILED', 'the request body has no canonical JSON form');
  return text;
}

export function notPending(row: ApprovalRow): KeywardError {
  if (row.state === 'expired')
    return new KeywardError('APPROVAL_EXPIRED', `approval ${row.id} expired at ${row.expiresAt.toISOString()}`);
  const what: Record<ApprovalState, string> = {
    pending: 'is pending',
    denied: `was denied by ${row.deniedBy}`,
    expired: 'expired',
    executing: 'was already executed',
    executed: 'was already executed',
    failed: 'was already executed (and failed)',
  };
  return new KeywardError('APPROVAL_NOT_PENDING', `approval ${row.id} ${what[row.state]}; it can't be used again`, {
    details: { state: row.state },
  });
}

/** Thrown inside a write transaction that changed nothing, to roll it back (and its audit record). */
export const NOT_APPLIED = Symbol('not applied');
/** The empty result of a write that changed nothing; other errors pass through. */
export function notApplied(err: unknown): never[] {
  if (err === NOT_APPLIED) return [];
  throw err;
}

export function approvalView(row: ApprovalRow, approvedBy: string[]): ApprovalView {
  return {
    id: row.id,
    state: row.state,
    requester: row.requester,
    operation: row.operation,
    key: row.key,
    method: row.method,
    path: row.path,
    requestDigest: row.requestDigest,
    policies: row.policies,
    required: row.required,
    group: row.approverGroup,
    reason: row.reason,
    approvedBy,
    approvals: approvedBy.length,
    createdAt: row.createdAt.toISOString(),
    expiresAt: row.expiresAt.toISOString(),
    finishedAt: row.finishedAt?.toISOString() ?? null,
    deniedBy: row.deniedBy,
    denyReason: row.denyReason,
    resultStatus: row.resultStatus,
    resultCode: row.resultCode,
  };
}

/**
 * Whether `actor` may see an approval: its requester, a holder of its approver role, or an admin.
 * (Approvals carry no secrets, but a principal need not learn of unrelated requests.)
 */
export function visibleTo(row: ApprovalRow, actor: Actor): boolean {
  return row.requester === actor.principal || actor.roles.includes(row.approverGroup) || actor.roles.includes('admin');
}

/** The separation-of-duties checks shared by approve and deny. */
export function assertApprover(row: ApprovalRow, actor: Actor, verb: 'approve' | 'deny'): void {
  if (row.state !== 'pending') throw notPending(row);
  if (row.requester === actor.principal)
    throw new KeywardError(
      'APPROVAL_SELF',
      `${actor.principal} requested ${row.id} and can't ${verb} it: another member of "${row.approverGroup}" must`,
    );
  if (!actor.roles.includes(row.approverGroup)) {
    throw new KeywardError(
      'APPROVAL_GROUP',
      `approvers of ${row.id} must hold the role "${row.approverGroup}"; ${actor.principal} holds [${actor.roles.join(', ')}]`,
    );
  }
}
