import { Command } from 'clipanion';
import { BaseCommand } from '../base.js';
import { done } from '../http.js';

export default class RotateCommand extends BaseCommand {
  static override paths = [['rotate']];
  static override usage = Command.Usage({
    description: 'rotate the barrier key: a new keyring term encrypts new data, old data stays readable (authenticated)',
    examples: [['Rotate', 'keyward rotate']],
  });

  async run(): Promise<number> {
    const r = done(await this.client().post('/v1/sys/rotate', { body: {} }));
    this.print(r, `Rotated: keyring term ${r.term} is active (${r.terms.length} terms kept).`);
    return 0;
  }
}
