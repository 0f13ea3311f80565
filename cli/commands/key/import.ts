import { createHash } from 'node:crypto';
import { Command, Option, UsageError } from 'clipanion';
import { KeywardError } from '../../../lib/errors.js';
import { toBase64 } from '../../../lib/bytes.js';
import { WRAPPING_ALGORITHMS, isWrappingAlgorithm } from '../../../engine/crypto/types.js';
import { RemoteCommand } from '../../base.js';
import { readJsonFile } from '../../files.js';
import { done } from '../../http.js';
import { readKeyMaterial } from '../../key-material.js';
import type { ExportedKey } from './export.js';

export default class KeyImportCommand extends RemoteCommand {
  static override paths = [['key', 'import']];
  static override usage = Command.Usage({
    category: 'Keys',
    description: 'import private key material (BYOK), wrapped on this machine',
    details: `
      Fetches the server's wrapping key, checks the material locally, wraps it here (RSA-OAEP-3072 + AES-KWP, or ML-KEM-768 or X-Wing + HKDF-SHA-256 + AES-KWP) and sends only the wrapped form. The new key must not exist yet. After the import the public key the server derived is compared with the material's own.

      With --wrapped instead of --material, sends a key another Keyward exported (\`keyward key export --out FILE\`, wrapped to this server's \`keyward key wrapping-key\`) as it is, with the source key's id and version, so its kw: ciphertexts and signatures work here; the public key derived here is compared with the one the export announced.

      Material: PKCS#8 (PEM or DER) for ed25519, ecdsa-p256/p384 and rsa-3072/4096; raw bytes for the rest (32 bytes for aes256-gcm, chacha20-poly1305 and hmac-sha256, the 32-byte ML-DSA seed, the 64-byte ML-KEM seed d‖z, the 32-byte X-Wing seed, the SLH-DSA secret key, ML-DSA-65 seed ‖ Ed25519 seed for ml-dsa-65-ed25519).
    `,
    examples: [
      ['An ECDSA key from a PEM file', 'keyward key import --key partner --type ecdsa-p256 --material partner.pem'],
      [
        'An AES key, wrapped post-quantum',
        'keyward key import --key orders --type aes256-gcm --material aes.key --algorithm ml-kem-768',
      ],
      [
        'Pin the wrapping key checked out of band',
        'keyward key import --key k --type ed25519 --material k.pem --fingerprint 3f0c…',
      ],
      ['A key exported by another Keyward', 'keyward key import --key orders --wrapped orders.export.json'],
    ],
  });

  key = Option.String('--key', { required: true, description: 'Name of the new key' });
  type = Option.String('--type', {
    description:
      'Key type (aes256-gcm, ed25519, ecdsa-p256, rsa-3072, ml-dsa-65, ml-kem-768, ...); required with --material',
  });
  material = Option.String('--material', { description: 'File with the private key material' });
  wrapped = Option.String('--wrapped', {
    description:
      'File with a key export of another Keyward (JSON from `keyward key export --out`), instead of --material',
  });
  format = Option.String('--format', {
    description: 'pkcs8 (classical asymmetric types) or raw (the rest); inferred from --type',
  });
  algorithm = Option.String('--algorithm', 'rsa-oaep-3072-aes-kwp', {
    description: `Wrapping algorithm: ${WRAPPING_ALGORITHMS.join(' or ')}`,
  });
  fingerprint = Option.String('--fingerprint', {
    description: "Refuse unless the wrapping key's SHA-256 fingerprint is this (hex)",
  });
  labels = Option.Array('--label', [], { description: 'A label k=v (repeat for several)' });
  exportable = Option.Boolean('--exportable', false, { description: 'Allow export (still subject to policy)' });

