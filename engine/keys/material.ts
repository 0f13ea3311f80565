/**
 * Key material on this node (docs/architecture.md, keys at rest): a version's private material is
 * read from the barrier at `keys/<id>/v<N>` on first use and cached (MATERIAL_CACHE_MAX entries);
 * its working form is derived once and cached beside it: the expanded secret keys of seed-stored
 * post-quantum keys (EXPANDED_CACHE_MAX; engine/crypto/expanded.ts: an ML-DSA-65 signature no longer
 * re-derives its ~3 ms key schedule each time) and the parsed node:crypto KeyObjects of Ed25519,
 * ECDSA and RSA keys (PARSED_CACHE_MAX; engine/crypto/sign.ts `parsePrivateKey`: parsing the PKCS#8
 * took about as long as an Ed25519 signature). Every cache (secret-cache.ts) is wiped on seal and on
 * eviction — best effort in JS; a KeyObject cannot be zeroized from JS and is dropped instead
 * (OpenSSL clears the key when it frees it). Public keys are read from `key_versions` on first use
 * and kept too (PUBLIC_CACHE_MAX; not secret, and a version's public key never changes: reading it
 * cost a verification more than the ML-DSA check itself), dropped with the key's other entries.
 * @module
 */
import type { KeyObject } from 'node:crypto';
import { KeywardError } from '../../lib/errors.js';
import * as crypto from '../crypto/index.js';
import type { ExpandedKey, WorkingKey } from '../crypto/index.js';
import { getEntry, getKeyVersion, liveKeyIds } from '../store/index.js';
import type { KeyRow } from '../store/index.js';
import {
  EXPANDED_CACHE_MAX,
  MATERIAL_CACHE_MAX,
  PARSED_CACHE_MAX,
  PUBLIC_CACHE_MAX,
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
  /** No wipe: a KeyObject cannot be zeroized from JS; dropping the last reference lets OpenSSL clear it. */
  readonly #parsed = new SecretCache<KeyObject>(PARSED_CACHE_MAX, () => undefined);
  /** Public keys: not secret, never wiped, only dropped (SecretCache for its bound and LRU order). */
  readonly #public = new SecretCache<Uint8Array>(PUBLIC_CACHE_MAX, () => undefined);
  /** Expansions under way, by path, so concurrent first uses share one. */
  readonly #expanding = new Map<string, Promise<ExpandedKey>>();
  /** Lookups of each cache that found the value, and that had to read (or derive) it: for metrics. */
  readonly stats = { material: { hits: 0, misses: 0 }, expanded: { hits: 0, misses: 0 } };

  constructor(deps: KeyDeps) {
    this.#d = deps;
    deps.seal.onSeal(() => this.wipe());
  }

  /** Cached entries (material, expanded keys and parsed keys), for tests and metrics. */
  get size(): number {
    return this.#cache.size + this.#expanded.size + this.#parsed.size;
  }

  /** Wipes and drops everything now (seal). */
  wipe(): void {
    this.#cache.clear();
    this.#expanded.clear();
    this.#parsed.clear();
    this.#public.clear();
    this.#expanding.clear();
  }

  /** Drops (and wipes) this node's cached material of key `id`. */
  drop(id: string): void {
    const prefix = materialPrefix(id);
    this.#cache.dropWhere((p) => p.startsWith(prefix));
    this.#expanded.dropWhere((p) => p.startsWith(prefix));
    this.#parsed.dropWhere((p) => p.startsWith(prefix));
    this.#public.dropWhere((p) => p.startsWith(prefix));
  }

  /**
   * Drops cached material of keys that are no longer usable here: purged by another node, or
   * scheduled for deletion there. One query over the ids in the caches.
   */
  async dropStale(): Promise<void> {
    const paths = [...this.#cache.paths(), ...this.#expanded.paths(), ...this.#parsed.paths(), ...this.#public.paths()];
    const ids = [...new Set(paths.map(idOfPath))];
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
    // Sealed while it was read: the key must not outlive the seal, nor an operation start after it.
    if (seal.sealed) {
      material.fill(0);
      seal.keyring(); // throws SEALED
    }
    this.#cache.set(path, material);
    return material;
  }

  /**
   * The private key to operate with: for seed-stored post-quantum types the cached expanded form
   * (derived once, by the executor: on the pool when there is one), for Ed25519, ECDSA and RSA the
   * cached parsed KeyObject, else the material itself. Use it synchronously or hand it to the
   * executor (the pool copies): cached values are wiped when evicted.
   */
  async working(row: KeyRow, version: number): Promise<WorkingKey> {
    const type = row.type;
    if (crypto.hasParsedForm(type)) return this.#parsedKey(row, version);
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

  /**
   * `private`'s answer when it is cached, without I/O or a promise (an AEAD encrypt or decrypt asks
   * this first, as signing asks {@link workingNow}); undefined when `private` must read it, or
   * answer its error (a verify-only key).
   */
  privateNow(row: KeyRow, version: number): Uint8Array | undefined {
    if (row.verifyOnly) return undefined;
    const hit = this.#cache.get(materialPath(row.id, version));
    if (hit) this.stats.material.hits++;
    return hit;
  }

  /**
   * `working`'s answer when it is cached, without I/O or a promise (the key service's signing asks
   * this first: a signature takes ~25 µs, and the promise turns of `working` were a few percent of
   * it); undefined when `working` must read or derive it. Verify-only keys have none.
   */
  workingNow(row: KeyRow, version: number): WorkingKey | undefined {
    if (row.verifyOnly) return undefined;
    const type = row.type;
    const path = materialPath(row.id, version);
    if (crypto.hasParsedForm(type)) return this.#parsed.get(path);
    if (!crypto.isExpandable(type)) {
      const material = this.#cache.get(path);
      if (material) this.stats.material.hits++;
      return material;
    }
    const hit = this.#expanded.get(path);
    if (hit) this.stats.expanded.hits++;
    return hit;
  }

  /** The cached KeyObject of an Ed25519, ECDSA or RSA version (parsed in a few microseconds: inline). */
  async #parsedKey(row: KeyRow, version: number): Promise<KeyObject> {
    const path = materialPath(row.id, version);
    const hit = this.#parsed.get(path);
    if (hit) return hit;
    const key = crypto.parsePrivateKey(row.type, await this.private(row, version));
    // Sealed while reading: cache nothing and answer SEALED, as `private` does.
    if (this.#d.seal.sealed) this.#d.seal.keyring();
    this.#parsed.set(path, key);
    return key;
  }

  /** The public key of `version` (KEY_VERSION_NOT_FOUND when there is none). Shared: never modify it. */
  async public(row: KeyRow, version: number): Promise<Uint8Array> {
    const path = materialPath(row.id, version);
    const hit = this.#public.get(path);
    if (hit) return hit;
    const v = await getKeyVersion(this.#d.db, row.name, version);
    if (!v?.publicKey)
      throw new KeywardError('KEY_VERSION_NOT_FOUND', `key "${row.name}" has no public key for version ${version}`);
    this.#public.set(path, v.publicKey);
    return v.publicKey;
  }
}
