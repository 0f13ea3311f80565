/**
 * The keyring: the barrier keys, one per term, encrypted under the root key (docs/architecture.md, "Keys at rest").
 * Root rotation adds a term and makes it active; old terms stay so data written under them still
 * reads, as in Vault's keyring.
 *
 * Plaintext layout (binary, so key bytes never pass through JS strings):
 *
 *   version (1) = 0x01 ‖ activeTerm (u32 BE) ‖ count (u32 BE) ‖ count × [ term (u32 BE) ‖ key (32) ]
 *
 * Stored blob = AES-256-GCM(root key, plaintext, aad = "keyward/keyring/v1").
 * @module
 */
import { randomBytes } from 'node:crypto';
import { KeywardError } from '../../lib/errors.js';
import { KEY_LEN, aeadOpen, aeadSeal, label } from './aead.js';

const KEYRING_VERSION = 1;
const KEYRING_AAD = label('keyward/keyring/v1');
/** A generous bound so a corrupt count can't make us allocate without limit. */
export const MAX_TERMS = 1_000_000;

export class Keyring {
  #terms = new Map<number, Uint8Array>();
  #active: number;

  private constructor(active: number) {
    this.#active = active;
  }

  /** A fresh keyring with one random key at term 1. */
  static create(): Keyring {
    const k = new Keyring(1);
    k.#terms.set(1, new Uint8Array(randomBytes(KEY_LEN)));
    return k;
  }

  get activeTerm(): number {
    return this.#active;
  }

  get terms(): number[] {
    return [...this.#terms.keys()].sort((a, b) => a - b);
  }

  /** The key of `term`, or undefined if this keyring has no such term. */
  key(term: number): Uint8Array | undefined {
    return this.#terms.get(term);
  }

  activeKey(): Uint8Array {
    const k = this.#terms.get(this.#active);
    if (!k) throw new Error('keyring has no key for its active term');
    return k;
  }

  /** Adds a new random key at term max+1 and makes it active. Returns the new term. */
  rotate(): number {
    const next = Math.max(...this.#terms.keys()) + 1;
    if (next > 0xffffffff) throw new KeywardError('KEYRING_FULL', 'keyring term counter is exhausted');
    this.#terms.set(next, new Uint8Array(randomBytes(KEY_LEN)));
    this.#active = next;
    return next;
  }

  /** Encrypts the keyring under the root key. */
  seal(rootKey: Uint8Array): Uint8Array {
    const terms = this.terms;
    const plain = new Uint8Array(9 + terms.length * (4 + KEY_LEN));
    const view = new DataView(plain.buffer);
    plain[0] = KEYRING_VERSION;
    view.setUint32(1, this.#active);
    view.setUint32(5, terms.length);
    let off = 9;
    for (const t of terms) {
      view.setUint32(off, t);
      plain.set(this.#terms.get(t)!, off + 4);
      off += 4 + KEY_LEN;
    }
    try {
      return aeadSeal(rootKey, plain, KEYRING_AAD);
    } finally {
      plain.fill(0);
    }
  }

  /** Decrypts a stored keyring. A blob that does not open under this root key is STORAGE_CORRUPT. */
  static open(rootKey: Uint8Array, blob: Uint8Array): Keyring {
    const plain = aeadOpen(rootKey, blob, KEYRING_AAD);
    if (!plain) throw new KeywardError('STORAGE_CORRUPT', 'keyring does not decrypt under the root key');
    try {
      const view = new DataView(plain.buffer, plain.byteOffset, plain.length);
      if (plain.length < 9 || plain[0] !== KEYRING_VERSION) {
        throw new KeywardError(
          'STORAGE_CORRUPT',
          `keyring has version ${plain[0] ?? 'none'}, expected ${KEYRING_VERSION}`,
        );
      }
      const active = view.getUint32(1);
      const count = view.getUint32(5);
      if (count < 1 || count > MAX_TERMS || plain.length !== 9 + count * (4 + KEY_LEN)) {
        throw new KeywardError('STORAGE_CORRUPT', `keyring declares ${count} terms but holds ${plain.length} bytes`);
      }
      const k = new Keyring(active);
      for (let i = 0, off = 9; i < count; i++, off += 4 + KEY_LEN) {
        k.#terms.set(view.getUint32(off), plain.slice(off + 4, off + 4 + KEY_LEN));
      }
      if (!k.#terms.has(active))
        throw new KeywardError('STORAGE_CORRUPT', `keyring's active term ${active} has no key`);
      return k;
    } finally {
      plain.fill(0);
    }
  }

  /** Overwrites every key with zeros (best effort in JS: copies made by the engine may survive). */
  zeroize(): void {
    for (const k of this.#terms.values()) k.fill(0);
    this.#terms.clear();
  }
}
