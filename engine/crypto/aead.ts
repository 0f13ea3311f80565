/**
 * Versioned authenticated encryption for `aes256-gcm` (NIST SP 800-38D) and `chacha20-poly1305`
 * (RFC 8439), both through node:crypto (OpenSSL), with random 96-bit nonces.
 *
 * Text form: `kw:v<version>:<base64(body)>` (format.ts). Body:
 *
 *    0        1        2                  14                       14+n          30+n
 *   +--------+--------+------------------+------------------------+-------------+
 *   | fmt=01 | alg id |   nonce (12)     |   ciphertext (n)       |  tag (16)   |
 *   +--------+--------+------------------+------------------------+-------------+
 *
 * Associated data given to the AEAD (never transmitted; rebuilt by the decrypter):
 *
 *   AD = "keyward/aead/v1" ‖ 0x00 ‖ fmt ‖ alg id ‖ u32be(version) ‖ u16be(len(keyId)) ‖ keyId ‖ aad
 *
 * so the format byte, the algorithm, the key version (from the text prefix), the key id (UTF-8)
 * and the caller's AAD are all authenticated: swapping the version in the prefix, replaying the
 * body under another key or another algorithm, or changing the AAD fails the tag check. `aad` is
 * last, so it needs no length prefix; an absent AAD equals an empty one.
 *
 * Nonces: 96-bit random per message, drawn from a pooled CSPRNG buffer (nonces.ts). Per SP 800-38D §8.3 random nonces keep the collision
 * probability under 2^-32 for up to 2^32 messages per key version; rotate keys well before that.
 *
 * Decryption has exactly one failure, `DECRYPTION_FAILED` ("decryption failed"), whatever went
 * wrong (wrong key, tag, truncation, swapped version, bad base64, wrong prefix): no oracle.
 * @module
 */
import { createCipheriv, createDecipheriv, randomFillSync, type CipherGCMTypes } from 'node:crypto';
import { abytes, wipe } from '../../lib/bytes.js';
import { KeywardError } from '../../lib/errors.js';
import { SYMMETRIC_KEY_LEN } from './algs.js';
import { assertKeyVersion, formatVersioned, parseVersioned } from './format.js';
import { NONCE_LEN, fillNonce } from './nonces.js';
import { assertSupports, keyTypeInfo, type KeyType } from './types.js';

export const AEAD_FORMAT_V1 = 0x01;
export { NONCE_LEN };
export const TAG_LEN = 16;
export const AEAD_HEADER_LEN = 2;
/** Smallest valid body: header, nonce, empty ciphertext, tag. */
export const AEAD_MIN_BODY_LEN = AEAD_HEADER_LEN + NONCE_LEN + TAG_LEN;
export const DATAKEY_DEFAULT_BYTES = 32;
export const DATAKEY_MAX_BYTES = 1024;
const AD_DOMAIN = new TextEncoder().encode('keyward/aead/v1\0');
const MAX_KEY_ID_BYTES = 0xffff;
const utf8 = new TextEncoder();
/** An absent AAD (bound as an empty one); never written to. */
const NO_AAD = new Uint8Array(0);

export type AeadType = 'aes256-gcm' | 'chacha20-poly1305';

const CIPHER: Record<AeadType, CipherGCMTypes | 'chacha20-poly1305'> = {
  'aes256-gcm': 'aes-256-gcm',
  'chacha20-poly1305': 'chacha20-poly1305',
};

function assertAeadType(type: KeyType, op: 'encrypt' | 'decrypt' | 'datakey' | 'rewrap'): asserts type is AeadType {
  assertSupports(type, op);
  // RSA keys support `decrypt` too, but with OAEP (oaep.ts), never through this module.
  if (keyTypeInfo(type).family !== 'aead')
    throw new KeywardError(
      'OPERATION_UNSUPPORTED',
      `key type ${type} does not support AEAD ${op} (aes256-gcm and chacha20-poly1305 only)`,
    );
}

function cipherName(type: AeadType): CipherGCMTypes {
  // node's typings list chacha20-poly1305 under CipherCCMTypes/ChaCha, but createCipheriv accepts
  // it with the same authTagLength option and the same setAAD/getAuthTag surface.
  return CIPHER[type] as CipherGCMTypes;
}