  async run(): Promise<number> {
    // Loaded here, not at start-up: every command's module is imported when the CLI starts.
    const { importWrappingKey, wrapKeyMaterial } = await import('../../../engine/crypto/index.js');
    const alg = this.algorithm;
    if (!isWrappingAlgorithm(alg))
      throw new UsageError(`--algorithm expects ${WRAPPING_ALGORITHMS.join(' or ')}, got "${alg}"`);
    const labels: Record<string, string> = {};
    for (const l of this.labels) {
      const i = l.indexOf('=');
      if (i < 1) throw new UsageError(`--label expects k=v, got "${l}"`);
      labels[l.slice(0, i)] = l.slice(i + 1);
    }
    if ((this.material === undefined) === (this.wrapped === undefined))
      throw new UsageError('give the key with --material FILE or --wrapped FILE (one of them)');
    if (this.wrapped !== undefined) return this.#importWrapped(this.wrapped, labels);
    if (this.type === undefined) throw new UsageError('--material needs --type');
    // Checked before anything goes to the server: a bad file never leaves this machine, even wrapped.
    const pair = await readKeyMaterial(this.material!, this.type, this.format);
    try {
      const client = this.client();
      const published = done(await client.get('/v1/sys/wrapping-key', { params: { query: { algorithm: alg } } }));
      const wrappingKey = importWrappingKey(alg, published.publicKey);
      const fingerprint = createHash('sha256').update(wrappingKey).digest('hex');
      if (this.fingerprint !== undefined && this.fingerprint.toLowerCase().replace(/^sha256:/, '') !== fingerprint) {
        throw new KeywardError(
          'WRAPPING_KEY_MISMATCH',
          `the server's ${alg} wrapping key has fingerprint ${fingerprint}, not the expected ${this.fingerprint}`,
        );
      }
      const wrappedKey = toBase64(wrapKeyMaterial(alg, wrappingKey, pair.private));
      const k = done(
        await client.post('/v1/keys/{name}/import', {
          params: { path: { name: this.key } },
          body: { type: pair.type, algorithm: alg, wrappedKey, labels, exportable: this.exportable },
        }),
      );
      const derived = k.versions.find((v) => v.version === 1)?.publicKey ?? null;
      const expected = pair.public ? toBase64(pair.public) : null;
      if (derived !== expected)
        throw new KeywardError(
          'PUBLIC_KEY_MISMATCH',
          `the server derived a different public key for ${k.name} than the material's own; do not use it`,
        );
      this.print(
        k,
        `Imported ${k.type} key ${k.name} (version ${k.latestVersion}), wrapped with ${alg}${expected ? '; its public key matches the material' : ''}.`,
      );
      return 0;
    } finally {
      pair.private.fill(0);
    }
  }

  /** Sends another Keyward's export (already wrapped to this server's wrapping key) as it is. */
  async #importWrapped(file: string, labels: Record<string, string>): Promise<number> {
    const e = (await readJsonFile(file, 'key export')) as Partial<ExportedKey> | null;
    if (typeof e?.wrappedKey !== 'string' || typeof e.type !== 'string' || !isWrappingAlgorithm(e.algorithm)) {
      throw new KeywardError(
        'FILE_INVALID',
        `${file}: expected the JSON of \`keyward key export\` (type, algorithm, wrappedKey), got something else`,
      );
    }
    if (this.type !== undefined && this.type !== e.type)
      throw new UsageError(`--type ${this.type} differs from the export's type ${e.type}`);
    // The source's key id and version come along, so its kw: ciphertexts and signatures work here.
    const identity =
      typeof e.keyId === 'string' && typeof e.keyVersion === 'number'
        ? { keyId: e.keyId, keyVersion: e.keyVersion }
        : {};
    const k = done(
      await this.client().post('/v1/keys/{name}/import', {
        params: { path: { name: this.key } },
        body: {
          type: e.type,
          algorithm: e.algorithm,
          wrappedKey: e.wrappedKey,
          labels,
          exportable: this.exportable,
          ...identity,
        },
      }),
    );
    const derived = k.versions.find((v) => v.version === k.latestVersion)?.publicKey ?? null;
    if (derived !== (e.publicKey ?? null))
      throw new KeywardError(
        'PUBLIC_KEY_MISMATCH',
        `the server derived a different public key for ${k.name} than the export announced; do not use it`,
      );
    this.print(
      k,
      `Imported ${k.type} key ${k.name} (version ${k.latestVersion}) from ${e.name ?? 'an export'} version ${e.keyVersion ?? '?'}, wrapped with ${e.algorithm}${derived ? '; its public key matches the export' : ''}.`,
    );
    return 0;
  }
}
