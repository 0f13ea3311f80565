/**
 * Dual control (docs/approvals.md): requests that the policies answer with `require_approval` are
 * parked here, approved or denied by other principals, and executed once by their requester.
 *
 * Separation of duties is enforced here (the checks are in rules.ts), not left to policy authors:
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
 *
 * An execution holds a lease: the claim stores a deadline and the audit log's size. One still
 * 'executing' past its deadline (its node died or stalled) is settled from the audit log, lazily
 * like expiry: the execution's own record (the one that passed the policies, at or after the claim's
 * size) says how it ended, and the approval becomes 'executed' or 'failed' with its status and
 * code. With no such record it becomes 'failed' (APPROVAL_EXECUTION_LOST), never 'pending' again: a
 * record that never committed means nothing escaped (a state change commits with its record, and an
 * answer is sent only once its record is durable), but a lease cannot tell a dead node from a stalled
 * one that may still commit, and running a dual-controlled request twice is the one thing that must
 * not happen. The requester asks again.
 * @module
 */
import { timingSafeEqual } from 'node:crypto';
import { KeywardError } from '../../lib/errors.js';
import type { Db } from '../store/index.js';
import {
  addApprovalGrant,
  auditHeadSize,
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
  overdueExecutions,
  putEntry,
  readAuditRecordsText,
  settleApproval,
  settleOverdueExecution,
  withTransaction,
  writeTransaction,
} from '../store/index.js';
import type { ApprovalRow, ApprovalState, CommitScope } from '../store/index.js';
import {
  ApprovalIds,
  NOT_APPLIED,
  approvalBodyPath,
  approvalView,
  assertApprovalId,
  assertApprover,
  notApplied,
  notPending,
  visibleTo,
} from './rules.js';
import {
  APPROVAL_EXECUTION_LEASE_MS_DEFAULT,
  APPROVAL_PAGE_MAX,
  APPROVAL_TTL_MS_DEFAULT,
  EXECUTION_LOST,
  MAX_DENY_REASON,
} from './types.js';
import type {
  Actor,
  ApprovalServiceOptions,
  ApprovalView,
  ExecutionGate,
  PendingApproval,
  RequestOrigin,
} from './types.js';

/** How far past a lease's end the recovery reads the audit log (clock skew between nodes, queued records). */
const SCAN_SLACK_MS = 5 * 60_000;
/** A record's `time` (RFC 8785 text: keys sorted, no spaces). */
const TIME_FIELD = /"time":"([^"]+)"/;

export class ApprovalService {
  readonly #db: Db;
  readonly #now: () => Date;
  readonly #ttlMs: number;
  readonly #leaseMs: number;
  readonly #ids = new ApprovalIds();
  readonly #digest: (canonicalBody: string) => string;
  readonly #onExpired: ((tx: Db, row: ApprovalRow) => Promise<void>) | undefined;
  readonly #onRecovered: ApprovalServiceOptions['onRecovered'];
  readonly #sealBody: ApprovalServiceOptions['sealBody'];
  readonly #openBody: ApprovalServiceOptions['openBody'];

  constructor(db: Db, opts: ApprovalServiceOptions) {
    if (opts.ttlMs !== undefined && (!Number.isSafeInteger(opts.ttlMs) || opts.ttlMs < 1))
      throw new RangeError(`"ttlMs" expected a positive integer, got ${opts.ttlMs}`);
    this.#db = db;
    this.#now = opts.now;
    if (
      opts.executionLeaseMs !== undefined &&
      (!Number.isSafeInteger(opts.executionLeaseMs) || opts.executionLeaseMs < 1)
    )
      throw new RangeError(`"executionLeaseMs" expected a positive integer, got ${opts.executionLeaseMs}`);
    this.#ttlMs = opts.ttlMs ?? APPROVAL_TTL_MS_DEFAULT;
    this.#leaseMs = opts.executionLeaseMs ?? APPROVAL_EXECUTION_LEASE_MS_DEFAULT;
    this.#digest = opts.digest;
    this.#onExpired = opts.onExpired;
    this.#onRecovered = opts.onRecovered;
    this.#sealBody = opts.sealBody;
    this.#openBody = opts.openBody;
  }

  /** The keyed digest of a request body. */
  digest(canonical: string): string {
    return this.#digest(canonical);
  }

