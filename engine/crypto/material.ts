/**
 * Key material: generation, public halves, and import/export of public and private keys.
 *
 * Private keys travel as one canonical byte string per type (listed in algs.ts): raw 32 bytes for
 * symmetric keys, PKCS#8 DER for node:crypto types, FIPS seeds / secret keys for post-quantum types,
 * and ML-DSA-65 seed ‖ Ed25519 seed for the composite. Public keys are SPKI DER for node:crypto
 * types and the raw FIPS 203/204/205 / X-Wing encodings for post-quantum types; the composite's is
 * ML-DSA-65 pk (1952) ‖ Ed25519 pk (32), as in draft-ietf-lamps-pq-composite-sigs §4.1.
 *
 * Imported public keys are attacker input: they are parsed strictly and checked for algorithm,
 * curve, size, point validity, small order (Ed25519) and the FIPS 203 §7.2 modulus check (ML-KEM).
 * @module
 */
import { Buffer } from 'node:buffer';
import {
  constants,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  sign as nodeSign,
  verify as nodeVerify,
  type JsonWebKey,
  type KeyObject,
} from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { p256, p384 } from '@noble/curves/nist.js';
import { abytes, concatBytes, fromBase64, toBase64 } from '../../lib/bytes.js';
import { KeywardError } from '../../lib/errors.js';
import {
  COMPOSITE_PRIVATE_LEN,
  COMPOSITE_PUBLIC_LEN,
  ECDSA,
  ED25519_PUBLIC_LEN,
  ML_DSA,
  ML_DSA_SEED_LEN,
  ML_KEM,
  ML_KEM_SEED_LEN,
  RSA,
  RSA_PUBLIC_EXPONENT,
  SLH_DSA,
  SYMMETRIC_KEY_LEN,
  X_WING,
  X_WING_SEED_LEN,
  isEcdsa,
  isMlDsa,
  isMlKem,
  isNodeAsym,
  isRsa,
  isSlhDsa,
  isSymmetric,
  type NodeAsymType,
} from './algs.js';
import { assertKeyType, type KeyType } from './types.js';

export interface KeyPair {
  /** Canonical private form (see module header). Secret: wipe when done. */
  readonly private: Uint8Array;
  /** Canonical public form, or null for symmetric keys. */
  readonly public: Uint8Array | null;
}

export type PublicKeyFormat = 'pem' | 'jwk' | 'raw';

/** What `GET /v1/keys/:name/public` returns: PEM text, a JWK object, or base64 raw bytes. */
export type ExportedPublicKey =
  | { readonly format: 'pem'; readonly publicKey: string }
  | { readonly format: 'jwk'; readonly publicKey: JsonWebKey }
  | { readonly format: 'raw'; readonly publicKey: string };

