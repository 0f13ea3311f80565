/**
 * The server's BYOK wrapping keys (engine/crypto/byok.ts): one per wrapping algorithm, server-wide
 * like HashiCorp Vault transit's `wrapping_key`, generated on first use and kept under the barrier at
 * `sys/wrapping-keys/<algorithm>` (a barrier_entries row: no table of its own). Only the private
 * form is stored; the public key is derived from it.
 *
 * Several nodes may ask for the same wrapping key at once: the first insert wins
 * (`ON CONFLICT DO NOTHING`) and everyone then reads the stored one, so all nodes publish the same key.
 * Private keys are cached in memory while unsealed and wiped on seal (best effort in JS).
 * @module
 */
import { wipe } from '../../lib/bytes.js';
import * as crypto from '../crypto/index.js';
import type { CryptoExecutor, KeyPair, WrappingAlgorithm } from '../crypto/index.js';
import type { SealManager } from '../seal/index.js';
import type { Db } from '../store/index.js';
import { getEntry, insertEntryIfAbsent } from '../store/index.js';

/** Where the wrapping key of `alg` lives under the barrier. */
export const wrappingKeyPath = (alg: WrappingAlgorithm) => `sys/wrapping-keys/${alg}`;

export interface PublishedWrappingKey {
  algorithm: WrappingAlgorithm;
  /** `pem` (SPKI) for RSA, `raw` (base64 of the encapsulation key) for ML-KEM-768 and X-Wing. */
  format: 'pem' | 'raw';
  publicKey: string;
  /** Hex SHA-256 of the public key bytes (SPKI DER or raw), to compare out of band. */
  fingerprint: string;
}

export class WrappingKeys {
  readonly #db: Db;
  readonly #seal: SealManager;
  readonly #exec: CryptoExecutor;
  readonly #cache = new Map<WrappingAlgorithm, KeyPair>();
  readonly #loading = new Map<WrappingAlgorithm, Promise<KeyPair>>();

  constructor(db: Db, seal: SealManager, opts: { exec: CryptoExecutor }) {
    this.#db = db;
    this.#seal = seal;
    this.#exec = opts.exec;
    seal.onSeal(() => {
      for (const p of this.#cache.values()) wipe(p.private);
      this.#cache.clear();
    });
  }

  /** The published form of `alg`'s wrapping key (generating it on first use). */
  async publicKey(alg: WrappingAlgorithm): Promise<PublishedWrappingKey> {
    const pair = await this.#pair(alg);
    return crypto.exportWrappingKey(alg, pair.public!);
  }

  /**
   * Unwraps an import blob with `alg`'s wrapping key: the key material (secret: the caller wipes it).
   * Throws `WRAPPED_KEY_INVALID` (see byok.ts).
   */
  async unwrap(alg: WrappingAlgorithm, wrapped: Uint8Array): Promise<Uint8Array> {
    const pair = await this.#pair(alg);
    return crypto.unwrapKeyMaterial(alg, pair.private, wrapped);
  }

  #pair(alg: WrappingAlgorithm): Promise<KeyPair> {
    this.#seal.keyring(); // SEALED before anything else
    const hit = this.#cache.get(alg);
    if (hit) return Promise.resolve(hit);
    // One load (and at most one generation) per process at a time.
    let loading = this.#loading.get(alg);
    if (!loading) {
      loading = this.#load(alg).finally(() => this.#loading.delete(alg));
      this.#loading.set(alg, loading);
    }
    return loading;
  }

  async #load(alg: WrappingAlgorithm): Promise<KeyPair> {
    const path = wrappingKeyPath(alg);
    let blob = await getEntry(this.#db, path);
    if (!blob) {
      // crypto.generateWrappingKey(alg), through the executor (RSA keygen takes up to seconds).
      const fresh = await this.#exec.run('generateKey', crypto.wrappingKeyType(alg));
      try {
        await insertEntryIfAbsent(this.#db, path, this.#seal.barrier.encrypt(path, fresh.private));
      } finally {
        wipe(fresh.private);
      }
      blob = await getEntry(this.#db, path); // ours, or the one another node stored first
      if (!blob) throw new Error(`wrapping key ${alg} vanished after insert`);
    }
    const priv = await this.#seal.barrier.decrypt(path, blob);
    const pair: KeyPair = { private: priv, public: crypto.publicKeyOf(crypto.wrappingKeyType(alg), priv) };
    if (this.#seal.sealed) {
      // Sealed while we were reading: drop the key and fail like any sealed operation.
      wipe(priv);
      this.#seal.keyring();
    }
    this.#cache.set(alg, pair);
    return pair;
  }
}
