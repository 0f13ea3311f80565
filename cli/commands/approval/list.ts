import type { components } from '@keyward/client';
import { Command, Option, UsageError } from 'clipanion';
import { RemoteCommand } from '../../base.js';
import { done } from '../../http.js';
import { approvalLine } from './shared.js';
import type { ApprovalView } from './shared.js';

const STATES = ['pending', 'denied', 'expired', 'executing', 'executed', 'failed'] as const;
type State = (typeof STATES)[number];

export default class ApprovalListCommand extends RemoteCommand {
  static override paths = [['approval', 'list']];
  static override usage = Command.Usage({
    category: 'Approvals',
    description: 'list approvals you requested or may approve, oldest first',
    examples: [
      ['Everything waiting for approvers', 'keyward approval list --state pending'],
      ['As JSON, every page', 'keyward approval list --json'],
    ],
  });

  state = Option.String('--state', { description: `Only approvals in this state (${STATES.join(', ')})` });

  async run(): Promise<number> {
    if (this.state !== undefined && !(STATES as readonly string[]).includes(this.state))
      throw new UsageError(`--state expected one of ${STATES.join(', ')}, got "${this.state}"`);
    const all: ApprovalView[] = [];
    let after: string | null = null;
    do {
      const query = { limit: 100, ...(this.state ? { state: this.state as State } : {}), ...(after ? { after } : {}) };
      const page: components['schemas']['ApprovalList'] = done(
        await this.client().get('/v1/approvals', { params: { query } }),
      );
      all.push(...page.approvals);
      after = page.next;
    } while (after);
    this.print(all, () => (all.length ? all.map(approvalLine).join('\n') : 'No approvals.'));
    return 0;
  }
}
