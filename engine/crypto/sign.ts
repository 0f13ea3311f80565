/**
 * Signatures: Ed25519 (RFC 8032), ECDSA P-256/SHA-256 and P-384/SHA-384 (FIPS 186-5), RSASSA-PSS
 * with SHA-256, MGF1-SHA-256 and a 32-byte salt (RFC 8017 §8.1; options choose the digest, the salt
 * length or RSASSA-PKCS1-v1_5 §8.2, as Vault transit clients ask), ML-DSA (FIPS 204, pure mode, with
 * context strings), SLH-DSA (FIPS 205, pure mode, with context strings), and the composite
 * ML-DSA-65 + Ed25519 of draft-ietf-lamps-pq-composite-sigs-13.
 *
 * `verify` never throws on a bad signature: malformed, truncated, over-long, wrong key, non-canonical
 * (and high-S when low S is required) all return false. It throws only for programmer errors (a public key that is not ours)
 * and for request options the key type cannot honour (`OPTION_UNSUPPORTED` / `OPTION_INVALID`).
 *
 * ECDSA and high S. ECDSA signatures are malleable: (r, s) and (r, n−s) both verify under FIPS
 * 186-5 §6.4.2, and OpenSSL (hence every `openssl dgst -sign`, node:crypto, most HSMs) signs with
 * either. Keyward's rule: `sign` always returns low-S (s ≤ n/2, normalized after OpenSSL signs),
 * and `verify` accepts both, as FIPS 186-5, AWS KMS and Vault do, unless the caller passes
 * `requireLowS: true` (profiles that demand canonical signatures, such as Bitcoin's BIP 62/146;
 * a key option, engine/keys/service.ts). @noble/curves' own default (`lowS: true`) would reject
 * about half of OpenSSL's signatures, so it is never relied on here. DER must be strict DER
 * (re-encoding must give the same bytes: no long-form lengths, padding zeros or trailing data);
 * P1363 must be exactly 2 × field length; r, s ∈ [1, n−1].
 *
 * Ed25519: verification is OpenSSL's (cofactorless, S < L enforced), and additionally the public
 * key must be a canonical encoding of a point that is not of small order (checked at import and in
 * verify), so a small-order key cannot "verify" forged signatures. Ed25519ctx/ph are not exposed.
 *
 * Composite ML-DSA-65 + Ed25519 (draft-ietf-lamps-pq-composite-sigs-13 §2.2 and §4, "id-MLDSA65-
 * Ed25519-SHA512"):
 *
 *   M'        = Prefix ‖ Label ‖ len(ctx) (1 byte) ‖ ctx ‖ SHA-512(M)
 *   Prefix    = "CompositeAlgorithmSignatures2025" (ASCII, 32 bytes)
 *   Label     = "COMPSIG-MLDSA65-Ed25519-SHA512" (ASCII)
 *   mldsaSig  = ML-DSA-65.Sign(mldsaSK, M', ctx = Label)        (hedged)
 *   edSig     = Ed25519.Sign(edSK, M')
 *   signature = mldsaSig (3309) ‖ edSig (64)                     = 3373 bytes
 *   publicKey = mldsaPK (1952) ‖ edPK (32);  privateKey = mldsaSeed (32) ‖ edSeed (32)
 *
 * Verification accepts only if BOTH components verify. `context` is the composite ctx (≤ 255 bytes).
 * @module
 */
import {
  constants,
  createPrivateKey,
  createPublicKey,
  KeyObject,
  sign as nodeSign,
  verify as nodeVerify,
} from 'node:crypto';
import { sha512 } from '@noble/hashes/sha2.js';
import { ed25519 } from '@noble/curves/ed25519.js';
import { p256, p384 } from '@noble/curves/nist.js';
import { abytes, concatBytes, wipe } from '../../lib/bytes.js';
import { KeywardError } from '../../lib/errors.js';
import {
  COMPOSITE_MLDSA_SIG_LEN,
  COMPOSITE_PRIVATE_LEN,
  COMPOSITE_PUBLIC_LEN,
  COMPOSITE_SIG_LEN,
  ECDSA,
  ED25519_PUBLIC_LEN,
  ML_DSA,
  ML_DSA_SEED_LEN,
  RSA,
  SLH_DSA,
  isEcdsa,
  isMlDsa,
  isNodeAsym,
  isRsa,
  isSlhDsa,
  type EcdsaType,
} from './algs.js';
import { expandedParts, type WorkingKey } from './expanded.js';
import { formatVersioned, parseVersioned } from './format.js';
import { mlDsaSign, mlDsaVerify } from './pq.js';
import { buf } from './material.js';
import { assertSupports, type KeyType } from './types.js';

