import { Command, Option, UsageError } from 'clipanion';
import { KeywardError } from '../../../lib/errors.js';
import { readJsonFile } from '../../files.js';
import { RemoteCommand } from '../../base.js';
import { done } from '../../http.js';

export default class ApprovalExecuteCommand extends RemoteCommand {
  static override paths = [['approval', 'execute']];
  static override usage = Command.Usage({
    category: 'Approvals',
    description: 'run your approved request, once, with its original body',
    details: `
      Without --body or --body-json the server runs the request with the body it was parked with
      (it keeps it, encrypted, until the approval ends). With one, the server checks it against the
      parked body (by digest). Either way it asks the policies again with the approvals gathered and
      runs the operation exactly once; its answer is printed.
    `,
    examples: [
      ['Execute a parked request with its original body', 'keyward approval execute apr_…'],
      ['Execute a decrypt and print its JSON answer', 'keyward approval execute apr_… --json'],
      [
        'Execute, sending the body again (checked against the parked one)',
        'keyward approval execute apr_… --body request.json',
      ],
    ],
  });

  id = Option.String({ required: true });
  body = Option.String('--body', {
    description: 'A file with the original JSON request body (default: the parked body)',
  });
  bodyJson = Option.String('--body-json', {
    description: 'The original JSON request body, inline (default: the parked body)',
  });

  async run(): Promise<number> {
    if (this.body !== undefined && this.bodyJson !== undefined)
      throw new UsageError('give the body with --body FILE or --body-json JSON, not both');
    let body: unknown = {};
    if (this.body !== undefined) body = await readJsonFile(this.body, 'request body');
    if (this.bodyJson !== undefined) {
      try {
        body = JSON.parse(this.bodyJson);
      } catch {
        throw new KeywardError('VALIDATION_FAILED', '--body-json is not valid JSON');
      }
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body))
      throw new KeywardError('VALIDATION_FAILED', 'the request body must be a JSON object');
    const out = done(
      await this.client().post('/v1/approvals/{id}/execute', {
        params: { path: { id: this.id } },
        body: body as Record<string, unknown>,
      }),
    );
    this.print(out, JSON.stringify(out, null, 2));
    return 0;
  }
}
