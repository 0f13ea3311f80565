/**
 * BYOK ("bring your own key"): private key material travels into Keyward wrapped under a
 * server-published wrapping key, never in the clear. Two constructions:
 *
 * `rsa-oaep-3072-aes-kwp` — the same as HashiCorp Vault transit's BYOK import and AWS KMS
 * RSA_AES_KEY_WRAP_SHA_256, so blobs made with their recipes (openssl pkeyutl + openssl enc
 * -id-aes256-wrap-pad) import here:
 *
 *   kek     = 32 random bytes                                   (ephemeral AES-256 key, then wiped)
 *   wrapped = RSAES-OAEP(wrappingPub, kek; SHA-256, MGF1-SHA-256, label = "")    384 bytes
 *           ‖ AES-256-KWP(kek, material)                        (RFC 5649)       8 + 8·⌈len/8⌉ bytes
 *
 * `ml-kem-768` — the post-quantum variant (FIPS 203 encapsulation, then RFC 5869 HKDF):
 *
 *   (ct, ss) = ML-KEM-768.Encaps(wrappingPub)                                     ct: 1088 bytes
 *   kek      = HKDF-SHA-256(IKM = ss, salt = "" (i.e. 32 zero bytes, RFC 5869 §2.2),
 *                           info = "keyward/byok/v1 ml-kem-768 aes-256-kwp", L = 32)
 *   wrapped  = ct ‖ AES-256-KWP(kek, material)
 *
 * `x-wing` — the hybrid variant, the same shape over X-Wing (ML-KEM-768 + X25519,
 * draft-connolly-cfrg-xwing-kem), so a break of either ML-KEM or X25519 alone does not expose the key:
 *
 *   (ct, ss) = X-Wing.Encaps(wrappingPub)                                         ct: 1120 bytes
 *   kek      = HKDF-SHA-256(IKM = ss, salt = "", info = "keyward/byok/v1 x-wing aes-256-kwp", L = 32)
 *   wrapped  = ct ‖ AES-256-KWP(kek, material)
 *
 * The info strings bind the KEK to its construction (no other Keyward use of a KEM secret can
 * produce the same KEK). A modified ct does not fail decapsulation (implicit rejection, kem.ts): it
 * yields an unrelated secret, and the KWP integrity check then fails.
 *
 * The same constructions carry keys out (key export, `POST /v1/keys/:name/export`): Keyward wraps to
 * a caller's public key of the algorithm's wrapping key type, and the blob imports into another
 * Keyward (or unwraps with openssl / node:crypto / @noble) exactly as an import blob does.
 *
 * `material` is the key type's canonical private form (algs.ts): 32 raw bytes for aes256-gcm,
 * chacha20-poly1305 and hmac-sha256; PKCS#8 DER for ed25519, ecdsa-p256/p384 and rsa-3072/4096;
 * the 32-byte FIPS 204 seed ξ for ML-DSA; the 64-byte FIPS 203 seed d‖z for ML-KEM; the 32-byte
 * X-Wing seed; the FIPS 205 secret key SK.seed‖SK.prf‖PK.seed‖PK.root for SLH-DSA; ML-DSA-65 seed ‖
 * Ed25519 seed for ml-dsa-65-ed25519.
 *
 * Unwrapping has one failure for everything cryptographic, `WRAPPED_KEY_INVALID` with one message:
 * a bad OAEP padding and a bad KWP check must look the same, or the import endpoint becomes a
 * padding oracle for the wrapping key. Only the length, which is public, gets its own message.
 * @module
 */
import { createHash, hkdfSync, randomBytes } from 'node:crypto';
import { abytes, wipe } from '../../lib/bytes.js';
import { KeywardError } from '../../lib/errors.js';
import { decapsulate, encapsulate, kemCiphertextLength } from './kem.js';
import { KWP_MAX_PLAINTEXT_LEN, kwpUnwrap, kwpWrap, kwpWrappedLength } from './kwp.js';
import { exportPublicKey, generateKey, importPublicKey, type KeyPair } from './material.js';
import { oaepCiphertextLength, oaepDecrypt, oaepEncrypt } from './oaep.js';
import { WRAPPING_ALGORITHMS, isWrappingAlgorithm } from './types.js';
import type { KeyType, WrappingAlgorithm } from './types.js';

export { WRAPPING_ALGORITHMS, isWrappingAlgorithm } from './types.js';
export type { WrappingAlgorithm } from './types.js';

