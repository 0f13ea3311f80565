/**
 * Key types of the crypto core and what each one can do.
 *
 * The capability table is the single source for "which operation does this key type support",
 * "does it have a public half" and "is it slow enough to leave the event loop" (executor.ts sends
 * a call to the worker pool on {@link isSlow}). Algorithm ids are one byte each and are bound into AEAD
 * associated data (aead.ts): they are part of the stored format, never renumber them.
 * @module
 */
import { KeywardError } from '../../lib/errors.js';

/** Every key type Keyward knows, in a stable order. */
export const KEY_TYPES = [
  'aes256-gcm',
  'chacha20-poly1305',
  'hmac-sha256',
  'ed25519',
  'ecdsa-p256',
  'ecdsa-p384',
  'rsa-3072',
  'rsa-4096',
  'ml-dsa-44',
  'ml-dsa-65',
  'ml-dsa-87',
  'slh-dsa-sha2-128s',
  'slh-dsa-sha2-128f',
  'slh-dsa-sha2-256s',
  'ml-kem-512',
  'ml-kem-768',
  'ml-kem-1024',
  'x-wing',
  'ml-dsa-65-ed25519',
] as const;
export type KeyType = (typeof KEY_TYPES)[number];

export const OPERATIONS = [
  'encrypt',
  'decrypt',
  'rewrap',
  'datakey',
  'sign',
  'verify',
  'hmac',
  'encapsulate',
  'decapsulate',
] as const;
export type Operation = (typeof OPERATIONS)[number];

/**
 * The functions the worker pool can run; `generateKey` is the only one that is not an Operation.
 * `decrypt` is RSA-OAEP only: AEAD decryption takes microseconds and never leaves the event loop.
 */
export type SlowCall = 'generateKey' | 'sign' | 'verify' | 'encapsulate' | 'decapsulate' | 'decrypt';

export type KeyFamily = 'aead' | 'mac' | 'signature' | 'kem';

export interface KeyTypeInfo {
  readonly type: KeyType;
  readonly family: KeyFamily;
  /** One byte, bound into AEAD associated data; stable forever. */
  readonly algId: number;
  readonly operations: readonly Operation[];
  /** Has a public half (verify-only / encapsulate-only keys can exist). */
  readonly asymmetric: boolean;
  /** Calls that take long enough (≳1 ms in pure JS, or seconds) to run on the worker pool. */
  readonly slow: readonly SlowCall[];
}

const AEAD_OPS = ['encrypt', 'decrypt', 'rewrap', 'datakey'] as const;
const SIGN_OPS = ['sign', 'verify'] as const;
const KEM_OPS = ['encapsulate', 'decapsulate'] as const;
// RSA keys sign (PSS) and decrypt (OAEP), as Vault transit's rsa-* keys do; clients encrypt with the
// exported public key, so there is no server-side RSA encrypt.
const RSA_OPS = ['sign', 'verify', 'decrypt'] as const;

// Measured on Node 20 (one core): ML-DSA-65 keygen ≈ 4 ms, sign ≈ 11 ms, verify ≈ 3 ms;
// SLH-DSA-SHA2-128s sign ≈ seconds; ML-KEM-768 keygen+decap ≈ 1–2 ms; RSA-4096 keygen ≈ 0.5–3 s;
// an RSA-3072 private operation (PSS sign, OAEP decrypt) ≈ 3 ms in OpenSSL, RSA-4096 more than twice that.
const ML_DSA_SLOW = ['generateKey', 'sign', 'verify'] as const;
const SLH_DSA_SLOW = ['generateKey', 'sign', 'verify'] as const;
const ML_KEM_SLOW = ['generateKey', 'encapsulate', 'decapsulate'] as const;

function info(
  type: KeyType,
  family: KeyFamily,
  algId: number,
  operations: readonly Operation[],
  asymmetric: boolean,
  slow: readonly SlowCall[],
): KeyTypeInfo {
  return Object.freeze({
    type,
    family,
    algId,
    operations: Object.freeze([...operations]),
    asymmetric,
    slow: Object.freeze([...slow]),
  });
}

