/**
 * The key catalog (docs/architecture.md, engine/keys): key rows and their versions in the store —
 * create (generated, or verify/encapsulate-only from a public key), read, list, rotate, configure and
 * schedule deletion. Rotation adds a version; `minDecryptionVersion` bounds the versions decryption
 * and verification accept. `scheduleDeletion` sets `deleteAfter` (the key refuses operations from
 * then on); purger.ts removes it when the window has passed.
 *
 * Rows for operations (`usable`) are cached per node for KEY_ROW_CACHE_TTL_MS and dropped on seal;
 * one read per key name is in flight at a time.
 * @module
 */
import { KeywardError } from '../../lib/errors.js';
import { toBase64 as b64 } from '../../lib/bytes.js';
import * as crypto from '../crypto/index.js';
import type { KeyType } from '../crypto/index.js';
import {
  getKey,
  insertKey,
  insertKeyVersion,
  listKeys,
  listKeyVersions,
  putEntry,
  updateKey,
  writeTransaction,
} from '../store/index.js';
import type { CommitScope, KeyRow } from '../store/index.js';
import { STORAGE_DEADLINE_MS_DEFAULT } from '../store/deadline.js';
import { SharedReads } from '../store/shared-reads.js';
import type { KeyMaterial } from './material.js';
import {
  DELETION_RETENTION_DAYS,
  KEY_ROW_CACHE_MAX,
  KEY_ROW_CACHE_TTL_MS,
  assertKeyName,
  assertRequireLowS,
  materialPath,
  newKeyId,
  type KeyDeps,
  type KeyInfo,
} from './rules.js';

/** A new key's first version, as `insert` stores it. */
export interface NewKey {
  name: string;
  id: string;
  type: KeyType;
  exportable?: boolean | undefined;
  labels?: Record<string, string> | undefined;
  requireLowS?: boolean | undefined;
  by: string;
  publicKey: Uint8Array | null;
  privateKey: Uint8Array | undefined;
  commit: CommitScope | undefined;
  /** Default 1; an import keeping its source's identity starts at the source's version. */
  version?: number | undefined;
}

/** KEY_DELETION_NOT_ALLOWED unless the key allows deletion (also the route's check before parking). */
export function assertDeletionAllowed(row: Pick<KeyRow, 'name' | 'deletionAllowed'>): void {
  if (!row.deletionAllowed) {
    throw new KeywardError(
      'KEY_DELETION_NOT_ALLOWED',
      `key "${row.name}" does not allow deletion; set deletionAllowed with POST /v1/keys/${row.name}/config first`,
    );
  }
}

/** One page of the key list (`KeyService.list`). */
export interface KeyListPage {
  keys: Array<{
    name: string;
    type: string;
    latestVersion: number;
    labels: Record<string, string>;
    deleteAfter: string | null;
  }>;
  next: string | null;
}

/** What a new key is: its name and type, and generated material unless `publicKey` is given. */
export interface CreateKeyOptions {
  name: string;
  type: string;
  exportable?: boolean;
  labels?: Record<string, string>;
  publicKey?: string;
  requireLowS?: boolean | undefined;
  by: string;
  commit?: CommitScope | undefined;
}

/** A change to a key's configuration; an absent field stays as it is. */
export interface KeyConfigChange {
  minDecryptionVersion?: number | undefined;
  deletionAllowed?: boolean | undefined;
  requireLowS?: boolean | undefined;
}

/** `row`, unless it is scheduled for deletion (KEY_PENDING_DELETION). */
function usableRow(row: KeyRow): KeyRow {
  if (row.deleteAfter)
    throw new KeywardError(
      'KEY_PENDING_DELETION',
      `key "${row.name}" is scheduled for deletion at ${row.deleteAfter.toISOString()} and refuses operations`,
    );
  return row;
}

export class KeyCatalog {
  readonly #d: KeyDeps;
  readonly #material: KeyMaterial;
  /** Key rows for operations, by name, with when they were read (see `usable`). */
  readonly #rows = new Map<string, { row: KeyRow; fetched: number }>();
  /**
   * The row reads in flight, by name (engine/store/shared-reads.ts): `forget` and seal drop a read,
   * so a later request starts a new one and the earlier one caches nothing when it lands.
   */
  readonly #reads: SharedReads<string, KeyRow>;