/** The key type each wrapping key is (its pair is generated and stored in that type's canonical form). */
const WRAPPING_KEY_TYPE = {
  'rsa-oaep-3072-aes-kwp': 'rsa-3072',
  'ml-kem-768': 'ml-kem-768',
  'x-wing': 'x-wing',
} as const satisfies Record<WrappingAlgorithm, KeyType>;

/** HKDF info of the ML-KEM-768 construction (module header). */
export const ML_KEM_BYOK_INFO = 'keyward/byok/v1 ml-kem-768 aes-256-kwp';
/** HKDF info of the X-Wing construction (module header). */
export const X_WING_BYOK_INFO = 'keyward/byok/v1 x-wing aes-256-kwp';
/** The HKDF info of each KEM-based construction. */
const KEM_INFO: Partial<Record<WrappingAlgorithm, string>> = {
  'ml-kem-768': ML_KEM_BYOK_INFO,
  'x-wing': X_WING_BYOK_INFO,
};
const KEK_LEN = 32;

function assertAlg(alg: unknown): asserts alg is WrappingAlgorithm {
  if (!isWrappingAlgorithm(alg))
    throw new RangeError(
      `"algorithm" expected ${WRAPPING_ALGORITHMS.join(' or ')}, got ${JSON.stringify(String(alg)).slice(0, 40)}`,
    );
}

/** The key type of `alg`'s wrapping key (`rsa-3072`, `ml-kem-768` or `x-wing`). */
export function wrappingKeyType(alg: WrappingAlgorithm): KeyType {
  assertAlg(alg);
  return WRAPPING_KEY_TYPE[alg];
}

/** Length of the asymmetric part that precedes the KWP blob. */
function headLength(alg: WrappingAlgorithm): number {
  return KEM_INFO[alg] !== undefined ? kemCiphertextLength(wrappingKeyType(alg)) : oaepCiphertextLength('rsa-3072');
}

/** What the head of `alg`'s blob is, for messages. */
const HEAD_NAME: Record<WrappingAlgorithm, string> = {
  'rsa-oaep-3072-aes-kwp': 'RSA-OAEP ciphertext',
  'ml-kem-768': 'ML-KEM-768 ciphertext',
  'x-wing': 'X-Wing ciphertext',
};

/** A fresh wrapping key pair (RSA-3072 generation takes up to a second). */
export function generateWrappingKey(alg: WrappingAlgorithm): KeyPair {
  return generateKey(wrappingKeyType(alg));
}

/** Hex SHA-256 of a wrapping public key's bytes (SPKI DER or raw): what is compared out of band and audited. */
export function wrappingKeyFingerprint(pub: Uint8Array): string {
  abytes(pub, 'publicKey');
  return createHash('sha256').update(pub).digest('hex');
}

/**
 * How the wrapping public key is published: SPKI PEM for RSA, base64 of the raw encapsulation key
 * for ML-KEM-768 (FIPS 203) and X-Wing; `fingerprint` is {@link wrappingKeyFingerprint}, for
 * checking it out of band.
 */
export function exportWrappingKey(
  alg: WrappingAlgorithm,
  pub: Uint8Array,
): { algorithm: WrappingAlgorithm; format: 'pem' | 'raw'; publicKey: string; fingerprint: string } {
  const type = wrappingKeyType(alg);
  abytes(pub, 'publicKey');
  const exported = exportPublicKey(type, pub, KEM_INFO[alg] !== undefined ? 'raw' : 'pem');
  return {
    algorithm: alg,
    format: exported.format as 'pem' | 'raw',
    publicKey: exported.publicKey as string,
    fingerprint: wrappingKeyFingerprint(pub),
  };
}

/** Parses a published wrapping key (PEM or base64 SPKI for RSA, base64 raw for the KEMs); throws `PUBLIC_KEY_INVALID`. */
export function importWrappingKey(alg: WrappingAlgorithm, text: string): Uint8Array {
  return importPublicKey(wrappingKeyType(alg), text);
}

/**
 * Parses a caller-supplied wrapping public key (key export: the receiver's key). The same forms as
 * {@link importWrappingKey}, but a failure is `WRAPPING_KEY_INVALID` naming the algorithm and what
 * it expects, since here the key is the request's input, not the server's.
 */
