import { Command, Option } from 'clipanion';
import { RemoteCommand } from '../../base.js';
import { done } from '../../http.js';
import { approvalText } from './shared.js';

export default class ApprovalShowCommand extends RemoteCommand {
  static override paths = [['approval', 'show']];
  static override usage = Command.Usage({
    category: 'Approvals',
    description: 'show an approval: the request, what it needs, who approved',
    examples: [['Show', 'keyward approval show apr_…']],
  });

  id = Option.String({ required: true });

  async run(): Promise<number> {
    const a = done(await this.client().get('/v1/approvals/{id}', { params: { path: { id: this.id } } }));
    this.print(a, approvalText(a));
    return 0;
  }
}
