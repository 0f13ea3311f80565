/**
 * The barrier wraps the untrusted store and is the single point of encryption for everything at rest
 * (key material, audit signing keys, HMAC keys), as Vault's SecurityBarrier does.
 *
 *   blob = term (u32 BE) ‖ version (1) = 0x01 ‖ nonce (12) ‖ ciphertext ‖ tag (16)
 *   aad  = term ‖ version ‖ "keyward/barrier/v1" ‖ 0x00 ‖ path
 *
 * The storage path is bound into the AAD, so a blob moved to another row does not decrypt. The term
 * names the keyring key, so data written before a root rotation stays readable.
 *
 * Every operation checks the sealed state first (SEALED), like Vault's barrier.
 * @module
 */
import { KeywardError } from '../../lib/errors.js';
import { aeadOpen, aeadSeal, label } from './aead.js';
import type { Keyring } from './keyring.js';

const BARRIER_VERSION = 1;
const HEADER_LEN = 5;

export interface KeyringSource {
  /** The keyring while unsealed; throws SEALED otherwise. */
  keyring(): Keyring;
  /** Re-reads the keyring from storage (another node may have rotated). */
  reloadKeyring(): Promise<Keyring>;
}

function aadFor(header: Uint8Array, path: string): Uint8Array {
  const tail = label('keyward/barrier/v1', path);
  const aad = new Uint8Array(HEADER_LEN + tail.length);
  aad.set(header, 0);
  aad.set(tail, HEADER_LEN);
  return aad;
}

export class Barrier {
  readonly #keys: KeyringSource;

  constructor(keys: KeyringSource) {
    this.#keys = keys;
  }

  /** Encrypts `plaintext` for storage at `path` under the active term. */
  encrypt(path: string, plaintext: Uint8Array): Uint8Array {
    const keyring = this.#keys.keyring();
    const header = new Uint8Array(HEADER_LEN);
    new DataView(header.buffer).setUint32(0, keyring.activeTerm);
    header[4] = BARRIER_VERSION;
    const body = aeadSeal(keyring.activeKey(), plaintext, aadFor(header, path));
    const out = new Uint8Array(HEADER_LEN + body.length);
    out.set(header, 0);
    out.set(body, HEADER_LEN);
    return out;
  }

  /**
   * Decrypts a blob read from `path`. A term this node does not know yet makes it reload the keyring
   * once (a root rotation on another node). Any failure is STORAGE_CORRUPT: stored data was altered,
   * moved or truncated.
   */
  async decrypt(path: string, blob: Uint8Array): Promise<Uint8Array> {
    let keyring = this.#keys.keyring();
    if (blob.length < HEADER_LEN) throw new KeywardError('STORAGE_CORRUPT', `barrier entry "${path}" is truncated`);
    const header = blob.subarray(0, HEADER_LEN);
    const term = new DataView(blob.buffer, blob.byteOffset, HEADER_LEN).getUint32(0);
    if (header[4] !== BARRIER_VERSION) {
      throw new KeywardError(
        'STORAGE_CORRUPT',
        `barrier entry "${path}" has version ${header[4]}, expected ${BARRIER_VERSION}`,
      );
    }
    let key = keyring.key(term);
    if (!key) {
      keyring = await this.#keys.reloadKeyring();
      key = keyring.key(term);
      if (!key)
        throw new KeywardError(
          'STORAGE_CORRUPT',
          `barrier entry "${path}" names keyring term ${term}, which does not exist`,
        );
    }
    const plain = aeadOpen(key, blob.subarray(HEADER_LEN), aadFor(header, path));
    if (!plain)
      throw new KeywardError(
        'STORAGE_CORRUPT',
        `barrier entry "${path}" does not decrypt: altered, moved or truncated`,
      );
    return plain;
  }

  /** The term a blob was written under (for rewrap jobs and tests). */
  static termOf(blob: Uint8Array): number {
    if (blob.length < HEADER_LEN) throw new RangeError('blob is shorter than the barrier header');
    return new DataView(blob.buffer, blob.byteOffset, HEADER_LEN).getUint32(0);
  }
}