/**
 * One AEAD seal with an explicit nonce: ciphertext ‖ tag. The building block of {@link encrypt},
 * exported for published-vector tests; production callers never choose nonces.
 */
export function sealRaw(
  type: AeadType,
  key: Uint8Array,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  ad: Uint8Array,
): Uint8Array {
  abytes(key, 'key', SYMMETRIC_KEY_LEN);
  abytes(nonce, 'nonce', NONCE_LEN);
  abytes(plaintext, 'plaintext');
  abytes(ad, 'aad');
  const cipher = createCipheriv(cipherName(type), key, nonce, { authTagLength: TAG_LEN });
  cipher.setAAD(ad);
  const a = cipher.update(plaintext);
  const b = cipher.final();
  const tag = cipher.getAuthTag();
  const out = new Uint8Array(a.length + b.length + TAG_LEN);
  out.set(a, 0);
  out.set(b, a.length);
  out.set(tag, a.length + b.length);
  return out;
}

/** The inverse of {@link sealRaw}: the plaintext, or undefined when authentication fails. */
export function openRaw(
  type: AeadType,
  key: Uint8Array,
  nonce: Uint8Array,
  sealed: Uint8Array,
  ad: Uint8Array,
): Uint8Array | undefined {
  abytes(key, 'key', SYMMETRIC_KEY_LEN);
  abytes(nonce, 'nonce', NONCE_LEN);
  abytes(sealed, 'ciphertext');
  abytes(ad, 'aad');
  if (sealed.length < TAG_LEN) return undefined;
  const body = sealed.subarray(0, sealed.length - TAG_LEN);
  try {
    const decipher = createDecipheriv(cipherName(type), key, nonce, { authTagLength: TAG_LEN });
    decipher.setAAD(ad);
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG_LEN));
    const a = decipher.update(body);
    const b = decipher.final();
    const out = new Uint8Array(a.length + b.length);
    out.set(a, 0);
    out.set(b, a.length);
    a.fill(0);
    return out;
  } catch {
    return undefined;
  }
}

/**
 * The associated data of messages without a caller AAD, by key id: the same bytes for every message
 * under one key version, so a key's encrypts and decrypts build them once (the UTF-8 key id and the
 * array were ~2 µs of a 1 KiB encrypt's ~8). Public values (nothing of the key), never written to
 * after they are made (OpenSSL reads them in setAAD). Cleared when full.
 */
const adOfKey = new Map<string, { algId: number; version: number; ad: Uint8Array }>();
const AD_OF_KEY_MAX = 1024;

function adFor(algId: number, version: number, keyId: string, aad: Uint8Array): Uint8Array {
  if (aad.length !== 0) return associatedData(AEAD_FORMAT_V1, algId, version, keyId, aad);
  const known = adOfKey.get(keyId);
  if (known !== undefined && known.version === version && known.algId === algId) return known.ad;
  const ad = associatedData(AEAD_FORMAT_V1, algId, version, keyId, aad);
  if (adOfKey.size >= AD_OF_KEY_MAX) adOfKey.clear();
  adOfKey.set(keyId, { algId, version, ad });
  return ad;
}

/** The associated data bound into every Keyward AEAD body (see module header). */
export function associatedData(
  fmt: number,
  algId: number,
  version: number,
  keyId: string,
  aad: Uint8Array,
): Uint8Array {
  const id = utf8.encode(keyId);
  if (id.length > MAX_KEY_ID_BYTES)
    throw new RangeError(`"keyId" expected at most ${MAX_KEY_ID_BYTES} UTF-8 bytes, got ${id.length}`);
  const out = new Uint8Array(AD_DOMAIN.length + 2 + 4 + 2 + id.length + aad.length);
  const dv = new DataView(out.buffer);
  let o = 0;
  out.set(AD_DOMAIN, o);
  o += AD_DOMAIN.length;
  out[o++] = fmt;
  out[o++] = algId;
  dv.setUint32(o, version);
  o += 4;
  dv.setUint16(o, id.length);
  o += 2;
  out.set(id, o);
  o += id.length;
  out.set(aad, o);
  return out;
}

