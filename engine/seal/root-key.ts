/**
 * The root key, stored encrypted under the unseal key (docs/architecture.md, "Keys at rest").
 *
 *   root_key_blob = version (1) = 0x01 ‖ AES-256-GCM(unseal key, root key (32), aad)
 *   aad           = "keyward/root-key/v1" ‖ 0x00 ‖ ceremony id
 *
 * Binding the ceremony id means a blob copied from another ceremony (or from before a rekey) does not
 * open, even under the right unseal key.
 * @module
 */
import { KeywardError } from '../../lib/errors.js';
import { KEY_LEN, aeadOpen, aeadSeal, label } from './aead.js';

const ROOT_KEY_BLOB_VERSION = 1;

export function sealRootKey(unsealKey: Uint8Array, rootKey: Uint8Array, ceremonyId: string): Uint8Array {
  if (rootKey.length !== KEY_LEN)
    throw new RangeError(`"rootKey" expected Uint8Array of length ${KEY_LEN}, got length=${rootKey.length}`);
  const body = aeadSeal(unsealKey, rootKey, label('keyward/root-key/v1', ceremonyId));
  const out = new Uint8Array(1 + body.length);
  out[0] = ROOT_KEY_BLOB_VERSION;
  out.set(body, 1);
  return out;
}

/** Opens the root key blob; `undefined` if this unseal key (or ceremony id) does not open it. */
export function openRootKey(unsealKey: Uint8Array, blob: Uint8Array, ceremonyId: string): Uint8Array | undefined {
  if (blob.length < 1 || blob[0] !== ROOT_KEY_BLOB_VERSION) {
    throw new KeywardError(
      'STORAGE_CORRUPT',
      `root key blob has version ${blob[0] ?? 'none'}, expected ${ROOT_KEY_BLOB_VERSION}`,
    );
  }
  const rootKey = aeadOpen(unsealKey, blob.subarray(1), label('keyward/root-key/v1', ceremonyId));
  if (rootKey && rootKey.length !== KEY_LEN) {
    rootKey.fill(0);
    throw new KeywardError('STORAGE_CORRUPT', `root key has length ${rootKey.length}, expected ${KEY_LEN}`);
  }
  return rootKey;
}
