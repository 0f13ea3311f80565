/**
 * Writing a state change and its audit record in one transaction (docs/architecture.md, "The audit log").
 *
 * The request pipeline hands each operation a `CommitScope` that knows how to append the request's
 * audit record; services pass it to `writeTransaction` for their state changes. The first such
 * transaction in a scope appends the record (the scope's writer) as its last statement, so the
 * change and its record commit together or not at all. A change can't be durable without its
 * record, and the pipeline does not append the record a second time.
 *
 * Services stay ignorant of audit records: without a scope (tests, background work, the benchmark's
 * audit-off baseline) `writeTransaction` is a plain transaction. The record is appended last, so
 * the audit head row is locked only from the append to the commit, and slow work (key generation)
 * happens before the transaction opens, as the services already arrange.
 *
 * The scope is passed explicitly rather than through AsyncLocalStorage: on Node 20 that turns on
 * promise hooks for the whole process, which measured here at 2.4× the cost of every await.
 *
 * One scope, one record: a second write transaction in the same request commits on its own (the
 * record is already durable and names the request). A write transaction nested in another
 * transaction never takes the record: the outer one could still roll back after the record's
 * savepoint was released, so the pipeline appends the record itself after the outer commit.
 *
 * A scope may carry the request's storage deadline (deadline.ts): a write transaction still running
 * when it expires answers STORAGE_UNAVAILABLE at once and rolls back at its next step (before the
 * record, or after it, before COMMIT), so a change the client was told failed never commits unless
 * its COMMIT was already sent — and then with its record (audited, not acknowledged: the safe side).
 * @module
 */
import { PgTransaction } from 'drizzle-orm/pg-core';
import { deadlineExceeded, withDeadline } from './deadline.js';
import type { Db } from './driver.js';

/** Details of a state change, merged into the record's `details` (never secrets). */
export type CommitNote = Record<string, string | number | boolean | null>;

/** Appends the scope's record inside `tx`, with the note of the change that commits with it. */
export type CommitWriter = (tx: Db, note: CommitNote | undefined) => Promise<void>;

export class CommitScope {
  readonly #writer: CommitWriter;
  #state: 'open' | 'claimed' | 'committed' | 'closed' = 'open';
  /** The budget of each write transaction in this scope, in ms (0: none). */
  readonly deadlineMs: number;

  constructor(writer: CommitWriter, deadlineMs = 0) {
    this.#writer = writer;
    this.deadlineMs = deadlineMs;
  }

  /** Whether a write transaction committed this scope's record. */
  get committed(): boolean {
    return this.#state === 'committed';
  }

  /** Ends the scope: work that outlives the request can no longer claim the record. */
  close(): void {
    if (this.#state !== 'committed') this.#state = 'closed';
  }

  /** @internal Takes the record for one transaction (synchronously, so two can't both take it). */
  claim(): boolean {
    if (this.#state !== 'open') return false;
    this.#state = 'claimed';
    return true;
  }

  /** @internal */
  settle(committed: boolean): void {
    if (this.#state === 'claimed') this.#state = committed ? 'committed' : 'open';
  }

  /** @internal */
  write(tx: Db, note: CommitNote | undefined): Promise<void> {
    return this.#writer(tx, note);
  }
}

/**
 * Runs `fn` in a transaction; with a `scope` whose record is not yet written, the record is
 * appended as the transaction's last statement. `note` (or `note(result)`) adds details of the
 * change to the record.
 */
export async function writeTransaction<T>(
  db: Db,
  scope: CommitScope | undefined,
  fn: (tx: Db) => Promise<T>,
  note?: CommitNote | ((result: T) => CommitNote),
): Promise<T> {
  const nested = db instanceof PgTransaction;
  const claimed = scope !== undefined && !nested && scope.claim();
  const ms = nested ? 0 : (scope?.deadlineMs ?? 0);
  let expired = false;
  // After expiry the caller has its 503: roll back rather than commit a change nobody will be told of.
  const live = () => {
    if (expired) throw deadlineExceeded('the write transaction', ms);
  };
  try {
    const run = db.transaction(async (tx) => {
      const result = await fn(tx);
      live();
      if (claimed) await scope.write(tx, typeof note === 'function' ? note(result) : note);
      live();
      return result;
    });
    const out = await withDeadline(run, ms, 'the write transaction', () => (expired = true));
    if (claimed) scope.settle(true);
    return out;
  } catch (err) {
    if (claimed) scope.settle(false);
    throw err;
  }
}
