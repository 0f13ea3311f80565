/**
 * Reading private key material for `keyward key import`, on the user's machine: the file is turned
 * into the key type's canonical import form (engine/crypto/byok.ts), checked locally, and only then
 * wrapped. Nothing here talks to the server.
 *
 * - `pkcs8` (ed25519, ecdsa-p256/p384, rsa-3072/4096): a PEM file (`PRIVATE KEY`, or the legacy
 *   `EC PRIVATE KEY` / `RSA PRIVATE KEY`) or PKCS#8 DER; re-encoded as PKCS#8 DER.
 * - `raw` (every other type): the file's bytes exactly: 32 bytes for aes256-gcm, chacha20-poly1305
 *   and hmac-sha256; the 32-byte ML-DSA seed; the 64-byte ML-KEM seed d‖z; the 32-byte X-Wing seed;
 *   the SLH-DSA secret key; ML-DSA-65 seed ‖ Ed25519 seed for ml-dsa-65-ed25519.
 * @module
 */
import { createPrivateKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { UsageError } from 'clipanion';
import { KeywardError } from '../lib/errors.js';
import { isKeyType } from '../engine/crypto/types.js';
import type { KeyPair, KeyType } from '../engine/crypto/index.js';
import { MAX_INPUT_FILE } from './files.js';

export type MaterialFormat = 'pkcs8' | 'raw';

const PKCS8_TYPES: ReadonlySet<KeyType> = new Set(['ed25519', 'ecdsa-p256', 'ecdsa-p384', 'rsa-3072', 'rsa-4096']);

/** The format a type's material comes in. */
export function materialFormatOf(type: KeyType): MaterialFormat {
  return PKCS8_TYPES.has(type) ? 'pkcs8' : 'raw';
}

/**
 * Reads `path` as key material for `type` and validates it locally (`PRIVATE_KEY_INVALID` says what
 * is wrong). Returns the canonical pair; the caller wipes `private` when done.
 */
export async function readKeyMaterial(
  path: string,
  type: string,
  format: string | undefined,
): Promise<KeyPair & { type: KeyType }> {
  if (!isKeyType(type)) throw new UsageError(`--type expects a key type, got "${type}"`);
  const want = materialFormatOf(type);
  if (format !== undefined && format !== 'pkcs8' && format !== 'raw')
    throw new UsageError(`--format expects pkcs8 or raw, got "${format}"`);
  if (format !== undefined && format !== want) {
    throw new UsageError(
      `${type} material is ${want === 'pkcs8' ? 'PKCS#8 (PEM or DER)' : 'raw bytes'}: use --format ${want}`,
    );
  }
  let file: Buffer;
  try {
    file = await readFile(path);
  } catch (err) {
    throw new KeywardError(
      'FILE_UNREADABLE',
      `cannot read key material ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  if (file.length > MAX_INPUT_FILE)
    throw new KeywardError('FILE_TOO_LARGE', `key material ${path} is ${file.length} bytes`);
  let material: Uint8Array;
  try {
    if (want === 'pkcs8') {
      const text = file.subarray(0, 64).toString('latin1');
      let key;
      try {
        key = text.includes('-----BEGIN')
          ? createPrivateKey({ key: file, format: 'pem' })
          : createPrivateKey({ key: file, format: 'der', type: 'pkcs8' });
      } catch {
        throw new KeywardError('PRIVATE_KEY_INVALID', `${path}: expected a PEM private key or PKCS#8 DER for ${type}`);
      }
      material = new Uint8Array(key.export({ format: 'der', type: 'pkcs8' }));
    } else {
      material = new Uint8Array(file);
    }
  } finally {
    file.fill(0);
  }
  // Loaded here, not at start-up: every command's module is imported when the CLI starts.
  const { importPrivateKey } = await import('../engine/crypto/index.js');
  try {
    return { ...importPrivateKey(type, material), type };
  } catch (err) {
    if (err instanceof KeywardError) throw new KeywardError(err.code, `${path}: ${err.message}`);
    throw err;
  } finally {
    material.fill(0);
  }
}
