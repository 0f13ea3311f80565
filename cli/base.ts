/**
 * The options every command shares (--addr, --token, --json, --timeout) and the one place that prints
 * results and errors: JSON on stdout with --json, error code and message on stderr, exit 1.
 * @module
 */
import { KeywardApiError } from '@keyward/client';
import type { KeywardClient } from '@keyward/client';
import { Command, Option, UsageError } from 'clipanion';
import { KeywardError } from '../ceremony/errors.js';
import { CLI_TIMEOUT_S_DEFAULT, DEFAULT_ADDR, cliClient, toCliError } from './http.js';

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

  async execute(): Promise<number> {
    try {
      return (await this.run()) ?? 0;
    } catch (err) {
      if (err instanceof UsageError) throw err;
      if (err instanceof KeywardApiError) err = toCliError(err);
      const code = err instanceof KeywardError ? err.code : 'INTERNAL';
      const message = err instanceof KeywardError ? err.message : err instanceof Error ? err.message : String(err);
      if (this.json) this.context.stderr.write(JSON.stringify({ error: { code, message } }) + '\n');
      else this.context.stderr.write(`error ${code}: ${message}\n`);
      return 1;
    }
  }
}
