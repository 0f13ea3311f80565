import { Command, Option } from 'clipanion';
import { RemoteCommand } from '../../base.js';
import { done } from '../../http.js';

export default class ApprovalApproveCommand extends RemoteCommand {
  static override paths = [['approval', 'approve']];
  static override usage = Command.Usage({
    category: 'Approvals',
    description: "approve someone else's request (you must hold the role it names; you count once)",
    examples: [['Approve', 'keyward approval approve apr_…']],
  });

  id = Option.String({ required: true });

  async run(): Promise<number> {
    const a = done(
      await this.client().post('/v1/approvals/{id}/approve', { params: { path: { id: this.id } }, body: {} }),
    );
    this.print(a, `Approved ${a.id}: ${a.approvals} of ${a.required} from "${a.group}".`);
    return 0;
  }
}
