/**
 * Key material on this node (docs/architecture.md, keys at rest): a version's private material is
 * read from the barrier at `keys/<id>/v<N>` on first use and cached (MATERIAL_CACHE_MAX entries);
 * the expanded secret keys of seed-stored post-quantum keys are derived once and cached beside it
 * (EXPANDED_CACHE_MAX; engine/crypto/expanded.ts: an ML-DSA-65 signature no longer re-derives its
 * ~3 ms key schedule each time). Both caches (secret-cache.ts) are wiped on seal — best effort in JS.
 * Public keys are read from `key_versions` each time (they are not secret and rarely hot).
 * @module
 */
import { KeywardError } from '../../lib/errors.js';
import * as crypto from '../crypto/index.js';
import type { ExpandedKey } from '../crypto/index.js';
import { getEntry, getKeyVersion, liveKeyIds } from '../store/index.js';
import type { KeyRow } from '../store/index.js';
import {
  EXPANDED_CACHE_MAX,
  MATERIAL_CACHE_MAX,
  idOfPath,
  materialPath,
  materialPrefix,
  type KeyDeps,
} from './rules.js';
import { SecretCache } from './secret-cache.js';

export class KeyMaterial {
  readonly #d: KeyDeps;
  readonly #cache = new SecretCache<Uint8Array>(MATERIAL_CACHE_MAX, (v) => v.fill(0));
  readonly #expanded = new SecretCache<ExpandedKey>(EXPANDED_CACHE_MAX, crypto.wipeExpandedKey);
  /** Expansions under way, by path, so concurrent first uses share one. */
  readonly #expanding = new Map<string, Promise<ExpandedKey>>();
  /** Lookups of each cache that found the value, and that had to read (or derive) it: for metrics. */
  readonly stats = { material: { hits: 0, misses: 0 }, expanded: { hits: 0, misses: 0 } };

  constructor(deps: KeyDeps) {
    this.#d = deps;
    deps.seal.onSeal(() => this.wipe());
  }

  /** Cached entries (material and expanded keys), for tests and metrics. */
  get size(): number {
    return this.#cache.size + this.#expanded.size;
  }

  /** Wipes and drops everything now (seal). */
  wipe(): void {
    this.#cache.clear();
    this.#expanded.clear();
    this.#expanding.clear();
  }

  /** Drops (and wipes) this node's cached material of key `id`. */
  drop(id: string): void {
    const prefix = materialPrefix(id);
    this.#cache.dropWhere((p) => p.startsWith(prefix));
    this.#expanded.dropWhere((p) => p.startsWith(prefix));
  }

  /**
   * Drops cached material of keys that are no longer usable here: purged by another node, or
   * scheduled for deletion there. One query over the ids in the caches.
   */
  async dropStale(): Promise<void> {
    const ids = [...new Set([...this.#cache.paths(), ...this.#expanded.paths()].map(idOfPath))];
    if (ids.length === 0) return;
    const keep = new Set(await liveKeyIds(this.#d.db, ids));
    for (const id of ids) if (!keep.has(id)) this.drop(id);
  }

  /** The private material of `version` (shared and cached: use it synchronously, never wipe it). */
  async private(row: KeyRow, version: number): Promise<Uint8Array> {
    if (row.verifyOnly) throw new KeywardError('KEY_VERIFY_ONLY', `key "${row.name}" holds only a public key`);
    const { seal } = this.#d;
    const path = materialPath(row.id, version);
    const hit = this.#cache.get(path);
    if (hit) {
      this.stats.material.hits++;
      return hit;
    }
    this.stats.material.misses++;
    seal.keyring(); // SEALED first
    const blob = await getEntry(this.#d.db, path);
    if (!blob) throw new KeywardError('KEY_VERSION_NOT_FOUND', `key "${row.name}" has no version ${version}`);
    const material = await seal.barrier.decrypt(path, blob);
    // A concurrent miss may have cached it meanwhile: keep one copy.
    const raced = this.#cache.get(path);
    if (raced) {
      material.fill(0);
      return raced;
    }
    if (!seal.sealed) this.#cache.set(path, material);
    return material;
  }

  /**
   * The private key to operate with: for seed-stored post-quantum types the cached expanded form
   * (derived once, by the executor: on the pool when there is one), else the material itself. Use it
   * synchronously or hand it to the executor (the pool copies): cached values are wiped when evicted.
   */
  async working(row: KeyRow, version: number): Promise<Uint8Array | ExpandedKey> {
    const type = row.type;
    if (!crypto.isExpandable(type)) return this.private(row, version);
    const path = materialPath(row.id, version);
    const hit = this.#expanded.get(path);
    if (hit) {
      this.stats.expanded.hits++;
      return hit;
    }
    this.stats.expanded.misses++;
    let pending = this.#expanding.get(path);
    if (!pending) {
      pending = this.private(row, version)
        .then((seed) => this.#d.exec.run('expand', type, seed))
        .finally(() => this.#expanding.delete(path));
      this.#expanding.set(path, pending);
    }
    const k = await pending;
    const cached = this.#expanded.get(path);
    if (cached) {
      if (cached !== k) crypto.wipeExpandedKey(k);
      return cached;
    }
    if (this.#d.seal.sealed) {
      crypto.wipeExpandedKey(k);
      this.#d.seal.keyring(); // sealed while expanding: SEALED
    }
    this.#expanded.set(path, k);
    return k;
  }

  /** The public key of `version` (KEY_VERSION_NOT_FOUND when there is none). */
  async public(row: KeyRow, version: number): Promise<Uint8Array> {
    const v = await getKeyVersion(this.#d.db, row.name, version);
    if (!v?.publicKey)
      throw new KeywardError('KEY_VERSION_NOT_FOUND', `key "${row.name}" has no public key for version ${version}`);
    return v.publicKey;
  }
}