export type SignatureEncoding = 'der' | 'p1363';

/**
 * Digests ECDSA and RSA may sign over (node:crypto / OpenSSL names). The default is each type's own:
 * SHA-256 for P-256 and RSA, SHA-384 for P-384. SHA-1 is not offered (SHAttered, 2017).
 */
export const SIGNATURE_HASHES = [
  'sha224',
  'sha256',
  'sha384',
  'sha512',
  'sha3-224',
  'sha3-256',
  'sha3-384',
  'sha3-512',
] as const;
export type SignatureHash = (typeof SIGNATURE_HASHES)[number];
const HASH_LEN: Readonly<Record<SignatureHash, number>> = {
  sha224: 28,
  sha256: 32,
  sha384: 48,
  sha512: 64,
  'sha3-224': 28,
  'sha3-256': 32,
  'sha3-384': 48,
  'sha3-512': 64,
};

export interface SignOptions {
  /** ECDSA only: ASN.1 DER (default) or IEEE P1363 r‖s. */
  readonly encoding?: SignatureEncoding | undefined;
  /** FIPS 204/205 context string (ML-DSA, SLH-DSA) or the composite ctx; at most 255 bytes. */
  readonly context?: Uint8Array | undefined;
  /** ECDSA only: `message` is already the digest (of `hash`: by default SHA-256 for P-256, SHA-384 for P-384). */
  readonly prehashed?: boolean | undefined;
  /** ECDSA and RSA only: the digest to sign over (default: the type's own, see {@link SignatureHash}). */
  readonly hash?: SignatureHash | undefined;
  /** RSA only: RSASSA-PSS (default) or RSASSA-PKCS1-v1_5 (RFC 8017 §8.2). */
  readonly rsaPadding?: 'pss' | 'pkcs1v15' | undefined;
  /**
   * RSA-PSS only: the salt length in bytes (default 32), `'hash'` (the digest's length) or `'auto'`
   * (Go's PSSSaltLengthAuto, Vault transit's default: the largest salt when signing, any salt when
   * verifying).
   */
  readonly pssSaltLength?: number | 'hash' | 'auto' | undefined;
}

export interface VerifyOptions extends SignOptions {
  /** ECDSA only: reject high-S signatures, s > n/2 (see module header). Default false: both verify. */
  readonly requireLowS?: boolean | undefined;
}

export const MAX_CONTEXT_LEN = 255;
const RSA_PSS_SALT_LEN = 32;
const ED25519_SIG_LEN = 64;
const COMPOSITE_PREFIX = new TextEncoder().encode('CompositeAlgorithmSignatures2025');
const COMPOSITE_LABEL = new TextEncoder().encode('COMPSIG-MLDSA65-Ed25519-SHA512');

const CURVE = { 'ecdsa-p256': p256, 'ecdsa-p384': p384 } as const;

function unsupported(type: KeyType, what: string): KeywardError<'OPTION_UNSUPPORTED'> {
  return new KeywardError('OPTION_UNSUPPORTED', `${type} does not support ${what}`);
}

/**
 * Validates sign/verify options against the key type and message; throws OPTION_UNSUPPORTED /
 * OPTION_INVALID. `sign` and `verify` run it themselves; a caller that may answer "invalid" before
 * reaching `verify` (an unparsable signature) runs it first, so a bad option is always reported.
 */
export function assertSignOptions(type: KeyType, message: Uint8Array, opts: VerifyOptions): void {
  assertSupports(type, 'verify');
  checkOptions(type, message, opts);
}