  constructor(deps: KeyDeps, material: KeyMaterial) {
    this.#d = deps;
    this.#material = material;
    this.#reads = new SharedReads({
      what: 'the key lookup',
      deadlineMs: deps.storageDeadlineMs ?? STORAGE_DEADLINE_MS_DEFAULT,
    });
    deps.seal.onSeal(() => {
      this.#rows.clear();
      this.#reads.clear();
    });
  }

  /** Cached rows, for tests. */
  get cachedRows(): number {
    return this.#rows.size;
  }

  /** Drops a key's cached row after this node changed it. */
  forget(name: string): void {
    this.#rows.delete(name);
    this.#reads.drop(name);
  }

  /** The key row, or KEY_NOT_FOUND. */
  async row(name: string): Promise<KeyRow> {
    assertKeyName(name);
    const row = await getKey(this.#d.db, name);
    if (!row) throw new KeywardError('KEY_NOT_FOUND', `no key named "${name}"`);
    return row;
  }

  /**
   * A row usable for operations: not scheduled for deletion. Rows are cached per node for
   * KEY_ROW_CACHE_TTL_MS (bench/api measured the row read at ~40% of an encrypt's engine time on
   * PGlite): this node's changes drop the entry at once; another node's rotation, configuration or
   * deletion is seen within the TTL, as the policy bindings and token caches are. A miss joins the
   * read of `name` already in flight, if any, which runs under the storage deadline (the pipeline
   * relies on it: it adds none of its own); a failed read (KEY_NOT_FOUND, storage down) reaches
   * those who joined it and is not kept.
   */
  async usable(name: string): Promise<KeyRow> {
    const hit = this.cachedUsable(name);
    if (hit) return hit;
    return usableRow(await (this.#reads.joined(name) ?? this.#read(name)));
  }

  /** Starts the shared read of `name`'s row; it is cached when it lands unless forgotten or sealed meanwhile. */
  #read(name: string): Promise<KeyRow> {
    return this.#reads.start(
      name,
      () => this.row(name),
      (row) => {
        if (this.#rows.size >= KEY_ROW_CACHE_MAX) this.#rows.delete(this.#rows.keys().next().value!);
        this.#rows.set(name, { row, fetched: performance.now() });
      },
    );
  }

  /**
   * `usable`'s row when this node read it within the TTL, without I/O (the request path asks this
   * first, so a hit costs no promise, timer or database call); undefined when it must be read.
   */
  cachedUsable(name: string): KeyRow | undefined {
    const hit = this.#rows.get(name);
    if (!hit || performance.now() - hit.fetched >= KEY_ROW_CACHE_TTL_MS) return undefined;
    return usableRow(hit.row);
  }

  async info(name: string): Promise<KeyInfo> {
    const row = await this.row(name);
    const versions = await listKeyVersions(this.#d.db, name);
    return {
      name: row.name,
      type: row.type,
      exportable: row.exportable,
      verifyOnly: row.verifyOnly,
      labels: row.labels,
      latestVersion: row.latestVersion,
      minDecryptionVersion: row.minDecryptionVersion,
      deletionAllowed: row.deletionAllowed,
      requireLowS: row.requireLowS,
      deleteAfter: row.deleteAfter?.toISOString() ?? null,
      createdAt: row.createdAt.toISOString(),
      versions: versions.map((v) => ({
        version: v.version,
        createdAt: v.createdAt.toISOString(),
        publicKey: v.publicKey ? b64(v.publicKey) : null,
      })),
    };
  }

  /** Keys by name, `limit` at a time after `after` (keyset pagination). */
  async list(opts: { limit: number; after?: string | undefined }): Promise<KeyListPage> {
    const rows = await listKeys(this.#d.db, { limit: opts.limit + 1, after: opts.after });
    const page = rows.slice(0, opts.limit);
    // deleteAfter: when a key scheduled for deletion is purged (null when it isn't scheduled).
    return {
      keys: page.map((k) => ({ ...k, deleteAfter: k.deleteAfter?.toISOString() ?? null })),
      next: rows.length > opts.limit ? page[page.length - 1]!.name : null,
    };
  }

  /** Creates a key with version 1: generated, or verify/encapsulate-only from a public key. */
  async create(opts: CreateKeyOptions): Promise<KeyInfo> {
    crypto.assertKeyType(opts.type);
    const type = opts.type;
    assertKeyName(opts.name);
    assertRequireLowS(type, opts.requireLowS);
    let pair: crypto.KeyPair | undefined;
    let publicKey: Uint8Array | null;
    if (opts.publicKey !== undefined) {
      if (!crypto.keyTypeInfo(type).asymmetric)
        throw new KeywardError('KEY_TYPE_MISMATCH', `a ${type} key has no public half; omit publicKey`);
      publicKey = crypto.importPublicKey(type, opts.publicKey);
    } else {
      this.#d.seal.keyring(); // SEALED before doing any work
      pair = await this.#d.exec.run('generateKey', type);
      publicKey = pair.public;
    }
    try {
      await this.insert({
        name: opts.name,
        type,
        id: newKeyId(),
        exportable: opts.exportable,
        labels: opts.labels,
        requireLowS: opts.requireLowS,
        by: opts.by,
        publicKey,
        privateKey: pair?.private,
        commit: opts.commit,
      });
    } finally {
      pair?.private.fill(0);
    }
    this.forget(opts.name);
    return this.info(opts.name);
  }

  /**
   * Inserts a new key whose first (and only) version is `version` (default 1; an import that keeps
   * its source's identity starts at the source's version, which is then also the minimum decryption
   * version), with its material under the barrier. KEY_EXISTS if the name (or the id) is taken.
   */
  async insert(k: NewKey): Promise<void> {
    const version = k.version ?? 1;
    const { seal } = this.#d;
    await writeTransaction(
      this.#d.db,
      k.commit,
      async (tx) => {
        const inserted = await insertKey(tx, {
          name: k.name,
          id: k.id,
          type: k.type,
          exportable: k.exportable ?? false,
          verifyOnly: k.privateKey === undefined,
          labels: k.labels ?? {},
          requireLowS: k.requireLowS ?? false,
          latestVersion: version,
          minDecryptionVersion: version,
          createdBy: k.by,
        });
        if (!inserted)
          throw new KeywardError(
            'KEY_EXISTS',
            `a key named "${k.name}" already exists${k.version !== undefined ? ` (or one with id ${k.id})` : ''}`,
          );
        await insertKeyVersion(tx, { keyName: k.name, version, publicKey: k.publicKey });
        if (k.privateKey)
          await putEntry(
            tx,
            materialPath(k.id, version),
            seal.barrier.encrypt(materialPath(k.id, version), k.privateKey),
          );
      },
      { type: k.type, version, verifyOnly: k.privateKey === undefined },
    );
  }

  /** Adds a version and makes it the latest. */
  async rotate(name: string, commit?: CommitScope): Promise<KeyInfo> {
    const row = await this.usable(name);
    if (row.verifyOnly)
      throw new KeywardError('KEY_VERIFY_ONLY', `key "${name}" holds only a public key and cannot be rotated`);
    const { seal } = this.#d;
    seal.keyring();
    const pair = await this.#d.exec.run('generateKey', row.type);
    try {
      await writeTransaction(
        this.#d.db,
        commit,
        async (tx) => {
          const locked = await getKey(tx, name, { forUpdate: true });
          if (!locked) throw new KeywardError('KEY_NOT_FOUND', `no key named "${name}"`);
          const version = locked.latestVersion + 1;
          await putEntry(
            tx,
            materialPath(locked.id, version),
            seal.barrier.encrypt(materialPath(locked.id, version), pair.private),
          );
          await insertKeyVersion(tx, { keyName: name, version, publicKey: pair.public });
          await updateKey(tx, name, { latestVersion: version }, this.#d.now());
          return version;
        },
        (version) => ({ version }),
      );
    } finally {
      pair.private.fill(0);
    }
    this.forget(name);
    return this.info(name);
  }

  async configure(name: string, cfg: KeyConfigChange, commit?: CommitScope): Promise<KeyInfo> {
    const row = await this.row(name);
    assertRequireLowS(row.type, cfg.requireLowS);
    if (
      cfg.minDecryptionVersion !== undefined &&
      (cfg.minDecryptionVersion < 1 || cfg.minDecryptionVersion > row.latestVersion)
    ) {
      throw new KeywardError(
        'VALIDATION_FAILED',
        `minDecryptionVersion: expected 1 to ${row.latestVersion} (the latest version), got ${cfg.minDecryptionVersion}`,
      );
    }
    const set = {
      ...(cfg.minDecryptionVersion !== undefined ? { minDecryptionVersion: cfg.minDecryptionVersion } : {}),
      ...(cfg.deletionAllowed !== undefined ? { deletionAllowed: cfg.deletionAllowed } : {}),
      ...(cfg.requireLowS !== undefined ? { requireLowS: cfg.requireLowS } : {}),
    };
    await writeTransaction(this.#d.db, commit, (tx) => updateKey(tx, name, set, this.#d.now()), set);
    this.forget(name);
    return this.info(name);
  }

  /** Schedules deletion after a retention window; the key refuses operations from now on. */
  async scheduleDeletion(name: string, commit?: CommitScope): Promise<KeyInfo> {
    const row = await this.row(name);
    assertDeletionAllowed(row);
    if (!row.deleteAfter) {
      const at = new Date(this.#d.now().getTime() + DELETION_RETENTION_DAYS * 86_400_000);
      await writeTransaction(this.#d.db, commit, (tx) => updateKey(tx, name, { deleteAfter: at }, this.#d.now()), {
        deleteAfter: at.toISOString(),
      });
    }
    this.forget(name);
    this.#material.drop(row.id); // it refuses operations now: its secrets need not stay in memory
    return this.info(name);
  }
}