export interface EncryptInput {
  readonly type: KeyType;
  /** The key version's 32 raw bytes. */
  readonly key: Uint8Array;
  /** Stable identifier of the key (e.g. its name or id), bound into the AD. */
  readonly keyId: string;
  readonly version: number;
  readonly plaintext: Uint8Array;
  /** Caller AAD / encryption context, bound but not stored. */
  readonly aad?: Uint8Array | undefined;
}

/** Encrypts under key version `version`: returns `kw:v<version>:<base64(body)>`. */
export function encrypt(input: EncryptInput): string {
  const { type, key, keyId, version, plaintext } = input;
  assertAeadType(type, 'encrypt');
  if (typeof keyId !== 'string') throw new TypeError('"keyId" expected string');
  assertKeyVersion(version);
  abytes(plaintext, 'plaintext');
  const aad = input.aad ?? NO_AAD;
  abytes(aad, 'aad');
  const algId = keyTypeInfo(type).algId;
  const ad = adFor(algId, version, keyId, aad);
  abytes(key, 'key', SYMMETRIC_KEY_LEN);
  // Sealed straight into the body (header ‖ nonce ‖ ciphertext ‖ tag): one output array, the nonce
  // drawn from the pooled CSPRNG buffer (nonces.ts) into its place.
  const body = new Uint8Array(AEAD_HEADER_LEN + NONCE_LEN + plaintext.length + TAG_LEN);
  body[0] = AEAD_FORMAT_V1;
  body[1] = algId;
  const nonce = fillNonce(body, AEAD_HEADER_LEN).subarray(AEAD_HEADER_LEN, AEAD_HEADER_LEN + NONCE_LEN);
  const cipher = createCipheriv(cipherName(type), key, nonce, { authTagLength: TAG_LEN });
  cipher.setAAD(ad);
  let o = AEAD_HEADER_LEN + NONCE_LEN;
  const a = cipher.update(plaintext);
  body.set(a, o);
  o += a.length;
  const b = cipher.final();
  body.set(b, o);
  o += b.length;
  body.set(cipher.getAuthTag(), o);
  return formatVersioned(version, body);
}

/**
 * Parses a ciphertext's syntax only (no key needed), so the caller can look up the key version and
 * enforce a minimum decryption version before decrypting. Throws `CIPHERTEXT_INVALID` for bad
 * syntax. Passing this check says nothing about authenticity.
 */
export function parseCiphertext(text: string): { version: number; body: Uint8Array } {
  return parseVersioned(text, 'ciphertext', 'CIPHERTEXT_INVALID');
}

export interface DecryptInput {
  readonly type: KeyType;
  readonly keyId: string;
  readonly ciphertext: string;
  readonly aad?: Uint8Array | undefined;
  /**
   * The key for the version named by the ciphertext; return undefined/null when there is none
   * (unknown version). Errors it throws propagate unchanged (e.g. a caller's "version disabled").
   */
  readonly keyForVersion?: ((version: number) => Uint8Array | null | undefined) | undefined;
  /** Alternatively, the key itself, when the caller already resolved the version (parseCiphertext). */
  readonly key?: Uint8Array | undefined;
}

function failed(): KeywardError<'DECRYPTION_FAILED'> {
  return new KeywardError('DECRYPTION_FAILED', 'decryption failed');
}

/** Decrypts a `kw:v<N>:` ciphertext. Every failure is the same `DECRYPTION_FAILED`. */
export function decrypt(input: DecryptInput): Uint8Array {
  const { type, keyId } = input;
  assertAeadType(type, 'decrypt');
  if (typeof keyId !== 'string') throw new TypeError('"keyId" expected string');
  if ((input.key === undefined) === (input.keyForVersion === undefined))
    throw new TypeError('decrypt expects exactly one of "key" or "keyForVersion"');
  const aad = input.aad ?? NO_AAD;
  abytes(aad, 'aad');
  let parsed: { version: number; body: Uint8Array };
  try {
    parsed = parseCiphertext(input.ciphertext);
  } catch {
    throw failed();
  }
  const { version, body } = parsed;
  // The header is checked before the key is looked up (decryptBody checks it again).
  if (body.length < AEAD_MIN_BODY_LEN || body[0] !== AEAD_FORMAT_V1 || body[1] !== keyTypeInfo(type).algId)
    throw failed();
  const key = input.key ?? input.keyForVersion?.(version);
  if (!(key instanceof Uint8Array)) throw failed();
  return decryptBody({ type, key, keyId, version, body, aad });
}

