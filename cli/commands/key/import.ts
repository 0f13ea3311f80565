import { createHash } from 'node:crypto';
import { Command, Option, UsageError } from 'clipanion';
import { KeywardError } from '../../../ceremony/errors.js';
import { toBase64 } from '../../../ceremony/index.js';
import { WRAPPING_ALGORITHMS, importWrappingKey, isWrappingAlgorithm, wrapKeyMaterial } from '../../../engine/crypto/index.js';
import { BaseCommand } from '../../base.js';
import { done } from '../../http.js';
import { readKeyMaterial } from '../../key-material.js';

export default class KeyImportCommand extends BaseCommand {
  static override paths = [['key', 'import']];
  static override usage = Command.Usage({
    category: 'Keys',
    description: 'import private key material (BYOK), wrapped on this machine',
    details: `
      Fetches the server's wrapping key, checks the material locally, wraps it here (RSA-OAEP-3072 + AES-KWP, or ML-KEM-768 + HKDF-SHA-256 + AES-KWP) and sends only the wrapped form. The new key must not exist yet. After the import the public key the server derived is compared with the material's own.

      Material: PKCS#8 (PEM or DER) for ed25519, ecdsa-p256/p384 and rsa-3072/4096; raw bytes for the rest (32 bytes for aes256-gcm, chacha20-poly1305 and hmac-sha256, the 32-byte ML-DSA seed, the 64-byte ML-KEM seed d‖z, the 32-byte X-Wing seed, the SLH-DSA secret key, ML-DSA-65 seed ‖ Ed25519 seed for ml-dsa-65-ed25519).
    `,
    examples: [
      ['An ECDSA key from a PEM file', 'keyward key import --key partner --type ecdsa-p256 --material partner.pem'],
      ['An AES key, wrapped post-quantum', 'keyward key import --key orders --type aes256-gcm --material aes.key --algorithm ml-kem-768'],
      ['Pin the wrapping key checked out of band', 'keyward key import --key k --type ed25519 --material k.pem --fingerprint 3f0c…'],
    ],
  });

  key = Option.String('--key', { required: true, description: 'Name of the new key' });
  type = Option.String('--type', { required: true, description: 'Key type (aes256-gcm, ed25519, ecdsa-p256, rsa-3072, ml-dsa-65, ml-kem-768, ...)' });
  material = Option.String('--material', { required: true, description: 'File with the private key material' });
  format = Option.String('--format', { description: 'pkcs8 (classical asymmetric types) or raw (the rest); inferred from --type' });
  algorithm = Option.String('--algorithm', 'rsa-oaep-3072-aes-kwp', { description: `Wrapping algorithm: ${WRAPPING_ALGORITHMS.join(' or ')}` });
  fingerprint = Option.String('--fingerprint', { description: "Refuse unless the wrapping key's SHA-256 fingerprint is this (hex)" });
  labels = Option.Array('--label', [], { description: 'A label k=v (repeat for several)' });
  exportable = Option.Boolean('--exportable', false, { description: 'Allow export (still subject to policy)' });

  async run(): Promise<number> {
    const alg = this.algorithm;
    if (!isWrappingAlgorithm(alg)) throw new UsageError(`--algorithm expects ${WRAPPING_ALGORITHMS.join(' or ')}, got "${alg}"`);
    const labels: Record<string, string> = {};
    for (const l of this.labels) {
      const i = l.indexOf('=');
      if (i < 1) throw new UsageError(`--label expects k=v, got "${l}"`);
      labels[l.slice(0, i)] = l.slice(i + 1);
    }
    // Checked before anything goes to the server: a bad file never leaves this machine, even wrapped.
    const pair = await readKeyMaterial(this.material, this.type, this.format);
    try {
      const client = this.client();
      const published = done(await client.get('/v1/sys/wrapping-key', { params: { query: { algorithm: alg } } }));
      const wrappingKey = importWrappingKey(alg, published.publicKey);
      const fingerprint = createHash('sha256').update(wrappingKey).digest('hex');
      if (this.fingerprint !== undefined && this.fingerprint.toLowerCase().replace(/^sha256:/, '') !== fingerprint) {
        throw new KeywardError('WRAPPING_KEY_MISMATCH', `the server's ${alg} wrapping key has fingerprint ${fingerprint}, not the expected ${this.fingerprint}`);
      }
      const wrappedKey = toBase64(wrapKeyMaterial(alg, wrappingKey, pair.private));
      const k = done(await client.post('/v1/keys/{name}/import', { params: { path: { name: this.key } }, body: { type: pair.type, algorithm: alg, wrappedKey, labels, exportable: this.exportable } }));
      const derived = k.versions.find((v) => v.version === 1)?.publicKey ?? null;
      const expected = pair.public ? toBase64(pair.public) : null;
      if (derived !== expected) throw new KeywardError('PUBLIC_KEY_MISMATCH', `the server derived a different public key for ${k.name} than the material's own; do not use it`);
      this.print(k, `Imported ${k.type} key ${k.name} (version ${k.latestVersion}), wrapped with ${alg}${expected ? '; its public key matches the material' : ''}.`);
      return 0;
    } finally {
      pair.private.fill(0);
    }
  }
}
