/**
 * Key export (docs/architecture.md, engine/keys), the mirror of BYOK import: one version of an
 * `exportable` key's material, wrapped to a caller's public key with byok.ts's constructions, never
 * in the clear. Dual control is the policies' business; the checks here hold whatever they say.
 * `assertExportable` says beforehand whether an export can run, so the pipeline refuses before
 * asking approvers.
 * @module
 */
import { KeywardError } from '../../lib/errors.js';
import * as crypto from '../crypto/index.js';
import type { KeyType, WrappingAlgorithm } from '../crypto/index.js';
import type { KeyRow } from '../store/index.js';
import type { KeyMaterial } from './material.js';
import { assertReadable } from './rules.js';

export interface ExportedKey {
  wrappedKey: Uint8Array;
  type: KeyType;
  keyVersion: number;
  keyId: string;
  publicKey: Uint8Array | null;
  wrappingKeyFingerprint: string;
}

/**
 * Refuses an export that cannot run, without touching secrets: KEY_NOT_EXPORTABLE (the key was
 * not created `exportable`; that never changes), KEY_VERIFY_ONLY (no private material),
 * KEY_VERSION_NOT_FOUND (no such version), KEY_VERSION_DISABLED (below `minDecryptionVersion`).
 * Returns the version to export (default: the latest).
 */
export function assertExportable(row: KeyRow, version: number = row.latestVersion): number {
  if (!row.exportable)
    throw new KeywardError(
      'KEY_NOT_EXPORTABLE',
      `key "${row.name}" was not created exportable and can never be exported`,
    );
  if (row.verifyOnly)
    throw new KeywardError(
      'KEY_VERIFY_ONLY',
      `key "${row.name}" holds only a public key: there is no private material to export`,
    );
  if (!Number.isSafeInteger(version) || version < 1 || version > row.latestVersion) {
    throw new KeywardError(
      'KEY_VERSION_NOT_FOUND',
      `key "${row.name}" has versions 1 to ${row.latestVersion}; this names version ${version}`,
    );
  }
  assertReadable(row, version);
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
export async function exportKey(
  material: KeyMaterial,
  row: KeyRow,
  opts: { algorithm: WrappingAlgorithm; wrappingPublicKey: Uint8Array; version?: number | undefined },
): Promise<ExportedKey> {
  const version = assertExportable(row, opts.version);
  const type = row.type;
  // The cached material is shared: wrapKeyMaterial reads it and leaves it alone.
  const priv = await material.private(row, version);
  const wrappedKey = crypto.wrapKeyMaterial(opts.algorithm, opts.wrappingPublicKey, priv);
  const publicKey = crypto.keyTypeInfo(type).asymmetric ? await material.public(row, version) : null;
  return {
    wrappedKey,
    type,
    keyVersion: version,
    keyId: row.id,
    publicKey,
    wrappingKeyFingerprint: crypto.wrappingKeyFingerprint(opts.wrappingPublicKey),
  };
}

/**
 * A copy of version `version`'s private material, for an `exportable` key only (the caller wipes
 * it). Formats are the canonical ones of engine/crypto/algs.ts. Whether it may leave, and how, is
 * the route's and the policies' business (`key.export`, dual control by default).
 */
export async function exportMaterial(material: KeyMaterial, row: KeyRow, version: number): Promise<Uint8Array> {
  if (!row.exportable)
    throw new KeywardError(
      'OPERATION_UNSUPPORTED',
      `key "${row.name}" was not created exportable; its material never leaves`,
    );
  assertReadable(row, version);
  return (await material.private(row, version)).slice();
}
