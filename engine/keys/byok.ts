/**
 * BYOK import (docs/architecture.md, engine/keys): private material comes in wrapped under one of
 * the server's wrapping keys (wrapping.ts, engine/crypto/byok.ts) and becomes a new key, as the
 * catalog's `create` makes one. The material is unwrapped, validated for its type, stored under the
 * barrier and wiped; it is never logged or returned.
 * @module
 */
import { KeywardError } from '../../lib/errors.js';
import * as crypto from '../crypto/index.js';
import type { WrappingAlgorithm } from '../crypto/index.js';
import { keyNameById, keyNameTaken } from '../store/index.js';
import type { CommitScope } from '../store/index.js';
import type { KeyCatalog } from './catalog.js';
import { KEY_ID_RE, assertKeyName, assertRequireLowS, newKeyId, type KeyDeps, type KeyInfo } from './rules.js';
import { WrappingKeys, type PublishedWrappingKey } from './wrapping.js';

export interface ImportRequest {
  name: string;
  type: string;
  algorithm: WrappingAlgorithm;
  wrappedKey: Uint8Array;
  exportable?: boolean | undefined;
  labels?: Record<string, string> | undefined;
  requireLowS?: boolean | undefined;
  by: string;
  commit?: CommitScope | undefined;
  source?: { keyId: string; version: number } | undefined;
}

export class KeyImport {
  readonly #d: KeyDeps;
  readonly #catalog: KeyCatalog;
  readonly #wrapping: WrappingKeys;

  constructor(deps: KeyDeps, catalog: KeyCatalog) {
    this.#d = deps;
    this.#catalog = catalog;
    this.#wrapping = new WrappingKeys(deps.db, deps.seal, { exec: deps.exec });
  }

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
  async import(opts: ImportRequest): Promise<KeyInfo> {
    crypto.assertKeyType(opts.type);
    const type = opts.type;
    assertKeyName(opts.name);
    if (opts.source && !KEY_ID_RE.test(opts.source.keyId))
      throw new KeywardError(
        'VALIDATION_FAILED',
        `keyId: expected key_ and 24 lowercase hex characters, got "${opts.source.keyId.slice(0, 40)}"`,
      );
    assertRequireLowS(type, opts.requireLowS);
    this.#d.seal.keyring(); // SEALED before doing any work
    // Fail early (before any private-key operation) when the name or id is taken; the insert re-checks.
    if (await keyNameTaken(this.#d.db, opts.name))
      throw new KeywardError('KEY_EXISTS', `a key named "${opts.name}" already exists`);
    if (opts.source) {
      const same = await keyNameById(this.#d.db, opts.source.keyId);
      if (same !== undefined)
        throw new KeywardError(
          'KEY_EXISTS',
          `key "${same}" already has id ${opts.source.keyId} (was this export imported before?)`,
        );
    }
    const material = await this.#wrapping.unwrap(opts.algorithm, opts.wrappedKey);
    let pair: crypto.KeyPair;
    try {
      pair = crypto.importPrivateKey(type, material);
    } finally {
      material.fill(0);
    }
    try {
      await this.#catalog.insert({
        name: opts.name,
        type,
        id: opts.source?.keyId ?? newKeyId(),
        version: opts.source?.version,
        exportable: opts.exportable,
        labels: opts.labels,
        requireLowS: opts.requireLowS,
        by: opts.by,
        publicKey: pair.public,
        privateKey: pair.private,
        commit: opts.commit,
      });
    } finally {
      pair.private.fill(0);
    }
    this.#catalog.forget(opts.name);
    return this.#catalog.info(opts.name);
  }
}
