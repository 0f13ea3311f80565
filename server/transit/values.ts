/**
 * Value formats of the Vault transit API and their Keyward counterparts.
 *
 * - Versioned values: Vault's `vault:v<N>:<base64>` is Keyward's `kw:v<N>:<base64>` with another
 *   prefix; the body is the same bytes (AEAD nonce ‖ ciphertext ‖ tag bound to the key's id and
 *   version, a signature, an HMAC). Both prefixes are accepted on input.
 * - JWS marshaling (ECDSA): the body is the IEEE P1363 r ‖ s in unpadded base64url (RFC 7515 §3.4,
 *   as Vault's `marshaling_algorithm=jws`).
 * - Base64 input is decoded as Go's `base64.StdEncoding` does (Vault's decoder): padded standard
 *   alphabet, non-zero trailing bits tolerated (Vault's own docs use `"adba32=="`).
 * - Scalars are weakly typed as Vault's mapstructure decoding is: `"2"` for 2, `"true"` for true.
 * @module
 */
import { z } from 'zod';
import { KeywardError } from '../../lib/errors.js';
import type { SignatureHash } from '../../engine/crypto/index.js';

/** A Vault integer field: a number or its decimal string. */
export const vInt = z.union([
  z.number().int('expected an integer'),
  z
    .string()
    .regex(/^-?\d{1,10}$/, 'expected an integer')
    .transform(Number),
]);
/** A Vault boolean field: a boolean or "true"/"false". */
export const vBool = z.union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')]);
/** A base64 field as Vault takes it (bounded; decoded by {@link decodeB64}). */
export const vB64 = (maxChars: number) => z.string().max(maxChars, `expected at most ${maxChars} base64 characters`);

const B64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Standard padded base64, decoded leniently in the trailing bits (Go's StdEncoding); 400 otherwise.
 * Decoded first: a text that is its bytes' own encoding is standard padded base64, and only another
 * (trailing bits set, or not base64 at all) meets B64_RE, which costs ten times the decode on a
 * 1 KiB plaintext (issue 14). Node's lenient decode of a text B64_RE accepts is Go's.
 */
export function decodeB64(text: string, field: string): Uint8Array {
  const clean = text.includes('\n') || text.includes('\r') ? text.replace(/[\r\n]/g, '') : text;
  const decoded = Buffer.from(clean, 'base64');
  if (decoded.toString('base64') !== clean && !B64_RE.test(clean)) {
    decoded.fill(0);
    throw new KeywardError('VALIDATION_FAILED', `${field}: expected standard base64 (A-Z a-z 0-9 + / with = padding)`);
  }
  // A copy of its own (a small Buffer is a view of a shared pool), and the pool's bytes wiped.
  const out = new Uint8Array(decoded);
  decoded.fill(0);
  return out;
}

const VERSIONED_RE = /^(vault|kw):v([1-9][0-9]{0,9}):(.*)$/s;

/** `kw:v<N>:…` → `vault:v<N>:…`. */
export function toVault(kwText: string): string {
  if (!kwText.startsWith('kw:v')) throw new TypeError(`"kwText" expected kw:v<N>:…, got ${kwText.slice(0, 8)}…`);
  return 'vault:' + kwText.slice(3);
}

/**
 * `vault:v<N>:<body>` (or `kw:v<N>:<body>`) → its version and body text. A value without such a
 * prefix is the request's error (400, as Vault's "invalid ciphertext: no prefix"), never a silent
 * "invalid".
 */
export function parseVault(text: string, field: string): { version: number; body: string } {
  const m = VERSIONED_RE.exec(text);
  if (!m)
    throw new KeywardError(
      'VALIDATION_FAILED',
      `${field}: expected vault:v<version>:<base64>, got ${text.length} characters without that prefix`,
    );
  return { version: Number(m[2]), body: m[3]! };
}

/** `vault:v<N>:<base64>` → `kw:v<N>:<base64>`, re-encoding a leniently decoded body canonically. */
export function fromVault(text: string, field: string): string {
  const { version, body } = parseVault(text, field);
  return `kw:v${version}:${Buffer.from(decodeB64(body, field)).toString('base64')}`;
}

/** A JWS-marshaled signature body (base64url, unpadded) → `kw:v<N>:<base64>` of the same bytes. */
export function fromJws(text: string, field: string): string {
  const { version, body } = parseVault(text, field);
  if (!/^[A-Za-z0-9_-]*$/.test(body))
    throw new KeywardError('VALIDATION_FAILED', `${field}: expected a base64url (JWS) signature after vault:v<N>:`);
  return `kw:v${version}:${Buffer.from(body, 'base64url').toString('base64')}`;
}

/** `kw:v<N>:<base64>` → `vault:v<N>:<base64url>` (JWS marshaling). */
export function toJws(kwText: string): string {
  const { version, body } = parseVault(kwText, 'signature');
  return `vault:v${version}:${Buffer.from(body, 'base64').toString('base64url')}`;
}

/** Vault's hash algorithm names → node:crypto's. */
export const VAULT_HASHES: Readonly<Record<string, SignatureHash>> = Object.freeze({
  'sha2-224': 'sha224',
  'sha2-256': 'sha256',
  'sha2-384': 'sha384',
  'sha2-512': 'sha512',
  'sha3-224': 'sha3-224',
  'sha3-256': 'sha3-256',
  'sha3-384': 'sha3-384',
  'sha3-512': 'sha3-512',
});

/** A Vault hash algorithm name, or 400 naming the supported ones (and why `sha1`/`none` are not). */
export function vaultHash(name: string, field = 'hash_algorithm'): SignatureHash {
  const h = VAULT_HASHES[name];
  if (h) return h;
  if (name === 'sha1')
    throw new KeywardError(
      'OPTION_UNSUPPORTED',
      `${field}: sha1 is not supported (SHA-1 collisions are practical); use one of ${Object.keys(VAULT_HASHES).join(', ')}`,
    );
  if (name === 'none')
    throw new KeywardError(
      'OPTION_UNSUPPORTED',
      `${field}: none (PKCS#1 v1.5 without a DigestInfo) is not supported; use one of ${Object.keys(VAULT_HASHES).join(', ')}`,
    );
  throw new KeywardError(
    'VALIDATION_FAILED',
    `${field}: expected one of ${Object.keys(VAULT_HASHES).join(', ')}, got "${name.slice(0, 20)}"`,
  );
}
