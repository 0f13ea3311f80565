/**
 * Dual control (docs/approvals.md): requests that the policies answer with `require_approval` are
 * parked here, approved or denied by other principals, and executed once by their requester.
 *
 * Separation of duties is enforced here, not left to policy authors:
 * - the requester never approves (or denies) their own request;
 * - each principal counts once (the grants table's primary key);
 * - an approver must hold the role the decision named;
 * - an expired approval can't be approved, denied or executed;
 * - execution needs the requester, the same method, path and body (by digest), and happens at most
 *   once: `pending → executing` is a conditional UPDATE, so of two nodes racing one wins.
 *
 * The parked body itself is kept too, encrypted under the barrier (a barrier entry at
 * `approvals/<id>/body`, written in the parking transaction, removed when the approval ends), so the
 * requester may execute without sending it again: `storedBody` hands it to the requester only.
 *
 * Everything lives in the database (no per-node state): approvals survive restarts and work across
 * nodes. Expiry is noticed lazily: every read or action first moves overdue pending approvals to
 * 'expired' (one conditional UPDATE, so each expiry is reported exactly once, by one node).
 * @module
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import canonicalize from 'canonicalize';
import { KeywardError } from '../../lib/errors.js';
import type { Db } from '../store/index.js';
import {
  APPROVAL_STATES,
  addApprovalGrant,
  claimApproval,
  countApprovalGrants,
  deleteEntry,
  denyApproval,
  expireApprovals,
  getApproval,
  getApprovalTarget,
  getEntry,
  insertApproval,
  listApprovalGrants,
  listApprovals,
  putEntry,
  settleApproval,
  withTransaction,
  writeTransaction,
} from '../store/index.js';
import type { ApprovalRow, ApprovalState, CommitScope } from '../store/index.js';

/** How long an approval waits for its approvers and execution, by default. */
export const APPROVAL_TTL_MS_DEFAULT = 24 * 60 * 60 * 1000;
/** Largest page of `GET /v1/approvals`. */
export const APPROVAL_PAGE_MAX = 100;
/** Longest denial reason kept. */
export const MAX_DENY_REASON = 256;
const ID_RE = /^apr_[0-9a-f]{32}$/;

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
  /** The keyed digest of a canonical request body (the audit HMAC; needs the HSM unsealed). */
  digest: (canonicalBody: string) => string;
  /** Called once per approval that expired, inside the expiry's transaction (for its audit record). */
  onExpired?: (tx: Db, row: ApprovalRow) => Promise<void>;
  /**
   * Encrypts / decrypts a parked body for storage at a path (the barrier; needs the HSM unsealed).
   * Without them no body is kept and execute always needs the original body.
   */
  sealBody?: (path: string, canonical: Uint8Array) => Uint8Array;
  openBody?: (path: string, blob: Uint8Array) => Promise<Uint8Array>;
}

/** Where a parked request's body is kept (a barrier entry). */
export function approvalBodyPath(id: string): string {
  return `approvals/${id}/body`;
}

export function assertApprovalId(id: string): void {
  if (!ID_RE.test(id)) throw new KeywardError('VALIDATION_FAILED', `expected an approval id like apr_<32 hex>, got "${id.slice(0, 80)}"`);
}

/** Ids sort by creation time (48-bit milliseconds) and are unguessable (80 random bits). */
function newApprovalId(now: Date): string {
  return 'apr_' + now.getTime().toString(16).padStart(12, '0').slice(-12) + randomBytes(10).toString('hex');
}

/** RFC 8785 canonical JSON of a request body; no body is `{}`. */
export function canonicalBody(body: unknown): string {
  const text = canonicalize(body === undefined ? {} : body);
  if (text === undefined) throw new KeywardError('VALIDATION_FAILED', 'the request body has no canonical JSON form');
  return text;
}

