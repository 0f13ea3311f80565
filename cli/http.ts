/**
 * The CLI's side of @keyward/client, the one HTTP client: the client for `--addr`/`--token`, a
 * parked request turned into the CLI's APPROVAL_PENDING error, and the client's errors turned into
 * KeywardErrors with the server's code (base.ts prints them).
 * @module
 */
import { KeywardApiError, KeywardClient, isParked } from '@keyward/client';
import type { Parked } from '@keyward/client';
import { KeywardError, type KeywardCode } from '../lib/errors.js';

export const DEFAULT_ADDR = 'http://127.0.0.1:8420';
/** How long the CLI waits for one answer by default: an export of a large audit log takes a while. */
export const CLI_TIMEOUT_S_DEFAULT = 300;

/** The client for `--addr` and `--token`; ADDR_INVALID names the flag when the URL isn't one. */
export function cliClient(
  addr: string,
  token: string | undefined,
  timeoutSeconds = CLI_TIMEOUT_S_DEFAULT,
): KeywardClient {
  let u: URL;
  try {
    u = new URL(addr);
  } catch {
    throw new KeywardError('ADDR_INVALID', `expected --addr as a URL like ${DEFAULT_ADDR}, got "${addr}"`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new KeywardError('ADDR_INVALID', `expected an http(s) URL for --addr, got "${addr}"`);
  return new KeywardClient({ baseUrl: addr, ...(token ? { token } : {}), timeoutMs: timeoutSeconds * 1000 });
}

/**
 * The result of a call, or, for a request the policies parked (docs/approvals.md), the CLI's
 * APPROVAL_PENDING error: the operation did not run, so there is no result to print.
 */
export function done<T>(r: T | Parked): T {
  if (!isParked(r)) return r;
  const parked = r.parked;
  throw new KeywardError(
    'APPROVAL_PENDING',
    `parked for approval ${parked.approvalId}: needs ${parked.required} approvals from "${parked.group}" before ${parked.expiresAt}; ` +
      `then run \`keyward approval execute ${parked.approvalId}\` (it runs with the parked body)`,
    { details: { ...parked } },
  );
}

/** A one-or-batch operation's single answer (the CLI never sends a batch). */
export function single<T extends object>(r: T): Exclude<T, { batch: unknown }> {
  if ('batch' in r) throw new KeywardError('BAD_RESPONSE', 'expected one result from the server, got a batch');
  return r as Exclude<T, { batch: unknown }>;
}

/** The client's error as the CLI's: the server's code and message; a hint when there is no server. */
export function toCliError(err: KeywardApiError): KeywardError {
  const hint = err.code === 'SERVER_UNREACHABLE' ? '; is the server running? set --addr or KEYWARD_ADDR' : '';
  return new KeywardError(err.code as KeywardCode, err.message + hint, { cause: err }); // a wire string: the server's code or the client's own
}
