import { Command, Option } from 'clipanion';
import { RemoteCommand } from '../../base.js';
import { done } from '../../http.js';

export default class KeyRotateCommand extends RemoteCommand {
  static override paths = [['key', 'rotate']];
  static override usage = Command.Usage({
    category: 'Keys',
    description: 'add a key version; new operations use it',
    examples: [['Rotate', 'keyward key rotate orders']],
  });

  name = Option.String({ required: true });

  async run(): Promise<number> {
    const k = done(
      await this.client().post('/v1/keys/{name}/rotate', { params: { path: { name: this.name } }, body: {} }),
    );
    this.print(k, `${k.name} is at version ${k.latestVersion}.`);
    return 0;
  }
}