export interface DecryptBodyInput {
  readonly type: KeyType;
  readonly key: Uint8Array;
  readonly keyId: string;
  /** The key version the body was sealed under (bound into the AD: a wrong one fails the tag). */
  readonly version: number;
  /** The body as in the module header, without the text prefix (a raw ciphertext). */
  readonly body: Uint8Array;
  readonly aad?: Uint8Array | undefined;
}

/**
 * Decrypts a body whose text form the caller already parsed, or a raw body sent without its
 * `kw:v<N>:` prefix, under version `version`. Every failure is the same `DECRYPTION_FAILED`.
 */
export function decryptBody(input: DecryptBodyInput): Uint8Array {
  const { type, key, keyId, version, body } = input;
  assertAeadType(type, 'decrypt');
  if (typeof keyId !== 'string') throw new TypeError('"keyId" expected string');
  assertKeyVersion(version);
  abytes(body, 'body');
  const aad = input.aad ?? NO_AAD;
  abytes(aad, 'aad');
  const algId = keyTypeInfo(type).algId;
  if (body.length < AEAD_MIN_BODY_LEN || body[0] !== AEAD_FORMAT_V1 || body[1] !== algId) throw failed();
  if (!(key instanceof Uint8Array) || key.length !== SYMMETRIC_KEY_LEN) throw failed();
  const nonce = body.subarray(AEAD_HEADER_LEN, AEAD_HEADER_LEN + NONCE_LEN);
  const sealed = body.subarray(AEAD_HEADER_LEN + NONCE_LEN);
  const out = openRaw(type, key, nonce, sealed, adFor(algId, version, keyId, aad));
  if (out === undefined) throw failed();
  return out;
}

export interface RewrapInput extends DecryptInput {
  /** The latest key version and its key. */
  readonly newVersion: number;
  readonly newKey: Uint8Array;
}

/** Decrypts and re-encrypts under the latest version without exposing the plaintext. */
export function rewrap(input: RewrapInput): string {
  assertAeadType(input.type, 'rewrap');
  const plaintext = decrypt(input);
  try {
    return encrypt({
      type: input.type,
      key: input.newKey,
      keyId: input.keyId,
      version: input.newVersion,
      plaintext,
      aad: input.aad,
    });
  } finally {
    wipe(plaintext);
  }
}

export interface DatakeyInput {
  readonly type: KeyType;
  readonly key: Uint8Array;
  readonly keyId: string;
  readonly version: number;
  /** Length of the data key, 1..1024 (default 32). */
  readonly bytes?: number | undefined;
  readonly aad?: Uint8Array | undefined;
}

/** A fresh random data key and the same key wrapped under `key` (envelope encryption). */
export function datakey(input: DatakeyInput): { plaintext: Uint8Array; ciphertext: string } {
  assertAeadType(input.type, 'datakey');
  const n = input.bytes ?? DATAKEY_DEFAULT_BYTES;
  if (!Number.isSafeInteger(n) || n < 1 || n > DATAKEY_MAX_BYTES)
    throw new RangeError(`"bytes" expected an integer in 1..${DATAKEY_MAX_BYTES}, got ${String(n)}`);
  // A fresh Uint8Array, never a slice of a shared pool, so the caller can wipe it.
  const plaintext = randomFillSync(new Uint8Array(n));
  const ciphertext = encrypt({
    type: input.type,
    key: input.key,
    keyId: input.keyId,
    version: input.version,
    plaintext,
    aad: input.aad,
  });
  return { plaintext, ciphertext };
}
