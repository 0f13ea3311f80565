import { Command, Option } from 'clipanion';
import { RemoteCommand, wholeNumber } from '../../base.js';
import { writeFileSafe } from '../../files.js';
import { loadHolderPublicKeys, writeShards } from './shared.js';

export default class CeremonyInitCommand extends RemoteCommand {
  static override paths = [['ceremony', 'init']];
  static override usage = Command.Usage({
    category: 'Ceremony',
    description: 'initialize the server: split the unseal key to holders, one sealed shard each',
    details: `
      The server generates the unseal key, splits it (Shamir, T of N), seals each shard to its holder's public key (HPKE, X-Wing) and returns the sealed shard files, written as DIR/NAME.shard. You never see a plaintext shard. The initial root token is printed once, or written to --root-token-out. The server stays sealed until T holders unseal it.
    `,
    examples: [
      [
        'A 2-of-3 ceremony',
        'keyward ceremony init --holders alice.key.pub,bob.key.pub,carol.key.pub --threshold 2 --out-dir shards/',
      ],
    ],
  });

  holders = Option.String('--holders', {
    required: true,
    description: 'Comma-separated holder public key files (.pub)',
  });
  threshold = Option.String('--threshold', {
    required: true,
    description: 'Shards needed to unseal (1..N)',
    validator: wholeNumber(1),
  });
  outDir = Option.String('--out-dir', { required: true, description: 'Directory for the NAME.shard files' });
  rootTokenOut = Option.String('--root-token-out', {
    description: 'Write the root token to this file (mode 0600) instead of printing it',
  });
  force = Option.Boolean('--force', false, { description: 'Overwrite existing shard files' });

  async run(): Promise<number> {
    const threshold = this.threshold;
    const holders = await loadHolderPublicKeys(this.holders);
    const res = await this.client().post('/v1/sys/init', { body: { holders, threshold } });
    const files = await writeShards(this.outDir, res.shards, this.force);
    if (this.rootTokenOut)
      await writeFileSafe(this.rootTokenOut, res.rootToken + '\n', { mode: 0o600, overwrite: this.force });
    const shown = this.rootTokenOut ? undefined : res.rootToken;
    this.print(
      {
        ceremonyId: res.ceremonyId,
        threshold: res.threshold,
        shares: res.shares,
        shardFiles: files,
        rootTokenId: res.rootTokenId,
        ...(shown ? { rootToken: shown } : { rootTokenFile: this.rootTokenOut }),
      },
      () =>
        [
          `Initialized ceremony ${res.ceremonyId}: ${res.threshold} of ${res.shares} shards unseal.`,
          ...files.map((f) => `  wrote ${f}`),
          shown ? `Root token (shown once, keep it safe): ${shown}` : `Root token written to ${this.rootTokenOut}`,
          'The server is sealed: each holder now runs `keyward ceremony unseal --key FILE --shard FILE`.',
        ].join('\n'),
    );
    return 0;
  }
}
