/**
 * A bounded in-memory cache of secrets (decrypted key material, expanded keys) by barrier path,
 * least recently used first out. Every value leaves through `wipe`: at once on `clear()` (seal),
 * and one macrotask later when evicted or dropped, because a caller may hold a value it got from
 * `get` while other requests' microtasks run (the key service uses a value synchronously once it
 * has it, or copies it for the worker pool). Zeroization in JS is best effort: the engine may have
 * copied the bytes elsewhere.
 *
 * The recency order is a doubly linked list beside the Map, so a hit is one Map lookup and a few
 * pointer writes (it was a delete and a re-insert, whose holes the Map must compact: about 1% of an
 * Ed25519 signature on every signing call).
 * @module
 */
interface Entry<V> {
  readonly path: string;
  value: V;
  /** Toward the least recently used end (`#oldest`). */
  older: Entry<V> | undefined;
  /** Toward the most recently used end (`#newest`). */
  newer: Entry<V> | undefined;
}

export class SecretCache<V> {
  readonly max: number;
  readonly #wipe: (v: V) => void;
  readonly #map = new Map<string, Entry<V>>();
  #oldest: Entry<V> | undefined;
  #newest: Entry<V> | undefined;

  constructor(max: number, wipe: (v: V) => void) {
    if (!Number.isSafeInteger(max) || max < 1)
      throw new RangeError(`"max" expected a positive integer, got ${String(max)}`);
    this.max = max;
    this.#wipe = wipe;
  }

  get size(): number {
    return this.#map.size;
  }

  /** The value at `path`, now the most recently used. */
  get(path: string): V | undefined {
    const e = this.#map.get(path);
    if (e === undefined) return undefined;
    if (e !== this.#newest) {
      this.#unlink(e);
      this.#append(e);
    }
    return e.value;
  }

  has(path: string): boolean {
    return this.#map.has(path);
  }

  /** Stores `v` at `path` (replacing and wiping an older value), evicting the least recently used beyond `max`. */
  set(path: string, v: V): void {
    const old = this.#map.get(path);
    if (old !== undefined) {
      const was = old.value;
      old.value = v;
      this.#unlink(old);
      this.#append(old);
      if (was !== v) this.#wipeLater(was);
      return;
    }
    const e: Entry<V> = { path, value: v, older: undefined, newer: undefined };
    this.#map.set(path, e);
    this.#append(e);
    while (this.#map.size > this.max) {
      const oldest = this.#oldest!;
      this.#remove(oldest);
      this.#wipeLater(oldest.value);
    }
  }

  /** Drops (and wipes) every entry whose path satisfies `pred`. */
  dropWhere(pred: (path: string) => boolean): number {
    let n = 0;
    for (const [path, e] of this.#map) {
      if (!pred(path)) continue;
      this.#remove(e);
      this.#wipeLater(e.value);
      n++;
    }
    return n;
  }

  /** The cached paths, least recently used first. */
  paths(): string[] {
    const out: string[] = [];
    for (let e = this.#oldest; e !== undefined; e = e.newer) out.push(e.path);
    return out;
  }

  /** Wipes and drops everything now (seal). */
  clear(): void {
    for (const e of this.#map.values()) this.#wipe(e.value);
    this.#map.clear();
    this.#oldest = this.#newest = undefined;
  }

  #remove(e: Entry<V>): void {
    this.#map.delete(e.path);
    this.#unlink(e);
  }

  #unlink(e: Entry<V>): void {
    if (e.older) e.older.newer = e.newer;
    else this.#oldest = e.newer;
    if (e.newer) e.newer.older = e.older;
    else this.#newest = e.older;
    e.older = e.newer = undefined;
  }

  #append(e: Entry<V>): void {
    e.older = this.#newest;
    if (this.#newest) this.#newest.newer = e;
    else this.#oldest = e;
    this.#newest = e;
  }

  #wipeLater(v: V): void {
    setImmediate(() => this.#wipe(v));
  }
}
