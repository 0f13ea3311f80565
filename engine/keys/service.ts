/**
 * Named, versioned keys over the crypto core (docs/architecture.md, engine/keys): metadata in
 * `keys`/`key_versions`, private material under the barrier at `keys/<id>/v<version>`, decrypted
 * only while unsealed and cached in memory until seal (then wiped — best effort in JS).
 *
 * `KeyService` is the one object the engine and the routes hold; each job lives in its own file:
 * - catalog.ts: create, read, list, rotate, configure, schedule deletion (and the row cache);
 * - byok.ts (with wrapping.ts): BYOK import under the server's wrapping keys;
 * - export.ts: export of an `exportable` key's material, wrapped, never in the clear;
 * - purger.ts: the purge of keys whose deletion window has passed, and its timer;
 * - operations.ts: encrypt, decrypt, rewrap, datakey, sign, verify, hmac, encapsulate, decapsulate;
 * - material.ts (with secret-cache.ts): material and expanded keys, cached per node, wiped on seal;
 * - rules.ts: the limits, the name and id rules, material paths, the version window.
 * Slow calls go through one executor (engine/crypto/executor.ts), on the worker pool when given.
 * Every SQL statement is in engine/store/key-repos.ts.
 * @module
 */
import { CryptoExecutor } from '../crypto/index.js';
import type { CryptoPool, KeyType, PublicKeyFormat, SignOptions, WrappingAlgorithm } from '../crypto/index.js';
import type { SealManager } from '../seal/index.js';
import type { CommitScope, Db, KeyRow } from '../store/index.js';
import { KeyImport, type ImportRequest } from './byok.js';
import { KeyCatalog, assertDeletionAllowed } from './catalog.js';
import type { CreateKeyOptions, KeyConfigChange, KeyListPage } from './catalog.js';
import { assertExportable, exportKey, exportMaterial } from './export.js';
import { KeyMaterial } from './material.js';
import { KeyOperations, versionOf } from './operations.js';
import { KeyPurger, type PurgeRecorder } from './purger.js';
import type { KeyDeps, KeyInfo } from './rules.js';
import type { PublishedWrappingKey } from './wrapping.js';

export {
  DELETION_RETENTION_DAYS,
  EXPANDED_CACHE_MAX,
  KEY_ID_RE,
  KEY_NAME_RE,
  KEY_ROW_CACHE_MAX,
  KEY_ROW_CACHE_TTL_MS,
  MATERIAL_CACHE_MAX,
  MAX_LIST_LIMIT,
  PURGE_BATCH,
  PURGE_INTERVAL_MS,
  assertKeyName,
} from './rules.js';
export type { KeyInfo } from './rules.js';
export type { PurgeRecorder } from './purger.js';

export class KeyService {
  readonly #material: KeyMaterial;
  readonly #catalog: KeyCatalog;
  readonly #import: KeyImport;
  readonly #purger: KeyPurger;
  readonly #ops: KeyOperations;

  constructor(
    db: Db,
    seal: SealManager,
    opts: { pool?: CryptoPool; now?: () => Date; recordPurge?: PurgeRecorder; storageDeadlineMs?: number } = {},
  ) {
    const deps: KeyDeps = {
      db,
      seal,
      exec: new CryptoExecutor(opts.pool),
      now: opts.now ?? (() => new Date()),
      ...(opts.storageDeadlineMs !== undefined ? { storageDeadlineMs: opts.storageDeadlineMs } : {}),
    };
    this.#material = new KeyMaterial(deps);
    this.#catalog = new KeyCatalog(deps, this.#material);
    this.#import = new KeyImport(deps, this.#catalog);
    this.#purger = new KeyPurger(deps, this.#catalog, this.#material, opts.recordPurge);
    this.#ops = new KeyOperations(deps, this.#material);
  }

  // Catalog (catalog.ts)

  /** This node's key-material cache lookups, hits and misses (engine/keys/material.ts), for metrics. */
  get materialCacheStats(): KeyMaterial['stats'] {
    return this.#material.stats;
  }

  /** The key row, or KEY_NOT_FOUND. */
  row(name: string): Promise<KeyRow> {
    return this.#catalog.row(name);
  }

  /** A row usable for operations (not scheduled for deletion), cached per node for KEY_ROW_CACHE_TTL_MS. */
  usable(name: string): Promise<KeyRow> {
    return this.#catalog.usable(name);
  }

  /** `usable`'s row when cached within the TTL (no I/O), else undefined: the request path's fast path. */
  cachedUsable(name: string): KeyRow | undefined {
    return this.#catalog.cachedUsable(name);
  }

  info(name: string): Promise<KeyInfo> {
    return this.#catalog.info(name);
  }

  /** Keys by name, `limit` at a time after `after` (keyset pagination). */
  list(opts: { limit: number; after?: string | undefined }): Promise<KeyListPage> {
    return this.#catalog.list(opts);
  }

  /** Creates a key with version 1: generated, or verify/encapsulate-only from a public key. */
  create(opts: CreateKeyOptions): Promise<KeyInfo> {
    return this.#catalog.create(opts);
  }

  /** Adds a version and makes it the latest. */
  rotate(name: string, commit?: CommitScope): Promise<KeyInfo> {
    return this.#catalog.rotate(name, commit);
  }

