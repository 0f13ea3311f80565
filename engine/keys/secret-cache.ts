/**
 * A bounded in-memory cache of secrets (decrypted key material, expanded keys) by barrier path,
 * least recently used first out. Every value leaves through `wipe`: at once on `clear()` (seal),
 * and one macrotask later when evicted or dropped, because a caller may hold a value it got from
 * `get` while other requests' microtasks run (the key service uses a value synchronously once it
 * has it, or copies it for the worker pool). Zeroization in JS is best effort: the engine may have
 * copied the bytes elsewhere.
 * @module
 */
export class SecretCache<V> {
  readonly max: number;
  readonly #wipe: (v: V) => void;
  readonly #map = new Map<string, V>();

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
    const v = this.#map.get(path);
    if (v !== undefined) {
      this.#map.delete(path);
      this.#map.set(path, v);
    }
    return v;
  }

  has(path: string): boolean {
    return this.#map.has(path);
  }

  /** Stores `v` at `path` (replacing and wiping an older value), evicting the least recently used beyond `max`. */
  set(path: string, v: V): void {
    const old = this.#map.get(path);
    this.#map.delete(path);
    this.#map.set(path, v);
    if (old !== undefined && old !== v) this.#wipeLater(old);
    while (this.#map.size > this.max) {
      const [oldest, value] = this.#map.entries().next().value as [string, V];
      this.#map.delete(oldest);
      this.#wipeLater(value);
    }
  }

  /** Drops (and wipes) every entry whose path satisfies `pred`. */
  dropWhere(pred: (path: string) => boolean): number {
    let n = 0;
    for (const [path, v] of this.#map) {
      if (!pred(path)) continue;
      this.#map.delete(path);
      this.#wipeLater(v);
      n++;
    }
    return n;
  }

  /** The cached paths, least recently used first. */
  paths(): string[] {
    return [...this.#map.keys()];
  }

  /** Wipes and drops everything now (seal). */
  clear(): void {
    for (const v of this.#map.values()) this.#wipe(v);
    this.#map.clear();
  }

  #wipeLater(v: V): void {
    setImmediate(() => this.#wipe(v));
  }
}
