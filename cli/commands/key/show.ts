import { Command, Option } from 'clipanion';
import { BaseCommand } from '../../base.js';
import { done } from '../../http.js';

export default class KeyShowCommand extends BaseCommand {
  static override paths = [['key', 'show']];
  static override usage = Command.Usage({ category: 'Keys', description: 'show a key: type, versions, labels, public keys', examples: [['Show', 'keyward key show orders']] });

  name = Option.String({ required: true });

  async run(): Promise<number> {
    const k = done(await this.client().get('/v1/keys/{name}', { params: { path: { name: this.name } } }));
    this.print(k, `${k.name}  ${k.type}  versions ${k.minDecryptionVersion}..${k.latestVersion}  labels ${JSON.stringify(k.labels)}${k.deleteAfter ? `  deletion scheduled ${k.deleteAfter}` : ''}`);
    return 0;
  }
}
