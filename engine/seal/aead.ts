/**
 * AES-256-GCM (NIST SP 800-38D, via the crypto core's node:crypto wrapper), the one AEAD the sealed core uses for its own
 * blobs (root key, keyring, barrier entries). 96-bit random nonces: each key here encrypts far fewer
 * than 2^32 messages (the barrier rotates terms), so random nonces stay within SP 800-38D §8.3. They
 * come from the crypto core's pooled CSPRNG buffer (engine/crypto/nonces.ts): the audit log seals a
 * batch's policy inputs on every group commit, and `randomBytes(12)` there was 2.3% of a PostgreSQL
 * dev server's CPU under load (issue 14).
 *
 *   sealed = nonce (12) ‖ ciphertext ‖ tag (16)
 * @module
 */
import { abytes } from '../../lib/bytes.js';
import { openRaw, sealRaw } from '../crypto/aead.js';
import { randomNonce } from '../crypto/nonces.js';

export const KEY_LEN = 32;
export const NONCE_LEN = 12;
export const TAG_LEN = 16;
export const AEAD_OVERHEAD = NONCE_LEN + TAG_LEN;

/** Encrypts `plaintext` under `key`, binding `aad`. Returns nonce ‖ ciphertext ‖ tag. */
export function aeadSeal(key: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
  abytes(key, 'key', KEY_LEN);
  const nonce = randomNonce();
  const sealed = sealRaw('aes256-gcm', key, nonce, plaintext, aad);
  const out = new Uint8Array(NONCE_LEN + sealed.length);
  out.set(nonce, 0);
  out.set(sealed, NONCE_LEN);
  return out;
}

/**
 * Decrypts nonce ‖ ciphertext ‖ tag. Returns undefined when authentication fails (wrong key, wrong
 * aad, any flipped bit, truncation): callers turn that into their own error without an oracle.
 */
export function aeadOpen(key: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Uint8Array | undefined {
  abytes(key, 'key', KEY_LEN);
  if (sealed.length < AEAD_OVERHEAD) return undefined;
  return openRaw('aes256-gcm', key, sealed.subarray(0, NONCE_LEN), sealed.subarray(NONCE_LEN), aad);
}

/** A domain-separation label as bytes: "keyward/<what>/v1\0" ‖ parts joined by \0. */
export function label(...parts: string[]): Uint8Array {
  return new TextEncoder().encode(parts.join('\0'));
}
