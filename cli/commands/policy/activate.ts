import { Command, Option, UsageError } from 'clipanion';
import { RemoteCommand } from '../../base.js';
import { done } from '../../http.js';

export function bindingBody(
  global: boolean,
  key: string | undefined,
): { scope: 'global' } | { scope: 'key'; key: string } {
  if (global === (key !== undefined)) throw new UsageError('give exactly one of --global or --key KEYNAME');
  return global ? { scope: 'global' } : { scope: 'key', key: key! };
}

export default class PolicyActivateCommand extends RemoteCommand {
  static override paths = [['policy', 'activate']];
  static override usage = Command.Usage({
    category: 'Policies',
    description: 'activate a stored policy globally or on one key (itself a request the active policies decide)',
    details:
      'Every active global policy and every policy bound to the target key is evaluated on each request; any deny wins.',
    examples: [
      ['Globally', 'keyward policy activate 3f2a…c9 --global'],
      ['On one key', 'keyward policy activate 3f2a…c9 --key payments'],
    ],
  });

  hash = Option.String({ required: true });
  global = Option.Boolean('--global', false, { description: 'Bind to every request' });
  key = Option.String('--key', { description: 'Bind to requests on this key' });

  async run(): Promise<number> {
    const res = done(
      await this.client().post('/v1/policies/{hash}/activate', {
        params: { path: { hash: this.hash } },
        body: bindingBody(this.global, this.key),
      }),
    );
    this.print(res, `Policy ${res.sha256} is active ${res.scope === 'global' ? 'globally' : `on key ${res.key}`}.`);
    return 0;
  }
}
