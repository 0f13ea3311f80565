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
 * @module
 */
import { PgTransaction } from 'drizzle-orm/pg-core';
import type { Db } from './driver.js';

/** Details of a state change, merged into the record's `details` (never secrets). */
export type CommitNote = Record<string, string | number | boolean | null>;

/** Appends the scope's record inside `tx`, with the note of the change that commits with it. */
export type CommitWriter = (tx: Db, note: CommitNote | undefined) => Promise<void>;

export class CommitScope {
  readonly #writer: CommitWriter;
  #state: 'open' | 'claimed' | 'committed' | 'closed' = 'open';

  constructor(writer: CommitWriter) {
    this.#writer = writer;
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
  const claimed = scope !== undefined && !(db instanceof PgTransaction) && scope.claim();
  try {
    const out = await db.transaction(async (tx) => {
      const result = await fn(tx);
      if (claimed) await scope.write(tx, typeof note === 'function' ? note(result) : note);
      return result;
    });
    if (claimed) scope.settle(true);
    return out;
  } catch (err) {
    if (claimed) scope.settle(false);
    throw err;
  }
}
