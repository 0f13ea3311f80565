/**
 * Internal: the noble objects and node:crypto parameters behind each asymmetric key type, and the
 * canonical serialized private form of each. Not part of the public surface (index.ts).
 *
 * Canonical private forms (what generateKey returns and the store encrypts under the barrier):
 *
 *   aes256-gcm, chacha20-poly1305, hmac-sha256   32 raw bytes
 *   ed25519, ecdsa-p256/p384, rsa-3072/4096      PKCS#8 DER (node:crypto)
 *   ml-dsa-44/65/87                              the 32-byte FIPS 204 seed ξ (keygen re-expands it)
 *   slh-dsa-*                                    the FIPS 205 secret key SK.seed‖SK.prf‖PK.seed‖PK.root (4n)
 *   ml-kem-512/768/1024                          the 64-byte FIPS 203 seed d‖z (keygen re-expands it)
 *   x-wing                                       the 32-byte X-Wing seed (the draft's decapsulation key)
 *   ml-dsa-65-ed25519                            ML-DSA-65 seed (32) ‖ Ed25519 seed (32) = 64 bytes
 *
 * Seeds rather than expanded keys: they are what FIPS 203/204 and the IETF LAMPS drafts recommend
 * storing (an expanded key can be inconsistent, a seed cannot). Expanding costs a keygen (ML-DSA-65
 * ≈ 3 ms, ML-KEM-768 ≈ 1 ms), so callers that reuse a key expand it once (expanded.ts; the key
 * service caches expanded keys while unsealed).
 * @module
 */
import { ml_dsa44, ml_dsa65, ml_dsa87 } from '@noble/post-quantum/ml-dsa.js';
import { slh_dsa_sha2_128f, slh_dsa_sha2_128s, slh_dsa_sha2_256s } from '@noble/post-quantum/slh-dsa.js';
import { ml_kem512, ml_kem768, ml_kem1024 } from '@noble/post-quantum/ml-kem.js';
import { ml_kem768_x25519 } from '@noble/post-quantum/hybrid.js';
import type { KeyType } from './types.js';

export type MlDsaType = 'ml-dsa-44' | 'ml-dsa-65' | 'ml-dsa-87';
export type SlhDsaType = 'slh-dsa-sha2-128s' | 'slh-dsa-sha2-128f' | 'slh-dsa-sha2-256s';
export type MlKemType = 'ml-kem-512' | 'ml-kem-768' | 'ml-kem-1024';
export type EcdsaType = 'ecdsa-p256' | 'ecdsa-p384';
export type RsaType = 'rsa-3072' | 'rsa-4096';
export type NodeAsymType = 'ed25519' | EcdsaType | RsaType;
export type SymmetricType = 'aes256-gcm' | 'chacha20-poly1305' | 'hmac-sha256';

export const SYMMETRIC_KEY_LEN = 32;

export const ML_DSA = { 'ml-dsa-44': ml_dsa44, 'ml-dsa-65': ml_dsa65, 'ml-dsa-87': ml_dsa87 } as const;
export const SLH_DSA = {
  'slh-dsa-sha2-128s': slh_dsa_sha2_128s,
  'slh-dsa-sha2-128f': slh_dsa_sha2_128f,
  'slh-dsa-sha2-256s': slh_dsa_sha2_256s,
} as const;
export const ML_KEM = { 'ml-kem-512': ml_kem512, 'ml-kem-768': ml_kem768, 'ml-kem-1024': ml_kem1024 } as const;
export const X_WING = ml_kem768_x25519;

/** ECDSA curve names as node:crypto reports them, the hash each type signs with, and sizes. */
export const ECDSA = {
  'ecdsa-p256': { namedCurve: 'prime256v1', jwkCrv: 'P-256', hash: 'sha256', fieldLen: 32 },
  'ecdsa-p384': { namedCurve: 'secp384r1', jwkCrv: 'P-384', hash: 'sha384', fieldLen: 48 },
} as const;
export const RSA = { 'rsa-3072': { bits: 3072 }, 'rsa-4096': { bits: 4096 } } as const;
export const RSA_PUBLIC_EXPONENT = 65537;

export const ML_DSA_SEED_LEN = 32;
export const ML_KEM_SEED_LEN = 64;
export const X_WING_SEED_LEN = 32;
export const ED25519_SEED_LEN = 32;
export const ED25519_PUBLIC_LEN = 32;
export const COMPOSITE_PRIVATE_LEN = ML_DSA_SEED_LEN + ED25519_SEED_LEN;
export const COMPOSITE_PUBLIC_LEN = 1952 + ED25519_PUBLIC_LEN;
export const COMPOSITE_MLDSA_SIG_LEN = 3309;
export const COMPOSITE_SIG_LEN = COMPOSITE_MLDSA_SIG_LEN + 64;

export function isMlDsa(t: KeyType): t is MlDsaType {
  return t in ML_DSA;
}
export function isSlhDsa(t: KeyType): t is SlhDsaType {
  return t in SLH_DSA;
}
export function isMlKem(t: KeyType): t is MlKemType {
  return t in ML_KEM;
}
export function isEcdsa(t: KeyType): t is EcdsaType {
  return t in ECDSA;
}
export function isRsa(t: KeyType): t is RsaType {
  return t in RSA;
}
export function isNodeAsym(t: KeyType): t is NodeAsymType {
  return t === 'ed25519' || isEcdsa(t) || isRsa(t);
}
export function isSymmetric(t: KeyType): t is SymmetricType {
  return t === 'aes256-gcm' || t === 'chacha20-poly1305' || t === 'hmac-sha256';
}
