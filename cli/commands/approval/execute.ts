import { Command, Option, UsageError } from 'clipanion';
import { KeywardError } from '../../../lib/errors.js';
import { backupText, refuseExisting, saveBackup } from '../backup.js';
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

      An approved backup (\`sys.backup\`) answers with the backup file itself: give --out FILE, which
      is written as \`keyward backup --out\` writes it (checked against its header, mode 0600, never
      over an existing file). Without --out such an approval is not executed.
    `,
    examples: [
      ['Execute a parked request with its original body', 'keyward approval execute apr_…'],
      ['Execute a decrypt and print its JSON answer', 'keyward approval execute apr_… --json'],
      [
        'Execute, sending the body again (checked against the parked one)',
        'keyward approval execute apr_… --body request.json',
      ],
      ['Execute an approved backup into a file', 'keyward approval execute apr_… --out keyward.backup.gz'],
    ],
  });

  id = Option.String({ required: true });
  body = Option.String('--body', {
    description: 'A file with the original JSON request body (default: the parked body)',
  });
  bodyJson = Option.String('--body-json', {
    description: 'The original JSON request body, inline (default: the parked body)',
  });

  out = Option.String('--out', {
    description: "Write the answer's file here (an approved backup; never over an existing file)",
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
    if (this.out !== undefined) refuseExisting(this.out);
    const client = this.client();
    // A backup's answer is its file, not JSON: ask what the approval runs before running it (once).
    const approval = done(await client.get('/v1/approvals/{id}', { params: { path: { id: this.id } } }));
    if (approval.operation === 'sys.backup') {
      if (this.out === undefined)
        throw new UsageError(
          `approval ${this.id} runs a backup, whose answer is the backup file: give --out FILE (it was not executed)`,
        );
      const answer = done(await client.executeApprovalStream(this.id, body as Record<string, unknown>));
      const summary = await saveBackup(answer.body, this.out, answer.headers.get('keyward-backup-id') ?? '');
      this.print(summary, () => backupText(summary));
      return 0;
    }
    if (this.out !== undefined)
      throw new UsageError(`approval ${this.id} runs ${approval.operation}, whose answer is JSON: drop --out`);
    const out = done(
      await client.post('/v1/approvals/{id}/execute', {
        params: { path: { id: this.id } },
        body: body as Record<string, unknown>,
      }),
    );
    this.print(out, JSON.stringify(out, null, 2));
    return 0;
  }
}
