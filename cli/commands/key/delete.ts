import { Command, Option } from 'clipanion';
import { RemoteCommand } from '../../base.js';
import { done } from '../../http.js';

export default class KeyDeleteCommand extends RemoteCommand {
  static override paths = [['key', 'delete']];
  static override usage = Command.Usage({
    category: 'Keys',
    description: 'schedule deletion (the key refuses operations at once; needs deletion allowed)',
    examples: [['Delete', 'keyward key delete orders']],
  });

  name = Option.String({ required: true });

  async run(): Promise<number> {
    const k = done(await this.client().delete('/v1/keys/{name}', { params: { path: { name: this.name } } }));
    this.print(k, `${k.name} will be deleted after ${k.deleteAfter}; it refuses operations from now on.`);
    return 0;
  }
}
