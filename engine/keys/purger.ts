/**
 * The purge of deleted keys (docs/architecture.md, engine/keys): `purgeExpired` removes keys whose
 * deletion window (`deleteAfter`, set by the catalog's `scheduleDeletion`) has passed — row,
 * versions and barrier-stored material — and `start` runs it every PURGE_INTERVAL_MS on a timer
 * while unsealed. Purged keys answer KEY_NOT_FOUND. Key purges are caused by no request: each writes
 * its own audit record, through `PurgeRecorder`, in the purge's transaction.
 * @module
 */
import type { Db } from '../store/index.js';
import { keysDueForPurge, purgeKey, withTransaction } from '../store/index.js';
import type { KeyCatalog } from './catalog.js';
import type { KeyMaterial } from './material.js';
import { PURGE_BATCH, PURGE_INTERVAL_MS, materialPrefix, type KeyDeps } from './rules.js';

/** Appends the audit record of a purge inside the purge's transaction. */
export type PurgeRecorder = (tx: Db, key: { name: string; id: string }) => Promise<void>;

export class KeyPurger {
  readonly #d: KeyDeps;
  readonly #catalog: KeyCatalog;
  readonly #material: KeyMaterial;
  readonly #record: PurgeRecorder | undefined;
  #timer: { timer: NodeJS.Timeout; running: Promise<unknown> | undefined } | undefined;

  constructor(deps: KeyDeps, catalog: KeyCatalog, material: KeyMaterial, record: PurgeRecorder | undefined) {
    this.#d = deps;
    this.#catalog = catalog;
    this.#material = material;
    this.#record = record;
  }

  /** Whether the timer runs. */
  get running(): boolean {
    return this.#timer !== undefined;
  }

  /**
   * Purges every key whose deletion window has passed (`deleteAfter` ≤ `now`), at most PURGE_BATCH
   * per call: its row, its versions (cascade) and its material under the barrier, one transaction
   * per key, then this node's caches of it. Several nodes may sweep at once: the delete re-checks
   * the window and the key's random id, so each key is purged once and a key re-created under the
   * same name is never touched. Returns the names purged. SEALED while sealed.
   */
  async purgeExpired(now: Date = this.#d.now()): Promise<string[]> {
    this.#d.seal.keyring(); // SEALED first, as every keyed operation
    const due = await keysDueForPurge(this.#d.db, now, PURGE_BATCH);
    const purged: string[] = [];
    for (const k of due) {
      const gone = await withTransaction(this.#d.db, async (tx) => {
        // false: another node purged it, or it was re-created meanwhile
        if (!(await purgeKey(tx, { name: k.name, id: k.id, now, materialPrefix: materialPrefix(k.id) }))) return false;
        // The purge and its audit record commit together.
        await this.#record?.(tx, { name: k.name, id: k.id });
        return true;
      });
      this.#catalog.forget(k.name);
      this.#material.drop(k.id);
      if (gone) purged.push(k.name);
    }
    await this.#material.dropStale();
    return purged;
  }

  /**
   * Runs `purgeExpired` every `intervalMs` (default PURGE_INTERVAL_MS) while unsealed, one sweep at
   * a time, on a timer that does not keep the process alive. Errors go to `onError` (the sweep is
   * retried at the next tick). Idempotent.
   */
  start(opts: { intervalMs?: number | undefined; onError?: ((err: unknown) => void) | undefined } = {}): void {
    if (this.#timer) return;
    const intervalMs = opts.intervalMs ?? PURGE_INTERVAL_MS;
    if (!Number.isSafeInteger(intervalMs) || intervalMs < 1)
      throw new RangeError(`"intervalMs" expected a positive integer, got ${String(intervalMs)}`);
    const { seal } = this.#d;
    const t: { timer: NodeJS.Timeout; running: Promise<unknown> | undefined } = {
      timer: setInterval(() => {
        if (t.running || seal.sealed || !seal.initialized) return;
        t.running = this.purgeExpired()
          .catch((err) => opts.onError?.(err))
          .finally(() => (t.running = undefined));
      }, intervalMs),
      running: undefined,
    };
    t.timer.unref();
    this.#timer = t;
  }

  /** Stops the timer and waits for a sweep in progress (call before closing the store). */
  async stop(): Promise<void> {
    const t = this.#timer;
    this.#timer = undefined;
    if (!t) return;
    clearInterval(t.timer);
    await t.running;
  }
}
