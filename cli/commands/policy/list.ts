import { Command } from 'clipanion';
import { RemoteCommand } from '../../base.js';
import { done } from '../../http.js';

export default class PolicyListCommand extends RemoteCommand {
  static override paths = [['policy', 'list']];
  static override usage = Command.Usage({
    category: 'Policies',
    description: 'list stored policies and where each is active',
    examples: [['List', 'keyward policy list']],
  });

  async run(): Promise<number> {
    const { policies } = done(await this.client().get('/v1/policies'));
    this.print(policies, () =>
      policies.length === 0
        ? 'No policies.'
        : policies
            .map(
              (p) =>
                `${p.sha256}  ${p.name}  ${p.size} B  ${p.bindings.length ? p.bindings.map((b) => (b.scope === 'global' ? 'global' : `key:${b.key}`)).join(', ') : 'inactive'}`,
            )
            .join('\n'),
    );
    return 0;
  }
}
