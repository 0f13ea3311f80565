import { Command, Option } from 'clipanion';
import { BaseCommand } from '../../base.js';

export default class KeyRotateCommand extends BaseCommand {
  static override paths = [['key', 'rotate']];
  static override usage = Command.Usage({ category: 'Keys', description: 'add a key version; new operations use it', examples: [['Rotate', 'keyward key rotate orders']] });

  name = Option.String({ required: true });

  async run(): Promise<number> {
    const k = await this.client().post<{ name: string; latestVersion: number }>(`/v1/keys/${encodeURIComponent(this.name)}/rotate`);
    this.print(k, `${k.name} is at version ${k.latestVersion}.`);
    return 0;
  }
}
