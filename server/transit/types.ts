/**
 * Vault transit key types ↔ Keyward key types, and the shape of Vault's "read key" data.
 *
 * Vault's names are mapped where Keyward has the same algorithm; Keyward's own names are accepted
 * too (post-quantum and hybrid types have no Vault community-edition name). A Vault type Keyward
 * does not have is a 400 that says why (docs/vault-transit.md).
 * @module
 */
import { KeywardError } from '../../lib/errors.js';
import { KEY_TYPES, exportPublicKey, isKeyType, keyTypeInfo } from '../../engine/crypto/index.js';
import type { KeyType } from '../../engine/crypto/index.js';
import type { KeyInfo } from '../../engine/keys/service.js';

const VAULT_TO_KEYWARD: Readonly<Record<string, KeyType>> = Object.freeze({
  'aes256-gcm96': 'aes256-gcm',
  'chacha20-poly1305': 'chacha20-poly1305',
  ed25519: 'ed25519',
  'ecdsa-p256': 'ecdsa-p256',
  'ecdsa-p384': 'ecdsa-p384',
  'rsa-3072': 'rsa-3072',
  'rsa-4096': 'rsa-4096',
  hmac: 'hmac-sha256',
});

const KEYWARD_TO_VAULT: Readonly<Partial<Record<KeyType, string>>> = Object.freeze(
  Object.fromEntries(Object.entries(VAULT_TO_KEYWARD).map(([v, k]) => [k, v])),
);

/** Vault types Keyward refuses, with the reason given to the client. */
const UNSUPPORTED: Readonly<Record<string, string>> = Object.freeze({
  'aes128-gcm96': 'Keyward keeps 256-bit AEAD keys only; use aes256-gcm96',
  'rsa-2048':
    'Keyward RSA keys are 3072 or 4096 bits (2048-bit RSA gives 112-bit security, below the 128 of every other type); use rsa-3072',
  'ecdsa-p521': 'P-521 is not implemented; use ecdsa-p384',
  'aes128-cmac': 'CMAC is not implemented; use an hmac key',
  'aes256-cmac': 'CMAC is not implemented; use an hmac key',
  managed_key: 'Keyward has no managed (external) keys',
  'ml-dsa': 'name the parameter set in the type: ml-dsa-44, ml-dsa-65 or ml-dsa-87',
  hybrid: 'the hybrid signature type is ml-dsa-65-ed25519',
});

/** The Keyward type of a Vault (or Keyward) type name; 400 with the reason otherwise. */
export function keywardType(name: string): KeyType {
  const mapped = VAULT_TO_KEYWARD[name];
  if (mapped) return mapped;
  if (isKeyType(name)) return name;
  const why = UNSUPPORTED[name];
  if (why) throw new KeywardError('KEY_TYPE_INVALID', `key type ${name} is not supported: ${why}`);
  const vault = Object.keys(VAULT_TO_KEYWARD);
  const extra = KEY_TYPES.filter((t) => !(t in KEYWARD_TO_VAULT));
  throw new KeywardError(
    'KEY_TYPE_INVALID',
    `unknown key type "${name.slice(0, 40)}"; expected one of ${vault.join(', ')} (or Keyward's ${extra.join(', ')})`,
  );
}

/** The name a Vault client sees for a Keyward type (Vault's where there is one). */
export function vaultTypeName(type: KeyType): string {
  return KEYWARD_TO_VAULT[type] ?? type;
}

/** Vault's per-version `name` of an asymmetric key entry. */
const ENTRY_NAME: Partial<Record<KeyType, string>> = {
  ed25519: 'ed25519',
  'ecdsa-p256': 'P-256',
  'ecdsa-p384': 'P-384',
  'rsa-3072': 'rsa-3072',
  'rsa-4096': 'rsa-4096',
};

/**
 * A Vault client's view of a public key: PEM (SPKI) for ECDSA and RSA, base64 of the raw 32 bytes
 * for Ed25519 (as Vault), base64 of the raw key for post-quantum types.
 */
export function vaultPublicKey(type: KeyType, publicKeyB64: string): string {
  const pub = new Uint8Array(Buffer.from(publicKeyB64, 'base64'));
  const fmt = type === 'ed25519' || !ENTRY_NAME[type] ? 'raw' : 'pem';
  return String(exportPublicKey(type, pub, fmt).publicKey);
}

/** `GET /v1/transit/keys/:name` data, in Vault's field names. */
export function readKeyData(info: KeyInfo): Record<string, unknown> {
  const type = info.type;
  const cap = keyTypeInfo(type);
  const keys: Record<string, unknown> = {};
  for (const v of info.versions) {
    if (cap.asymmetric && v.publicKey) {
      keys[String(v.version)] = {
        name: ENTRY_NAME[type] ?? type,
        public_key: vaultPublicKey(type, v.publicKey),
        creation_time: v.createdAt,
        certificate_chain: '',
      };
    } else {
      keys[String(v.version)] = Math.floor(Date.parse(v.createdAt) / 1000);
    }
  }
  const ops = cap.operations;
  return {
    name: info.name,
    type: vaultTypeName(type),
    keys,
    latest_version: info.latestVersion,
    min_available_version: 0,
    min_decryption_version: info.minDecryptionVersion,
    min_encryption_version: 0,
    deletion_allowed: info.deletionAllowed,
    derived: false,
    exportable: info.exportable,
    allow_plaintext_backup: false,
    auto_rotate_period: 0,
    // Vault's code returns imported_key; its documentation's sample shows imported.
    imported_key: info.verifyOnly,
    imported: info.verifyOnly,
    supports_encryption: ops.includes('encrypt') && !info.verifyOnly,
    supports_decryption: ops.includes('decrypt') && !info.verifyOnly,
    supports_derivation: false,
    supports_signing: ops.includes('sign') && !info.verifyOnly,
    // Keyward extras (Vault clients ignore unknown fields).
    labels: info.labels,
    delete_after: info.deleteAfter,
  };
}
