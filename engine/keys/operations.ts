/**
 * Keyed operations (docs/architecture.md, engine/keys): bytes in, bytes out; routes do base64.
 * Encryption and signing use the latest version; decryption and verification accept versions from
 * `minDecryptionVersion` to the latest. Ciphertexts and signatures name their version (`kw:v<N>:`)
 * and bind the key's random id, version and algorithm into the AEAD's associated data. Decrypt,
 * rewrap and verify take either that text or the raw body as standard base64 (what other signers
 * and encrypters produce) for `keyVersion`, by default the latest; anything else is a
 * CIPHERTEXT_FORMAT / SIGNATURE_FORMAT request error, never a silent failure (`operand`).
 *
 * ECDSA verification accepts both (r, s) and (r, n−s), as FIPS 186-5 does; a key created, imported
 * or configured with `requireLowS` rejects high-S signatures (engine/crypto/sign.ts). Slow
 * asymmetric work goes through the executor (engine/crypto/executor.ts), which puts it on the worker
 * pool when there is one, so the event loop keeps answering.
 * @module
 */
import { KeywardError } from '../../lib/errors.js';
import * as crypto from '../crypto/index.js';
import type { PublicKeyFormat, SignOptions } from '../crypto/index.js';
import type { KeyRow } from '../store/index.js';
import type { KeyMaterial } from './material.js';
import { assertReadable, type KeyDeps } from './rules.js';

/** The version a ciphertext or signature names, for policy input (syntax only; undefined for a raw value). */
export function versionOf(text: string): number | undefined {
  try {
    return crypto.parseVersioned(text, 'ciphertext', 'CIPHERTEXT_INVALID').version;
  } catch {
    return undefined;
  }
}

/**
 * Resolves the value a decrypt, rewrap or verify takes: `kw:v<N>:<base64>` names version N (a
 * `keyVersion` given beside it must agree: OPTION_INVALID); raw standard base64 is for
 * `keyVersion`, by default the latest. Anything else is `code` (CIPHERTEXT_FORMAT /
 * SIGNATURE_FORMAT, 400) naming `what` and the expected forms: a syntax error says nothing about
 * the key, so it is reported as such rather than folded into DECRYPTION_FAILED or `{valid: false}`.
 * A version the caller named with `keyVersion` must be in the key's window (KEY_VERSION_DISABLED);
 * one named by the value itself is checked by the operation (attacker input: a generic failure).
 */
function operand(
  row: KeyRow,
  text: string,
  what: 'ciphertext' | 'signature',
  keyVersion: number | undefined,
): { version: number; body: Uint8Array; named: boolean } {
  const parsed = crypto.parseVersionedOrRaw(
    text,
    what,
    what === 'ciphertext' ? 'CIPHERTEXT_FORMAT' : 'SIGNATURE_FORMAT',
  );
  if (parsed.version !== undefined && keyVersion !== undefined && parsed.version !== keyVersion) {
    throw new KeywardError(
      'OPTION_INVALID',
      `keyVersion: the ${what} names version ${parsed.version}, the request ${keyVersion}; give one or make them agree`,
    );
  }
  if (keyVersion !== undefined) assertReadable(row, keyVersion);
  return {
    version: parsed.version ?? keyVersion ?? row.latestVersion,
    body: parsed.body,
    named: parsed.version !== undefined,
  };
}

/** An encrypt's answer under the latest version's material `key`. */
function encrypted(
  row: KeyRow,
  key: Uint8Array,
  plaintext: Uint8Array,
  aad: Uint8Array | undefined,
): { ciphertext: string; keyVersion: number } {
  const version = row.latestVersion;
  return {
    ciphertext: crypto.encrypt({ type: row.type, key, keyId: row.id, version, plaintext, aad }),
    keyVersion: version,
  };
}

/** A signature's answer: `kw:v<version>:<base64>` and the version that made it. */
function signedWith(version: number, sig: Uint8Array): { signature: string; keyVersion: number } {
  return { signature: crypto.formatSignature(version, sig), keyVersion: version };
}

