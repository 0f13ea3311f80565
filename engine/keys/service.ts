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
 * @module
 */
import { randomBytes } from 'node:crypto';
import { and, asc, eq, gt } from 'drizzle-orm';
import { KeywardError } from '../../ceremony/errors.js';
import { fromBase64, toBase64 as b64 } from '../../ceremony/index.js';
import * as crypto from '../crypto/index.js';
import type { CryptoPool, KeyType, PublicKeyFormat, SignOptions, WrappingAlgorithm } from '../crypto/index.js';
import type { SealManager } from '../seal/index.js';
import type { Db } from '../store/index.js';
import { getEntry, keyVersions, keys, putEntry } from '../store/index.js';
import type { KeyRow } from '../store/index.js';
import { WrappingKeys, type PublishedWrappingKey } from './wrapping.js';

export const KEY_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
export const DELETION_RETENTION_DAYS = 7;
export const MAX_LIST_LIMIT = 1000;
/** How long a node uses a key row it read for operations. */
export const KEY_ROW_CACHE_TTL_MS = 1000;
export const KEY_ROW_CACHE_MAX = 10_000;

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

export class KeyService {
  readonly #db: Db;
  readonly #seal: SealManager;
  readonly #pool: CryptoPool | undefined;
  readonly #now: () => Date;
  readonly #cache = new Map<string, Uint8Array>();
  /** Key rows for operations, by name, with when they were read (see `usable`). */
  readonly #rows = new Map<string, { row: KeyRow; fetched: number }>();
  readonly #wrapping: WrappingKeys;

  constructor(db: Db, seal: SealManager, opts: { pool?: CryptoPool; now?: () => Date } = {}) {
    this.#db = db;
    this.#seal = seal;
    this.#pool = opts.pool;
    this.#now = opts.now ?? (() => new Date());
    this.#wrapping = new WrappingKeys(db, seal, { pool: opts.pool });
    seal.onSeal(() => this.#wipeCache());
  }

  #wipeCache(): void {
    for (const v of this.#cache.values()) v.fill(0);
    this.#cache.clear();
    this.#rows.clear();
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
  async list(opts: { limit: number; after?: string | undefined }): Promise<{ keys: Array<{ name: string; type: string; latestVersion: number; labels: Record<string, string> }>; next: string | null }> {
    const rows = await this.#db
      .select({ name: keys.name, type: keys.type, latestVersion: keys.latestVersion, labels: keys.labels })
      .from(keys)
      .where(opts.after ? gt(keys.name, opts.after) : undefined)
      .orderBy(asc(keys.name))
      .limit(opts.limit + 1);
    const page = rows.slice(0, opts.limit);
    return { keys: page, next: rows.length > opts.limit ? page[page.length - 1]!.name : null };
  }

  async #generate(type: KeyType): Promise<crypto.KeyPair> {
    return this.#pool && crypto.isSlow(type, 'generateKey') ? this.#pool.generateKey(type) : crypto.generateKey(type);
  }

  /** Creates a key with version 1: generated, or verify/encapsulate-only from a public key. */
  async create(opts: { name: string; type: string; exportable?: boolean; labels?: Record<string, string>; publicKey?: string; by: string }): Promise<KeyInfo> {
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
      await this.#insert({ name: opts.name, type, id, exportable: opts.exportable, labels: opts.labels, by: opts.by, publicKey, privateKey: pair?.private });
    } finally {
      pair?.private.fill(0);
    }
    this.#forget(opts.name);
    return this.info(opts.name);
  }