export function parseWrappingKey(alg: WrappingAlgorithm, text: string): Uint8Array {
  const type = wrappingKeyType(alg);
  const expected =
    KEM_INFO[alg] !== undefined
      ? `base64 of a raw ${type} public key`
      : 'an RSA-3072 public key as PEM "PUBLIC KEY" or base64 SPKI DER';
  try {
    return importPublicKey(type, text);
  } catch (e) {
    if (!(e instanceof KeywardError)) throw e;
    throw new KeywardError('WRAPPING_KEY_INVALID', `wrappingKey: ${alg} expects ${expected} (${e.message})`, {
      cause: e,
    });
  }
}

function kemKek(alg: WrappingAlgorithm, sharedSecret: Uint8Array): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', sharedSecret, new Uint8Array(0), KEM_INFO[alg]!, KEK_LEN));
}

/**
 * Wraps canonical key `material` under the wrapping public key `wrappingPub`: for import (what the
 * CLI does on the user's machine) and for export (what the server does for a caller's public key).
 * Returns `head ‖ AES-256-KWP(kek, material)` (module header).
 */
export function wrapKeyMaterial(alg: WrappingAlgorithm, wrappingPub: Uint8Array, material: Uint8Array): Uint8Array {
  const type = wrappingKeyType(alg);
  abytes(wrappingPub, 'wrappingPublicKey');
  abytes(material, 'material');
  let head: Uint8Array;
  let kek: Uint8Array;
  if (KEM_INFO[alg] !== undefined) {
    const enc = encapsulate(type, wrappingPub);
    head = enc.ciphertext;
    kek = kemKek(alg, enc.sharedSecret);
    wipe(enc.sharedSecret);
  } else {
    kek = new Uint8Array(randomBytes(KEK_LEN));
    head = oaepEncrypt(type, wrappingPub, kek);
  }
  try {
    const body = kwpWrap(kek, material);
    const out = new Uint8Array(head.length + body.length);
    out.set(head, 0);
    out.set(body, head.length);
    return out;
  } finally {
    wipe(kek);
  }
}

function invalid(): KeywardError<'WRAPPED_KEY_INVALID'> {
  return new KeywardError(
    'WRAPPED_KEY_INVALID',
    'the wrapped key does not unwrap with the wrapping key (wrong wrapping key or algorithm, or modified)',
  );
}

/**
 * Unwraps an import blob with the wrapping private key `wrappingPriv` (the canonical private form of
 * {@link wrappingKeyType}). `wrapped` is attacker input. Returns the material (secret: wipe it).
 * Throws `WRAPPED_KEY_INVALID`: naming the expected size for a blob of impossible length, otherwise
 * with one message for every cryptographic failure.
 */
export function unwrapKeyMaterial(alg: WrappingAlgorithm, wrappingPriv: Uint8Array, wrapped: Uint8Array): Uint8Array {
  const type = wrappingKeyType(alg);
  abytes(wrappingPriv, 'wrappingPrivateKey');
  if (!(wrapped instanceof Uint8Array))
    throw new KeywardError('WRAPPED_KEY_INVALID', `wrappedKey: expected bytes, got ${typeof wrapped}`);
  const head = headLength(alg);
  const min = head + kwpWrappedLength(1);
  const max = head + kwpWrappedLength(KWP_MAX_PLAINTEXT_LEN);
  if (wrapped.length < min || wrapped.length > max || (wrapped.length - head) % 8 !== 0) {
    throw new KeywardError(
      'WRAPPED_KEY_INVALID',
      `wrappedKey: expected ${head} bytes of ${HEAD_NAME[alg]} then an AES-KWP blob (a multiple of 8, at least 16 bytes), got ${wrapped.length} bytes in all`,
    );
  }
  let kek: Uint8Array;
  if (KEM_INFO[alg] !== undefined) {
    let ss: Uint8Array;
    try {
      ss = decapsulate(type, wrappingPriv, wrapped.subarray(0, head));
    } catch {
      // X-Wing refuses a low-order X25519 part: one failure for everything, as below.
      throw invalid();
    }
    kek = kemKek(alg, ss);
    wipe(ss);
  } else {
    try {
      kek = oaepDecrypt(type, wrappingPriv, wrapped.subarray(0, head));
    } catch {
      throw invalid();
    }
    // A 318-byte OAEP payload is possible; only a 32-byte AES-256 KEK is ours. Same message.
    if (kek.length !== KEK_LEN) {
      wipe(kek);
      throw invalid();
    }
  }
  try {
    const material = kwpUnwrap(kek, wrapped.subarray(head));
    if (material === undefined) throw invalid();
    return material;
  } finally {
    wipe(kek);
  }
}