  /** Parks a request: a pending approval, returned as the 202 body. */
  async create(
    p: {
      requester: string;
      operation: string;
      key: string | null;
      origin: RequestOrigin;
      canonical: string;
      policies: string[];
      required: number;
      group: string;
      reason: string;
    },
    commit?: CommitScope,
  ): Promise<PendingApproval> {
    if (!Number.isSafeInteger(p.required) || p.required < 1)
      throw new RangeError(`"required" expected a positive integer, got ${p.required}`);
    const now = this.#now();
    const row = {
      id: this.#ids.next(now),
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
    await writeTransaction(
      this.#db,
      commit,
      async (tx) => {
        await insertApproval(tx, row);
        if (blob) await putEntry(tx, path, blob);
      },
      { approvalId: row.id, required: row.required, group: row.approverGroup, expiresAt: row.expiresAt.toISOString() },
    );
    return {
      approvalId: row.id,
      required: row.required,
      group: row.approverGroup,
      reason: row.reason,
      expiresAt: row.expiresAt.toISOString(),
    };
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

  /**
   * Settles every execution whose lease ended (see the module header) from the audit log; returns
   * how many this call settled. Each settlement is a state change of its own, so it commits with its
   * audit record (onRecovered), as an expiry does: of two nodes racing, the one whose conditional
   * UPDATE won writes it.
   */
  async recoverExecutions(): Promise<number> {
    const now = this.#now();
    let settled = 0;
    for (const row of await overdueExecutions(this.#db, now)) {
      const outcome = (await this.#recordedOutcome(row)) ?? { status: 500, code: EXECUTION_LOST };
      const won = await writeTransaction(this.#db, undefined, async (tx) => {
        if (!(await settleOverdueExecution(tx, row.id, { ...outcome, now }))) return false;
        await deleteEntry(tx, approvalBodyPath(row.id));
        await this.#onRecovered?.(tx, row, outcome);
        return true;
      });
      if (won) settled++;
    }
    return settled;
  }

  /**
   * How an execution ended by its audit record: the record naming the approval, of its operation,
   * that passed the policies (a later execute is refused before they run), at or after the claim.
   */
  async #recordedOutcome(row: ApprovalRow): Promise<{ status: number; code: string | null } | undefined> {
    const head = await auditHeadSize(this.#db);
    const needle = `"approvalId":"${row.id}"`;
    // Records are written in about the order of their times: past a page whose last record is well
    // after the lease's end, the execution's record is not coming. Without this bound an approval
    // found stuck days later would scan every record written since.
    const until = row.executionDeadline ? row.executionDeadline.getTime() + SCAN_SLACK_MS : Infinity;
    for (let from = row.executionAuditFrom ?? 0; from < head; from += 1000) {
      const page = await readAuditRecordsText(this.#db, from, Math.min(head, from + 1000));
      for (const r of page) {
        if (!r.leaf.includes(needle)) continue;
        const rec = JSON.parse(r.leaf) as { operation?: unknown; decision?: unknown; status?: unknown; code?: unknown };
        if (rec.operation !== row.operation || rec.decision !== 'allow' || typeof rec.status !== 'number') continue;
        return { status: rec.status, code: typeof rec.code === 'string' ? rec.code : null };
      }
      const last = page.length > 0 ? TIME_FIELD.exec(page[page.length - 1]!.leaf) : null;
      if (last && Date.parse(last[1]!) > until) break;
    }
    return undefined;
  }

  /** The lazy sweep before every read or action: expiries, then executions past their lease. */
  async #sweep(): Promise<void> {
    await this.expireDue();
    await this.recoverExecutions();
  }

  async #row(id: string): Promise<ApprovalRow> {
    assertApprovalId(id);
    await this.#sweep();
    const row = await getApproval(this.#db, id);
    if (!row) throw new KeywardError('APPROVAL_NOT_FOUND', `no approval ${id}`);
    return row;
  }

  /**
   * The row, when `actor` may see it; for anyone else the same APPROVAL_NOT_FOUND as for an id that
   * does not exist, before any other check (state, group, requester) can tell the two apart.
   */
  async #visible(id: string, actor: Actor): Promise<ApprovalRow> {
    const row = await this.#row(id);
    if (!visibleTo(row, actor)) throw new KeywardError('APPROVAL_NOT_FOUND', `no approval ${id}`);
    return row;
  }

  async #grants(ids: string[]): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>(ids.map((id) => [id, []]));
    for (const r of await listApprovalGrants(this.#db, ids)) out.get(r.approvalId)!.push(r.principal);
    return out;
  }

  /**
   * Where an approval's request goes (for the execute route's dispatch), told only to its requester
   * (the one principal who may execute it); undefined for anyone else and for an unknown id alike.
   */
  async target(id: string, requester: string): Promise<{ method: string; path: string } | undefined> {
    assertApprovalId(id);
    const row = await getApprovalTarget(this.#db, id);
    return row && row.requester === requester ? { method: row.method, path: row.path } : undefined;
  }

  async get(id: string, actor: Actor): Promise<ApprovalView> {
    const row = await this.#visible(id, actor);
    return approvalView(row, (await this.#grants([id])).get(id)!);
  }

  /** Approvals `actor` may see, oldest first, `limit` per page after the id `after`. */
  async list(
    actor: Actor,
    opts: { state?: ApprovalState | undefined; limit: number; after?: string | undefined },
  ): Promise<{ approvals: ApprovalView[]; next: string | null }> {
    if (!Number.isSafeInteger(opts.limit) || opts.limit < 1 || opts.limit > APPROVAL_PAGE_MAX)
      throw new RangeError(`"limit" expected 1 to ${APPROVAL_PAGE_MAX}, got ${opts.limit}`);
    if (opts.after !== undefined) assertApprovalId(opts.after);
    await this.#sweep();
    // The same rule as visibleTo (rules.ts), in the query.
    const visibleTo = actor.roles.includes('admin') ? undefined : actor;
    const rows = await listApprovals(this.#db, {
      state: opts.state,
      after: opts.after,
      limit: opts.limit + 1,
      visibleTo,
    });
    const page = rows.slice(0, opts.limit);
    const grants = await this.#grants(page.map((r) => r.id));
    return {
      approvals: page.map((r) => approvalView(r, grants.get(r.id)!)),
      next: rows.length > opts.limit ? page[page.length - 1]!.id : null,
    };
  }

  /** Adds `actor`'s approval (once). */
  async approve(id: string, actor: Actor, commit?: CommitScope): Promise<ApprovalView> {
    const row = await this.#visible(id, actor);
    assertApprover(row, actor, 'approve');
    const now = this.#now();
    // Only while still pending and unexpired (a deny or an execution may have just won).
    // Nothing inserted rolls the transaction back (NOT_APPLIED), so no success record commits.
    const inserted = await writeTransaction(this.#db, commit, async (tx) => {
      if (!(await addApprovalGrant(tx, id, actor.principal, now))) throw NOT_APPLIED;
      return [actor.principal];
    }).catch(notApplied);
    const grants = (await this.#grants([id])).get(id)!;
    if (inserted.length === 0) {
      if (grants.includes(actor.principal))
        throw new KeywardError(
          'APPROVAL_DUPLICATE',
          `${actor.principal} already approved ${id}; each principal counts once`,
        );
      throw notPending(await this.#row(id));
    }
    return approvalView(row, grants);
  }

  /** Ends the request: any one approver's denial is final. */
  async deny(id: string, actor: Actor, reason: string | undefined, commit?: CommitScope): Promise<ApprovalView> {
    const row = await this.#visible(id, actor);
    assertApprover(row, actor, 'deny');
    const now = this.#now();
    const [done] = await writeTransaction(this.#db, commit, async (tx) => {
      const denied = await denyApproval(tx, id, {
        by: actor.principal,
        reason: reason?.slice(0, MAX_DENY_REASON) ?? null,
        now,
      });
      if (!denied) throw NOT_APPLIED;
      await deleteEntry(tx, approvalBodyPath(id));
      return [denied];
    }).catch(notApplied);
    if (!done) throw notPending(await this.#row(id));
    return approvalView(done, (await this.#grants([id])).get(id)!);
  }

  /**
   * Checks an execution before the policies run: the requester, the same operation, method, path
   * and body, still pending. Returns the number of distinct approvals for the policy input.
   */
  async openExecution(
    id: string,
    p: { principal: string; operation: string; key: string | null; origin: RequestOrigin; canonical: string },
  ): Promise<ExecutionGate> {
    const row = await this.#row(id);
    if (row.requester !== p.principal)
      throw new KeywardError('APPROVAL_NOT_REQUESTER', `only ${row.requester}, who requested ${id}, may execute it`);
    if (row.state !== 'pending') throw notPending(row);
    if (
      row.operation !== p.operation ||
      row.key !== p.key ||
      row.method !== p.origin.method ||
      row.path !== p.origin.path
    ) {
      throw new KeywardError(
        'APPROVAL_MISMATCH',
        `approval ${id} is for ${row.method} ${row.path} (${row.operation}), not ${p.origin.method} ${p.origin.path} (${p.operation})`,
      );
    }
    const expected = Buffer.from(row.requestDigest);
    const got = Buffer.from(this.#digest(p.canonical));
    if (expected.length !== got.length || !timingSafeEqual(expected, got)) {
      throw new KeywardError(
        'APPROVAL_DIGEST_MISMATCH',
        `the body differs from the one approval ${id} was requested with; send the original body`,
      );
    }
    return { id, approvals: await countApprovalGrants(this.#db, id) };
  }

  /**
   * Why `actor` can't execute `id` now, as openExecution would say it (not found for strangers, not
   * the requester, no longer pending); returns when they could.
   */
  async assertExecutable(id: string, actor: Actor): Promise<void> {
    const row = await this.#visible(id, actor);
    if (row.requester !== actor.principal)
      throw new KeywardError('APPROVAL_NOT_REQUESTER', `only ${row.requester}, who requested ${id}, may execute it`);
    if (row.state !== 'pending') throw notPending(row);
  }

  /** Claims the one execution (`pending → executing`); the loser of a race gets APPROVAL_NOT_PENDING. */
  async claim(id: string): Promise<void> {
    // The log's size before the claim: the execution's record, if it commits, comes at or after it.
    const auditFrom = await auditHeadSize(this.#db);
    const now = this.#now();
    const deadline = new Date(now.getTime() + this.#leaseMs);
    if (!(await claimApproval(this.#db, id, now, { deadline, auditFrom }))) throw notPending(await this.#row(id));
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
    if (!row || row.requester !== principal || row.state !== 'pending' || row.expiresAt <= this.#now())
      return undefined;
    const path = approvalBodyPath(id);
    const blob = await getEntry(this.#db, path);
    if (!blob) return undefined;
    return JSON.parse(new TextDecoder().decode(await this.#openBody(path, blob)));
  }
}