function notPending(row: ApprovalRow): KeywardError {
  if (row.state === 'expired') return new KeywardError('APPROVAL_EXPIRED', `approval ${row.id} expired at ${row.expiresAt.toISOString()}`);
  const what: Record<ApprovalState, string> = {
    pending: 'is pending',
    denied: `was denied by ${row.deniedBy}`,
    expired: 'expired',
    executing: 'was already executed',
    executed: 'was already executed',
    failed: 'was already executed (and failed)',
  };
  return new KeywardError('APPROVAL_NOT_PENDING', `approval ${row.id} ${what[row.state]}; it can't be used again`, { details: { state: row.state } });
}

/** Thrown inside a write transaction that changed nothing, to roll it back (and its audit record). */
const NOT_APPLIED = Symbol('not applied');
/** The empty result of a write that changed nothing; other errors pass through. */
function notApplied(err: unknown): never[] {
  if (err === NOT_APPLIED) return [];
  throw err;
}

export class ApprovalService {
  readonly #db: Db;
  readonly #now: () => Date;
  readonly #ttlMs: number;
  readonly #digest: (canonicalBody: string) => string;
  readonly #onExpired: ((tx: Db, row: ApprovalRow) => Promise<void>) | undefined;
  readonly #sealBody: ApprovalServiceOptions['sealBody'];
  readonly #openBody: ApprovalServiceOptions['openBody'];

  constructor(db: Db, opts: ApprovalServiceOptions) {
    if (opts.ttlMs !== undefined && (!Number.isSafeInteger(opts.ttlMs) || opts.ttlMs < 1)) throw new RangeError(`"ttlMs" expected a positive integer, got ${opts.ttlMs}`);
    this.#db = db;
    this.#now = opts.now;
    this.#ttlMs = opts.ttlMs ?? APPROVAL_TTL_MS_DEFAULT;
    this.#digest = opts.digest;
    this.#onExpired = opts.onExpired;
    this.#sealBody = opts.sealBody;
    this.#openBody = opts.openBody;
  }

  /** The keyed digest of a request body. */
  digest(canonical: string): string {
    return this.#digest(canonical);
  }

  /** Parks a request: a pending approval, returned as the 202 body. */
  async create(p: {
    requester: string;
    operation: string;
    key: string | null;
    origin: RequestOrigin;
    canonical: string;
    policies: string[];
    required: number;
    group: string;
    reason: string;
  }, commit?: CommitScope): Promise<PendingApproval> {
    if (!Number.isSafeInteger(p.required) || p.required < 1) throw new RangeError(`"required" expected a positive integer, got ${p.required}`);
    const now = this.#now();
    const row = {
      id: newApprovalId(now),
      requester: p.requester,
      operation: p.operation,
      key: p.key,
      method: p.origin.method,
      path: p.origin.path,
      requestDigest: this.#digest(p.canonical),
      policies: p.policies,
      required: p.required,
      approverGroup: p.group,
      reason: p.reason,
      state: 'pending' as const,
      expiresAt: new Date(now.getTime() + this.#ttlMs),
      createdAt: now,
    };
    // In the pipeline's commit scope, the parked request's record (naming the approval) commits with it.
    const path = approvalBodyPath(row.id);
    const blob = this.#sealBody?.(path, new TextEncoder().encode(p.canonical));
    await writeTransaction(this.#db, commit, async (tx) => {
      await insertApproval(tx, row);
      if (blob) await putEntry(tx, path, blob);
    }, { approvalId: row.id, required: row.required, group: row.approverGroup, expiresAt: row.expiresAt.toISOString() });
    return { approvalId: row.id, required: row.required, group: row.approverGroup, reason: row.reason, expiresAt: row.expiresAt.toISOString() };
  }

