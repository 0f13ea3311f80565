/**
 * Named, versioned keys over the crypto core (DESIGN.md §5): metadata in `keys`/`key_versions`,
 * private material under the barrier at `keys/<id>/v<version>`, decrypted only while unsealed and
 * cached in memory until seal (then wiped — best effort in JS).
 *
 * Rotation adds a version; encryption and signing use the latest; decryption and verification accept
 * versions from `minDecryptionVersion` to the latest. Ciphertexts and signatures name their version
 * (`kw:v<N>:`) and bind the key's random id, version and algorithm into the AEAD's associated data.
 * Slow asymmetric work (keygen, ML-DSA/SLH-DSA/RSA signing, RSA-OAEP decryption, KEM) runs on the
 * worker pool when one is given, so the event loop keeps answering.
 *
 * BYOK import (`import`) brings private material in wrapped under a server wrapping key
 * (wrapping.ts, engine/crypto/byok.ts) and creates a new key from it, as `create` does.
 *
 * Caches (secret-cache.ts), all per node, all wiped on seal: decrypted material by barrier path
 * (MATERIAL_CACHE_MAX entries), the expanded secret keys of seed-stored post-quantum keys
 * (EXPANDED_CACHE_MAX; engine/crypto/expanded.ts: an ML-DSA-65 signature no longer re-derives its
 * ~3 ms key schedule each time), and key rows for a second (KEY_ROW_CACHE_TTL_MS).
 *
 * Deletion: `scheduleDeletion` sets `deleteAfter` (the key refuses operations from then on);
 * `purgeExpired` removes keys whose window has passed — row, versions and barrier-stored material —
 * and `startPurger` runs it every PURGE_INTERVAL_MS. Purged keys answer KEY_NOT_FOUND.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { and, asc, eq, gt, inArray, isNull, lte } from 'drizzle-orm';
import { KeywardError } from '../../ceremony/errors.js';
import { fromBase64, toBase64 as b64 } from '../../ceremony/index.js';
import * as crypto from '../crypto/index.js';
import type { CryptoPool, ExpandedKey, KeyType, PublicKeyFormat, SignOptions, WrappingAlgorithm } from '../crypto/index.js';
import type { SealManager } from '../seal/index.js';
import type { Db } from '../store/index.js';
import { deleteEntry, getEntry, keyVersions, keys, listEntries, putEntry, writeTransaction } from '../store/index.js';
import type { CommitScope, KeyRow } from '../store/index.js';
import { SecretCache } from './secret-cache.js';
import { WrappingKeys, type PublishedWrappingKey } from './wrapping.js';

export const KEY_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
export const DELETION_RETENTION_DAYS = 7;
export const MAX_LIST_LIMIT = 1000;
/** How long a node uses a key row it read for operations. */
export const KEY_ROW_CACHE_TTL_MS = 1000;
export const KEY_ROW_CACHE_MAX = 10_000;
/** Decrypted key versions kept per node (each at most a few KiB: an RSA-4096 PKCS#8 is ~2.4 KiB). */
export const MATERIAL_CACHE_MAX = 4096;
/** Expanded post-quantum secret keys kept per node (at most 4.9 KiB each, ML-DSA-87). */
export const EXPANDED_CACHE_MAX = 1024;
/** How often `startPurger` sweeps for keys whose deletion window has passed. */
export const PURGE_INTERVAL_MS = 60_000;
/** Keys purged per sweep at most; the next sweep takes the rest. */
export const PURGE_BATCH = 100;

export interface KeyInfo {
  name: string;
  type: KeyType;
  exportable: boolean;
  verifyOnly: boolean;
  labels: Record<string, string>;
  latestVersion: number;
  minDecryptionVersion: number;
  deletionAllowed: boolean;
  deleteAfter: string | null;
  createdAt: string;
  versions: Array<{ version: number; createdAt: string; publicKey: string | null }>;
}

export function assertKeyName(name: string): void {
  if (!KEY_NAME_RE.test(name)) throw new KeywardError('VALIDATION_FAILED', `expected a key name of 1-128 characters [A-Za-z0-9._-], got "${name.slice(0, 80)}"`);
}

