/**
 * What the engine tells an observer, for metrics (docs/architecture.md, "Metrics and logs";
 * docs/operations.md, "Metrics"): the end of each request through the pipeline, each composed policy
 * decision, each audit group commit. The engine knows no metrics library: the server's registry
 * (server/metrics.ts) subscribes here; state (seal, queues, caches) it reads itself at scrape time.
 *
 * Nothing here carries a key name, a principal or a token: an operation name from the catalog, a
 * status, a decision, numbers. With no observer each event is a loop over an empty list.
 * @module
 */
import type { ComposedDecision } from './policy/sandbox/index.js';
import type { Operation } from './operations.js';
import { auditHeadSize, countPendingApprovals, getAuditTree, latestAuditCheckpoint } from './store/index.js';
import type { Db } from './store/index.js';

export interface EngineObserver {
  /**
   * A request through the pipeline ended: its operation, the status its audit record carries (200
   * done, 202 parked, else its error's) and its time in seconds, from the sealed check to the durable record.
   */
  request?(operation: Operation, status: number, seconds: number): void;
  /** A request's policies were evaluated and composed, in `seconds` (bindings lookup included). */
  decision?(decision: ComposedDecision, seconds: number): void;
  /** A group commit of the audit queue: `records` in one statement of `seconds`; `ok` false when it failed. */
  auditBatch?(records: number, seconds: number, ok: boolean): void;
  /** Records appended inside a state change's own transaction (counted when the statement ran). */
  auditInTransaction?(records: number): void;
}

/** The engine's observers: {@link observe} adds one (and returns its removal); the engine calls the rest. */
export class EngineEvents implements Required<EngineObserver> {
  #observers: EngineObserver[] = [];

  /** Adds an observer; the function returned removes it. */
  observe(o: EngineObserver): () => void {
    this.#observers = [...this.#observers, o];
    return () => {
      this.#observers = this.#observers.filter((x) => x !== o);
    };
  }

  /** Whether anyone listens (the pipeline skips its timing otherwise). */
  get active(): boolean {
    return this.#observers.length > 0;
  }

  request(operation: Operation, status: number, seconds: number): void {
    for (const o of this.#observers) o.request?.(operation, status, seconds);
  }

  decision(decision: ComposedDecision, seconds: number): void {
    for (const o of this.#observers) o.decision?.(decision, seconds);
  }

  auditBatch(records: number, seconds: number, ok: boolean): void {
    for (const o of this.#observers) o.auditBatch?.(records, seconds, ok);
  }

  auditInTransaction(records: number): void {
    for (const o of this.#observers) o.auditInTransaction?.(records);
  }
}

/** What metrics read from the database at scrape time: the same for every node sharing it. */
export interface StoredGauges {
  /** Records committed (the audit head's size). */
  auditHead: number;
  /** Records integrated into the Merkle tree (its size). */
  auditTree: number;
  /** When the newest checkpoint was signed (undefined before the first). */
  checkpointAt: Date | undefined;
  /** Approvals in state `pending`. */
  approvalsPending: number;
}

/** Reads {@link StoredGauges}: four small reads, none under the barrier (they work while sealed). */
export async function readStoredGauges(db: Db): Promise<StoredGauges> {
  const [auditHead, tree, checkpoint, approvalsPending] = await Promise.all([
    auditHeadSize(db),
    getAuditTree(db),
    latestAuditCheckpoint(db),
    countPendingApprovals(db),
  ]);
  return { auditHead, auditTree: tree.size, checkpointAt: checkpoint?.createdAt, approvalsPending };
}
