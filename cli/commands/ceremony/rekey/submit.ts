import { Command, Option } from 'clipanion';
import { wipe } from '../../../../lib/bytes.js';
import { RemoteCommand } from '../../../base.js';
import { openShardLocally, toSubmission, writeShards } from '../shared.js';

export default class CeremonyRekeySubmitCommand extends RemoteCommand {
  static override paths = [['ceremony', 'rekey', 'submit']];
  static override usage = Command.Usage({
    category: 'Ceremony',
    description: 'submit your current shard to a rekey in progress',
    details: `
      Like \`ceremony unseal\`, but for the rekey session. The submission that completes the quorum receives the new shard files (sealed to the new holders) and writes them to --out-dir.
    `,
    examples: [
      ['Submit to a rekey', 'keyward ceremony rekey submit --key alice.key --shard alice.shard --out-dir new-shards/'],
    ],
  });

  key = Option.String('--key', { required: true, description: 'Your holder private key file' });
  shard = Option.String('--shard', { required: true, description: 'Your current shard file' });
  outDir = Option.String('--out-dir', {
    required: true,
    description: 'Where to write the new shard files if this submission completes the rekey',
  });
  passphraseFile = Option.String('--passphrase-file', {
    description: 'Read the passphrase from this file (env KEYWARD_PASSPHRASE_FILE)',
    env: 'KEYWARD_PASSPHRASE_FILE',
  });
  force = Option.Boolean('--force', false, { description: 'Overwrite existing shard files' });

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
      const status = await client.get('/v1/sys/rekey');
      const res = await client.post('/v1/sys/rekey/update', { body: await toSubmission('rekey', opened, status) });
      if (!res.complete) {
        this.print(res, `Accepted shard of ${res.holder}: rekey progress ${res.progress} of ${res.required}.`);
        return 0;
      }
      const files = await writeShards(this.outDir, res.shards, this.force);
      this.print(
        { ...res, shards: undefined, shardFiles: files },
        [
          `Rekey complete: ceremony ${res.ceremonyId} (generation ${res.generation}), ${res.threshold} of ${res.shares}. Old shards no longer work.`,
          ...files.map((f) => `  wrote ${f}`),
        ].join('\n'),
      );
      return 0;
    } finally {
      wipe(opened.share);
    }
  }
}
