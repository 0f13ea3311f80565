/**
 * `keyward sys rotate`: barrier key rotation (POST /v1/sys/rotate, docs/architecture.md, "A request, step by step"), under `sys` beside
 * the other server-wide operations so that it is not confused with `keyward key rotate` (one key).
 * @module
 */
import { Command } from 'clipanion';
import type { Usage } from 'clipanion';
import { RemoteCommand } from '../../base.js';
import { done } from '../../http.js';

export default class SysRotateCommand extends RemoteCommand {
  static override paths = [['sys', 'rotate']];
  static override usage: Usage | undefined = Command.Usage({
    category: 'System',
    description:
      'rotate the barrier key: a new keyring term encrypts new data, old data stays readable (authenticated)',
    details:
      'Rotates the key that encrypts everything Keyward stores (not a transit key: that is `keyward key rotate NAME`). Needs a token allowed `sys.rotate` (the root token by default).',
    examples: [['Rotate', 'keyward sys rotate']],
  });

  async run(): Promise<number> {
    const r = done(await this.client().post('/v1/sys/rotate', { body: {} }));
    this.print(r, `Rotated: keyring term ${r.term} is active (${r.terms.length} terms kept).`);
    return 0;
  }
}
