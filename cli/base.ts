/**
 * The two bases of every `keyward` command and the one place that prints results and errors: JSON
 * on stdout with --json, error code and message on stderr, exit 1.
 *
 * OfflineCommand (--json only) is for commands that never talk to a server (`server`, `policy
 * build|new|test|eval`, `audit verify-bundle`, `ceremony holder-keygen`): they do not accept
 * --addr/--token/--timeout at all, so a stray `--addr` is a usage error rather than silently
 * ignored. RemoteCommand adds those options and the command's @keyward/client.
 *
 * A request parked for approval (202, docs/approvals.md) is neither a result nor an error: it is
 * printed on stdout (the approval, who must approve, the command that executes it) and the exit
 * code is EXIT_PARKED (3), so a script can tell "done" (0) from "waiting for approvers" (3).
 * @module
 */
import { KeywardApiError } from '@keyward/client';
import type { KeywardClient, ParkedRequest } from '@keyward/client';
import { Command, Option, UsageError } from 'clipanion';
import * as t from 'typanion';
import { KeywardError } from '../lib/errors.js';
import type { Agent } from 'undici';
import { CLI_TIMEOUT_S_DEFAULT, DEFAULT_ADDR, caAgent, cliClient, plainGet, readCaCert, toCliError } from './http.js';
import type { PlainGet } from './http.js';

/**
 * A whole-number option in [min, max], parsed by clipanion (typanion): anything else, "1.5", "1e3",
 * "01" or out of range, is a usage error that names the flag ("Invalid value for --limit").
 */
export const wholeNumber = (min: number, max: number = Number.MAX_SAFE_INTEGER) =>
  t.cascade(t.isNumber(), [t.isInteger(), t.isInInclusiveRange(min, max)]);

/** A `true`/`false` option value (`--deletion-allowed false`), a boolean once parsed. */
export const trueOrFalse = () => t.isBoolean();

/** The exit code of a request parked for approval: not done, not failed. */
export const EXIT_PARKED = 3;

/** The parked request (202) that cli/http.ts `done()` carries in its APPROVAL_PENDING error's details. */
function parkedOf(err: unknown): ParkedRequest | undefined {
  if (!(err instanceof KeywardError) || err.code !== 'APPROVAL_PENDING') return undefined;
  const d = err.details as Partial<ParkedRequest> | undefined;
  return typeof d?.approvalId === 'string' ? (d as ParkedRequest) : undefined;
}

/** A command that never talks to a server: --json and the printing of results and errors. */
export abstract class OfflineCommand extends Command {
  json = Option.Boolean('--json', false, { description: 'Print one JSON value on stdout and nothing else' });

  abstract run(): Promise<number | void>;

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
  #parked(p: ParkedRequest): number {
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

/** A command that talks to a Keyward server: --addr, --token, --timeout and its one client. */
export abstract class RemoteCommand extends OfflineCommand {
  addr = Option.String('--addr', DEFAULT_ADDR, { description: 'Server URL (env KEYWARD_ADDR)', env: 'KEYWARD_ADDR' });
  token = Option.String('--token', { description: 'Bearer token (env KEYWARD_TOKEN)', env: 'KEYWARD_TOKEN' });
  timeout = Option.String('--timeout', {
    description: `Seconds to wait for each server answer (default ${CLI_TIMEOUT_S_DEFAULT}; env KEYWARD_TIMEOUT)`,
    env: 'KEYWARD_TIMEOUT',
    validator: wholeNumber(1, 999_999),
  });
  caCert = Option.String('--ca-cert', {
    description: 'PEM CA certificate to verify an https --addr against instead of the system CAs (env KEYWARD_CACERT)',
    env: 'KEYWARD_CACERT',
  });

  #client: KeywardClient | undefined;
  #agent: Agent | undefined;
  #ca: Buffer | undefined;
  #plain: Promise<PlainGet> | undefined;

  /** The command's one @keyward/client, for --addr, --token, --timeout and --ca-cert. */
  client(): KeywardClient {
    if (this.caCert !== undefined) this.#agent ??= caAgent((this.#ca ??= readCaCert(this.caCert)));
    return (this.#client ??= cliClient(this.addr, this.token, this.timeout, this.#agent));
  }

  /**
   * GETs over node:http for the same options (cli/http.ts PlainGet: `audit verify`'s requests, which
   * ask again through {@link client} for anything but a 200). Checks --ca-cert and --addr as
   * `client()` does, in the same order, without creating the client (which loads undici).
   */
  plainGet(): Promise<PlainGet> {
    if (this.caCert !== undefined) this.#ca ??= readCaCert(this.caCert);
    return (this.#plain ??= plainGet(this.addr, this.token, this.timeout, this.#ca));
  }

  override async execute(): Promise<number> {
    try {
      return await super.execute();
    } finally {
      // The --ca-cert pool's and PlainGet's keep-alive connections end with the command.
      await this.#agent?.destroy();
      (await this.#plain?.catch(() => undefined))?.close();
    }
  }
}