function checkOptions(type: KeyType, message: Uint8Array, opts: VerifyOptions): void {
  if (opts.encoding !== undefined) {
    if (opts.encoding !== 'der' && opts.encoding !== 'p1363') {
      throw new KeywardError(
        'OPTION_INVALID',
        `encoding: expected "der" or "p1363", got ${JSON.stringify(String(opts.encoding)).slice(0, 40)}`,
      );
    }
    if (!isEcdsa(type)) throw unsupported(type, 'a signature encoding (ECDSA only)');
  }
  if (opts.context !== undefined) {
    abytes(opts.context, 'context');
    if (!isMlDsa(type) && !isSlhDsa(type) && type !== 'ml-dsa-65-ed25519')
      throw unsupported(type, 'a context string (ML-DSA, SLH-DSA and composite only)');
    if (opts.context.length > MAX_CONTEXT_LEN)
      throw new KeywardError(
        'OPTION_INVALID',
        `context: expected at most ${MAX_CONTEXT_LEN} bytes, got ${opts.context.length}`,
      );
  }
  if (opts.requireLowS && !isEcdsa(type)) throw unsupported(type, 'requireLowS (ECDSA only)');
  if (opts.hash !== undefined) {
    if (!(SIGNATURE_HASHES as readonly string[]).includes(opts.hash)) {
      throw new KeywardError(
        'OPTION_INVALID',
        `hash: expected one of ${SIGNATURE_HASHES.join(', ')}, got ${JSON.stringify(String(opts.hash)).slice(0, 40)}`,
      );
    }
    if (!isEcdsa(type) && !isRsa(type)) throw unsupported(type, 'a choice of digest (ECDSA and RSA only)');
  }
  if (opts.rsaPadding !== undefined) {
    if (opts.rsaPadding !== 'pss' && opts.rsaPadding !== 'pkcs1v15')
      throw new KeywardError(
        'OPTION_INVALID',
        `rsaPadding: expected "pss" or "pkcs1v15", got ${JSON.stringify(String(opts.rsaPadding)).slice(0, 40)}`,
      );
    if (!isRsa(type)) throw unsupported(type, 'an RSA signature padding (RSA only)');
  }
  if (opts.pssSaltLength !== undefined) {
    if (!isRsa(type) || opts.rsaPadding === 'pkcs1v15')
      throw unsupported(
        type,
        opts.rsaPadding === 'pkcs1v15'
          ? 'a salt length with PKCS#1 v1.5 padding (PSS only)'
          : 'a PSS salt length (RSA only)',
      );
    const s = opts.pssSaltLength;
    // RFC 8017 §9.1.1: emLen ≥ hLen + sLen + 2.
    const max = RSA[type].bits / 8 - HASH_LEN[opts.hash ?? 'sha256'] - 2;
    if (s !== 'hash' && s !== 'auto' && !(Number.isSafeInteger(s) && s >= 0 && s <= max)) {
      throw new KeywardError(
        'OPTION_INVALID',
        `pssSaltLength: expected "auto", "hash" or an integer 0 to ${max}, got ${JSON.stringify(String(s)).slice(0, 40)}`,
      );
    }
  }
  if (opts.prehashed) {
    if (!isEcdsa(type)) throw unsupported(type, 'prehashed messages (ECDSA only; ML-DSA/SLH-DSA sign in pure mode)');
    const hash = opts.hash ?? ECDSA[type].hash;
    const want = HASH_LEN[hash];
    if (message.length !== want)
      throw new KeywardError(
        'OPTION_INVALID',
        `prehashed: expected a ${want}-byte ${hash.toUpperCase()} digest, got ${message.length} bytes`,
      );
  }
}

/** node:crypto's RSA options for `opts` (PSS with a 32-byte salt and SHA-256 unless told otherwise). */
function rsaParams(
  opts: SignOptions,
  verifying: boolean,
): { hash: SignatureHash; padding: number; saltLength?: number } {
  const hash = opts.hash ?? 'sha256';
  if (opts.rsaPadding === 'pkcs1v15') return { hash, padding: constants.RSA_PKCS1_PADDING };
  const s = opts.pssSaltLength ?? RSA_PSS_SALT_LEN;
  const saltLength =
    s === 'hash'
      ? constants.RSA_PSS_SALTLEN_DIGEST
      : s === 'auto'
        ? verifying
          ? constants.RSA_PSS_SALTLEN_AUTO
          : constants.RSA_PSS_SALTLEN_MAX_SIGN
        : s;
  return { hash, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength };
}

function privateKeyObject(priv: Uint8Array): KeyObject {
  return createPrivateKey({ key: buf(priv), format: 'der', type: 'pkcs8' });
}

