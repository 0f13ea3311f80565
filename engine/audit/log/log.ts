/**
 * The audit log's write side (docs/architecture.md): a per-node queue that group-commits records as one
 * statement per batch (≤ 256, or whatever queued while the previous flush ran), with bounded waits.
 *
 * `append` resolves only when the record is durable (its statement committed with
 * synchronous_commit on), so the pipeline can hold back output until then. It rejects with
 * AUDIT_UNAVAILABLE when the append misses its deadline or the database fails, and with
 * AUDIT_QUEUE_FULL at once when the queue is full: callers answer 503 and release nothing.
 * @module
 */
import { KeywardError } from '../../../lib/errors.js';
import type { Db, StoredInput } from '../../store/index.js';
import { appendAuditLeaves, ensureAuditRows } from '../../store/index.js';
import { encodeRecord } from '../math/record.js';
import type { AuditRecord } from '../math/record.js';

export const AUDIT_BATCH_MAX = 256;
export const AUDIT_DEADLINE_MS_DEFAULT = 2000;
export const AUDIT_QUEUE_MAX_DEFAULT = 10_000;

export interface AuditLogOptions {
  /** How long a request waits for its record to be durable before it fails with 503. */
  deadlineMs?: number;
  /** Records queued (not yet flushing) beyond which appends fail at once. */
  maxQueue?: number;
  /** Largest batch per statement. */
  batchMax?: number;
  /** Append statements kept in flight (default 1; 2 pays on PostgreSQL, not on one-connection PGlite). */
  flushesInFlight?: number;
  /** Hears each group commit and each in-transaction append (metrics: engine/metrics.ts). */
  observer?: AuditObserver;
}

/** What the log reports for metrics: each group commit's size and time, and in-transaction appends. */
export interface AuditObserver {
  auditBatch(records: number, seconds: number, ok: boolean): void;
  auditInTransaction(records: number): void;
}

interface Pending {
  leaf: string;
  input: StoredInput | undefined;
  resolve: (idx: number) => void;
  reject: (err: unknown) => void;
  timer: NodeJS.Timeout | undefined;
  settled: boolean;
}

const decoder = new TextDecoder();

export class AuditLog {
  readonly #db: Db;
  readonly #deadlineMs: number;
  readonly #maxQueue: number;
  readonly #batchMax: number;
  readonly #inFlight: number;
  readonly #observer: AuditObserver | undefined;
  #queue: Pending[] = [];
  readonly #flushes = new Set<Promise<void>>();
  #scheduled = false;
  #closed = false;
  /** Records this node committed, and statements it ran (for metrics and the bench). */
  committed = 0;
  statements = 0;

  private constructor(db: Db, opts: AuditLogOptions) {
    this.#db = db;
    this.#deadlineMs = opts.deadlineMs ?? AUDIT_DEADLINE_MS_DEFAULT;
    this.#maxQueue = opts.maxQueue ?? AUDIT_QUEUE_MAX_DEFAULT;
    this.#batchMax = Math.max(1, Math.min(opts.batchMax ?? AUDIT_BATCH_MAX, AUDIT_BATCH_MAX));
    this.#inFlight = Math.max(1, Math.min(opts.flushesInFlight ?? 1, 4));
    this.#observer = opts.observer;
  }

  /** Records waiting for a flush (not yet in a statement). */
  get queued(): number {
    return this.#queue.length;
  }

  static async open(db: Db, opts: AuditLogOptions = {}): Promise<AuditLog> {
    await ensureAuditRows(db);
    return new AuditLog(db, opts);
  }

