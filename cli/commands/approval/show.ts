import { Command, Option } from 'clipanion';
import { BaseCommand } from '../../base.js';
import { approvalPath, approvalText } from './shared.js';
import type { ApprovalView } from './shared.js';

export default class ApprovalShowCommand extends BaseCommand {
  static override paths = [['approval', 'show']];
  static override usage = Command.Usage({ category: 'Approvals', description: 'show an approval: the request, what it needs, who approved', examples: [['Show', 'keyward approval show apr_…']] });

  id = Option.String({ required: true });

  async run(): Promise<number> {
    const a = await this.client().get<ApprovalView>(approvalPath(this.id));
    this.print(a, approvalText(a));
    return 0;
  }
}
