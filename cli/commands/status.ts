import { Command } from 'clipanion';
import { RemoteCommand } from '../base.js';

export default class StatusCommand extends RemoteCommand {
  static override paths = [['status']];
  static override usage = Command.Usage({
    description: 'show whether the server is initialized and sealed, and the unseal progress',
    details: 'Exits 0 when unsealed, 2 when sealed or not initialized (like `vault status`), 1 on error.',
    examples: [['Seal status as JSON', 'keyward status --json']],
  });

  async run(): Promise<number> {
    const s = await this.client().get('/v1/sys/seal-status');
    this.print(s, () =>
      [
        `Initialized   ${s.initialized}`,
        `Sealed        ${s.sealed}`,
        `Threshold     ${s.threshold} of ${s.shares}`,
        `Progress      ${s.progress} of ${s.threshold}`,
        `Ceremony      ${s.ceremonyId ?? '-'} (generation ${s.generation})`,
        `Holders       ${s.holders.map((h) => `${h.name}#${h.index}`).join(', ') || '-'}`,
        `Version       ${s.version}`,
      ].join('\n'),
    );
    return s.initialized && !s.sealed ? 0 : 2;
  }
}