/** node:crypto's `asymmetricKeyType` of each type whose private key has a parsed form. */
const KEY_OBJECT_TYPE = {
  ed25519: 'ed25519',
  'ecdsa-p256': 'ec',
  'ecdsa-p384': 'ec',
  'rsa-3072': 'rsa',
  'rsa-4096': 'rsa',
};

/** True when `type`'s private key has a parsed form (a node:crypto KeyObject): Ed25519, ECDSA, RSA. */
export function hasParsedForm(type: KeyType): boolean {
  return isNodeAsym(type);
}

/**
 * The parsed form of the canonical (PKCS#8 DER) private key `priv` of `type`: a node:crypto
 * KeyObject that {@link sign} takes in place of the bytes and gives the same signatures with, without
 * re-parsing the DER on every call (about as long as an Ed25519 signature itself). For callers that
 * use one key many times (engine/keys/material.ts caches them beside the material). A KeyObject
 * cannot be zeroized from JS: drop it, and OpenSSL clears the key when it is freed.
 * Throws RangeError for a type without one ({@link hasParsedForm}) or DER of another key type.
 */
export function parsePrivateKey(type: KeyType, priv: Uint8Array): KeyObject {
  if (!isNodeAsym(type)) throw new RangeError(`"type" expected Ed25519, ECDSA or RSA, got ${type}`);
  abytes(priv, 'privateKey');
  return checkedKeyObject(type, privateKeyObject(priv));
}

function checkedKeyObject(type: KeyType, key: KeyObject): KeyObject {
  const want = (KEY_OBJECT_TYPE as Partial<Record<KeyType, string>>)[type];
  if (want === undefined || key.type !== 'private' || key.asymmetricKeyType !== want)
    throw new RangeError(
      `"privateKey" expected a private ${type} KeyObject, got a ${key.type} ${key.asymmetricKeyType ?? 'secret'} key`,
    );
  return key;
}

function publicKeyObject(pub: Uint8Array): KeyObject {
  return createPublicKey({ key: buf(pub), format: 'der', type: 'spki' });
}

/** The composite message representative M' (module header). */
export function compositeMessage(message: Uint8Array, ctx: Uint8Array): Uint8Array {
  return concatBytes(COMPOSITE_PREFIX, COMPOSITE_LABEL, new Uint8Array([ctx.length]), ctx, sha512(message));
}

/**
 * Signs `message` with the canonical private key `priv`, or with its working form: for ML-DSA and
 * the composite the expanded key (expanded.ts), for Ed25519, ECDSA and RSA the parsed KeyObject
 * ({@link parsePrivateKey}); the same signatures either way, without re-deriving or re-parsing the
 * key. Returns the raw signature bytes (use {@link formatSignature} for the `kw:v<N>:` text).
 */
export function sign(type: KeyType, priv: WorkingKey, message: Uint8Array, opts: SignOptions = {}): Uint8Array {
  assertSupports(type, 'sign');
  if (priv instanceof KeyObject) {
    abytes(message, 'message');
    checkOptions(type, message, opts);
    return signNode(type, checkedKeyObject(type, priv), message, opts);
  }
  const parts = expandedParts(type, priv);
  abytes(message, 'message');
  checkOptions(type, message, opts);
  const context = opts.context ?? new Uint8Array(0);
  if (parts) {
    if (isMlDsa(type)) return mlDsaSign(type, parts[0]!, message, context);
    // expandedParts accepts only expandable types: here, the composite.
    const m = compositeMessage(message, context);
    return concatBytes(
      ML_DSA['ml-dsa-65'].sign(m, parts[0]!, { context: COMPOSITE_LABEL }),
      ed25519.sign(m, parts[1]!),
    );
  }
  abytes(priv, 'privateKey');
  if (isNodeAsym(type)) return signNode(type, privateKeyObject(priv), message, opts);
  if (isMlDsa(type)) {
    abytes(priv, 'privateKey', ML_DSA_SEED_LEN);
    const { secretKey } = ML_DSA[type].keygen(priv);
    try {
      return mlDsaSign(type, secretKey, message, context);
    } finally {
      wipe(secretKey);
    }
  }
  if (isSlhDsa(type)) {
    abytes(priv, 'privateKey', SLH_DSA[type].lengths.secretKey);
    return SLH_DSA[type].sign(message, priv, { context });
  }
  if (type === 'ml-dsa-65-ed25519') {
    abytes(priv, 'privateKey', COMPOSITE_PRIVATE_LEN);
    const m = compositeMessage(message, context);
    const { secretKey } = ML_DSA['ml-dsa-65'].keygen(priv.subarray(0, ML_DSA_SEED_LEN));
    try {
      const mldsaSig = ML_DSA['ml-dsa-65'].sign(m, secretKey, { context: COMPOSITE_LABEL });
      const edSig = ed25519.sign(m, priv.subarray(ML_DSA_SEED_LEN));
      return concatBytes(mldsaSig, edSig);
    } finally {
      wipe(secretKey);
    }
  }
  throw new RangeError(`unhandled key type ${type}`);
}

