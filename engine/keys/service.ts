/**
 * Named, versioned keys over the crypto core (DESIGN.md §5): metadata in `keys`/`key_versions`,
 * private material under the barrier at `keys/<id>/v<version>`, decrypted only while unsealed and
 * cached in memory until seal (then wiped — best effort in JS).
 *
 * Rotation adds a version; encryption and signing use the latest; decryption and verification accept
 * versions from `minDecryptionVersion` to the latest. Ciphertexts and signatures name their version
 * (`kw:v<N>:`) and bind the key's random id, version and algorithm into the AEAD's associated data.
 * Decrypt, rewrap and verify take either that text or the raw body as standard base64 (what other
 * signers and encrypters produce) for `keyVersion`, by default the latest; anything else is a
 * CIPHERTEXT_FORMAT / SIGNATURE_FORMAT request error, never a silent failure (`#operand`).
 *
 * ECDSA verification accepts both (r, s) and (r, n−s), as FIPS 186-5 does; a key created, imported
 * or configured with `requireLowS` rejects high-S signatures (engine/crypto/sign.ts).
 * Slow asymmetric work (keygen, ML-DSA/SLH-DSA/RSA signing, RSA-OAEP decryption, KEM) runs on the
 * worker pool when one is given, so the event loop keeps answering.
 *
 * BYOK import (`import`) brings private material in wrapped under a server wrapping key
 * (wrapping.ts, engine/crypto/byok.ts) and creates a new key from it, as `create` does. Export
 * (`export`) is its mirror: one version of an `exportable` key's material, wrapped to a caller's
 * public key with the same constructions, never in the clear (`assertExportable` says beforehand
 * whether an export can run, so the pipeline refuses before asking approvers).
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
import { KeywardError } from '../../lib/errors.js';
import { toBase64 as b64 } from '../../lib/bytes.js';
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
  /** ECDSA: verification rejects high-S signatures (always false for other types). */
  requireLowS: boolean;
  deleteAfter: string | null;
  createdAt: string;
  versions: Array<{ version: number; createdAt: string; publicKey: string | null }>;
}

/** `requireLowS` is an ECDSA verification rule: refused (when true) for every other type. */
function assertRequireLowS(type: KeyType, requireLowS: boolean | undefined): void {
  if (requireLowS && type !== 'ecdsa-p256' && type !== 'ecdsa-p384') throw new KeywardError('OPTION_UNSUPPORTED', `requireLowS: ${type} keys do not support it (ecdsa-p256 and ecdsa-p384 only)`);
}

export function assertKeyName(name: string): void {
  if (!KEY_NAME_RE.test(name)) throw new KeywardError('VALIDATION_FAILED', `expected a key name of 1-128 characters [A-Za-z0-9._-], got "${name.slice(0, 80)}"`);
}

