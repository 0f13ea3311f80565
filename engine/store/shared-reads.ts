/**
 * One read in flight per key, under the storage deadline: how the per-node caches of the request
 * path refresh (key rows, engine/keys/catalog.ts; bearer tokens, engine/auth/tokens.ts; the policy
 * bindings, engine/policy/bindings/service.ts). A miss joins the read of its key already in flight
 * rather than sending its own (at 64 clients every 1 s expiry sent dozens of queries).
 *
 * - The read runs under the storage deadline (deadline.ts): neither driver bounds a call, and a read
 *   that never settled would hold every later miss of its key. At expiry its joiners get
 *   STORAGE_UNAVAILABLE and the entry goes, so the next miss reads again.
 * - A failed read reaches those who joined it and is not kept.
 * - A local change or seal drops the read in flight (`drop`, `clear`): a request after it never
 *   joins a read from before it, and that read, when it lands, still answers those who awaited it
 *   but caches nothing (its `keep` does not run).
 *
 * Each entry is one that some request awaits, and it leaves when its read settles, which the deadline
 * makes sure of; `max` bounds them further where anyone can make a key (bearers, read before the
 * caller is authenticated).
 * @module
 */
import { withDeadline } from './deadline.js';

export class SharedReads<K, V> {
  readonly #reads = new Map<K, Promise<V>>();
  readonly #what: string;
  readonly #deadlineMs: number;
  readonly #max: number;
  /**
   * Bumped by `clear()`: a read started before it caches nothing. The reads in the map need no such
   * count (clear empties the map, and a read caches only while it is its key's entry); a read not
   * shared, over `max`, has only this.
   */
  #generation = 0;

  /**
   * `what` names the read in its STORAGE_UNAVAILABLE message ("the key lookup"); `deadlineMs` is its
   * budget (a value that is not a positive number means none, as for `withDeadline`); `max` is how
   * many reads may be shared at once (default unbounded): a read started beyond it is nobody's to join.
   */
  constructor(opts: { what: string; deadlineMs: number; max?: number }) {
    this.#what = opts.what;
    this.#deadlineMs = opts.deadlineMs;
    this.#max = opts.max ?? Infinity;
  }

  /** The read of `key` in flight, if any: a miss awaits it instead of sending its own. */
  joined(key: K): Promise<V> | undefined {
    return this.#reads.get(key);
  }

  /**
   * Starts `load()` as the read of `key` that its misses join, under the deadline. When it lands,
   * `keep` gets its value (to cache it), unless `drop(key)` or `clear()` came meanwhile; either way
   * the value is what those who awaited it get.
   */
  start(key: K, load: () => Promise<V>, keep: (value: V) => void): Promise<V> {
    const generation = this.#generation;
    let shared = false;
    // Whether the read is still current (neither dropped nor cleared), taking it out of the map.
    const leave = (): boolean => {
      if (!shared) return generation === this.#generation;
      if (this.#reads.get(key) !== read) return false;
      this.#reads.delete(key);
      return true;
    };
    const read: Promise<V> = withDeadline(load(), this.#deadlineMs, this.#what).then(
      (value) => {
        if (leave()) keep(value);
        return value;
      },
      (err: unknown) => {
        leave();
        throw err;
      },
    );
    if (this.#reads.size < this.#max) {
      this.#reads.set(key, read);
      shared = true;
    }
    return read;
  }

  /**
   * After this node changed `key`: a later miss reads again, and the read in flight caches nothing
   * (a read not shared, over `max`, is not reached: only `clear` reaches it).
   */
  drop(key: K): void {
    this.#reads.delete(key);
  }

  /** On seal, or a change whose key is not known: as `drop` for every key. */
  clear(): void {
    this.#generation++;
    this.#reads.clear();
  }

  /** Reads in flight that a miss can join (tests). */
  get size(): number {
    return this.#reads.size;
  }
}
