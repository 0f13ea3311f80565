/**
 * Approvals storage (docs/approvals.md): parked requests and their grants. Every change out of
 * 'pending' is one conditional UPDATE (or INSERT … SELECT), so of two nodes racing, one wins and
 * the other sees no row: these functions report that, and engine/approvals says why.
 * @module
 */
import { and, asc, count, eq, gt, inArray, lte, or, sql } from 'drizzle-orm';
import type { Db } from './driver.js';
import { approvalGrants, approvals } from './schema.js';
import type { ApprovalRow, ApprovalState, NewApprovalRow } from './schema.js';

/** The transaction-scoped advisory lock that orders approval inserts ("KWAP"). */
export const APPROVAL_SEQ_LOCK_KEY = 0x4b574150;

/**
 * Inserts an approval with the next `seq` (its commit order): under a transaction-scoped lock held
 * to the caller's commit, so of two nodes creating at once the second takes its number only after
 * the first has committed (or rolled back), and numbers commit in order. A cursor past `seq` n
 * (listApprovals) therefore never has an approval below n still to commit.
 */
export async function insertApproval(db: Db, row: Omit<NewApprovalRow, 'seq'>): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(${APPROVAL_SEQ_LOCK_KEY})`);
    // One statement after the lock: under READ COMMITTED it sees the previous holder's commit.
    await tx.insert(approvals).values({ ...row, seq: sql`(select coalesce(max(seq), 0) + 1 from approvals)` });
  });
}

export async function getApproval(db: Db, id: string): Promise<ApprovalRow | undefined> {
  const [row] = await db.select().from(approvals).where(eq(approvals.id, id));
  return row;
}

/** Where an approval's request goes and who asked, without the rest of the row. */
export async function getApprovalTarget(
  db: Db,
  id: string,
): Promise<{ method: string; path: string; requester: string } | undefined> {
  const [row] = await db
    .select({ method: approvals.method, path: approvals.path, requester: approvals.requester })
    .from(approvals)
    .where(eq(approvals.id, id));
  return row;
}

/** Moves every pending approval whose expiry is at or before `now` to 'expired'; returns those rows. */
export async function expireApprovals(db: Db, now: Date): Promise<ApprovalRow[]> {
  return db
    .update(approvals)
    .set({ state: 'expired', finishedAt: now })
    .where(and(eq(approvals.state, 'pending'), lte(approvals.expiresAt, now)))
    .returning();
}

/**
 * A page of approvals in commit order (`seq`), `limit` rows after the approval `after` (an id: the
 * cursor the API hands out), in `state` if given; `visibleTo` keeps those it requested or whose
 * approver group is one of its roles (undefined: all, as an admin sees them). An `after` that names
 * no approval pages from the earliest committed of those whose id sorts after it (COLLATE "C"), so
 * nothing a cursor by id would have shown is passed over; none such: an empty page.
 */
export async function listApprovals(
  db: Db,
  q: {
    state?: ApprovalState | undefined;
    after?: string | undefined;
    limit: number;
    visibleTo?: { principal: string; roles: readonly string[] } | undefined;
  },
): Promise<ApprovalRow[]> {
  const v = q.visibleTo;
  const visible = v
    ? or(
        eq(approvals.requester, v.principal),
        v.roles.length ? inArray(approvals.approverGroup, [...v.roles]) : undefined,
      )
    : undefined;
  return db
    .select()
    .from(approvals)
    .where(
      and(
        q.state ? eq(approvals.state, q.state) : undefined,
        q.after
          ? sql`${approvals.seq} > coalesce(
              (select a.seq from approvals a where a.id = ${q.after}),
              (select min(a.seq) - 1 from approvals a where a.id COLLATE "C" > ${q.after}),
              (select max(a.seq) from approvals a))`
          : undefined,
        visible,
      ),
    )
    .orderBy(asc(approvals.seq))
    .limit(q.limit);
}

/** How many approvals are pending (waiting for approvals or their execution), for metrics. */
export async function countPendingApprovals(db: Db): Promise<number> {
  const [c] = await db.select({ n: count() }).from(approvals).where(eq(approvals.state, 'pending'));
  return Number(c?.n ?? 0);
}

/** The principals who approved each of `ids`, in the order they approved. */
export async function listApprovalGrants(
  db: Db,
  ids: readonly string[],
): Promise<Array<{ approvalId: string; principal: string }>> {
  if (ids.length === 0) return [];
  return db
    .select({ approvalId: approvalGrants.approvalId, principal: approvalGrants.principal })
    .from(approvalGrants)
    .where(inArray(approvalGrants.approvalId, [...ids]))
    .orderBy(asc(approvalGrants.createdAt), asc(approvalGrants.principal));
}

export async function countApprovalGrants(db: Db, id: string): Promise<number> {
  const [c] = await db.select({ n: count() }).from(approvalGrants).where(eq(approvalGrants.approvalId, id));
  return Number(c?.n ?? 0);
}

/**
 * Adds `principal`'s grant, only while the approval is pending and unexpired at `now` and only once
 * per principal. Returns whether a grant was added.
 */
export async function addApprovalGrant(db: Db, id: string, principal: string, now: Date): Promise<boolean> {
  const rows = await db
    .insert(approvalGrants)
    .select(
      db
        .select({
          approvalId: approvals.id,
          principal: sql<string>`${principal}::text`.as('principal'),
          createdAt: sql<Date>`${now.toISOString()}::timestamptz`.as('created_at'),
        })
        .from(approvals)
        .where(and(eq(approvals.id, id), eq(approvals.state, 'pending'), gt(approvals.expiresAt, now))),
    )
    .onConflictDoNothing()
    .returning({ principal: approvalGrants.principal });
  return rows.length > 0;
}

/** Denies a pending, unexpired approval; returns the updated row, or undefined if it was not pending. */
export async function denyApproval(
  db: Db,
  id: string,
  d: { by: string; reason: string | null; now: Date },
): Promise<ApprovalRow | undefined> {
  const [row] = await db
    .update(approvals)
    .set({ state: 'denied', finishedAt: d.now, deniedBy: d.by, denyReason: d.reason })
    .where(and(eq(approvals.id, id), eq(approvals.state, 'pending'), gt(approvals.expiresAt, d.now)))
    .returning();
  return row;
}

/**
 * `pending → executing` if still pending and unexpired at `now`, with the execution's lease (its
 * deadline, and the audit log's size at the claim); returns whether this call won.
 */
export async function claimApproval(
  db: Db,
  id: string,
  now: Date,
  lease: { deadline: Date; auditFrom: number },
): Promise<boolean> {
  const won = await db
    .update(approvals)
    .set({ state: 'executing', executionDeadline: lease.deadline, executionAuditFrom: lease.auditFrom })
    .where(and(eq(approvals.id, id), eq(approvals.state, 'pending'), gt(approvals.expiresAt, now)))
    .returning({ id: approvals.id });
  return won.length > 0;
}

/** `executing → executed | failed`, with the result's status and error code. */
export async function settleApproval(
  db: Db,
  id: string,
  r: { status: number; code: string | null; now: Date },
): Promise<void> {
  await db
    .update(approvals)
    .set({ state: r.code ? 'failed' : 'executed', finishedAt: r.now, resultStatus: r.status, resultCode: r.code })
    .where(and(eq(approvals.id, id), eq(approvals.state, 'executing')));
}

/** Executions whose lease ended at or before `now` (their node died or stalled mid-operation). */
export async function overdueExecutions(db: Db, now: Date): Promise<ApprovalRow[]> {
  return db
    .select()
    .from(approvals)
    .where(and(eq(approvals.state, 'executing'), lte(approvals.executionDeadline, now)));
}

/**
 * Settles an overdue execution (`executing → executed | failed`) with the outcome found for it, only
 * if it is still executing past its lease; returns whether this call did (of two nodes, one does).
 */
export async function settleOverdueExecution(
  db: Db,
  id: string,
  r: { status: number; code: string | null; now: Date },
): Promise<boolean> {
  const rows = await db
    .update(approvals)
    .set({ state: r.code ? 'failed' : 'executed', finishedAt: r.now, resultStatus: r.status, resultCode: r.code })
    .where(and(eq(approvals.id, id), eq(approvals.state, 'executing'), lte(approvals.executionDeadline, r.now)))
    .returning({ id: approvals.id });
  return rows.length > 0;
}