/** A key's random id (bound into its AEAD ciphertexts): `key_` and 24 hex characters. */
export const KEY_ID_RE = /^key_[0-9a-f]{24}$/;
const newKeyId = () => 'key_' + randomBytes(12).toString('hex');

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
      requireLowS: row.requireLowS,
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
  async create(opts: { name: string; type: string; exportable?: boolean; labels?: Record<string, string>; publicKey?: string; requireLowS?: boolean | undefined; by: string; commit?: CommitScope | undefined }): Promise<KeyInfo> {
    crypto.assertKeyType(opts.type);
    const type = opts.type;
    assertKeyName(opts.name);
    assertRequireLowS(type, opts.requireLowS);
    const id = newKeyId();
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
      await this.#insert({ name: opts.name, type, id, exportable: opts.exportable, labels: opts.labels, requireLowS: opts.requireLowS, by: opts.by, publicKey, privateKey: pair?.private, commit: opts.commit });
    } finally {
      pair?.private.fill(0);
    }
    this.#forget(opts.name);
    return this.info(opts.name);
  }

  /**
   * Inserts a new key whose first (and only) version is `version` (default 1; an import that keeps
   * its source's identity starts at the source's version, which is then also the minimum decryption
   * version), with its material under the barrier. KEY_EXISTS if the name (or the id) is taken.
   */
  async #insert(k: { name: string; id: string; type: KeyType; exportable?: boolean | undefined; labels?: Record<string, string> | undefined; requireLowS?: boolean | undefined; by: string; publicKey: Uint8Array | null; privateKey: Uint8Array | undefined; commit: CommitScope | undefined; version?: number | undefined }): Promise<void> {
    const version = k.version ?? 1;
    await writeTransaction(this.#db, k.commit, async (tx) => {
      // No conflict target: a taken name and a taken id (an import keeping its id) both land here.
      const inserted = await tx
        .insert(keys)
        .values({ name: k.name, id: k.id, type: k.type, exportable: k.exportable ?? false, verifyOnly: k.privateKey === undefined, labels: k.labels ?? {}, requireLowS: k.requireLowS ?? false, latestVersion: version, minDecryptionVersion: version, createdBy: k.by })
        .onConflictDoNothing()
        .returning({ name: keys.name });
      if (inserted.length === 0) throw new KeywardError('KEY_EXISTS', `a key named "${k.name}" already exists${k.version !== undefined ? ` (or one with id ${k.id})` : ''}`);
      await tx.insert(keyVersions).values({ keyName: k.name, version, publicKey: k.publicKey });
      if (k.privateKey) await putEntry(tx, materialPath(k.id, version), this.#seal.barrier.encrypt(materialPath(k.id, version), k.privateKey));
    }, { type: k.type, version, verifyOnly: k.privateKey === undefined });
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
   *
   * `source` keeps the identity of a key exported by another Keyward (`export`): the key gets the
   * source's id and the material becomes version `source.version` (also the minimum decryption
   * version; no older version exists here), so the source's `kw:v<N>:` ciphertexts — which bind the
   * key id and version (aead.ts) — and signatures decrypt and verify here. KEY_EXISTS if a key here
   * already has that id (the same export imported twice).
   */
  async import(opts: { name: string; type: string; algorithm: WrappingAlgorithm; wrappedKey: Uint8Array; exportable?: boolean | undefined; labels?: Record<string, string> | undefined; requireLowS?: boolean | undefined; by: string; commit?: CommitScope | undefined; source?: { keyId: string; version: number } | undefined }): Promise<KeyInfo> {
    crypto.assertKeyType(opts.type);
    const type = opts.type;
    assertKeyName(opts.name);
    if (opts.source && !KEY_ID_RE.test(opts.source.keyId)) throw new KeywardError('VALIDATION_FAILED', `keyId: expected key_ and 24 lowercase hex characters, got "${opts.source.keyId.slice(0, 40)}"`);
    assertRequireLowS(type, opts.requireLowS);
    this.#seal.keyring(); // SEALED before doing any work
    // Fail early (before any private-key operation) when the name or id is taken; the insert re-checks.
    const [taken] = await this.#db.select({ name: keys.name }).from(keys).where(eq(keys.name, opts.name));
    if (taken) throw new KeywardError('KEY_EXISTS', `a key named "${opts.name}" already exists`);
    if (opts.source) {
      const [same] = await this.#db.select({ name: keys.name }).from(keys).where(eq(keys.id, opts.source.keyId));
      if (same) throw new KeywardError('KEY_EXISTS', `key "${same.name}" already has id ${opts.source.keyId} (was this export imported before?)`);
    }
    const material = await this.#wrapping.unwrap(opts.algorithm, opts.wrappedKey);
    let pair: crypto.KeyPair;
    try {
      pair = crypto.importPrivateKey(type, material);
    } finally {
      material.fill(0);
    }
    try {
      await this.#insert({ name: opts.name, type, id: opts.source?.keyId ?? newKeyId(), version: opts.source?.version, exportable: opts.exportable, labels: opts.labels, requireLowS: opts.requireLowS, by: opts.by, publicKey: pair.public, privateKey: pair.private, commit: opts.commit });
    } finally {
      pair.private.fill(0);
    }
    this.#forget(opts.name);
    return this.info(opts.name);
  }

  // ---------------------------------------------------------------------------------------------
  // Key export (dual control is the policies' business; the checks here hold whatever they say)

  /**
   * Refuses an export that cannot run, without touching secrets: KEY_NOT_EXPORTABLE (the key was
   * not created `exportable`; that never changes), KEY_VERIFY_ONLY (no private material),
   * KEY_VERSION_NOT_FOUND (no such version), KEY_VERSION_DISABLED (below `minDecryptionVersion`).
   * Returns the version to export (default: the latest).
   */
  assertExportable(row: KeyRow, version: number = row.latestVersion): number {
    if (!row.exportable) throw new KeywardError('KEY_NOT_EXPORTABLE', `key "${row.name}" was not created exportable and can never be exported`);
    if (row.verifyOnly) throw new KeywardError('KEY_VERIFY_ONLY', `key "${row.name}" holds only a public key: there is no private material to export`);
    if (!Number.isSafeInteger(version) || version < 1 || version > row.latestVersion) {
      throw new KeywardError('KEY_VERSION_NOT_FOUND', `key "${row.name}" has versions 1 to ${row.latestVersion}; this names version ${version}`);
    }
    this.#readable(row, version);
    return version;
  }

  /**
   * One version's private material wrapped to `wrappingPublicKey` (a parsed public key of
   * `algorithm`'s wrapping key type: engine/crypto/byok.ts importWrappingKey) — the exact blob
   * `POST /v1/keys/:name/import` takes. Re-checks `assertExportable` (the decision may be a day old).
   * Returns, besides the blob, what the receiver checks what it unwrapped against: the type, the
   * version, the key id (bound into the key's `kw:` AEAD ciphertexts, aead.ts) and the public key
   * (canonical bytes, as in `info().versions`; null for symmetric types). Never logs the material.
   */
  async export(row: KeyRow, opts: { algorithm: WrappingAlgorithm; wrappingPublicKey: Uint8Array; version?: number | undefined }): Promise<{ wrappedKey: Uint8Array; type: KeyType; keyVersion: number; keyId: string; publicKey: Uint8Array | null; wrappingKeyFingerprint: string }> {
    const version = this.assertExportable(row, opts.version);
    const type = row.type as KeyType;
    // The cached material is shared: wrapKeyMaterial reads it and leaves it alone.
    const material = await this.#private(row, version);
    const wrappedKey = crypto.wrapKeyMaterial(opts.algorithm, opts.wrappingPublicKey, material);
    const publicKey = crypto.keyTypeInfo(type).asymmetric ? await this.#public(row, version) : null;
    return { wrappedKey, type, keyVersion: version, keyId: row.id, publicKey, wrappingKeyFingerprint: crypto.wrappingKeyFingerprint(opts.wrappingPublicKey) };
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

  async configure(name: string, cfg: { minDecryptionVersion?: number | undefined; deletionAllowed?: boolean | undefined; requireLowS?: boolean | undefined }, commit?: CommitScope): Promise<KeyInfo> {
    const row = await this.row(name);
    assertRequireLowS(row.type as KeyType, cfg.requireLowS);
    if (cfg.minDecryptionVersion !== undefined && (cfg.minDecryptionVersion < 1 || cfg.minDecryptionVersion > row.latestVersion)) {
      throw new KeywardError('VALIDATION_FAILED', `minDecryptionVersion: expected 1 to ${row.latestVersion} (the latest version), got ${cfg.minDecryptionVersion}`);
    }
    const set = {
      ...(cfg.minDecryptionVersion !== undefined ? { minDecryptionVersion: cfg.minDecryptionVersion } : {}),
      ...(cfg.deletionAllowed !== undefined ? { deletionAllowed: cfg.deletionAllowed } : {}),
      ...(cfg.requireLowS !== undefined ? { requireLowS: cfg.requireLowS } : {}),
    };
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

  /** The version a ciphertext or signature names, for policy input (syntax only; undefined for a raw value). */
  static versionOf(text: string): number | undefined {
    try {
      return crypto.parseVersioned(text, 'ciphertext', 'CIPHERTEXT_INVALID').version;
    } catch {
      return undefined;
    }
  }

  /**
   * Resolves the value a decrypt, rewrap or verify takes: `kw:v<N>:<base64>` names version N (a
   * `keyVersion` given beside it must agree: OPTION_INVALID); raw standard base64 is for
   * `keyVersion`, by default the latest. Anything else is `code` (CIPHERTEXT_FORMAT /
   * SIGNATURE_FORMAT, 400) naming `what` and the expected forms: a syntax error says nothing about
   * the key, so it is reported as such rather than folded into DECRYPTION_FAILED or `{valid: false}`.
   * A version the caller named with `keyVersion` must be in the key's window (KEY_VERSION_DISABLED);
   * one named by the value itself is checked by the operation (attacker input: a generic failure).
   */
  #operand(row: KeyRow, text: string, what: 'ciphertext' | 'signature', keyVersion: number | undefined): { version: number; body: Uint8Array; named: boolean } {
    const parsed = crypto.parseVersionedOrRaw(text, what, what === 'ciphertext' ? 'CIPHERTEXT_FORMAT' : 'SIGNATURE_FORMAT');
    if (parsed.version !== undefined && keyVersion !== undefined && parsed.version !== keyVersion) {
      throw new KeywardError('OPTION_INVALID', `keyVersion: the ${what} names version ${parsed.version}, the request ${keyVersion}; give one or make them agree`);
    }
    if (keyVersion !== undefined) this.#readable(row, keyVersion);
    return { version: parsed.version ?? keyVersion ?? row.latestVersion, body: parsed.body, named: parsed.version !== undefined };
  }

  /**
   * Decrypts `ciphertext`: `kw:v<N>:<base64>`, or the raw body as base64 for version `keyVersion`
   * (default: the latest; see `#operand`). AEAD keys: the body of engine/crypto/aead.ts, `aad` the
   * associated data. RSA keys: RSA-OAEP-SHA-256 (engine/crypto/oaep.ts) of the modulus-sized value
   * (what a client's publicEncrypt gives), `aad` the OAEP label. Every decryption failure, a
   * version the key never had included, is the one generic DECRYPTION_FAILED.
   */
  async decrypt(row: KeyRow, ciphertext: string, aad?: Uint8Array, keyVersion?: number): Promise<Uint8Array> {
    const type = row.type as KeyType;
    crypto.assertSupports(type, 'decrypt');
    const failed = () => new KeywardError('DECRYPTION_FAILED', 'decryption failed');
    const { version, body } = this.#operand(row, ciphertext, 'ciphertext', keyVersion);
    if (version > row.latestVersion) throw failed();
    this.#readable(row, version);
    if (crypto.keyTypeInfo(type).family !== 'aead') {
      if (body.length !== crypto.oaepCiphertextLength(type)) throw failed();
      const priv = await this.#private(row, version);
      return this.#pool && crypto.isSlow(type, 'decrypt') ? this.#pool.decrypt(type, priv, body, aad) : crypto.oaepDecrypt(type, priv, body, aad);
    }
    const key = await this.#private(row, version);
    return crypto.decryptBody({ type, key, keyId: row.id, version, body, aad });
  }

  async rewrap(row: KeyRow, ciphertext: string, aad?: Uint8Array, keyVersion?: number): Promise<{ ciphertext: string; keyVersion: number }> {
    crypto.assertSupports(row.type as KeyType, 'rewrap');
    const plaintext = await this.decrypt(row, ciphertext, aad, keyVersion);
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

  /**
   * Verifies `signature`: `kw:v<N>:<base64>`, or the raw signature as base64 for `keyVersion`
   * (default: the latest; see `#operand`). False for any bad signature (truncated, modified, wrong
   * key, a version the value names outside the key's window); SIGNATURE_FORMAT when the text is
   * neither form. ECDSA: high S verifies unless the key requires low S.
   */
  async verify(row: KeyRow, message: Uint8Array, signature: string, opts: SignOptions & { keyVersion?: number | undefined }): Promise<boolean> {
    const type = row.type as KeyType;
    const { keyVersion, ...signOpts } = opts;
    const verifyOpts: crypto.VerifyOptions = row.requireLowS ? { ...signOpts, requireLowS: true } : signOpts;
    // Options first: a wrong option is the request's error whatever the signature looks like.
    crypto.assertSignOptions(type, message, verifyOpts);
    const { version, body } = this.#operand(row, signature, 'signature', keyVersion);
    if (version < row.minDecryptionVersion || version > row.latestVersion) return false;
    const pub = await this.#public(row, version);
    return this.#pool && crypto.isSlow(type, 'verify') ? this.#pool.verify(type, pub.slice(), message.slice(), body, verifyOpts) : crypto.verify(type, pub, message, body, verifyOpts);
  }

  /** HMAC under the latest version, or under `version` (within the key's window) to verify an older one. */
  async hmac(row: KeyRow, message: Uint8Array, version = row.latestVersion): Promise<{ hmac: string; keyVersion: number }> {
    crypto.assertSupports(row.type as KeyType, 'hmac');
    if (version !== row.latestVersion) this.#readable(row, version);
    const key = await this.#private(row, version);
    return { hmac: crypto.formatVersioned(version, crypto.hmac(key, message)), keyVersion: version };
  }

  /**
   * A copy of version `version`'s private material, for an `exportable` key only (the caller wipes
   * it). Formats are the canonical ones of engine/crypto/algs.ts. Whether it may leave, and how, is
   * the route's and the policies' business (`key.export`, dual control by default).
   */
  async exportMaterial(row: KeyRow, version: number): Promise<Uint8Array> {
    if (!row.exportable) throw new KeywardError('OPERATION_UNSUPPORTED', `key "${row.name}" was not created exportable; its material never leaves`);
    this.#readable(row, version);
    return (await this.#private(row, version)).slice();
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
