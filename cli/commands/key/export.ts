import type { components } from '@keyward/client';
import { Command, Option, UsageError } from 'clipanion';
import { KeywardError } from '../../../lib/errors.js';
import { WRAPPING_ALGORITHMS, isWrappingAlgorithm } from '../../../engine/crypto/types.js';
import { RemoteCommand, wholeNumber } from '../../base.js';
import { readText, writeFileSafe } from '../../files.js';
import { done } from '../../http.js';

/** The answer of POST /v1/keys/{name}/export, as the OpenAPI document types it. */
export type ExportedKey = components['schemas']['KeysExportResponse'];

export default class KeyExportCommand extends RemoteCommand {
  static override paths = [['key', 'export']];
  static override usage = Command.Usage({
    category: 'Keys',
    description: "export an exportable key's material, wrapped to your public key",
    details: `
      Asks the server to wrap one version (--version, default the latest) of an \`exportable\` key to the public key in --wrapping-key, with the BYOK constructions (RSA-OAEP-3072 + AES-KWP, ML-KEM-768 or X-Wing + HKDF-SHA-256 + AES-KWP): the material never travels in the clear, and the result imports into another Keyward with \`keyward key import --wrapped FILE\` (wrap it to that server's \`keyward key wrapping-key\`) or unwraps with your own private key.

      The wrapping key file holds a PEM "PUBLIC KEY" (or base64 SPKI) of an RSA-3072 key for rsa-oaep-3072-aes-kwp, or the base64 raw public key for ml-kem-768 and x-wing; it is checked here before anything is sent.

      Export is under dual control: the default policy parks the request (exit 3, printing the approval id and the command that runs it) until two operators approve; then \`keyward approval execute apr_…\` runs it once with the body the server kept and prints the answer (check its wrappingKeyFingerprint against your key's yourself: this command's own check and --out apply when the export runs at once). Keys that are not exportable, verify-only keys and unknown versions are refused at once.
    `,
    examples: [
      [
        "To another Keyward's wrapping key",
        'keyward --addr https://b:8420 key wrapping-key --algorithm x-wing --out b.pub && keyward key export --key orders --wrapping-key b.pub --algorithm x-wing --out orders.export.json',
      ],
      [
        'Version 2, to your own RSA-3072 key',
        'keyward key export --key signer --wrapping-key me.pem --algorithm rsa-oaep-3072-aes-kwp --version 2 --out signer.v2.json',
      ],
    ],
  });

  key = Option.String('--key', { required: true, description: 'Name of the key to export' });
  wrappingKey = Option.String('--wrapping-key', { required: true, description: 'File with the public key to wrap to' });
  algorithm = Option.String('--algorithm', {
    required: true,
    description: `Wrapping algorithm: ${WRAPPING_ALGORITHMS.join(', ')}`,
  });
  version = Option.String('--version', {
    description: 'Key version to export (default: the latest)',
    validator: wholeNumber(1, 999_999_999),
  });
  out = Option.String('--out', {
    description: 'Write the export (JSON, the wrapped key with its type, version and public key) to FILE',
  });
  force = Option.Boolean('--force', false, { description: 'Overwrite --out' });

  async run(): Promise<number> {
    const alg = this.algorithm;
    if (!isWrappingAlgorithm(alg))
      throw new UsageError(`--algorithm expects ${WRAPPING_ALGORITHMS.join(', ')}, got "${alg}"`);
    const text = (await readText(this.wrappingKey, 'wrapping key')).trim();
    // Checked here, so a wrong file is named before the request reaches (and is parked by) the server.
    // (The crypto is loaded here, not at start-up: every command's module is imported when the CLI starts.)
    const { parseWrappingKey, wrappingKeyFingerprint } = await import('../../../engine/crypto/index.js');
    const fingerprint = wrappingKeyFingerprint(parseWrappingKey(alg, text));
    const body = {
      algorithm: alg,
      wrappingKey: text,
      ...(this.version !== undefined ? { keyVersion: this.version } : {}),
    };
    const k = done(await this.client().post('/v1/keys/{name}/export', { params: { path: { name: this.key } }, body }));
    if (k.wrappingKeyFingerprint !== fingerprint) {
      throw new KeywardError(
        'WRAPPING_KEY_MISMATCH',
        `the server wrapped to a key with fingerprint ${k.wrappingKeyFingerprint}, not ${fingerprint} from ${this.wrappingKey}; discard the result`,
      );
    }
    if (this.out)
      await writeFileSafe(this.out, JSON.stringify(k, null, 2) + '\n', { mode: 0o600, overwrite: this.force });
    this.print(
      k,
      this.out
        ? `Exported ${k.type} key ${k.name} version ${k.keyVersion}, wrapped with ${k.algorithm} to sha256:${fingerprint}, into ${this.out}.`
        : JSON.stringify(k, null, 2),
    );
    return 0;
  }
}
