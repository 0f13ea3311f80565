import { Command } from 'clipanion';
import { RemoteCommand } from '../base.js';
import { done } from '../http.js';

export default class SealCommand extends RemoteCommand {
  static override paths = [['seal']];
  static override usage = Command.Usage({
    description: 'seal the server: zeroize its keys until a quorum unseals it again (authenticated)',
    examples: [['Seal', 'KEYWARD_TOKEN=kwt_... keyward seal']],
  });

  async run(): Promise<number> {
    const s = done(await this.client().post('/v1/sys/seal', { body: {} }));
    this.print(s, 'Sealed.');
    return 0;
  }
}
