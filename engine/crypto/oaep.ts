/**
 * RSAES-OAEP (RFC 8017 §7.1) for `rsa-3072` and `rsa-4096` keys: SHA-256 as the hash and
 * MGF1-SHA-256 as the mask generation function, through node:crypto (OpenSSL). The same parameters
 * as JOSE "RSA-OAEP-256", AWS KMS RSAES_OAEP_SHA_256 and Vault transit's RSA keys.
 *
 * Decryption happens in Keyward (the private key never leaves it); encryption is what a holder of
 * the exported public key does on their side (`openssl pkeyutl -encrypt -pkeyopt
 * rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256`), and is here for
 * tests, BYOK wrapping (byok.ts) and the CLI.
 *
 * The OAEP label (RFC 8017 §7.1.1 "L") is associated data: optional, empty by default, and must be
 * the same on both sides.
 *
 * No padding oracle: `oaepDecrypt` has exactly one failure, `DECRYPTION_FAILED` ("decryption
 * failed"), whatever went wrong (wrong length, value ≥ modulus, bad padding, wrong label, wrong
 * key), the same error AEAD decryption gives. OpenSSL's OAEP decoding is constant-time in the
 * padding check (the Manger attack of CVE-2020-26939 needs distinguishable failures).
 * @module
 */
import { constants, createPrivateKey, createPublicKey, privateDecrypt, publicEncrypt } from 'node:crypto';
import { abytes } from '../../lib/bytes.js';
import { KeywardError } from '../../lib/errors.js';
import { RSA, isRsa, type RsaType } from './algs.js';
import { buf } from './material.js';
import type { KeyType } from './types.js';

/** The OAEP hash (and MGF1 hash). */
export const OAEP_HASH = 'sha256';
const HASH_LEN = 32;
/** Longest OAEP label accepted (the AEAD `aad` bound is the same order of magnitude). */
export const MAX_OAEP_LABEL_LEN = 8192;

function assertRsa(type: KeyType): asserts type is RsaType {
  if (!isRsa(type))
    throw new KeywardError(
      'OPERATION_UNSUPPORTED',
      `key type ${type} does not support RSA-OAEP (rsa-3072 and rsa-4096 only)`,
    );
}

/** Size in bytes of an RSA-OAEP ciphertext (the modulus) for `type`. */
export function oaepCiphertextLength(type: KeyType): number {
  assertRsa(type);
  return RSA[type].bits / 8;
}

/** The longest message `type` can encrypt with OAEP-SHA-256: k − 2·hLen − 2 (RFC 8017 §7.1.1). */
export function oaepMaxPlaintextLength(type: KeyType): number {
  return oaepCiphertextLength(type) - 2 * HASH_LEN - 2;
}

function checkLabel(label: Uint8Array | undefined): Uint8Array {
  if (label === undefined) return new Uint8Array(0);
  abytes(label, 'label');
  if (label.length > MAX_OAEP_LABEL_LEN)
    throw new RangeError(`"label" expected at most ${MAX_OAEP_LABEL_LEN} bytes, got length=${label.length}`);
  return label;
}

/**
 * Encrypts `plaintext` to the SPKI DER public key `pub` of an RSA key type.
 * @throws {RangeError} for a plaintext longer than {@link oaepMaxPlaintextLength}.
 */
export function oaepEncrypt(type: KeyType, pub: Uint8Array, plaintext: Uint8Array, label?: Uint8Array): Uint8Array {
  assertRsa(type);
  abytes(pub, 'publicKey');
  abytes(plaintext, 'plaintext');
  const max = oaepMaxPlaintextLength(type);
  if (plaintext.length > max)
    throw new RangeError(
      `"plaintext" expected at most ${max} bytes for ${type} OAEP-SHA-256, got length=${plaintext.length}`,
    );
  const key = createPublicKey({ key: buf(pub), format: 'der', type: 'spki' });
  const out = publicEncrypt(
    { key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: OAEP_HASH, oaepLabel: buf(checkLabel(label)) },
    plaintext,
  );
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

function failed(): KeywardError<'DECRYPTION_FAILED'> {
  return new KeywardError('DECRYPTION_FAILED', 'decryption failed');
}

/**
 * Decrypts an RSA-OAEP ciphertext with the PKCS#8 DER private key `priv`. `ciphertext` and `label`
 * are attacker input: every failure is the same `DECRYPTION_FAILED`.
 */
export function oaepDecrypt(type: KeyType, priv: Uint8Array, ciphertext: Uint8Array, label?: Uint8Array): Uint8Array {
  assertRsa(type);
  abytes(priv, 'privateKey');
  if (!(ciphertext instanceof Uint8Array) || ciphertext.length !== oaepCiphertextLength(type)) throw failed();
  if (label !== undefined && (!(label instanceof Uint8Array) || label.length > MAX_OAEP_LABEL_LEN)) throw failed();
  const key = createPrivateKey({ key: buf(priv), format: 'der', type: 'pkcs8' });
  try {
    const out = privateDecrypt(
      {
        key,
        padding: constants.RSA_PKCS1_OAEP_PADDING,
        oaepHash: OAEP_HASH,
        oaepLabel: buf(label ?? new Uint8Array(0)),
      },
      ciphertext,
    );
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  } catch {
    throw failed();
  }
}
