/**
 * The options every command shares (--addr, --token, --json, --timeout) and the one place that prints
 * results and errors: JSON on stdout with --json, error code and message on stderr, exit 1.
 *
 * A request parked for approval (202, docs/approvals.md) is neither a result nor an error: it is
 * printed on stdout (the approval, who must approve, the command that executes it) and the exit
 * code is EXIT_PARKED (3), so a script can tell "done" (0) from "waiting for approvers" (3).
 * @module
 */
import { KeywardApiError } from '@keyward/client';
import type { KeywardClient } from '@keyward/client';
import { Command, Option, UsageError } from 'clipanion';
import { KeywardError } from '../ceremony/errors.js';
import { CLI_TIMEOUT_S_DEFAULT, DEFAULT_ADDR, cliClient, toCliError } from './http.js';

/** The exit code of a request parked for approval: not done, not failed. */
export const EXIT_PARKED = 3;

/** What the server answered for a parked request (202), as cli/http.ts passes it on. */
interface Parked {
  approvalId: string;
  required: number;
  group: string;
  reason?: string;
  expiresAt: string;
}

function parkedOf(err: unknown): Parked | undefined {
  if (!(err instanceof KeywardError) || err.code !== 'APPROVAL_PENDING') return undefined;
  const d = err.details as Partial<Parked> | undefined;
  return typeof d?.approvalId === 'string' ? (d as Parked) : undefined;
}

export abstract class BaseCommand extends Command {
  addr = Option.String('--addr', DEFAULT_ADDR, { description: 'Server URL (env KEYWARD_ADDR)', env: 'KEYWARD_ADDR' });
  token = Option.String('--token', { description: 'Bearer token (env KEYWARD_TOKEN)', env: 'KEYWARD_TOKEN' });
  json = Option.Boolean('--json', false, { description: 'Print one JSON value on stdout and nothing else' });
  timeout = Option.String('--timeout', { description: `Seconds to wait for each server answer (default ${CLI_TIMEOUT_S_DEFAULT}; env KEYWARD_TIMEOUT)`, env: 'KEYWARD_TIMEOUT' });

  #client: KeywardClient | undefined;

  abstract run(): Promise<number | void>;

  /** The command's one @keyward/client, for --addr, --token and --timeout. */
  client(): KeywardClient {
    if (this.timeout !== undefined && !/^[1-9]\d{0,5}$/.test(this.timeout)) throw new UsageError(`--timeout expects a whole number of seconds, got "${this.timeout}"`);
    return (this.#client ??= cliClient(this.addr, this.token, this.timeout === undefined ? undefined : Number(this.timeout)));
  }

  /** Prints `value` as JSON with --json, else the human text. */
  print(value: unknown, human: string | (() => string)): void {
    if (this.json) this.context.stdout.write(JSON.stringify(value, null, 2) + '\n');
    else this.context.stdout.write((typeof human === 'function' ? human() : human).replace(/\n?$/, '\n'));
  }

  /** Human-only progress and notes go to stderr, so --json stdout stays one value. */
  note(text: string): void {
    if (!this.json) this.context.stderr.write(text.replace(/\n?$/, '\n'));
  }

  /** Reports a parked request: what it waits for and the exact command that runs it once approved. */
  #parked(p: Parked): number {
    const execute = `keyward approval execute ${p.approvalId}`;
    this.print({ parked: true, ...p, execute }, () =>
      [
        `Parked for approval ${p.approvalId}: nothing was done yet.`,
        `  needs     ${p.required} approvals from "${p.group}" (not you)${p.reason ? `: ${p.reason}` : ''}`,
        `  approve   keyward approval approve ${p.approvalId}     (each approver, with their own token)`,
        `  then run  ${execute}     (you, once approved, before ${p.expiresAt}; it runs with this request's body)`,
      ].join('\n'),
    );
    return EXIT_PARKED;
  }

  async execute(): Promise<number> {
    try {
      return (await this.run()) ?? 0;
    } catch (err) {
      if (err instanceof UsageError) throw err;
      if (err instanceof KeywardApiError) err = toCliError(err);
      const parked = parkedOf(err);
      if (parked) return this.#parked(parked);
      const code = err instanceof KeywardError ? err.code : 'INTERNAL';
      const message = err instanceof KeywardError ? err.message : err instanceof Error ? err.message : String(err);
      if (this.json) this.context.stderr.write(JSON.stringify({ error: { code, message } }) + '\n');
      else this.context.stderr.write(`error ${code}: ${message}\n`);
      return 1;
    }
  }
}