const materialPath = (id: string, version: number) => `keys/${id}/v${version}`;
const materialPrefix = (id: string) => `keys/${id}/`;
/** The key id in a material path (`keys/<id>/v<N>`). */
const idOfPath = (path: string) => path.slice(5, path.indexOf('/', 5));

/** Appends the audit record of a purge inside the purge's transaction. */
export type PurgeRecorder = (tx: Db, key: { name: string; id: string }) => Promise<void>;

export class KeyService {
  readonly #db: Db;
  readonly #seal: SealManager;
  readonly #pool: CryptoPool | undefined;
  readonly #now: () => Date;
  readonly #cache = new SecretCache<Uint8Array>(MATERIAL_CACHE_MAX, (v) => v.fill(0));
  readonly #expanded = new SecretCache<ExpandedKey>(EXPANDED_CACHE_MAX, crypto.wipeExpandedKey);
  /** Expansions under way, by path, so concurrent first uses share one. */
  readonly #expanding = new Map<string, Promise<ExpandedKey>>();
  #purger: { timer: NodeJS.Timeout; running: Promise<unknown> | undefined } | undefined;
  /** Key rows for operations, by name, with when they were read (see `usable`). */
  readonly #rows = new Map<string, { row: KeyRow; fetched: number }>();
  readonly #wrapping: WrappingKeys;
  readonly #recordPurge: PurgeRecorder | undefined;

  constructor(db: Db, seal: SealManager, opts: { pool?: CryptoPool; now?: () => Date; recordPurge?: PurgeRecorder } = {}) {
    this.#db = db;
    this.#recordPurge = opts.recordPurge;
    this.#seal = seal;
    this.#pool = opts.pool;
    this.#now = opts.now ?? (() => new Date());
    this.#wrapping = new WrappingKeys(db, seal, { pool: opts.pool });
    seal.onSeal(() => this.#wipeCache());
  }

  #wipeCache(): void {
    this.#cache.clear();
    this.#expanded.clear();
    this.#expanding.clear();
    this.#rows.clear();
  }

