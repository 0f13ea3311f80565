import { Command, Option, UsageError } from 'clipanion';
import { WRAPPING_ALGORITHMS, isWrappingAlgorithm } from '../../../engine/crypto/types.js';
import { RemoteCommand } from '../../base.js';
import { done } from '../../http.js';
import { writeFileSafe } from '../../files.js';

export default class KeyWrappingKeyCommand extends RemoteCommand {
  static override paths = [['key', 'wrapping-key']];
  static override usage = Command.Usage({
    category: 'Keys',
    description: "print the server's BYOK wrapping public key",
    details: `
      The wrapping key is server-wide and made on first use. \`keyward key import\` fetches it itself; print it to check its fingerprint out of band, or to wrap key material with other tools (the RSA one is compatible with the Vault / AWS KMS openssl recipe).
    `,
    examples: [
      ['The RSA-OAEP-3072 wrapping key as PEM', 'keyward key wrapping-key'],
      ['The ML-KEM-768 one into a file', 'keyward key wrapping-key --algorithm ml-kem-768 --out wrapping.b64'],
    ],
  });

  algorithm = Option.String('--algorithm', 'rsa-oaep-3072-aes-kwp', {
    description: `Wrapping algorithm: ${WRAPPING_ALGORITHMS.join(' or ')}`,
  });
  out = Option.String('--out', { description: 'Also write the public key to FILE' });
  force = Option.Boolean('--force', false, { description: 'Overwrite --out' });

  async run(): Promise<number> {
    const algorithm = this.algorithm;
    if (!isWrappingAlgorithm(algorithm))
      throw new UsageError(`--algorithm expects ${WRAPPING_ALGORITHMS.join(' or ')}, got "${algorithm}"`);
    const k = done(await this.client().get('/v1/sys/wrapping-key', { params: { query: { algorithm } } }));
    if (this.out) await writeFileSafe(this.out, k.publicKey.replace(/\n?$/, '\n'), { overwrite: this.force });
    this.print(k, `${k.publicKey.trimEnd()}\n${k.algorithm} fingerprint sha256:${k.fingerprint}`);
    return 0;
  }
}
