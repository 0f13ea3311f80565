import { Command, Option } from 'clipanion';
import { KeywardError } from '../../../lib/errors.js';
import { wipe } from '../../../lib/bytes.js';
import { RemoteCommand } from '../../base.js';
import { openShardLocally } from './shared.js';

/** Loaded when used: every command's module is imported when the CLI starts. */
const custody = () => import('../../../ceremony/index.js');

export default class CeremonyVerifyShardCommand extends RemoteCommand {
  static override paths = [['ceremony', 'verify-shard']];
  static override usage = Command.Usage({
    category: 'Ceremony',
    description: "check that your shard decrypts and matches the server's ceremony, without submitting it",
    details: `
      Decrypts the shard locally, then compares it with the commitment the server published for your index (seal status). With --offline it only checks that your key and passphrase open the shard.
    `,
    examples: [['Check a shard', 'keyward ceremony verify-shard --key alice.key --shard alice.shard']],
  });

  key = Option.String('--key', { required: true, description: 'Your holder private key file' });
  shard = Option.String('--shard', { required: true, description: 'Your shard file' });
  passphraseFile = Option.String('--passphrase-file', {
    description: 'Read the passphrase from this file (env KEYWARD_PASSPHRASE_FILE)',
    env: 'KEYWARD_PASSPHRASE_FILE',
  });
  offline = Option.Boolean('--offline', false, {
    description: 'Only check that the shard decrypts; do not contact the server',
  });

  async run(): Promise<number> {
    const { verifyShardCommitment } = await custody();
    const opened = await openShardLocally({
      keyFile: this.key,
      shardFile: this.shard,
      passphraseFile: this.passphraseFile,
      stdin: this.context.stdin,
      stderr: this.context.stderr,
    });
    try {
      const { shard } = opened;
      const base = {
        holder: shard.holder,
        index: shard.index,
        ceremonyId: shard.ceremonyId,
        threshold: shard.threshold,
        shares: shard.shares,
        decrypts: true,
      };
      if (this.offline) {
        this.print(
          base,
          `Shard of ${shard.holder} decrypts (index ${shard.index}, ${shard.threshold} of ${shard.shares}, ceremony ${shard.ceremonyId}).`,
        );
        return 0;
      }
      const status = await this.client().get('/v1/sys/seal-status');
      if (!status.initialized) throw new KeywardError('NOT_INITIALIZED', 'the server is not initialized');
      if (status.ceremonyId !== shard.ceremonyId) {
        throw new KeywardError(
          'SHARD_FOREIGN',
          `shard belongs to ceremony ${shard.ceremonyId}, but the server's ceremony is ${status.ceremonyId} (generation ${status.generation}); it will not unseal this server`,
        );
      }
      const h = status.holders.find((x) => x.index === shard.index);
      if (!h || !verifyShardCommitment(shard.ceremonyId, shard.index, opened.share, Buffer.from(h.commitment, 'hex'))) {
        throw new KeywardError(
          'SHARD_FORGED',
          `shard index ${shard.index} does not match the server's commitment for that index`,
        );
      }
      this.print(
        { ...base, matchesServer: true, generation: status.generation },
        `Shard of ${shard.holder} decrypts and matches the server's ceremony ${shard.ceremonyId} (index ${shard.index}, ${status.threshold} of ${status.shares}).`,
      );
      return 0;
    } finally {
      wipe(opened.share);
    }
  }
}