  /** Inserts a new key with version 1 (and its material under the barrier); KEY_EXISTS if the name is taken. */
  async #insert(k: { name: string; id: string; type: KeyType; exportable?: boolean | undefined; labels?: Record<string, string> | undefined; by: string; publicKey: Uint8Array | null; privateKey: Uint8Array | undefined }): Promise<void> {
    await this.#db.transaction(async (tx) => {
      const inserted = await tx
        .insert(keys)
        .values({ name: k.name, id: k.id, type: k.type, exportable: k.exportable ?? false, verifyOnly: k.privateKey === undefined, labels: k.labels ?? {}, latestVersion: 1, createdBy: k.by })
        .onConflictDoNothing()
        .returning({ name: keys.name });
      if (inserted.length === 0) throw new KeywardError('KEY_EXISTS', `a key named "${k.name}" already exists`);
      await tx.insert(keyVersions).values({ keyName: k.name, version: 1, publicKey: k.publicKey });
      if (k.privateKey) await putEntry(tx, materialPath(k.id, 1), this.#seal.barrier.encrypt(materialPath(k.id, 1), k.privateKey));
    });
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
  async import(opts: { name: string; type: string; algorithm: WrappingAlgorithm; wrappedKey: Uint8Array; exportable?: boolean | undefined; labels?: Record<string, string> | undefined; by: string }): Promise<KeyInfo> {
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
      await this.#insert({ name: opts.name, type, id: 'key_' + randomBytes(12).toString('hex'), exportable: opts.exportable, labels: opts.labels, by: opts.by, publicKey: pair.public, privateKey: pair.private });
    } finally {
      pair.private.fill(0);
    }
    this.#forget(opts.name);
    return this.info(opts.name);
  }

  /** Adds a version and makes it the latest. */
  async rotate(name: string): Promise<KeyInfo> {
    const row = await this.usable(name);
    if (row.verifyOnly) throw new KeywardError('KEY_VERIFY_ONLY', `key "${name}" holds only a public key and cannot be rotated`);
    this.#seal.keyring();
    const pair = await this.#generate(row.type as KeyType);
    try {
      await this.#db.transaction(async (tx) => {
        const [locked] = await tx.select().from(keys).where(eq(keys.name, name)).for('update');
        if (!locked) throw new KeywardError('KEY_NOT_FOUND', `no key named "${name}"`);
        const version = locked.latestVersion + 1;
        await putEntry(tx, materialPath(locked.id, version), this.#seal.barrier.encrypt(materialPath(locked.id, version), pair.private));
        await tx.insert(keyVersions).values({ keyName: name, version, publicKey: pair.public });
        await tx.update(keys).set({ latestVersion: version, updatedAt: this.#now() }).where(eq(keys.name, name));
      });
    } finally {
      pair.private.fill(0);
    }
    this.#forget(name);
    return this.info(name);
  }

  async configure(name: string, cfg: { minDecryptionVersion?: number | undefined; deletionAllowed?: boolean | undefined }): Promise<KeyInfo> {
    const row = await this.row(name);
    if (cfg.minDecryptionVersion !== undefined && (cfg.minDecryptionVersion < 1 || cfg.minDecryptionVersion > row.latestVersion)) {
      throw new KeywardError('VALIDATION_FAILED', `minDecryptionVersion: expected 1 to ${row.latestVersion} (the latest version), got ${cfg.minDecryptionVersion}`);
    }
    await this.#db
      .update(keys)
      .set({ ...(cfg.minDecryptionVersion !== undefined ? { minDecryptionVersion: cfg.minDecryptionVersion } : {}), ...(cfg.deletionAllowed !== undefined ? { deletionAllowed: cfg.deletionAllowed } : {}), updatedAt: this.#now() })
      .where(eq(keys.name, name));
    this.#forget(name);
    return this.info(name);
  }

  /** Schedules deletion after a retention window; the key refuses operations from now on. */
  async scheduleDeletion(name: string): Promise<KeyInfo> {
    const row = await this.row(name);
    if (!row.deletionAllowed) throw new KeywardError('KEY_DELETION_NOT_ALLOWED', `key "${name}" does not allow deletion; set deletionAllowed with POST /v1/keys/${name}/config first`);
    if (!row.deleteAfter) {
      const at = new Date(this.#now().getTime() + DELETION_RETENTION_DAYS * 86_400_000);
      await this.#db.update(keys).set({ deleteAfter: at, updatedAt: this.#now() }).where(and(eq(keys.name, name)));
    }
    this.#forget(name);
    return this.info(name);
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
    if (!this.#seal.sealed) this.#cache.set(path, material);
    return material;
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
    return this.#pool && crypto.isSlow(type, 'decrypt') ? this.#pool.decrypt(type, priv.slice(), body, label?.slice()) : crypto.oaepDecrypt(type, priv, body, label);
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
    const priv = await this.#private(row, row.latestVersion);
    // The pool transfers its arguments' buffers: hand it copies, never the cached key.
    const sig = this.#pool && crypto.isSlow(type, 'sign') ? await this.#pool.sign(type, priv.slice(), message.slice(), opts) : crypto.sign(type, priv, message, opts);
    return { signature: crypto.formatSignature(row.latestVersion, sig), keyVersion: row.latestVersion };
  }

  /** False for any bad signature (malformed, truncated, wrong key, disabled version); never throws for one. */
  async verify(row: KeyRow, message: Uint8Array, signature: string, opts: SignOptions): Promise<boolean> {
    const type = row.type as KeyType;
    crypto.assertSupports(type, 'verify');
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
    const priv = await this.#private(row, version);
    return this.#pool && crypto.isSlow(type, 'decapsulate') ? this.#pool.decapsulate(type, priv.slice(), ciphertext.slice()) : crypto.decapsulate(type, priv, ciphertext);
  }

  async publicKey(row: KeyRow, format: PublicKeyFormat, version = row.latestVersion) {
    if (!crypto.keyTypeInfo(row.type as KeyType).asymmetric) throw new KeywardError('KEY_TYPE_MISMATCH', `a ${row.type} key has no public key`);
    return { ...crypto.exportPublicKey(row.type as KeyType, await this.#public(row, version), format), keyVersion: version };
  }
}
