/**
 * An in-memory cache of loaded policies, by SHA-256 (hex) of their module bytes, bounded with
 * least-recently-used eviction. Loading the same bytes twice (even concurrently) loads once.
 * Persistence and activation live with the store; this only saves re-validating and re-compiling.
 * @module
 */
import { createHash } from 'node:crypto';
import { loadPolicy } from './host.js';
import type { LoadedPolicy, MeteredPolicy } from './host.js';

/** Default bound of a registry, in policies. */
export const POLICY_REGISTRY_DEFAULT_SIZE = 64;

export class PolicyRegistry {
  readonly maxEntries: number;
  readonly #entries = new Map<string, LoadedPolicy>();
  readonly #loading = new Map<string, Promise<LoadedPolicy>>();
  readonly #prebuilt: ((sha256: string) => Promise<MeteredPolicy | undefined>) | undefined;

  /**
   * `prebuilt` looks up a module's metering made earlier by trusted code (the build's, for the
   * bundled policies), so loading it needs no binaryen; see `loadPolicy`.
   */
  constructor(
    options: { maxEntries?: number; prebuilt?: (sha256: string) => Promise<MeteredPolicy | undefined> } = {},
  ) {
    this.#prebuilt = options.prebuilt;
    const max = options.maxEntries ?? POLICY_REGISTRY_DEFAULT_SIZE;
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`"maxEntries" expected a positive integer, got ${max}`);
    this.maxEntries = max;
  }

  /**
   * Loads (validates, meters, compiles) a module, or returns the cached one with the same hash.
   * @throws {@link KeywardError} `POLICY_INVALID` from validation.
   */
  async load(wasm: Uint8Array): Promise<{ sha256: string; policy: LoadedPolicy }> {
    if (!(wasm instanceof Uint8Array)) throw new TypeError(`"wasm" expected Uint8Array, got ${typeof wasm}`);
    const sha256 = createHash('sha256').update(wasm).digest('hex');
    const cached = this.get(sha256);
    if (cached) return { sha256, policy: cached };
    let pending = this.#loading.get(sha256);
    if (!pending) {
      const lookup = this.#prebuilt;
      pending = lookup ? lookup(sha256).then((m) => loadPolicy(wasm, m)) : loadPolicy(wasm);
      this.#loading.set(sha256, pending);
    }
    try {
      const policy = await pending;
      this.#put(sha256, policy);
      return { sha256, policy };
    } finally {
      this.#loading.delete(sha256);
    }
  }

  /** The loaded policy with this hash, if cached (and marks it recently used). */
  get(sha256: string): LoadedPolicy | undefined {
    const policy = this.#entries.get(sha256);
    if (policy) {
      this.#entries.delete(sha256);
      this.#entries.set(sha256, policy);
    }
    return policy;
  }

  has(sha256: string): boolean {
    return this.#entries.has(sha256);
  }

  delete(sha256: string): boolean {
    return this.#entries.delete(sha256);
  }

  clear(): void {
    this.#entries.clear();
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Hashes of the cached policies, least recently used first. */
  hashes(): string[] {
    return [...this.#entries.keys()];
  }

  #put(sha256: string, policy: LoadedPolicy): void {
    this.#entries.delete(sha256);
    this.#entries.set(sha256, policy);
    while (this.#entries.size > this.maxEntries) {
      const oldest = this.#entries.keys().next().value as string;
      this.#entries.delete(oldest);
    }
  }
}