  /**
   * Queues a record (and optionally its encrypted policy input) and resolves with its index once it
   * is durable. The record is validated and canonicalized here, so a bad record fails its caller only.
   */
  append(record: AuditRecord, input?: StoredInput): Promise<number> {
    if (this.#closed)
      return Promise.reject(new KeywardError('AUDIT_UNAVAILABLE', 'the audit log is closed; nothing can be recorded'));
    const leaf = decoder.decode(encodeRecord(record));
    if (this.#queue.length >= this.#maxQueue) {
      return Promise.reject(
        new KeywardError(
          'AUDIT_QUEUE_FULL',
          `the audit queue is full (${this.#maxQueue} records waiting); retry shortly`,
          { details: { retryAfter: 1 } },
        ),
      );
    }
    return new Promise<number>((resolve, reject) => {
      const p: Pending = { leaf, input, resolve, reject, timer: undefined, settled: false };
      p.timer = setTimeout(() => {
        if (p.settled) return;
        p.settled = true;
        // Still queued: drop it, so it never commits after its request failed. Already flushing: it
        // may still commit, which records a request that answered 503 — the safe side.
        const i = this.#queue.indexOf(p);
        if (i >= 0) this.#queue.splice(i, 1);
        reject(
          new KeywardError(
            'AUDIT_UNAVAILABLE',
            `the audit record was not durable within ${this.#deadlineMs} ms; nothing was released, retry shortly`,
            { details: { retryAfter: 1 } },
          ),
        );
      }, this.#deadlineMs);
      this.#queue.push(p);
      this.#kick();
    });
  }

  /**
   * Appends records inside the caller's transaction, so a state change and its record commit or
   * roll back together. Takes the head row's lock until that transaction ends.
   */
  async appendInTransaction(
    tx: Db,
    records: readonly AuditRecord[],
    inputs: readonly StoredInput[] = [],
  ): Promise<number> {
    const { first } = await appendAuditLeaves(
      tx,
      records.map((r) => decoder.decode(encodeRecord(r))),
      inputs,
    );
    this.#observer?.auditInTransaction(records.length);
    return first;
  }

  /**
   * Starts a flush when there is work and fewer than `flushesInFlight` are running: the next
   * batch's statement is already waiting on the head row's lock when the previous one commits, which
   * saves a round trip per batch on PostgreSQL. The lock keeps commit order = index order.
   */
  #kick(): void {
    if (this.#scheduled) return;
    if (this.#flushes.size >= this.#inFlight || this.#queue.length === 0) return;
    // Start on the next turn of the event loop, not now: the requests whose I/O arrived in this
    // turn queue their records first and share the statement. Without this, on PGlite (whose queries
    // run on this thread) every flush took one record and the dev server managed ~125 req/s.
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      while (this.#flushes.size < this.#inFlight && this.#queue.length > 0) {
        const f: Promise<void> = this.#flush().finally(() => {
          this.#flushes.delete(f);
          this.#kick();
        });
        this.#flushes.add(f);
      }
    });
  }

  async #flush(): Promise<void> {
    const batch = this.#queue.splice(0, this.#batchMax);
    const live = batch.filter((p) => !p.settled);
    if (live.length === 0) return;
    const start = this.#observer ? performance.now() : 0;
    let ok = true;
    try {
      const inputs = live.flatMap((p) => (p.input ? [p.input] : []));
      const { first } = await appendAuditLeaves(
        this.#db,
        live.map((p) => p.leaf),
        inputs,
      );
      this.statements++;
      this.committed += live.length;
      live.forEach((p, i) => settle(p, () => p.resolve(first + i)));
    } catch (err) {
      ok = false;
      const cause = err instanceof Error ? err : new Error(String(err));
      for (const p of live) {
        settle(p, () =>
          p.reject(
            new KeywardError(
              'AUDIT_UNAVAILABLE',
              'the audit record could not be committed; nothing was released, retry shortly',
              { cause, details: { retryAfter: 1 } },
            ),
          ),
        );
      }
    }
    this.#observer?.auditBatch(live.length, (performance.now() - start) / 1000, ok);
  }

  /** Waits for queued records to flush, then refuses new ones. */
  async close(): Promise<void> {
    this.#closed = true;
    while (this.#flushes.size > 0 || this.#scheduled) {
      if (this.#flushes.size > 0) await Promise.all([...this.#flushes]);
      else await new Promise((r) => setImmediate(r));
    }
  }
}

function settle(p: Pending, fn: () => void): void {
  if (p.timer) clearTimeout(p.timer);
  if (p.settled) return;
  p.settled = true;
  fn();
}