function u8(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/** Ed25519, ECDSA and RSA signatures with the parsed private key `key` (options already checked). */
function signNode(type: KeyType, key: KeyObject, message: Uint8Array, opts: SignOptions): Uint8Array {
  if (type === 'ed25519') return u8(nodeSign(null, message, key));
  if (isEcdsa(type)) return signEcdsa(type, key, message, opts);
  if (isRsa(type)) {
    const { hash, ...padding } = rsaParams(opts, false);
    return u8(nodeSign(hash, message, { key, ...padding }));
  }
  throw new RangeError(`unhandled key type ${type}`);
}

/** Each curve's order n and ⌊n/2⌋ as big-endian field-length bytes (the low-S bound). */
const EC_ORDER = {
  'ecdsa-p256': orderOf(p256.Point.Fn.ORDER, ECDSA['ecdsa-p256'].fieldLen),
  'ecdsa-p384': orderOf(p384.Point.Fn.ORDER, ECDSA['ecdsa-p384'].fieldLen),
};

function orderOf(n: bigint, len: number): { n: Uint8Array; half: Uint8Array } {
  const bytes = (x: bigint) => new Uint8Array(Buffer.from(x.toString(16).padStart(2 * len, '0'), 'hex'));
  return { n: bytes(n), half: bytes(n >> 1n) };
}

function signEcdsa(type: EcdsaType, key: KeyObject, message: Uint8Array, opts: SignOptions): Uint8Array {
  const fieldLen = ECDSA[type].fieldLen;
  const hash = opts.hash ?? ECDSA[type].hash;
  // The common case: OpenSSL's DER, with S made low.
  if (!opts.prehashed && opts.encoding !== 'p1363') return derLowS(type, nodeSign(hash, message, key), fieldLen);
  let compact: Uint8Array;
  if (opts.prehashed) {
    // node:crypto cannot sign a digest; noble signs it (RFC 6979 nonces, low-S).
    const d = Buffer.from(key.export({ format: 'jwk' }).d ?? '', 'base64url');
    try {
      compact = CURVE[type].sign(message, d, { prehash: false, lowS: true, format: 'compact' });
    } finally {
      d.fill(0);
    }
  } else {
    compact = u8(nodeSign(hash, message, { key, dsaEncoding: 'ieee-p1363' }));
  }
  const s = compact.subarray(fieldLen);
  lowS(type, s);
  return opts.encoding === 'p1363' ? compact : derSignature(compact.subarray(0, fieldLen), s);
}

/**
 * OpenSSL may return high S; Keyward always emits s ≤ n/2 (module header). Makes the field-length
 * big-endian `s` low in place (s ← n − s) and returns true when it already was. On the bytes: this
 * runs for every signature, and bigints would cost more than the rest of the glue.
 */
function lowS(type: EcdsaType, s: Uint8Array): boolean {
  const { n, half } = EC_ORDER[type];
  if (!greaterThan(s, half)) return true;
  subtractFrom(n, s);
  return false;
}

/**
 * The DER signature OpenSSL just made (strict DER, short-form lengths: at most 2 × 51 bytes of
 * integers for P-384) with S low: `der` itself when S already is (about half the time), else the
 * same r with n − s, in one new array. On the bytes and in place: this runs for every signature,
 * and views, bigints or a re-encoding from parts cost a measurable share of a ~20 µs signature.
 */
function derLowS(type: EcdsaType, der: Buffer, fieldLen: number): Uint8Array {
  const sAt = 4 + der[3]!; // s's INTEGER tag; r's TLV is der[2, sAt)
  const sLen = der[sAt + 1]!;
  const body = sAt + 2;
  // A body shorter than the field is below n/2; a longer one is 0x00 then a high bit: s ≥ 2^(8·fieldLen − 1) > n/2.
  if (sLen < fieldLen) return u8(der);
  if (sLen === fieldLen) {
    const half = EC_ORDER[type].half;
    let i = 0;
    while (i < fieldLen && der[body + i] === half[i]) i++;
    if (i === fieldLen || der[body + i]! < half[i]!) return u8(der);
  }
  // s ← n − s, as field-length big-endian bytes.
  const s = new Uint8Array(fieldLen);
  for (let i = sLen > fieldLen ? 1 : 0; i < sLen; i++) s[fieldLen - sLen + i] = der[body + i]!;
  subtractFrom(EC_ORDER[type].n, s);
  let z = 0;
  while (z < fieldLen - 1 && s[z] === 0) z++;
  const pad = s[z]! & 0x80 ? 1 : 0;
  const newLen = fieldLen - z + pad;
  const out = new Uint8Array(body + newLen);
  for (let i = 0; i < sAt; i++) out[i] = der[i]!;
  out[1] = sAt + newLen; // the SEQUENCE's content: r's TLV, then s's
  out[sAt] = 0x02;
  out[sAt + 1] = newLen;
  out.set(z === 0 ? s : s.subarray(z), body + pad);
  return out;
}

/** x ← m − x for equal-length big-endian byte strings, 0 < x < m. */
function subtractFrom(m: Uint8Array, x: Uint8Array): void {
  let borrow = 0;
  for (let i = x.length - 1; i >= 0; i--) {
    const d = m[i]! - x[i]! - borrow;
    borrow = d < 0 ? 1 : 0;
    x[i] = d & 0xff;
  }
}

/** a > b for equal-length big-endian byte strings. */
function greaterThan(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! > b[i]!;
  return false;
}

/**
 * ASN.1 DER of ECDSA-Sig-Value (RFC 3279 §2.2.3): SEQUENCE { r INTEGER, s INTEGER }, each the
 * minimal two's-complement encoding of a positive value (leading zeros stripped, one 0x00 before a
 * high bit). r, s < n ≤ 2^384, so every length fits the short form (at most 2 × 51 = 102 bytes).
 */
function derSignature(r: Uint8Array, s: Uint8Array): Uint8Array {
  const ri = derIntegerBody(r);
  const si = derIntegerBody(s);
  const rLen = ri.length + (ri[0]! & 0x80 ? 1 : 0);
  const sLen = si.length + (si[0]! & 0x80 ? 1 : 0);
  const out = new Uint8Array(6 + rLen + sLen);
  out[0] = 0x30;
  out[1] = 4 + rLen + sLen;
  out[2] = 0x02;
  out[3] = rLen;
  out.set(ri, 4 + rLen - ri.length);
  const at = 4 + rLen;
  out[at] = 0x02;
  out[at + 1] = sLen;
  out.set(si, at + 2 + sLen - si.length);
  return out;
}

function derIntegerBody(x: Uint8Array): Uint8Array {
  let i = 0;
  while (i < x.length - 1 && x[i] === 0) i++;
  return x.subarray(i);
}

/**
 * Verifies `signature` over `message` with the canonical public key `pub`. Returns false for every
 * bad signature; never throws on signature content.
 */
export function verify(
  type: KeyType,
  pub: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
  opts: VerifyOptions = {},
): boolean {
  assertSupports(type, 'verify');
  abytes(pub, 'publicKey');
  abytes(message, 'message');
  checkOptions(type, message, opts);
  if (!(signature instanceof Uint8Array)) return false;
  const context = opts.context ?? new Uint8Array(0);
  try {
    if (type === 'ed25519') {
      if (signature.length !== ED25519_SIG_LEN) return false;
      if (!ed25519PointOk(pub.subarray(pub.length - ED25519_PUBLIC_LEN))) return false;
      return nodeVerify(null, message, publicKeyObject(pub), signature);
    }
    if (isEcdsa(type)) return verifyEcdsa(type, pub, message, signature, opts);
    if (isRsa(type)) {
      if (signature.length !== RSA[type].bits / 8) return false;
      const { hash, ...padding } = rsaParams(opts, true);
      return nodeVerify(hash, message, { key: publicKeyObject(pub), ...padding }, signature);
    }
    if (isMlDsa(type)) {
      const alg = ML_DSA[type];
      abytes(pub, 'publicKey', alg.lengths.publicKey);
      if (signature.length !== alg.lengths.signature) return false;
      return mlDsaVerify(type, pub, message, signature, context);
    }
    if (isSlhDsa(type)) {
      const alg = SLH_DSA[type];
      abytes(pub, 'publicKey', alg.lengths.publicKey);
      if (signature.length !== alg.lengths.signature) return false;
      return alg.verify(signature, message, pub, { context });
    }
    if (type === 'ml-dsa-65-ed25519') {
      abytes(pub, 'publicKey', COMPOSITE_PUBLIC_LEN);
      if (signature.length !== COMPOSITE_SIG_LEN) return false;
      const edPub = pub.subarray(COMPOSITE_PUBLIC_LEN - ED25519_PUBLIC_LEN);
      if (!ed25519PointOk(edPub)) return false;
      const m = compositeMessage(message, context);
      const mlOk = ML_DSA['ml-dsa-65'].verify(
        signature.subarray(0, COMPOSITE_MLDSA_SIG_LEN),
        m,
        pub.subarray(0, COMPOSITE_PUBLIC_LEN - ED25519_PUBLIC_LEN),
        {
          context: COMPOSITE_LABEL,
        },
      );
      const edOk = ed25519.verify(signature.subarray(COMPOSITE_MLDSA_SIG_LEN), m, edPub, { zip215: false });
      return mlOk && edOk;
    }
  } catch (e) {
    if (e instanceof TypeError || e instanceof RangeError) {
      // Our own argument checks (a public key of the wrong size) are programmer errors.
      if (/^"publicKey"/.test(e.message)) throw e;
    }
    return false;
  }
  throw new RangeError(`unhandled key type ${type}`);
}

function ed25519PointOk(raw: Uint8Array): boolean {
  try {
    return !ed25519.Point.fromBytes(raw, false).isSmallOrder();
  } catch {
    return false;
  }
}

function verifyEcdsa(
  type: EcdsaType,
  pub: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
  opts: VerifyOptions,
): boolean {
  const curve = CURVE[type];
  const fieldLen = ECDSA[type].fieldLen;
  let sig;
  if (opts.encoding === 'p1363') {
    if (signature.length !== 2 * fieldLen) return false;
    sig = curve.Signature.fromBytes(signature, 'compact');
  } else {
    // Strict DER: parse, then demand that re-encoding gives back exactly the input.
    if (signature.length < 8 || signature.length > 2 * fieldLen + 9) return false;
    sig = curve.Signature.fromBytes(signature, 'der');
    const again = sig.toBytes('der');
    if (again.length !== signature.length || !again.every((b, i) => b === signature[i])) return false;
  }
  if (sig.r <= 0n || sig.s <= 0n) return false;
  if (opts.requireLowS && sig.hasHighS()) return false;
  const compact = sig.toBytes('compact');
  const key = publicKeyObject(pub);
  if (opts.prehashed) {
    const jwk = key.export({ format: 'jwk' });
    const point = concatBytes(
      new Uint8Array([4]),
      Buffer.from(jwk.x ?? '', 'base64url'),
      Buffer.from(jwk.y ?? '', 'base64url'),
    );
    return curve.verify(compact, message, point, { prehash: false, lowS: false, format: 'compact' });
  }
  return nodeVerify(opts.hash ?? ECDSA[type].hash, message, { key, dsaEncoding: 'ieee-p1363' }, compact);
}

/** `kw:v<version>:<base64(signature)>`. */
export function formatSignature(version: number, signature: Uint8Array): string {
  return formatVersioned(version, signature);
}

/**
 * Parses `kw:v<version>:<base64>`; throws `SIGNATURE_INVALID` for bad syntax. (The key service
 * takes raw signatures too, through format.ts `parseVersionedOrRaw`, and answers a value in neither
 * form with SIGNATURE_FORMAT: a malformed signature is the request's error, not `{valid: false}`.)
 */
export function parseSignature(text: string): { version: number; signature: Uint8Array } {
  const { version, body } = parseVersioned(text, 'signature', 'SIGNATURE_INVALID');
  return { version, signature: body };
}
