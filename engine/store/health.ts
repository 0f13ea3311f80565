/**
 * The storage half of `/v1/sys/health` (docs/architecture.md, engine/store; issue 13): is the
 * database answering right now? One `select 1`, bounded by the storage deadline (deadline.ts),
 * shared by concurrent callers and remembered for a second, so a load balancer polling health never
 * adds more than one query a second per node. The reason of a failure is a code (storage-errors.ts),
 * never a driver message.
 * @module
 */
import { sql } from 'drizzle-orm';
import { isKeywardError } from '../../lib/errors.js';
import { STORAGE_DEADLINE_MS_DEFAULT, withDeadline } from './deadline.js';
import type { Store, StoreDriver } from './driver.js';
import { storageFailureReason } from './storage-errors.js';

export interface StorageHealth {
  driver: StoreDriver;
  /** The database answered within the deadline. */
  ok: boolean;
  /** Why not (a code: ECONNREFUSED, 57P03, DEADLINE, …), when not ok. */
  reason?: string;
}

export class StorageProbe {
  readonly #store: Store;
  readonly #deadlineMs: number;
  readonly #maxAgeMs: number;
  #last: { at: number; health: StorageHealth } | undefined;
  #inFlight: Promise<StorageHealth> | undefined;

  constructor(store: Store, opts: { deadlineMs?: number; maxAgeMs?: number } = {}) {
    this.#store = store;
    this.#deadlineMs = opts.deadlineMs ?? STORAGE_DEADLINE_MS_DEFAULT;
    this.#maxAgeMs = opts.maxAgeMs ?? 1000;
  }

  /** The storage state, at most `maxAgeMs` old. Never rejects. */
  check(): Promise<StorageHealth> {
    const last = this.#last;
    if (last && performance.now() - last.at < this.#maxAgeMs) return Promise.resolve(last.health);
    this.#inFlight ??= this.#probe().finally(() => (this.#inFlight = undefined));
    return this.#inFlight;
  }

  async #probe(): Promise<StorageHealth> {
    const driver = this.#store.driver;
    let health: StorageHealth;
    try {
      await withDeadline(
        Promise.resolve().then(() => this.#store.db.execute(sql`select 1`)),
        this.#deadlineMs,
        'the health probe',
      );
      health = { driver, ok: true };
    } catch (err) {
      const reason =
        isKeywardError(err, 'STORAGE_UNAVAILABLE') && typeof err.details?.reason === 'string'
          ? err.details.reason
          : (storageFailureReason(err) ?? 'ERROR');
      health = { driver, ok: false, reason };
    }
    this.#last = { at: performance.now(), health };
    return health;
  }
}