  /** Drops (and wipes) this node's cached material of key `id`. */
  #dropMaterial(id: string): void {
    const prefix = materialPrefix(id);
    this.#cache.dropWhere((p) => p.startsWith(prefix));
    this.#expanded.dropWhere((p) => p.startsWith(prefix));
  }

  /** Drops a key's cached row after this node changed it. */
  #forget(name: string): void {
    this.#rows.delete(name);
  }

  // ---------------------------------------------------------------------------------------------
  // Metadata

  /** The key row, or KEY_NOT_FOUND. */
  async row(name: string): Promise<KeyRow> {
    assertKeyName(name);
    const [row] = await this.#db.select().from(keys).where(eq(keys.name, name));
    if (!row) throw new KeywardError('KEY_NOT_FOUND', `no key named "${name}"`);
    return row;
  }

  /**
   * A row usable for operations: not scheduled for deletion. Rows are cached per node for
   * KEY_ROW_CACHE_TTL_MS (bench/api measured the row read at ~40% of an encrypt's engine time on
   * PGlite): this node's changes drop the entry at once; another node's rotation, configuration or
   * deletion is seen within the TTL, as the policy bindings and token caches are.
   */
  async usable(name: string): Promise<KeyRow> {
    const hit = this.#rows.get(name);
    let row: KeyRow;
    if (hit && performance.now() - hit.fetched < KEY_ROW_CACHE_TTL_MS) {
      row = hit.row;
    } else {
      row = await this.row(name);
      if (this.#rows.size >= KEY_ROW_CACHE_MAX) this.#rows.delete(this.#rows.keys().next().value!);
      this.#rows.set(name, { row, fetched: performance.now() });
    }
    if (row.deleteAfter) throw new KeywardError('KEY_PENDING_DELETION', `key "${name}" is scheduled for deletion at ${row.deleteAfter.toISOString()} and refuses operations`);
    return row;
  }

  async info(name: string): Promise<KeyInfo> {
    const row = await this.row(name);
    const versions = await this.#db.select().from(keyVersions).where(eq(keyVersions.keyName, name)).orderBy(asc(keyVersions.version));
    return {
      name: row.name,
      type: row.type as KeyType,
      exportable: row.exportable,
      verifyOnly: row.verifyOnly,
      labels: row.labels,
      latestVersion: row.latestVersion,
      minDecryptionVersion: row.minDecryptionVersion,
      deletionAllowed: row.deletionAllowed,
      deleteAfter: row.deleteAfter?.toISOString() ?? null,
      createdAt: row.createdAt.toISOString(),
      versions: versions.map((v) => ({ version: v.version, createdAt: v.createdAt.toISOString(), publicKey: v.publicKey ? b64(v.publicKey) : null })),
    };
  }

  /** Keys by name, `limit` at a time after `after` (keyset pagination). */
  async list(opts: { limit: number; after?: string | undefined }): Promise<{ keys: Array<{ name: string; type: string; latestVersion: number; labels: Record<string, string>; deleteAfter: string | null }>; next: string | null }> {
    const rows = await this.#db
      .select({ name: keys.name, type: keys.type, latestVersion: keys.latestVersion, labels: keys.labels, deleteAfter: keys.deleteAfter })
      .from(keys)
      .where(opts.after ? gt(keys.name, opts.after) : undefined)
      .orderBy(asc(keys.name))
      .limit(opts.limit + 1);
    const page = rows.slice(0, opts.limit);
    // deleteAfter: when a key scheduled for deletion is purged (null when it isn't scheduled).
    return { keys: page.map((k) => ({ ...k, deleteAfter: k.deleteAfter?.toISOString() ?? null })), next: rows.length > opts.limit ? page[page.length - 1]!.name : null };
  }

  async #generate(type: KeyType): Promise<crypto.KeyPair> {
    return this.#pool && crypto.isSlow(type, 'generateKey') ? this.#pool.generateKey(type) : crypto.generateKey(type);
  }

  /** Creates a key with version 1: generated, or verify/encapsulate-only from a public key. */
  async create(opts: { name: string; type: string; exportable?: boolean; labels?: Record<string, string>; publicKey?: string; by: string; commit?: CommitScope | undefined }): Promise<KeyInfo> {
    crypto.assertKeyType(opts.type);
    const type = opts.type;
    assertKeyName(opts.name);
    const id = 'key_' + randomBytes(12).toString('hex');
    let pair: crypto.KeyPair | undefined;
    let publicKey: Uint8Array | null;
    if (opts.publicKey !== undefined) {
      if (!crypto.keyTypeInfo(type).asymmetric) throw new KeywardError('KEY_TYPE_MISMATCH', `a ${type} key has no public half; omit publicKey`);
      publicKey = crypto.importPublicKey(type, opts.publicKey);
    } else {
      this.#seal.keyring(); // SEALED before doing any work
      pair = await this.#generate(type);
      publicKey = pair.public;
    }
    try {
      await this.#insert({ name: opts.name, type, id, exportable: opts.exportable, labels: opts.labels, by: opts.by, publicKey, privateKey: pair?.private, commit: opts.commit });
    } finally {
      pair?.private.fill(0);
    }
    this.#forget(opts.name);
    return this.info(opts.name);
  }

  /** Inserts a new key with version 1 (and its material under the barrier); KEY_EXISTS if the name is taken. */
  async #insert(k: { name: string; id: string; type: KeyType; exportable?: boolean | undefined; labels?: Record<string, string> | undefined; by: string; publicKey: Uint8Array | null; privateKey: Uint8Array | undefined; commit: CommitScope | undefined }): Promise<void> {
    await writeTransaction(this.#db, k.commit, async (tx) => {
      const inserted = await tx
        .insert(keys)
        .values({ name: k.name, id: k.id, type: k.type, exportable: k.exportable ?? false, verifyOnly: k.privateKey === undefined, labels: k.labels ?? {}, latestVersion: 1, createdBy: k.by })
        .onConflictDoNothing()
        .returning({ name: keys.name });
      if (inserted.length === 0) throw new KeywardError('KEY_EXISTS', `a key named "${k.name}" already exists`);
      await tx.insert(keyVersions).values({ keyName: k.name, version: 1, publicKey: k.publicKey });
      if (k.privateKey) await putEntry(tx, materialPath(k.id, 1), this.#seal.barrier.encrypt(materialPath(k.id, 1), k.privateKey));
    }, { type: k.type, version: 1, verifyOnly: k.privateKey === undefined });
  }

  // ---------------------------------------------------------------------------------------------
  // BYOK import

  /** The published wrapping key of `algorithm` (generated and stored under the barrier on first use). */
  wrappingKey(algorithm: WrappingAlgorithm): Promise<PublishedWrappingKey> {
    return this.#wrapping.publicKey(algorithm);
  }

  /**
   * Creates key `name` (version 1) from private material wrapped under the `algorithm` wrapping key
   * (engine/crypto/byok.ts gives the constructions and each type's material format). The material
   * is unwrapped, validated for `type` (PRIVATE_KEY_INVALID; node:crypto types pass a pairwise
   * consistency test), stored under the barrier and wiped. Fails with KEY_EXISTS if the name is
   * taken, WRAPPED_KEY_INVALID if the blob does not unwrap. Never logs or returns the material.
   */
  async import(opts: { name: string; type: string; algorithm: WrappingAlgorithm; wrappedKey: Uint8Array; exportable?: boolean | undefined; labels?: Record<string, string> | undefined; by: string; commit?: CommitScope | undefined }): Promise<KeyInfo> {
    crypto.assertKeyType(opts.type);
    const type = opts.type;
    assertKeyName(opts.name);
    this.#seal.keyring(); // SEALED before doing any work
    // Fail early (before any private-key operation) when the name is taken; the insert re-checks.
    const [taken] = await this.#db.select({ name: keys.name }).from(keys).where(eq(keys.name, opts.name));
    if (taken) throw new KeywardError('KEY_EXISTS', `a key named "${opts.name}" already exists`);
    const material = await this.#wrapping.unwrap(opts.algorithm, opts.wrappedKey);
    let pair: crypto.KeyPair;
    try {
      pair = crypto.importPrivateKey(type, material);
    } finally {
      material.fill(0);
    }
    try {
      await this.#insert({ name: opts.name, type, id: 'key_' + randomBytes(12).toString('hex'), exportable: opts.exportable, labels: opts.labels, by: opts.by, publicKey: pair.public, privateKey: pair.private, commit: opts.commit });
    } finally {
      pair.private.fill(0);
    }
    this.#forget(opts.name);
    return this.info(opts.name);
  }

  /** Adds a version and makes it the latest. */
  async rotate(name: string, commit?: CommitScope): Promise<KeyInfo> {
    const row = await this.usable(name);
    if (row.verifyOnly) throw new KeywardError('KEY_VERIFY_ONLY', `key "${name}" holds only a public key and cannot be rotated`);
    this.#seal.keyring();
    const pair = await this.#generate(row.type as KeyType);
    try {
      await writeTransaction(
        this.#db,
        commit,
        async (tx) => {
          const [locked] = await tx.select().from(keys).where(eq(keys.name, name)).for('update');
          if (!locked) throw new KeywardError('KEY_NOT_FOUND', `no key named "${name}"`);
          const version = locked.latestVersion + 1;
          await putEntry(tx, materialPath(locked.id, version), this.#seal.barrier.encrypt(materialPath(locked.id, version), pair.private));
          await tx.insert(keyVersions).values({ keyName: name, version, publicKey: pair.public });
          await tx.update(keys).set({ latestVersion: version, updatedAt: this.#now() }).where(eq(keys.name, name));
          return version;
        },
        (version) => ({ version }),
      );
    } finally {
      pair.private.fill(0);
    }
    this.#forget(name);
    return this.info(name);
  }

  async configure(name: string, cfg: { minDecryptionVersion?: number | undefined; deletionAllowed?: boolean | undefined }, commit?: CommitScope): Promise<KeyInfo> {
    const row = await this.row(name);
    if (cfg.minDecryptionVersion !== undefined && (cfg.minDecryptionVersion < 1 || cfg.minDecryptionVersion > row.latestVersion)) {
      throw new KeywardError('VALIDATION_FAILED', `minDecryptionVersion: expected 1 to ${row.latestVersion} (the latest version), got ${cfg.minDecryptionVersion}`);
    }
    const set = { ...(cfg.minDecryptionVersion !== undefined ? { minDecryptionVersion: cfg.minDecryptionVersion } : {}), ...(cfg.deletionAllowed !== undefined ? { deletionAllowed: cfg.deletionAllowed } : {}) };
    await writeTransaction(this.#db, commit, (tx) => tx.update(keys).set({ ...set, updatedAt: this.#now() }).where(eq(keys.name, name)), set);
    this.#forget(name);
    return this.info(name);
  }

  /** Schedules deletion after a retention window; the key refuses operations from now on. */
  /** KEY_DELETION_NOT_ALLOWED unless the key allows deletion (also the route's check before parking). */
  static assertDeletionAllowed(row: Pick<KeyRow, 'name' | 'deletionAllowed'>): void {
    if (!row.deletionAllowed) {
      throw new KeywardError('KEY_DELETION_NOT_ALLOWED', `key "${row.name}" does not allow deletion; set deletionAllowed with POST /v1/keys/${row.name}/config first`);
    }
  }

  async scheduleDeletion(name: string, commit?: CommitScope): Promise<KeyInfo> {
    const row = await this.row(name);
    KeyService.assertDeletionAllowed(row);
    if (!row.deleteAfter) {
      const at = new Date(this.#now().getTime() + DELETION_RETENTION_DAYS * 86_400_000);
      await writeTransaction(this.#db, commit, (tx) => tx.update(keys).set({ deleteAfter: at, updatedAt: this.#now() }).where(eq(keys.name, name)), { deleteAfter: at.toISOString() });
    }
    this.#forget(name);
    this.#dropMaterial(row.id); // it refuses operations now: its secrets need not stay in memory
    return this.info(name);
  }

  /**
   * Purges every key whose deletion window has passed (`deleteAfter` ≤ `now`), at most PURGE_BATCH
   * per call: its row, its versions (cascade) and its material under the barrier, one transaction
   * per key, then this node's caches of it. Several nodes may sweep at once: the delete re-checks
   * the window and the key's random id, so each key is purged once and a key re-created under the
   * same name is never touched. Returns the names purged. SEALED while sealed.
   */
  async purgeExpired(now: Date = this.#now()): Promise<string[]> {
    this.#seal.keyring(); // SEALED first, as every keyed operation
    const due = await this.#db
      .select({ name: keys.name, id: keys.id })
      .from(keys)
      .where(lte(keys.deleteAfter, now))
      .orderBy(asc(keys.deleteAfter))
      .limit(PURGE_BATCH);
    const purged: string[] = [];
    for (const k of due) {
      const gone = await this.#db.transaction(async (tx) => {
        const [row] = await tx
          .delete(keys)
          .where(and(eq(keys.name, k.name), eq(keys.id, k.id), lte(keys.deleteAfter, now)))
          .returning({ id: keys.id });
        if (!row) return false; // another node purged it, or it was re-created meanwhile
        for (const path of await listEntries(tx, materialPrefix(k.id))) await deleteEntry(tx, path);
        // The purge and its audit record commit together.
        await this.#recordPurge?.(tx, { name: k.name, id: k.id });
        return true;
      });
      this.#forget(k.name);
      this.#dropMaterial(k.id);
      if (gone) purged.push(k.name);
    }
    await this.#dropStale();
    return purged;
  }

  /**
   * Drops cached material of keys that are no longer usable here: purged by another node, or
   * scheduled for deletion there. One query over the ids in the caches.
   */
  async #dropStale(): Promise<void> {
    const ids = [...new Set([...this.#cache.paths(), ...this.#expanded.paths()].map(idOfPath))];
    if (ids.length === 0) return;
    const live = await this.#db
      .select({ id: keys.id })
      .from(keys)
      .where(and(inArray(keys.id, ids), isNull(keys.deleteAfter)));
    const keep = new Set(live.map((r) => r.id));
    for (const id of ids) if (!keep.has(id)) this.#dropMaterial(id);
  }

  /**
   * Runs `purgeExpired` every `intervalMs` (default PURGE_INTERVAL_MS) while unsealed, one sweep at
   * a time, on a timer that does not keep the process alive. Errors go to `onError` (the sweep is
   * retried at the next tick). Idempotent.
   */
  startPurger(opts: { intervalMs?: number | undefined; onError?: ((err: unknown) => void) | undefined } = {}): void {
    if (this.#purger) return;
    const intervalMs = opts.intervalMs ?? PURGE_INTERVAL_MS;
    if (!Number.isSafeInteger(intervalMs) || intervalMs < 1) throw new RangeError(`"intervalMs" expected a positive integer, got ${String(intervalMs)}`);
    const purger: { timer: NodeJS.Timeout; running: Promise<unknown> | undefined } = {
      timer: setInterval(() => {
        if (purger.running || this.#seal.sealed || !this.#seal.initialized) return;
        purger.running = this.purgeExpired()
          .catch((err) => opts.onError?.(err))
          .finally(() => (purger.running = undefined));
      }, intervalMs),
      running: undefined,
    };
    purger.timer.unref();
    this.#purger = purger;
  }

  /** Stops the purger and waits for a sweep in progress (call before closing the store). */
  async stopPurger(): Promise<void> {
    const purger = this.#purger;
    this.#purger = undefined;
    if (!purger) return;
    clearInterval(purger.timer);
    await purger.running;
  }

  // ---------------------------------------------------------------------------------------------
  // Material

  async #private(row: KeyRow, version: number): Promise<Uint8Array> {
    if (row.verifyOnly) throw new KeywardError('KEY_VERIFY_ONLY', `key "${row.name}" holds only a public key`);
    const path = materialPath(row.id, version);
    const hit = this.#cache.get(path);
    if (hit) return hit;
    this.#seal.keyring(); // SEALED first
    const blob = await getEntry(this.#db, path);
    if (!blob) throw new KeywardError('KEY_VERSION_NOT_FOUND', `key "${row.name}" has no version ${version}`);
    const material = await this.#seal.barrier.decrypt(path, blob);
    // A concurrent miss may have cached it meanwhile: keep one copy.
    const raced = this.#cache.get(path);
    if (raced) {
      material.fill(0);
      return raced;
    }
    if (!this.#seal.sealed) this.#cache.set(path, material);
    return material;
  }

  /**
   * The private key to operate with: for seed-stored post-quantum types the cached expanded form
   * (derived once, on the pool when there is one), else the material itself. Use it synchronously
   * or hand it to the pool (which copies): cached values are wiped when evicted (secret-cache.ts).
   */
  async #workingKey(row: KeyRow, version: number): Promise<Uint8Array | ExpandedKey> {
    const type = row.type as KeyType;
    if (!crypto.isExpandable(type)) return this.#private(row, version);
    const path = materialPath(row.id, version);
    const hit = this.#expanded.get(path);
    if (hit) return hit;
    let pending = this.#expanding.get(path);
    if (!pending) {
      pending = this.#private(row, version)
        .then((seed) => (this.#pool ? this.#pool.expand(type, seed) : crypto.expandPrivateKey(type, seed)))
        .finally(() => this.#expanding.delete(path));
      this.#expanding.set(path, pending);
    }
    const k = await pending;
    const cached = this.#expanded.get(path);
    if (cached) {
      if (cached !== k) crypto.wipeExpandedKey(k);
      return cached;
    }
    if (this.#seal.sealed) {
      crypto.wipeExpandedKey(k);
      this.#seal.keyring(); // sealed while expanding: SEALED
    }
    this.#expanded.set(path, k);
    return k;
  }

  async #public(row: KeyRow, version: number): Promise<Uint8Array> {
    const [v] = await this.#db.select().from(keyVersions).where(and(eq(keyVersions.keyName, row.name), eq(keyVersions.version, version)));
    if (!v?.publicKey) throw new KeywardError('KEY_VERSION_NOT_FOUND', `key "${row.name}" has no public key for version ${version}`);
    return v.publicKey;
  }

  /** Checks a version named by a ciphertext or signature against the key's window. */
  #readable(row: KeyRow, version: number): void {
    if (version < row.minDecryptionVersion || version > row.latestVersion) {
      throw new KeywardError('KEY_VERSION_DISABLED', `key "${row.name}" accepts versions ${row.minDecryptionVersion} to ${row.latestVersion}; this names version ${version}`);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Operations (bytes in, bytes out; routes do base64)

  async encrypt(row: KeyRow, plaintext: Uint8Array, aad?: Uint8Array): Promise<{ ciphertext: string; keyVersion: number }> {
    crypto.assertSupports(row.type as KeyType, 'encrypt');
    const key = await this.#private(row, row.latestVersion);
    return { ciphertext: crypto.encrypt({ type: row.type as KeyType, key, keyId: row.id, version: row.latestVersion, plaintext, aad }), keyVersion: row.latestVersion };
  }

  /** Ciphertext version for policy input (syntax only); decryption failures stay generic. */
  static versionOf(text: string): number | undefined {
    try {
      return crypto.parseVersioned(text, 'ciphertext', 'CIPHERTEXT_INVALID').version;
    } catch {
      return undefined;
    }
  }

  /**
   * Decrypts. AEAD keys: a `kw:v<N>:` ciphertext (it names its version; `keyVersion` is refused).
   * RSA keys: RSA-OAEP-SHA-256 (engine/crypto/oaep.ts), the ciphertext as raw base64 of the modulus-
   * sized value (what a client's publicEncrypt gives) for version `keyVersion` (default: the latest),
   * or the same bytes as `kw:v<N>:<base64>`; `aad` is the OAEP label. Every decryption failure is the
   * one generic DECRYPTION_FAILED.
   */
  async decrypt(row: KeyRow, ciphertext: string, aad?: Uint8Array, keyVersion?: number): Promise<Uint8Array> {
    const type = row.type as KeyType;
    crypto.assertSupports(type, 'decrypt');
    if (crypto.keyTypeInfo(type).family !== 'aead') return this.#decryptOaep(row, ciphertext, aad, keyVersion);
    if (keyVersion !== undefined) throw new KeywardError('OPTION_UNSUPPORTED', `keyVersion: ${type} ciphertexts name their version (kw:v<N>:); omit keyVersion`);
    const version = KeyService.versionOf(ciphertext);
    if (version === undefined || version < 1 || version > row.latestVersion) throw new KeywardError('DECRYPTION_FAILED', 'decryption failed');
    this.#readable(row, version);
    const key = await this.#private(row, version);
    return crypto.decrypt({ type: row.type as KeyType, key, keyId: row.id, ciphertext, aad });
  }

  async #decryptOaep(row: KeyRow, ciphertext: string, label: Uint8Array | undefined, keyVersion: number | undefined): Promise<Uint8Array> {
    const type = row.type as KeyType;
    const failed = () => new KeywardError('DECRYPTION_FAILED', 'decryption failed');
    let version = keyVersion ?? row.latestVersion;
    let body: Uint8Array;
    if (ciphertext.startsWith('kw:')) {
      let parsed: { version: number; body: Uint8Array };
      try {
        parsed = crypto.parseVersioned(ciphertext, 'ciphertext', 'CIPHERTEXT_INVALID');
      } catch {
        throw failed();
      }
      if (keyVersion !== undefined && keyVersion !== parsed.version) {
        throw new KeywardError('OPTION_INVALID', `keyVersion: the ciphertext names version ${parsed.version}, the request ${keyVersion}; give one or make them agree`);
      }
      if (parsed.version > row.latestVersion) throw failed();
      ({ version, body } = parsed);
    } else {
      try {
        body = fromBase64(ciphertext, 'ciphertext', crypto.oaepCiphertextLength(type), 'DECRYPTION_FAILED');
      } catch {
        throw failed();
      }
    }
    this.#readable(row, version);
    const priv = await this.#private(row, version);
    return this.#pool && crypto.isSlow(type, 'decrypt') ? this.#pool.decrypt(type, priv, body, label) : crypto.oaepDecrypt(type, priv, body, label);
  }

  async rewrap(row: KeyRow, ciphertext: string, aad?: Uint8Array): Promise<{ ciphertext: string; keyVersion: number }> {
    crypto.assertSupports(row.type as KeyType, 'rewrap');
    const plaintext = await this.decrypt(row, ciphertext, aad);
    try {
      return await this.encrypt(row, plaintext, aad);
    } finally {
      plaintext.fill(0);
    }
  }

  async datakey(row: KeyRow, bytes: number | undefined, aad?: Uint8Array): Promise<{ plaintext: Uint8Array; ciphertext: string; keyVersion: number }> {
    crypto.assertSupports(row.type as KeyType, 'datakey');
    const key = await this.#private(row, row.latestVersion);
    return { ...crypto.datakey({ type: row.type as KeyType, key, keyId: row.id, version: row.latestVersion, bytes, aad }), keyVersion: row.latestVersion };
  }

  async sign(row: KeyRow, message: Uint8Array, opts: SignOptions): Promise<{ signature: string; keyVersion: number }> {
    const type = row.type as KeyType;
    crypto.assertSupports(type, 'sign');
    const priv = await this.#workingKey(row, row.latestVersion);
    // The pool copies its arguments and transfers the copies (the worker wipes its key copy).
    const sig = this.#pool && crypto.isSlow(type, 'sign') ? await this.#pool.sign(type, priv, message, opts) : crypto.sign(type, priv, message, opts);
    return { signature: crypto.formatSignature(row.latestVersion, sig), keyVersion: row.latestVersion };
  }

  /** False for any bad signature (malformed, truncated, wrong key, disabled version); never throws for one. */
  async verify(row: KeyRow, message: Uint8Array, signature: string, opts: SignOptions): Promise<boolean> {
    const type = row.type as KeyType;
    // Options first: a wrong option is the request's error whatever the signature looks like.
    crypto.assertSignOptions(type, message, opts);
    let parsed: { version: number; signature: Uint8Array };
    try {
      parsed = crypto.parseSignature(signature);
    } catch {
      return false;
    }
    if (parsed.version < row.minDecryptionVersion || parsed.version > row.latestVersion) return false;
    const pub = await this.#public(row, parsed.version);
    return this.#pool && crypto.isSlow(type, 'verify') ? this.#pool.verify(type, pub.slice(), message.slice(), parsed.signature, opts) : crypto.verify(type, pub, message, parsed.signature, opts);
  }

  async hmac(row: KeyRow, message: Uint8Array): Promise<{ hmac: string; keyVersion: number }> {
    crypto.assertSupports(row.type as KeyType, 'hmac');
    const key = await this.#private(row, row.latestVersion);
    return { hmac: crypto.formatVersioned(row.latestVersion, crypto.hmac(key, message)), keyVersion: row.latestVersion };
  }

  async encapsulate(row: KeyRow): Promise<{ ciphertext: Uint8Array; sharedSecret: Uint8Array; keyVersion: number }> {
    const type = row.type as KeyType;
    crypto.assertSupports(type, 'encapsulate');
    const pub = await this.#public(row, row.latestVersion);
    const enc = this.#pool && crypto.isSlow(type, 'encapsulate') ? await this.#pool.encapsulate(type, pub.slice()) : crypto.encapsulate(type, pub);
    return { ...enc, keyVersion: row.latestVersion };
  }

  async decapsulate(row: KeyRow, ciphertext: Uint8Array, version = row.latestVersion): Promise<Uint8Array> {
    const type = row.type as KeyType;
    crypto.assertSupports(type, 'decapsulate');
    this.#readable(row, version);
    const priv = await this.#workingKey(row, version);
    return this.#pool && crypto.isSlow(type, 'decapsulate') ? this.#pool.decapsulate(type, priv, ciphertext) : crypto.decapsulate(type, priv, ciphertext);
  }

  async publicKey(row: KeyRow, format: PublicKeyFormat, version = row.latestVersion) {
    if (!crypto.keyTypeInfo(row.type as KeyType).asymmetric) throw new KeywardError('KEY_TYPE_MISMATCH', `a ${row.type} key has no public key`);
    return { ...crypto.exportPublicKey(row.type as KeyType, await this.#public(row, version), format), keyVersion: version };
  }
}
