import { Command } from 'clipanion';
import { RemoteCommand } from '../../base.js';

export default class CeremonyResetCommand extends RemoteCommand {
  static override paths = [['ceremony', 'reset']];
  static override usage = Command.Usage({
    category: 'Ceremony',
    description: 'discard the unseal progress so far (holders submit again)',
    examples: [['Start the unseal over', 'keyward ceremony reset']],
  });

  async run(): Promise<number> {
    const res = await this.client().post('/v1/sys/unseal/reset', { body: {} });
    this.print(res, `Unseal progress reset: 0 of ${res.threshold}.`);
    return 0;
  }
}
