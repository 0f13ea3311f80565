import { Command, Option } from 'clipanion';
import { KeywardApiError } from '@keyward/client';
import { wipe } from '../../../lib/bytes.js';
import { RemoteCommand } from '../../base.js';
import { openShardLocally, toSubmission } from './shared.js';

export default class CeremonyUnsealCommand extends RemoteCommand {
  static override paths = [['ceremony', 'unseal']];
  static override usage = Command.Usage({
    category: 'Ceremony',
    description: "submit your shard to unseal the server (decrypted locally, re-sealed to the server's session key)",
    details: `
      Decrypts your holder key with your passphrase and your shard with it, on this machine. The share is then sealed (HPKE) to the server's ephemeral unseal-session key, bound to the session nonce, and submitted. Below the threshold the server reports progress; at the threshold it unseals.
    `,
    examples: [
      ['Unseal, prompting for the passphrase', 'keyward ceremony unseal --key alice.key --shard alice.shard'],
      [
        'From a script',
        'keyward ceremony unseal --key alice.key --shard alice.shard --passphrase-file pass.txt --addr http://10.0.0.5:8420',
      ],
    ],
  });

  key = Option.String('--key', { required: true, description: 'Your holder private key file' });
  shard = Option.String('--shard', { required: true, description: 'Your shard file' });
  passphraseFile = Option.String('--passphrase-file', {
    description: 'Read the passphrase from this file (env KEYWARD_PASSPHRASE_FILE)',
    env: 'KEYWARD_PASSPHRASE_FILE',
  });

  async run(): Promise<number> {
    const client = this.client();
    const opened = await openShardLocally({
      keyFile: this.key,
      shardFile: this.shard,
      passphraseFile: this.passphraseFile,
      stdin: this.context.stdin,
      stderr: this.context.stderr,
    });
    try {
      let res;
      for (let attempt = 0; ; attempt++) {
        const status = await client.get('/v1/sys/seal-status');
        if (status.initialized && !status.sealed) {
          this.print({ sealed: false, alreadyUnsealed: true }, 'The server is already unsealed.');
          return 0;
        }
        try {
          res = await client.post('/v1/sys/unseal', { body: await toSubmission('unseal', opened, status) });
          break;
        } catch (err) {
          // The session changed between reading status and submitting (a reset or another unseal): retry once.
          if (attempt === 0 && err instanceof KeywardApiError && err.code === 'UNSEAL_NONCE_MISMATCH') continue;
          throw err;
        }
      }
      this.print(
        res,
        res.sealed
          ? `Accepted shard of ${res.holder}: unseal progress ${res.progress} of ${res.threshold}.`
          : `Accepted shard of ${res.holder}: the server is unsealed.`,
      );
      return 0;
    } finally {
      wipe(opened.share);
    }
  }
}