  /** Moves every overdue pending approval to 'expired', reporting each once. */
  async expireDue(): Promise<number> {
    const now = this.#now();
    // Each expiry's audit record commits with it.
    return writeTransaction(this.#db, undefined, async (tx) => {
      const rows = await expireApprovals(tx, now);
      for (const r of rows) {
        await deleteEntry(tx, approvalBodyPath(r.id));
        await this.#onExpired?.(tx, r);
      }
      return rows.length;
    });
  }

  async #row(id: string): Promise<ApprovalRow> {
    assertApprovalId(id);
    await this.expireDue();
    const row = await getApproval(this.#db, id);
    if (!row) throw new KeywardError('APPROVAL_NOT_FOUND', `no approval ${id}`);
    return row;
  }

  async #grants(ids: string[]): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>(ids.map((id) => [id, []]));
    for (const r of await listApprovalGrants(this.#db, ids)) out.get(r.approvalId)!.push(r.principal);
    return out;
  }

  #view(row: ApprovalRow, approvedBy: string[]): ApprovalView {
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
  #visible(row: ApprovalRow, actor: Actor): boolean {
    return row.requester === actor.principal || actor.roles.includes(row.approverGroup) || actor.roles.includes('admin');
  }

  /** Where an approval's request goes (for the execute route's dispatch), or undefined. */
  async target(id: string): Promise<{ method: string; path: string } | undefined> {
    assertApprovalId(id);
    return getApprovalTarget(this.#db, id);
  }

  async get(id: string, actor: Actor): Promise<ApprovalView> {
    const row = await this.#row(id);
    if (!this.#visible(row, actor)) throw new KeywardError('APPROVAL_NOT_FOUND', `no approval ${id}`);
    return this.#view(row, (await this.#grants([id])).get(id)!);
  }

  /** Approvals `actor` may see, oldest first, `limit` per page after the id `after`. */
  async list(actor: Actor, opts: { state?: ApprovalState | undefined; limit: number; after?: string | undefined }): Promise<{ approvals: ApprovalView[]; next: string | null }> {
    if (!Number.isSafeInteger(opts.limit) || opts.limit < 1 || opts.limit > APPROVAL_PAGE_MAX) throw new RangeError(`"limit" expected 1 to ${APPROVAL_PAGE_MAX}, got ${opts.limit}`);
    if (opts.after !== undefined) assertApprovalId(opts.after);
    await this.expireDue();
    // The same rule as #visible, in the query.
    const visibleTo = actor.roles.includes('admin') ? undefined : actor;
    const rows = await listApprovals(this.#db, { state: opts.state, after: opts.after, limit: opts.limit + 1, visibleTo });
    const page = rows.slice(0, opts.limit);
    const grants = await this.#grants(page.map((r) => r.id));
    return { approvals: page.map((r) => this.#view(r, grants.get(r.id)!)), next: rows.length > opts.limit ? page[page.length - 1]!.id : null };
  }

  /** The separation-of-duties checks shared by approve and deny. */
  #assertApprover(row: ApprovalRow, actor: Actor, verb: 'approve' | 'deny'): void {
    if (row.state !== 'pending') throw notPending(row);
    if (row.requester === actor.principal) throw new KeywardError('APPROVAL_SELF', `${actor.principal} requested ${row.id} and can't ${verb} it: another member of "${row.approverGroup}" must`);
    if (!actor.roles.includes(row.approverGroup)) {
      throw new KeywardError('APPROVAL_GROUP', `approvers of ${row.id} must hold the role "${row.approverGroup}"; ${actor.principal} holds [${actor.roles.join(', ')}]`);
    }
  }

  /** Adds `actor`'s approval (once). */
  async approve(id: string, actor: Actor, commit?: CommitScope): Promise<ApprovalView> {
    const row = await this.#row(id);
    this.#assertApprover(row, actor, 'approve');
    const now = this.#now();
    // Only while still pending and unexpired (a deny or an execution may have just won).
    // Nothing inserted rolls the transaction back (NOT_APPLIED), so no success record commits.
    const inserted = await writeTransaction(this.#db, commit, async (tx) => {
      if (!(await addApprovalGrant(tx, id, actor.principal, now))) throw NOT_APPLIED;
      return [actor.principal];
    }).catch(notApplied);
    const grants = (await this.#grants([id])).get(id)!;
    if (inserted.length === 0) {
      if (grants.includes(actor.principal)) throw new KeywardError('APPROVAL_DUPLICATE', `${actor.principal} already approved ${id}; each principal counts once`);
      throw notPending(await this.#row(id));
    }
    return this.#view(row, grants);
  }

  /** Ends the request: any one approver's denial is final. */
  async deny(id: string, actor: Actor, reason: string | undefined, commit?: CommitScope): Promise<ApprovalView> {
    const row = await this.#row(id);
    this.#assertApprover(row, actor, 'deny');
    const now = this.#now();
    const [done] = await writeTransaction(this.#db, commit, async (tx) => {
      const denied = await denyApproval(tx, id, { by: actor.principal, reason: reason?.slice(0, MAX_DENY_REASON) ?? null, now });
      if (!denied) throw NOT_APPLIED;
      await deleteEntry(tx, approvalBodyPath(id));
      return [denied];
    }).catch(notApplied);
    if (!done) throw notPending(await this.#row(id));
    return this.#view(done, (await this.#grants([id])).get(id)!);
  }

  /**
   * Checks an execution before the policies run: the requester, the same operation, method, path
   * and body, still pending. Returns the number of distinct approvals for the policy input.
   */
  async openExecution(id: string, p: { principal: string; operation: string; key: string | null; origin: RequestOrigin; canonical: string }): Promise<ExecutionGate> {
    const row = await this.#row(id);
    if (row.requester !== p.principal) throw new KeywardError('APPROVAL_NOT_REQUESTER', `only ${row.requester}, who requested ${id}, may execute it`);
    if (row.state !== 'pending') throw notPending(row);
    if (row.operation !== p.operation || row.key !== p.key || row.method !== p.origin.method || row.path !== p.origin.path) {
      throw new KeywardError('APPROVAL_MISMATCH', `approval ${id} is for ${row.method} ${row.path} (${row.operation}), not ${p.origin.method} ${p.origin.path} (${p.operation})`);
    }
    const expected = Buffer.from(row.requestDigest);
    const got = Buffer.from(this.#digest(p.canonical));
    if (expected.length !== got.length || !timingSafeEqual(expected, got)) {
      throw new KeywardError('APPROVAL_DIGEST_MISMATCH', `the body differs from the one approval ${id} was requested with; send the original body`);
    }
    return { id, approvals: await countApprovalGrants(this.#db, id) };
  }

  /**
   * Why `actor` can't execute `id` now, as openExecution would say it (not found for strangers, not
   * the requester, no longer pending); returns when they could.
   */
  async assertExecutable(id: string, actor: Actor): Promise<void> {
    const row = await this.#row(id);
    if (!this.#visible(row, actor)) throw new KeywardError('APPROVAL_NOT_FOUND', `no approval ${id}`);
    if (row.requester !== actor.principal) throw new KeywardError('APPROVAL_NOT_REQUESTER', `only ${row.requester}, who requested ${id}, may execute it`);
    if (row.state !== 'pending') throw notPending(row);
  }

  /** Claims the one execution (`pending → executing`); the loser of a race gets APPROVAL_NOT_PENDING. */
  async claim(id: string): Promise<void> {
    const now = this.#now();
    if (!(await claimApproval(this.#db, id, now))) throw notPending(await this.#row(id));
  }

  /** Records how the one execution ended ('executed', or 'failed' with its error code). */
  async settle(id: string, result: { status: number; code: string | null }): Promise<void> {
    await withTransaction(this.#db, async (tx) => {
      await settleApproval(tx, id, { ...result, now: this.#now() });
      await deleteEntry(tx, approvalBodyPath(id));
    });
  }

  /**
   * The body a pending approval was parked with, for its requester's execution to default to; for
   * anyone else, or an approval no longer pending, or one parked without a kept body: undefined.
   */
  async storedBody(id: string, principal: string): Promise<unknown> {
    if (!this.#openBody) return undefined;
    assertApprovalId(id);
    const row = await getApproval(this.#db, id);
    if (!row || row.requester !== principal || row.state !== 'pending' || row.expiresAt <= this.#now()) return undefined;
    const path = approvalBodyPath(id);
    const blob = await getEntry(this.#db, path);
    if (!blob) return undefined;
    return JSON.parse(new TextDecoder().decode(await this.#openBody(path, blob)));
  }
}
