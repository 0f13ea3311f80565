import { Command, Option, UsageError } from 'clipanion';
import { KeywardError } from '../../../ceremony/errors.js';
import { readJsonFile } from '../../files.js';
import { BaseCommand } from '../../base.js';
import { done } from '../../http.js';

export default class ApprovalExecuteCommand extends BaseCommand {
  static override paths = [['approval', 'execute']];
  static override usage = Command.Usage({
    category: 'Approvals',
    description: 'run your approved request, once, with its original body',
    details: `
      The server checks the body against the one the request was parked with (by digest), asks the
      policies again with the approvals gathered, and runs the operation exactly once; its answer is
      printed. Requests without a body (key deletion) need neither option.
    `,
    examples: [
      ['Execute a key deletion', 'keyward approval execute apr_…'],
      ['Execute a policy activation', 'keyward approval execute apr_… --body-json \'{"scope":"global"}\''],
      ['Execute a decrypt', 'keyward approval execute apr_… --body request.json --json'],
    ],
  });

  id = Option.String({ required: true });
  body = Option.String('--body', { description: 'A file with the original JSON request body' });
  bodyJson = Option.String('--body-json', { description: 'The original JSON request body, inline' });

  async run(): Promise<number> {
    if (this.body !== undefined && this.bodyJson !== undefined) throw new UsageError('give the body with --body FILE or --body-json JSON, not both');
    let body: unknown = {};
    if (this.body !== undefined) body = await readJsonFile(this.body, 'request body');
    if (this.bodyJson !== undefined) {
      try {
        body = JSON.parse(this.bodyJson);
      } catch {
        throw new KeywardError('VALIDATION_FAILED', '--body-json is not valid JSON');
      }
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new KeywardError('VALIDATION_FAILED', 'the request body must be a JSON object');
    const out = done(await this.client().post('/v1/approvals/{id}/execute', { params: { path: { id: this.id } }, body: body as Record<string, unknown> }));
    this.print(out, JSON.stringify(out, null, 2));
    return 0;
  }
}