  configure(name: string, cfg: KeyConfigChange, commit?: CommitScope): Promise<KeyInfo> {
    return this.#catalog.configure(name, cfg, commit);
  }

  /** KEY_DELETION_NOT_ALLOWED unless the key allows deletion (also the route's check before parking). */
  static assertDeletionAllowed(row: Pick<KeyRow, 'name' | 'deletionAllowed'>): void {
    assertDeletionAllowed(row);
  }

  /** Schedules deletion after a retention window; the key refuses operations from now on. */
  scheduleDeletion(name: string, commit?: CommitScope): Promise<KeyInfo> {
    return this.#catalog.scheduleDeletion(name, commit);
  }

  // BYOK import (byok.ts) and export (export.ts)

  /** The published wrapping key of `algorithm` (generated and stored under the barrier on first use). */
  wrappingKey(algorithm: WrappingAlgorithm): Promise<PublishedWrappingKey> {
    return this.#import.wrappingKey(algorithm);
  }

  /** Creates key `name` from private material wrapped under the `algorithm` wrapping key (byok.ts). */
  import(opts: ImportRequest): Promise<KeyInfo> {
    return this.#import.import(opts);
  }

  /** Refuses an export that cannot run, without touching secrets; returns the version to export. */
  assertExportable(row: KeyRow, version: number = row.latestVersion): number {
    return assertExportable(row, version);
  }

  /** One version's private material wrapped to `wrappingPublicKey` (export.ts). */
  export(
    row: KeyRow,
    opts: { algorithm: WrappingAlgorithm; wrappingPublicKey: Uint8Array; version?: number | undefined },
  ): Promise<{
    wrappedKey: Uint8Array;
    type: KeyType;
    keyVersion: number;
    keyId: string;
    publicKey: Uint8Array | null;
    wrappingKeyFingerprint: string;
  }> {
    return exportKey(this.#material, row, opts);
  }

  /** A copy of version `version`'s private material, for an `exportable` key only (the caller wipes it). */
  exportMaterial(row: KeyRow, version: number): Promise<Uint8Array> {
    return exportMaterial(this.#material, row, version);
  }

  // Purge (purger.ts)

  /** Purges keys whose deletion window has passed by `now`; returns their names. SEALED while sealed. */
  purgeExpired(now?: Date): Promise<string[]> {
    return this.#purger.purgeExpired(now);
  }

  /** Runs `purgeExpired` every `intervalMs` (default PURGE_INTERVAL_MS) while unsealed. Idempotent. */
  startPurger(opts: { intervalMs?: number | undefined; onError?: ((err: unknown) => void) | undefined } = {}): void {
    this.#purger.start(opts);
  }

  /** Stops the purger and waits for a sweep in progress (call before closing the store). */
  stopPurger(): Promise<void> {
    return this.#purger.stop();
  }

  // Operations (operations.ts): bytes in, bytes out; routes do base64

  /** The version a ciphertext or signature names, for policy input (syntax only; undefined for a raw value). */
  static versionOf(text: string): number | undefined {
    return versionOf(text);
  }

  encrypt(row: KeyRow, plaintext: Uint8Array, aad?: Uint8Array): Promise<{ ciphertext: string; keyVersion: number }> {
    return this.#ops.encrypt(row, plaintext, aad);
  }

  decrypt(row: KeyRow, ciphertext: string, aad?: Uint8Array, keyVersion?: number): Promise<Uint8Array> {
    return this.#ops.decrypt(row, ciphertext, aad, keyVersion);
  }

  rewrap(
    row: KeyRow,
    ciphertext: string,
    aad?: Uint8Array,
    keyVersion?: number,
  ): Promise<{ ciphertext: string; keyVersion: number }> {
    return this.#ops.rewrap(row, ciphertext, aad, keyVersion);
  }

  datakey(
    row: KeyRow,
    bytes: number | undefined,
    aad?: Uint8Array,
  ): Promise<{ plaintext: Uint8Array; ciphertext: string; keyVersion: number }> {
    return this.#ops.datakey(row, bytes, aad);
  }

  sign(row: KeyRow, message: Uint8Array, opts: SignOptions): Promise<{ signature: string; keyVersion: number }> {
    return this.#ops.sign(row, message, opts);
  }

  verify(
    row: KeyRow,
    message: Uint8Array,
    signature: string,
    opts: SignOptions & { keyVersion?: number | undefined },
  ): Promise<boolean> {
    return this.#ops.verify(row, message, signature, opts);
  }

  hmac(row: KeyRow, message: Uint8Array, version = row.latestVersion): Promise<{ hmac: string; keyVersion: number }> {
    return this.#ops.hmac(row, message, version);
  }

  encapsulate(row: KeyRow): Promise<{ ciphertext: Uint8Array; sharedSecret: Uint8Array; keyVersion: number }> {
    return this.#ops.encapsulate(row);
  }

  decapsulate(row: KeyRow, ciphertext: Uint8Array, version = row.latestVersion): Promise<Uint8Array> {
    return this.#ops.decapsulate(row, ciphertext, version);
  }

  publicKey(row: KeyRow, format: PublicKeyFormat, version = row.latestVersion) {
    return this.#ops.publicKey(row, format, version);
  }
}
