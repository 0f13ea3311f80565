/**
 * What every part of the keys service shares (docs/architecture.md, engine/keys): the limits, the
 * name and id rules, where a version's material lives under the barrier, the `KeyInfo` shape, and
 * the version-window and option checks that hold whatever policies say.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { KeywardError } from '../../lib/errors.js';
import type { CryptoExecutor, KeyType } from '../crypto/index.js';
import type { SealManager } from '../seal/index.js';
import type { Db, KeyRow } from '../store/index.js';

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
/** Parsed Ed25519/ECDSA/RSA private keys (node:crypto KeyObjects, OpenSSL memory) kept per node. */
export const PARSED_CACHE_MAX = 4096;
/** Public keys kept per node (at most 2.6 KiB each, ML-DSA-87; SLH-DSA's are 64 bytes). */
export const PUBLIC_CACHE_MAX = 4096;
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

/** What the parts of the keys service are built on (one of each per KeyService). */
export interface KeyDeps {
  readonly db: Db;
  readonly seal: SealManager;
  /** Decides inline vs worker pool for every slow call (engine/crypto/executor.ts). */
  readonly exec: CryptoExecutor;
  readonly now: () => Date;
  /**
   * The budget of a storage read that requests share (the row read in flight), in ms; default
   * STORAGE_DEADLINE_MS_DEFAULT (engine/store/deadline.ts).
   */
  readonly storageDeadlineMs?: number;
}

/** `requireLowS` is an ECDSA verification rule: refused (when true) for every other type. */
export function assertRequireLowS(type: KeyType, requireLowS: boolean | undefined): void {
  if (requireLowS && type !== 'ecdsa-p256' && type !== 'ecdsa-p384')
    throw new KeywardError(
      'OPTION_UNSUPPORTED',
      `requireLowS: ${type} keys do not support it (ecdsa-p256 and ecdsa-p384 only)`,
    );
}

export function assertKeyName(name: string): void {
  if (!KEY_NAME_RE.test(name))
    throw new KeywardError(
      'VALIDATION_FAILED',
      `expected a key name of 1-128 characters [A-Za-z0-9._-], got "${name.slice(0, 80)}"`,
    );
}

/** A key's random id (bound into its AEAD ciphertexts): `key_` and 24 hex characters. */
export const KEY_ID_RE = /^key_[0-9a-f]{24}$/;
export const newKeyId = () => 'key_' + randomBytes(12).toString('hex');

export const materialPath = (id: string, version: number) => `keys/${id}/v${version}`;
export const materialPrefix = (id: string) => `keys/${id}/`;
/** The key id in a material path (`keys/<id>/v<N>`). */
export const idOfPath = (path: string) => path.slice(5, path.indexOf('/', 5));

/** Checks a version named by a ciphertext, a signature or a caller against the key's window. */
export function assertReadable(row: KeyRow, version: number): void {
  if (version < row.minDecryptionVersion || version > row.latestVersion) {
    throw new KeywardError(
      'KEY_VERSION_DISABLED',
      `key "${row.name}" accepts versions ${row.minDecryptionVersion} to ${row.latestVersion}; this names version ${version}`,
    );
  }
}
