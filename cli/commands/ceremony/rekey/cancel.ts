import { Command } from 'clipanion';
import { RemoteCommand } from '../../../base.js';
import { done } from '../../../http.js';

export default class CeremonyRekeyCancelCommand extends RemoteCommand {
  static override paths = [['ceremony', 'rekey', 'cancel']];
  static override usage = Command.Usage({
    category: 'Ceremony',
    description: 'cancel the rekey in progress (authenticated)',
    examples: [['Cancel', 'keyward ceremony rekey cancel']],
  });

  async run(): Promise<number> {
    const s = done(await this.client().post('/v1/sys/rekey/cancel', { body: {} }));
    this.print(s, 'Rekey cancelled.');
    return 0;
  }
}
