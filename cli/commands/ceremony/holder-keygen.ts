import { Command, Option } from 'clipanion';
import { OfflineCommand, wholeNumber } from '../../base.js';
import { writeFileSafe } from '../../files.js';
import { readPassphrase } from '../../passphrase.js';

/** Loaded when used: every command's module is imported when the CLI starts. */
const custody = () => import('../../../ceremony/index.js');

export default class CeremonyHolderKeygenCommand extends OfflineCommand {
  static override paths = [['ceremony', 'holder-keygen']];
  static override usage = Command.Usage({
    category: 'Ceremony',
    description: 'make a hybrid post-quantum holder key (X-Wing), encrypted under a passphrase',
    details: `
      Writes FILE (the private key, encrypted with scrypt + AES-256-GCM under your passphrase, mode 0600) and FILE.pub (the public key to give the operator running \`keyward ceremony init\`). Runs offline.

      Opening the key (unseal, verify-shard, rekey submit) costs scrypt at N = 2^17 by default: about 128 MiB and a second of CPU, which is also what each guess of the passphrase costs someone who has the file. --scrypt-log-n 12 makes opening it 32 times cheaper and guessing it too: for a quick trial, not for a real key.
    `,
    examples: [
      ['Make a key, prompting for the passphrase', 'keyward ceremony holder-keygen --name alice --out alice.key'],
      [
        'Make a key from a script',
        'keyward ceremony holder-keygen --name alice --out alice.key --passphrase-file pass.txt',
      ],
    ],
  });

  name = Option.String('--name', { required: true, description: 'Holder name (letters, digits, . _ -)' });
  out = Option.String('--out', {
    required: true,
    description: 'Private key file to write (FILE.pub is written beside it)',
  });
  passphraseFile = Option.String('--passphrase-file', {
    description: 'Read the passphrase from this file (env KEYWARD_PASSPHRASE_FILE)',
    env: 'KEYWARD_PASSPHRASE_FILE',
  });
  force = Option.Boolean('--force', false, { description: 'Overwrite existing files' });
  // The bounds of what a key file may say (ceremony/holder-key.ts SCRYPT_N_MIN/MAX, not imported:
  // that module loads only when a command runs), so every key written here can be opened.
  scryptLogN = Option.String('--scrypt-log-n', {
    description:
      'scrypt cost N = 2^this, 12..20 (default 17). Each step down halves the work of opening the key, and of guessing its passphrase',
    validator: wholeNumber(12, 20),
  });

  async run(): Promise<number> {
    const { encryptHolderKey, generateHolderKey, holderFingerprint, toPublicKeyFile } = await custody();
    const { seed, publicKey } = await generateHolderKey(this.name);
    try {
      const passphrase = await readPassphrase({
        file: this.passphraseFile,
        prompt: `Passphrase for ${this.name}'s key: `,
        confirm: true,
        stdin: this.context.stdin,
        stderr: this.context.stderr,
      });
      const priv = await encryptHolderKey(
        { name: this.name, seed, publicKey },
        passphrase,
        this.scryptLogN === undefined ? {} : { scryptN: 2 ** this.scryptLogN },
      );
      const pub = toPublicKeyFile({ name: this.name, publicKey });
      await writeFileSafe(this.out, JSON.stringify(priv, null, 2) + '\n', { mode: 0o600, overwrite: this.force });
      await writeFileSafe(this.out + '.pub', JSON.stringify(pub, null, 2) + '\n', { overwrite: this.force });
      const fingerprint = holderFingerprint(publicKey);
      this.print(
        { name: this.name, privateKeyFile: this.out, publicKeyFile: this.out + '.pub', fingerprint },
        `Wrote ${this.out} (private, encrypted) and ${this.out}.pub\nFingerprint: ${fingerprint}`,
      );
      return 0;
    } finally {
      seed.fill(0);
    }
  }
}