/** The capability table, keyed by type. */
export const KEY_TYPE_INFO: Readonly<Record<KeyType, KeyTypeInfo>> = Object.freeze({
  'aes256-gcm': info('aes256-gcm', 'aead', 0x01, AEAD_OPS, false, []),
  'chacha20-poly1305': info('chacha20-poly1305', 'aead', 0x02, AEAD_OPS, false, []),
  'hmac-sha256': info('hmac-sha256', 'mac', 0x03, ['hmac'], false, []),
  ed25519: info('ed25519', 'signature', 0x10, SIGN_OPS, true, []),
  'ecdsa-p256': info('ecdsa-p256', 'signature', 0x11, SIGN_OPS, true, []),
  'ecdsa-p384': info('ecdsa-p384', 'signature', 0x12, SIGN_OPS, true, []),
  'rsa-3072': info('rsa-3072', 'signature', 0x13, RSA_OPS, true, ['generateKey', 'sign', 'decrypt']),
  'rsa-4096': info('rsa-4096', 'signature', 0x14, RSA_OPS, true, ['generateKey', 'sign', 'decrypt']),
  'ml-dsa-44': info('ml-dsa-44', 'signature', 0x20, SIGN_OPS, true, ML_DSA_SLOW),
  'ml-dsa-65': info('ml-dsa-65', 'signature', 0x21, SIGN_OPS, true, ML_DSA_SLOW),
  'ml-dsa-87': info('ml-dsa-87', 'signature', 0x22, SIGN_OPS, true, ML_DSA_SLOW),
  'slh-dsa-sha2-128s': info('slh-dsa-sha2-128s', 'signature', 0x28, SIGN_OPS, true, SLH_DSA_SLOW),
  'slh-dsa-sha2-128f': info('slh-dsa-sha2-128f', 'signature', 0x29, SIGN_OPS, true, SLH_DSA_SLOW),
  'slh-dsa-sha2-256s': info('slh-dsa-sha2-256s', 'signature', 0x2a, SIGN_OPS, true, SLH_DSA_SLOW),
  'ml-kem-512': info('ml-kem-512', 'kem', 0x30, KEM_OPS, true, ML_KEM_SLOW),
  'ml-kem-768': info('ml-kem-768', 'kem', 0x31, KEM_OPS, true, ML_KEM_SLOW),
  'ml-kem-1024': info('ml-kem-1024', 'kem', 0x32, KEM_OPS, true, ML_KEM_SLOW),
  'x-wing': info('x-wing', 'kem', 0x38, KEM_OPS, true, ML_KEM_SLOW),
  'ml-dsa-65-ed25519': info('ml-dsa-65-ed25519', 'signature', 0x40, SIGN_OPS, true, ML_DSA_SLOW),
});

const TYPE_SET: ReadonlySet<string> = new Set(KEY_TYPES);

/** True when `x` names a key type. */
export function isKeyType(x: unknown): x is KeyType {
  return typeof x === 'string' && TYPE_SET.has(x);
}

/** Throws `KEY_TYPE_INVALID` (listing the valid types) unless `x` names a key type. */
export function assertKeyType(x: unknown): asserts x is KeyType {
  if (!isKeyType(x)) {
    const got = typeof x === 'string' ? JSON.stringify(x.slice(0, 64)) : typeof x;
    throw new KeywardError('KEY_TYPE_INVALID', `expected a key type (${KEY_TYPES.join(', ')}), got ${got}`, {
      details: { validTypes: [...KEY_TYPES] },
    });
  }
}

/** The capability row of `type`. */
export function keyTypeInfo(type: KeyType): KeyTypeInfo {
  assertKeyType(type);
  return KEY_TYPE_INFO[type];
}

/**
 * Each type's operations and slow calls as sets: `supports` and `isSlow` run on every keyed call,
 * several times (key service, executor, crypto core), so one Map and one Set lookup each.
 */
const OPERATION_SETS: ReadonlyMap<string, ReadonlySet<string>> = new Map(
  KEY_TYPES.map((t) => [t, new Set<string>(KEY_TYPE_INFO[t].operations)]),
);
const SLOW_SETS: ReadonlyMap<string, ReadonlySet<string>> = new Map(
  KEY_TYPES.map((t) => [t, new Set<string>(KEY_TYPE_INFO[t].slow)]),
);

/** True when `type` supports `op` (`KEY_TYPE_INVALID` for a name that is not a key type). */
export function supports(type: KeyType, op: Operation): boolean {
  const ops = OPERATION_SETS.get(type);
  if (ops === undefined) assertKeyType(type);
  return ops!.has(op);
}

/** Throws `OPERATION_UNSUPPORTED` unless `type` supports `op`. */
export function assertSupports(type: KeyType, op: Operation): void {
  if (!supports(type, op)) {
    throw new KeywardError(
      'OPERATION_UNSUPPORTED',
      `key type ${type} does not support ${op} (supports: ${keyTypeInfo(type).operations.join(', ')})`,
    );
  }
}

/** True when `call` on `type` should run on the worker pool rather than the event loop. */
export function isSlow(type: KeyType, call: SlowCall): boolean {
  const slow = SLOW_SETS.get(type);
  if (slow === undefined) assertKeyType(type);
  return slow!.has(call);
}

/**
 * The BYOK wrapping constructions (engine/crypto/byok.ts). Here, with the other names, so the CLI can
 * check `--algorithm` without loading the crypto it names.
 */
export const WRAPPING_ALGORITHMS = ['rsa-oaep-3072-aes-kwp', 'ml-kem-768', 'x-wing'] as const;
export type WrappingAlgorithm = (typeof WRAPPING_ALGORITHMS)[number];

/** True when `x` names a wrapping algorithm. */
export function isWrappingAlgorithm(x: unknown): x is WrappingAlgorithm {
  return typeof x === 'string' && (WRAPPING_ALGORITHMS as readonly string[]).includes(x);
}
