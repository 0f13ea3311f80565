import { Command, Option } from 'clipanion';
import { BaseCommand } from '../../base.js';
import { approvalPath } from './shared.js';
import type { ApprovalView } from './shared.js';

export default class ApprovalApproveCommand extends BaseCommand {
  static override paths = [['approval', 'approve']];
  static override usage = Command.Usage({
    category: 'Approvals',
    description: "approve someone else's request (you must hold the role it names; you count once)",
    examples: [['Approve', 'keyward approval approve apr_…']],
  });

  id = Option.String({ required: true });

  async run(): Promise<number> {
    const a = await this.client().post<ApprovalView>(approvalPath(this.id, 'approve'), {});
    this.print(a, `Approved ${a.id}: ${a.approvals} of ${a.required} from "${a.group}".`);
    return 0;
  }
}