/** A Node Buffer view of `u` (no copy) for node:crypto APIs typed on Buffer. */
export function buf(u: Uint8Array): Buffer {
  return Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

function u8(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/** Generates a fresh key of `type`. RSA and SLH-DSA-*s keygen take seconds: use the pool. */
export function generateKey(type: KeyType): KeyPair {
  assertKeyType(type);
  if (isSymmetric(type)) return { private: u8(randomBytes(SYMMETRIC_KEY_LEN)), public: null };
  if (isNodeAsym(type)) {
    const { privateKey, publicKey } = nodeKeyPair(type);
    return {
      private: u8(privateKey.export({ format: 'der', type: 'pkcs8' })),
      public: u8(publicKey.export({ format: 'der', type: 'spki' })),
    };
  }
  if (isMlDsa(type)) return fromSeed(type, u8(randomBytes(ML_DSA_SEED_LEN)));
  if (isMlKem(type)) return fromSeed(type, u8(randomBytes(ML_KEM_SEED_LEN)));
  if (type === 'x-wing') return fromSeed(type, u8(randomBytes(X_WING_SEED_LEN)));
  if (type === 'ml-dsa-65-ed25519') return fromSeed(type, u8(randomBytes(COMPOSITE_PRIVATE_LEN)));
  if (isSlhDsa(type)) {
    const { secretKey, publicKey } = SLH_DSA[type].keygen();
    return { private: secretKey, public: publicKey };
  }
  throw new RangeError(`unhandled key type ${type}`);
}

function nodeKeyPair(type: NodeAsymType): { privateKey: KeyObject; publicKey: KeyObject } {
  if (type === 'ed25519') return generateKeyPairSync('ed25519');
  if (isEcdsa(type)) return generateKeyPairSync('ec', { namedCurve: ECDSA[type].namedCurve });
  return generateKeyPairSync('rsa', { modulusLength: RSA[type].bits, publicExponent: RSA_PUBLIC_EXPONENT });
}

function fromSeed(type: KeyType, seed: Uint8Array): KeyPair {
  return { private: seed, public: publicKeyOf(type, seed) };
}

/**
 * The canonical public key of the canonical private key `priv`, or null for symmetric types.
 * Throws RangeError/TypeError for a malformed private key (it came from our own store).
 */
export function publicKeyOf(type: KeyType, priv: Uint8Array): Uint8Array | null {
  assertKeyType(type);
  abytes(priv, 'privateKey');
  if (isSymmetric(type)) return null;
  if (isNodeAsym(type)) {
    const key = createPrivateKey({ key: buf(priv), format: 'der', type: 'pkcs8' });
    return u8(createPublicKey(key).export({ format: 'der', type: 'spki' }));
  }
  if (isMlDsa(type)) {
    abytes(priv, 'privateKey', ML_DSA_SEED_LEN);
    return ML_DSA[type].keygen(priv).publicKey;
  }
  if (isMlKem(type)) {
    abytes(priv, 'privateKey', ML_KEM_SEED_LEN);
    return ML_KEM[type].keygen(priv).publicKey;
  }
  if (type === 'x-wing') {
    abytes(priv, 'privateKey', X_WING_SEED_LEN);
    return X_WING.getPublicKey(priv);
  }
  if (isSlhDsa(type)) {
    abytes(priv, 'privateKey', SLH_DSA[type].lengths.secretKey);
    return SLH_DSA[type].getPublicKey(priv);
  }
  if (type === 'ml-dsa-65-ed25519') {
    abytes(priv, 'privateKey', COMPOSITE_PRIVATE_LEN);
    const mldsa = ML_DSA['ml-dsa-65'].keygen(priv.subarray(0, ML_DSA_SEED_LEN)).publicKey;
    return concatBytes(mldsa, ed25519.getPublicKey(priv.subarray(ML_DSA_SEED_LEN)));
  }
  throw new RangeError(`unhandled key type ${type}`);
}

function invalidPublic(type: KeyType, why: string, cause?: unknown): KeywardError<'PUBLIC_KEY_INVALID'> {
  return new KeywardError(
    'PUBLIC_KEY_INVALID',
    `${type} public key: ${why}`,
    cause === undefined ? undefined : { cause },
  );
}

function invalidPrivate(type: KeyType, why: string, cause?: unknown): KeywardError<'PRIVATE_KEY_INVALID'> {
  return new KeywardError(
    'PRIVATE_KEY_INVALID',
    `${type} private key: ${why}`,
    cause === undefined ? undefined : { cause },
  );
}

/** Expected raw public key length of a post-quantum / hybrid type. */
function pqPublicLen(type: KeyType): number | undefined {
  if (isMlDsa(type)) return ML_DSA[type].lengths.publicKey;
  if (isSlhDsa(type)) return SLH_DSA[type].lengths.publicKey;
  if (isMlKem(type)) return ML_KEM[type].lengths.publicKey;
  if (type === 'x-wing') return X_WING.lengths.publicKey;
  if (type === 'ml-dsa-65-ed25519') return COMPOSITE_PUBLIC_LEN;
  return undefined;
}

/** Throws PUBLIC_KEY_INVALID unless `raw` is a canonical, prime-order Ed25519 point (RFC 8032 §5.1.3). */
function checkEd25519Point(type: KeyType, raw: Uint8Array): void {
  let small: boolean;
  try {
    // zip215=false: strict RFC 8032 decoding, rejects non-canonical y ≥ p.
    small = ed25519.Point.fromBytes(raw, false).isSmallOrder();
  } catch (e) {
    throw invalidPublic(type, 'expected a valid Ed25519 point encoding', e);
  }
  if (small) throw invalidPublic(type, 'expected a point of large order, got a small-order point');
}

/**
 * Checks a node:crypto public KeyObject against `type` and returns its canonical SPKI DER.
 * RSA: modulus exactly 3072/4096 bits and e = 65537 (the only exponent Keyward generates or
 * accepts). ECDSA: the named curve, and the point re-validated by noble. Ed25519: prime order.
 */
function checkNodePublic(type: NodeAsymType, key: KeyObject): Uint8Array {
  const details = key.asymmetricKeyDetails ?? {};
  if (type === 'ed25519') {
    if (key.asymmetricKeyType !== 'ed25519')
      throw invalidPublic(type, `expected an Ed25519 key, got ${key.asymmetricKeyType ?? 'unknown'}`);
    const spki = u8(key.export({ format: 'der', type: 'spki' }));
    checkEd25519Point(type, spki.subarray(spki.length - ED25519_PUBLIC_LEN));
    return spki;
  }
  if (isEcdsa(type)) {
    const p = ECDSA[type];
    if (key.asymmetricKeyType !== 'ec')
      throw invalidPublic(type, `expected an EC key, got ${key.asymmetricKeyType ?? 'unknown'}`);
    if (details.namedCurve !== p.namedCurve)
      throw invalidPublic(type, `expected curve ${p.jwkCrv}, got ${details.namedCurve ?? 'unknown'}`);
    const jwk = key.export({ format: 'jwk' });
    try {
      const point = concatBytes(new Uint8Array([4]), fromB64url(jwk.x), fromB64url(jwk.y));
      (type === 'ecdsa-p256' ? p256 : p384).Point.fromBytes(point).assertValidity();
    } catch (e) {
      throw invalidPublic(type, 'expected a valid curve point', e);
    }
    return u8(key.export({ format: 'der', type: 'spki' }));
  }
  if (isRsa(type)) {
    if (key.asymmetricKeyType !== 'rsa')
      throw invalidPublic(type, `expected an RSA key (rsaEncryption), got ${key.asymmetricKeyType ?? 'unknown'}`);
    if (details.modulusLength !== RSA[type].bits)
      throw invalidPublic(type, `expected a ${RSA[type].bits}-bit modulus, got ${details.modulusLength ?? 'unknown'}`);
    if (details.publicExponent !== BigInt(RSA_PUBLIC_EXPONENT))
      throw invalidPublic(type, `expected public exponent ${RSA_PUBLIC_EXPONENT}`);
    return u8(key.export({ format: 'der', type: 'spki' }));
  }
  throw new RangeError(`unhandled key type ${String(type)}`);
}

function fromB64url(s: string | undefined): Uint8Array {
  if (typeof s !== 'string') throw new RangeError('missing JWK coordinate');
  return u8(Buffer.from(s, 'base64url'));
}

/**
 * Imports a public key for a verify/encapsulate-only key (from a request: attacker input).
 * Classical types take PEM text (`-----BEGIN PUBLIC KEY-----`), base64 SPKI DER text, or SPKI DER
 * bytes; post-quantum and hybrid types take base64 raw text or raw bytes. Returns the canonical
 * public form. Throws `PUBLIC_KEY_INVALID` saying what was expected.
 */
export function importPublicKey(type: KeyType, input: string | Uint8Array): Uint8Array {
  assertKeyType(type);
  if (typeof input !== 'string' && !(input instanceof Uint8Array))
    throw invalidPublic(type, `expected a string or bytes, got ${typeof input}`);
  if (isSymmetric(type)) throw invalidPublic(type, 'symmetric key types have no public key');
  if (isNodeAsym(type)) {
    let key: KeyObject;
    try {
      if (typeof input === 'string' && input.trimStart().startsWith('-----BEGIN PUBLIC KEY-----')) {
        key = createPublicKey({ key: input, format: 'pem' });
      } else {
        const der =
          typeof input === 'string'
            ? fromBase64(input.trim(), 'publicKey', { min: 1, max: 4096 }, 'PUBLIC_KEY_INVALID')
            : input;
        key = createPublicKey({ key: buf(der), format: 'der', type: 'spki' });
      }
    } catch (e) {
      if (e instanceof KeywardError) throw e;
      throw invalidPublic(type, 'expected PEM "PUBLIC KEY" or SPKI DER', e);
    }
    if (key.type !== 'public') throw invalidPublic(type, 'expected a public key');
    return checkNodePublic(type, key);
  }
  const len = pqPublicLen(type);
  if (len === undefined) throw new RangeError(`unhandled key type ${type}`);
  const raw =
    typeof input === 'string'
      ? fromBase64(input.trim(), 'publicKey', len, 'PUBLIC_KEY_INVALID')
      : new Uint8Array(input);
  if (raw.length !== len) throw invalidPublic(type, `expected ${len} bytes, got ${raw.length}`);
  if (isMlKem(type) || type === 'x-wing') {
    // FIPS 203 §7.2 encapsulation key check (modulus check), done by noble's encapsulate.
    try {
      (type === 'x-wing' ? X_WING : ML_KEM[type]).encapsulate(raw);
    } catch (e) {
      throw invalidPublic(type, 'failed the FIPS 203 encapsulation key check', e);
    }
  }
  if (type === 'ml-dsa-65-ed25519') checkEd25519Point(type, raw.subarray(len - ED25519_PUBLIC_LEN));
  return raw;
}

/**
 * Imports canonical private key material (BYOK, after unwrapping) and returns the validated,
 * normalized pair. Throws `PRIVATE_KEY_INVALID`. For node:crypto types the input is PKCS#8 DER;
 * for the others it is the canonical form of algs.ts (seeds, SLH-DSA secret key). node:crypto types
 * pass a pairwise consistency test (sign, then verify with the derived public key); seed-based types
 * are consistent by construction (the public key is recomputed from the seed).
 * SLH-DSA: only the length and PK.seed/PK.root layout are checked; recomputing PK.root would take
 * seconds for the -s parameter sets.
 */
export function importPrivateKey(type: KeyType, bytes: Uint8Array): KeyPair {
  assertKeyType(type);
  if (!(bytes instanceof Uint8Array)) throw invalidPrivate(type, `expected bytes, got ${typeof bytes}`);
  const want = privateLen(type);
  if (want !== undefined && bytes.length !== want)
    throw invalidPrivate(type, `expected ${want} bytes, got ${bytes.length}`);
  const priv = new Uint8Array(bytes);
  if (isSymmetric(type)) return { private: priv, public: null };
  if (isNodeAsym(type)) {
    let key: KeyObject;
    try {
      key = createPrivateKey({ key: buf(priv), format: 'der', type: 'pkcs8' });
    } catch (e) {
      throw invalidPrivate(type, 'expected PKCS#8 DER', e);
    }
    let pub: Uint8Array;
    try {
      pub = checkNodePublic(type, createPublicKey(key));
    } catch (e) {
      throw invalidPrivate(type, e instanceof KeywardError ? e.message : 'unexpected key', e);
    }
    if (!pairwiseConsistent(type, key))
      throw invalidPrivate(
        type,
        'the private key does not match the public key it carries (pairwise consistency test failed)',
      );
    priv.fill(0);
    return { private: u8(key.export({ format: 'der', type: 'pkcs8' })), public: pub };
  }
  return { private: priv, public: publicKeyOf(type, priv) };
}

const PCT_MESSAGE = new TextEncoder().encode('keyward/pairwise-consistency-test/v1');

/**
 * Pairwise consistency test (FIPS 140-3 IG 10.3.A style) for an imported node:crypto private key:
 * sign with it, verify with the public key node:crypto derives from it. Needed because PKCS#8 may
 * carry the public key next to the private one (ECPrivateKey's publicKey, OneAsymmetricKey v2), and
 * OpenSSL trusts that copy: a key with `d` of one pair and the point of another would otherwise be
 * stored with a public key its signatures never verify under. For RSA it also catches inconsistent
 * CRT parameters. ~3 ms for RSA-3072, well under 1 ms for the curves.
 */
function pairwiseConsistent(type: NodeAsymType, key: KeyObject): boolean {
  const pub = createPublicKey(key);
  try {
    if (type === 'ed25519') return nodeVerify(null, PCT_MESSAGE, pub, nodeSign(null, PCT_MESSAGE, key));
    if (isEcdsa(type))
      return nodeVerify(ECDSA[type].hash, PCT_MESSAGE, pub, nodeSign(ECDSA[type].hash, PCT_MESSAGE, key));
    const pss = { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 };
    return nodeVerify('sha256', PCT_MESSAGE, { key: pub, ...pss }, nodeSign('sha256', PCT_MESSAGE, { key, ...pss }));
  } catch {
    return false;
  }
}

function privateLen(type: KeyType): number | undefined {
  if (isSymmetric(type)) return SYMMETRIC_KEY_LEN;
  if (isMlDsa(type)) return ML_DSA_SEED_LEN;
  if (isMlKem(type)) return ML_KEM_SEED_LEN;
  if (type === 'x-wing') return X_WING_SEED_LEN;
  if (isSlhDsa(type)) return SLH_DSA[type].lengths.secretKey;
  if (type === 'ml-dsa-65-ed25519') return COMPOSITE_PRIVATE_LEN;
  return undefined;
}

/** JOSE/COSE algorithm names for the "AKP" JWKs of draft-ietf-cose-dilithium / -sphincs-plus. */
const AKP_ALG: Partial<Record<KeyType, string>> = {
  'ml-dsa-44': 'ML-DSA-44',
  'ml-dsa-65': 'ML-DSA-65',
  'ml-dsa-87': 'ML-DSA-87',
  'slh-dsa-sha2-128s': 'SLH-DSA-SHA2-128s',
  'slh-dsa-sha2-128f': 'SLH-DSA-SHA2-128f',
  'slh-dsa-sha2-256s': 'SLH-DSA-SHA2-256s',
};

function formatUnsupported(type: KeyType, format: string): KeywardError<'FORMAT_UNSUPPORTED'> {
  return new KeywardError('FORMAT_UNSUPPORTED', `${type} public keys cannot be exported as ${format}`);
}

/**
 * Exports a canonical public key:
 * - `pem`: SPKI PEM (node:crypto types only);
 * - `jwk`: RFC 7517/8037 JWK for Ed25519, ECDSA, RSA (alg PS256 for RSA-PSS, ES256/ES384, EdDSA);
 *   `{kty: "AKP", alg, pub}` for ML-DSA and SLH-DSA (draft-ietf-cose-dilithium, -sphincs-plus);
 * - `raw`: base64 of Ed25519's 32 bytes, ECDSA's SEC1 uncompressed point, or the post-quantum raw
 *   encoding. Anything else throws `FORMAT_UNSUPPORTED`.
 */
export function exportPublicKey(type: KeyType, pub: Uint8Array, format: PublicKeyFormat): ExportedPublicKey {
  assertKeyType(type);
  abytes(pub, 'publicKey');
  if (format !== 'pem' && format !== 'jwk' && format !== 'raw')
    throw new RangeError(`"format" expected pem, jwk or raw, got ${String(format)}`);
  if (isSymmetric(type)) throw formatUnsupported(type, format);
  if (isNodeAsym(type)) {
    const key = createPublicKey({ key: buf(pub), format: 'der', type: 'spki' });
    if (format === 'pem') return { format, publicKey: String(key.export({ format: 'pem', type: 'spki' })) };
    const jwk = key.export({ format: 'jwk' });
    if (format === 'jwk') {
      const alg =
        type === 'ed25519' ? 'EdDSA' : type === 'ecdsa-p256' ? 'ES256' : type === 'ecdsa-p384' ? 'ES384' : 'PS256';
      return { format, publicKey: { ...jwk, alg, use: 'sig' } };
    }
    if (type === 'ed25519') return { format, publicKey: toBase64(fromB64url(jwk.x)) };
    if (isEcdsa(type))
      return { format, publicKey: toBase64(concatBytes(new Uint8Array([4]), fromB64url(jwk.x), fromB64url(jwk.y))) };
    throw formatUnsupported(type, format);
  }
  if (format === 'raw') return { format, publicKey: toBase64(pub) };
  const alg = AKP_ALG[type];
  if (format === 'jwk' && alg !== undefined) {
    return { format, publicKey: { kty: 'AKP', alg, pub: Buffer.from(pub).toString('base64url') } };
  }
  throw formatUnsupported(type, format);
}