export class KeyOperations {
  readonly #d: KeyDeps;
  readonly #m: KeyMaterial;

  constructor(deps: KeyDeps, material: KeyMaterial) {
    this.#d = deps;
    this.#m = material;
  }

  /**
   * Encrypts under the latest version. With its material cached (the usual request) it encrypts at
   * once and answers one resolved promise, as `sign` does, without the turns of awaiting `private`.
   */
  encrypt(row: KeyRow, plaintext: Uint8Array, aad?: Uint8Array): Promise<{ ciphertext: string; keyVersion: number }> {
    try {
      crypto.assertSupports(row.type, 'encrypt');
      const key = this.#m.privateNow(row, row.latestVersion);
      if (key !== undefined) return Promise.resolve(encrypted(row, key, plaintext, aad));
    } catch (e) {
      return Promise.reject(e as Error);
    }
    return this.#encryptReading(row, plaintext, aad);
  }

  /** `encrypt` when the material must be read first. */
  async #encryptReading(
    row: KeyRow,
    plaintext: Uint8Array,
    aad: Uint8Array | undefined,
  ): Promise<{ ciphertext: string; keyVersion: number }> {
    return encrypted(row, await this.#m.private(row, row.latestVersion), plaintext, aad);
  }

  /**
   * Decrypts `ciphertext`: `kw:v<N>:<base64>`, or the raw body as base64 for version `keyVersion`
   * (default: the latest; see `operand`). AEAD keys: the body of engine/crypto/aead.ts, `aad` the
   * associated data. RSA keys: RSA-OAEP-SHA-256 (engine/crypto/oaep.ts) of the modulus-sized value
   * (what a client's publicEncrypt gives), `aad` the OAEP label. Every decryption failure, a
   * version the key never had included, is the one generic DECRYPTION_FAILED.
   */
  async decrypt(row: KeyRow, ciphertext: string, aad?: Uint8Array, keyVersion?: number): Promise<Uint8Array> {
    const type = row.type;
    crypto.assertSupports(type, 'decrypt');
    const failed = () => new KeywardError('DECRYPTION_FAILED', 'decryption failed');
    const { version, body } = operand(row, ciphertext, 'ciphertext', keyVersion);
    if (version > row.latestVersion) throw failed();
    assertReadable(row, version);
    if (crypto.keyTypeInfo(type).family !== 'aead') {
      if (body.length !== crypto.oaepCiphertextLength(type)) throw failed();
      const priv = await this.#m.private(row, version);
      return this.#d.exec.run('decrypt', type, priv, body, aad);
    }
    const key = this.#m.privateNow(row, version) ?? (await this.#m.private(row, version));
    return crypto.decryptBody({ type, key, keyId: row.id, version, body, aad });
  }

  async rewrap(
    row: KeyRow,
    ciphertext: string,
    aad?: Uint8Array,
    keyVersion?: number,
  ): Promise<{ ciphertext: string; keyVersion: number }> {
    crypto.assertSupports(row.type, 'rewrap');
    const plaintext = await this.decrypt(row, ciphertext, aad, keyVersion);
    try {
      return await this.encrypt(row, plaintext, aad);
    } finally {
      plaintext.fill(0);
    }
  }

  async datakey(
    row: KeyRow,
    bytes: number | undefined,
    aad?: Uint8Array,
  ): Promise<{ plaintext: Uint8Array; ciphertext: string; keyVersion: number }> {
    crypto.assertSupports(row.type, 'datakey');
    // A cached key is used at once: resumed after an await, a hit could already have been wiped by
    // a seal, and the data key wrapped under zeros.
    const key = this.#m.privateNow(row, row.latestVersion) ?? (await this.#m.private(row, row.latestVersion));
    return {
      ...crypto.datakey({ type: row.type, key, keyId: row.id, version: row.latestVersion, bytes, aad }),
      keyVersion: row.latestVersion,
    };
  }

  /**
   * Signs with the latest version. With the working key cached and the call inline (Ed25519, ECDSA,
   * RSA; anything when there is no pool), it signs at once and answers one resolved promise: the
   * awaits of the general path cost a few percent of a ~25 µs signature (bench/crypto).
   */
  sign(row: KeyRow, message: Uint8Array, opts: SignOptions): Promise<{ signature: string; keyVersion: number }> {
    const type = row.type;
    const version = row.latestVersion;
    try {
      crypto.assertSupports(type, 'sign');
      const priv = this.#m.workingNow(row, version);
      if (priv !== undefined) {
        // The pool copies its arguments and transfers the copies (the worker wipes its key copy).
        const sig = this.#d.exec.runNow('sign', type, priv, message, opts);
        if (!(sig instanceof Promise)) return Promise.resolve(signedWith(version, sig));
        return sig.then((s) => signedWith(version, s));
      }
    } catch (e) {
      return Promise.reject(e as Error);
    }
    return this.#signReading(row, message, opts);
  }

  /** `sign` when the working key must be read (or derived) first. */
  async #signReading(
    row: KeyRow,
    message: Uint8Array,
    opts: SignOptions,
  ): Promise<{ signature: string; keyVersion: number }> {
    const priv = await this.#m.working(row, row.latestVersion);
    return signedWith(row.latestVersion, await this.#d.exec.run('sign', row.type, priv, message, opts));
  }

  /**
   * Verifies `signature`: `kw:v<N>:<base64>`, or the raw signature as base64 for `keyVersion`
   * (default: the latest; see `operand`). False for any bad signature (truncated, modified, wrong
   * key, a version the value names outside the key's window); SIGNATURE_FORMAT when the text is
   * neither form. ECDSA: high S verifies unless the key requires low S.
   */
  async verify(
    row: KeyRow,
    message: Uint8Array,
    signature: string,
    opts: SignOptions & { keyVersion?: number | undefined },
  ): Promise<boolean> {
    const type = row.type;
    const { keyVersion, ...signOpts } = opts;
    const verifyOpts: crypto.VerifyOptions = row.requireLowS ? { ...signOpts, requireLowS: true } : signOpts;
    // Options first: a wrong option is the request's error whatever the signature looks like.
    crypto.assertSignOptions(type, message, verifyOpts);
    const { version, body } = operand(row, signature, 'signature', keyVersion);
    if (version < row.minDecryptionVersion || version > row.latestVersion) return false;
    const pub = await this.#m.public(row, version);
    return this.#d.exec.run('verify', type, pub, message, body, verifyOpts);
  }

  /** HMAC under the latest version, or under `version` (within the key's window) to verify an older one. */
  async hmac(
    row: KeyRow,
    message: Uint8Array,
    version = row.latestVersion,
  ): Promise<{ hmac: string; keyVersion: number }> {
    crypto.assertSupports(row.type, 'hmac');
    if (version !== row.latestVersion) assertReadable(row, version);
    const key = await this.#m.private(row, version);
    return { hmac: crypto.formatVersioned(version, crypto.hmac(key, message)), keyVersion: version };
  }

  async encapsulate(row: KeyRow): Promise<{ ciphertext: Uint8Array; sharedSecret: Uint8Array; keyVersion: number }> {
    const type = row.type;
    crypto.assertSupports(type, 'encapsulate');
    const pub = await this.#m.public(row, row.latestVersion);
    const enc = await this.#d.exec.run('encapsulate', type, pub);
    return { ...enc, keyVersion: row.latestVersion };
  }

  async decapsulate(row: KeyRow, ciphertext: Uint8Array, version = row.latestVersion): Promise<Uint8Array> {
    const type = row.type;
    crypto.assertSupports(type, 'decapsulate');
    assertReadable(row, version);
    const priv = await this.#m.working(row, version);
    return this.#d.exec.run('decapsulate', type, priv, ciphertext);
  }

  async publicKey(row: KeyRow, format: PublicKeyFormat, version = row.latestVersion) {
    if (!crypto.keyTypeInfo(row.type).asymmetric)
      throw new KeywardError('KEY_TYPE_MISMATCH', `a ${row.type} key has no public key`);
    return { ...crypto.exportPublicKey(row.type, await this.#m.public(row, version), format), keyVersion: version };
  }
}
