/**
 * A real store's Db, wrapped to count the SELECTs sent through it by table, and to hold or fail the
 * next one: what the single-flight tests of the per-node caches need to see how many reads reach the
 * database and to land a read after a local change. Everything else goes to the real Db unchanged.
 */
import { getTableName, Table } from 'drizzle-orm';
import { Hsm } from '../../engine/hsm.js';
import type { Db } from '../../engine/store/index.js';
import { statusFor } from '../../server/errors.js';
import { openTestStore } from './store.js';

export interface CountedDb {
  db: Db;
  /** SELECTs sent from `table` so far. */
  reads(table: string): number;
  /**
   * Runs the next SELECT at once but delivers its outcome only on `release()`; `ran` settles when the
   * query has run (so a test can change things after the read and before it lands).
   */
  holdNext(): { release: () => void; ran: Promise<void> };
  /** Makes the next SELECT reject with `err` (storage failing under one read) instead of running. */
  failNext(err: Error): void;
}

export function countedDb(real: Db): CountedDb {
  const counts = new Map<string, number>();
  let hold: { gate: Promise<void>; ran: () => void } | undefined;
  let fail: Error | undefined;
  // A builder whose `then` waits for the hold (or fails) before running the real query.
  const wrap = (builder: object, held: typeof hold, err: Error | undefined): any =>
    new Proxy(builder, {
      get(target, prop) {
        const v = Reflect.get(target, prop, target);
        if (prop === 'then')
          return (res: (v: unknown) => unknown, rej: (e: unknown) => unknown) => {
            // The query runs now; its outcome is delivered once the hold is released.
            const ran = err ? Promise.reject(err) : Promise.resolve(target as PromiseLike<unknown>);
            const gate = held?.gate ?? Promise.resolve();
            if (held) void ran.then(held.ran, held.ran);
            return ran
              .then(
                (v) => gate.then(() => v),
                (e: unknown) => gate.then(() => Promise.reject(e)),
              )
              .then(res, rej);
          };
        if (typeof v !== 'function') return v;
        return (...args: unknown[]) => {
          if (prop === 'from' && args[0] instanceof Table) {
            const name = getTableName(args[0]);
            counts.set(name, (counts.get(name) ?? 0) + 1);
          }
          const r = v.apply(target, args);
          return r && typeof r === 'object' && typeof r.then === 'function' ? wrap(r, held, err) : r;
        };
      },
    });
  const db = new Proxy(real, {
    get(target, prop) {
      const v = Reflect.get(target, prop, target);
      if (prop !== 'select') return typeof v === 'function' ? v.bind(target) : v;
      return (...args: unknown[]) => {
        const held = hold;
        const err = fail;
        hold = undefined;
        fail = undefined;
        return wrap(v.apply(target, args), held, err);
      };
    },
  });
  return {
    db,
    reads: (table) => counts.get(table) ?? 0,
    holdNext() {
      let release!: () => void;
      let ran!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const done = new Promise<void>((r) => (ran = r));
      hold = { gate, ran };
      return { release, ran: done };
    },
    failNext(err) {
      fail = err;
    },
  };
}

/**
 * An Hsm over a new test store whose Db is counted, for the pipeline's tests of a read that never
 * answers: `storageDeadlineMs` as given, no audit log, and a fixed clock, so the policy bindings go
 * stale only when forgotten and no bindings read takes a hold meant for another. Closing the Hsm
 * closes the store.
 */
export async function countedHsm(storageDeadlineMs: number): Promise<{ hsm: Hsm; counted: CountedDb }> {
  const store = await openTestStore();
  const counted = countedDb(store.db);
  const at = Date.now();
  try {
    const hsm = await Hsm.open({
      store: { driver: store.driver, db: counted.db, close: () => store.close() },
      statusOf: statusFor,
      now: () => new Date(at),
      storageDeadlineMs,
      audit: false,
    });
    return { hsm, counted };
  } catch (err) {
    await store.close();
    throw err;
  }
}
