import { Command, Option } from 'clipanion';
import { RemoteCommand } from '../../base.js';
import { done } from '../../http.js';

export default class ApprovalDenyCommand extends RemoteCommand {
  static override paths = [['approval', 'deny']];
  static override usage = Command.Usage({
    category: 'Approvals',
    description: 'deny a request: one approver’s denial ends it',
    examples: [['Deny with a reason', 'keyward approval deny apr_… --reason "change freeze"']],
  });

  id = Option.String({ required: true });
  reason = Option.String('--reason', { description: 'Why (kept with the approval, at most 256 characters)' });

  async run(): Promise<number> {
    const a = done(
      await this.client().post('/v1/approvals/{id}/deny', {
        params: { path: { id: this.id } },
        body: this.reason !== undefined ? { reason: this.reason } : {},
      }),
    );
    this.print(a, `Denied ${a.id}.`);
    return 0;
  }
}
