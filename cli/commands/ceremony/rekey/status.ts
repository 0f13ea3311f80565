import { Command } from 'clipanion';
import { RemoteCommand } from '../../../base.js';

export default class CeremonyRekeyStatusCommand extends RemoteCommand {
  static override paths = [['ceremony', 'rekey', 'status']];
  static override usage = Command.Usage({
    category: 'Ceremony',
    description: 'show the rekey in progress, if any',
    examples: [['Show rekey progress', 'keyward ceremony rekey status']],
  });

  async run(): Promise<number> {
    const s = await this.client().get('/v1/sys/rekey');
    this.print(
      s,
      s.started
        ? `Rekey in progress: ${s.progress} of ${s.required} current shards; new set ${s.newThreshold} of ${s.newHolders.length} (${s.newHolders.join(', ')}).`
        : 'No rekey in progress.',
    );
    return 0;
  }
}
