import { Command, Option } from 'clipanion';
import { RemoteCommand } from '../../base.js';
import { done } from '../../http.js';
import { bindingBody } from './activate.js';

export default class PolicyDeactivateCommand extends RemoteCommand {
  static override paths = [['policy', 'deactivate']];
  static override usage = Command.Usage({
    category: 'Policies',
    description: 'remove a policy binding (the last global policy cannot be removed)',
    examples: [['Globally', 'keyward policy deactivate 3f2a…c9 --global']],
  });

  hash = Option.String({ required: true });
  global = Option.Boolean('--global', false, { description: 'The global binding' });
  key = Option.String('--key', { description: 'The binding on this key' });

  async run(): Promise<number> {
    const res = done(
      await this.client().post('/v1/policies/{hash}/deactivate', {
        params: { path: { hash: this.hash } },
        body: bindingBody(this.global, this.key),
      }),
    );
    this.print(
      res,
      `Policy ${res.sha256} is no longer active ${res.scope === 'global' ? 'globally' : `on key ${res.key}`}.`,
    );
    return 0;
  }
}
