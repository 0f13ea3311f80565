/**
 * The CLI's side of @keyward/client, the one HTTP client: the client for `--addr`/`--token`, a
 * parked request turned into the CLI's APPROVAL_PENDING error, and the client's errors turned into
 * KeywardErrors with the server's code (base.ts prints them).
 * @module
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { KeywardApiError, KeywardClient, isParked } from '@keyward/client';
import type { Parked } from '@keyward/client';
import type { Agent } from 'undici';
import { KeywardError, type KeywardCode } from '../lib/errors.js';

export const DEFAULT_ADDR = 'http://127.0.0.1:8420';
/** How long the CLI waits for one answer by default: an export of a large audit log takes a while. */
export const CLI_TIMEOUT_S_DEFAULT = 300;

/**
 * The connection pool that trusts `--ca-cert` (PEM, one or more certificates) instead of the system's
 * CAs: an undici Agent, the dispatcher Node's fetch takes. Loaded only when a CA is given (most
 * commands never pay for undici). Verification stays on: the server's certificate must chain to
 * this CA and name the host of --addr.
 */
export function caAgent(file: string): Agent {
  let pem: Buffer;
  try {
    pem = readFileSync(file);
  } catch (err) {
    throw new KeywardError(
      'FILE_UNREADABLE',
      `cannot read the CA certificate ${file} (--ca-cert / KEYWARD_CACERT): ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
    );
  }
  try {
    new X509Certificate(pem);
  } catch {
    throw new KeywardError('FILE_INVALID', `expected a PEM CA certificate in ${file} (--ca-cert / KEYWARD_CACERT)`);
  }
  const undici = createRequire(import.meta.url)('undici') as typeof import('undici');
  return new undici.Agent({ connect: { ca: pem } });
}

/**
 * The client for `--addr`, `--token` and `--timeout`; ADDR_INVALID names the flag when the URL isn't
 * one. `dispatcher`: {@link caAgent} for `--ca-cert`.
 */
export function cliClient(
  addr: string,
  token: string | undefined,
  timeoutSeconds = CLI_TIMEOUT_S_DEFAULT,
  dispatcher?: Agent,
): KeywardClient {
  let u: URL;
  try {
    u = new URL(addr);
  } catch {
    throw new KeywardError('ADDR_INVALID', `expected --addr as a URL like ${DEFAULT_ADDR}, got "${addr}"`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new KeywardError('ADDR_INVALID', `expected an http(s) URL for --addr, got "${addr}"`);
  return new KeywardClient({
    baseUrl: addr,
    ...(token ? { token } : {}),
    timeoutMs: timeoutSeconds * 1000,
    ...(dispatcher ? { dispatcher } : {}),
  });
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

/** undici's causes for a server certificate that does not verify (OpenSSL's codes, as Node names them). */
const TLS_FAILURE =
  /UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT|DEPTH_ZERO_SELF_SIGNED_CERT|UNABLE_TO_GET_ISSUER_CERT|CERT_HAS_EXPIRED|CERT_NOT_YET_VALID|ERR_TLS_CERT_ALTNAME_INVALID|CERT_SIGNATURE_FAILURE/;

/** The client's error as the CLI's: the server's code and message; a hint when there is no server. */
export function toCliError(err: KeywardApiError): KeywardError {
  const hint =
    err.code !== 'SERVER_UNREACHABLE'
      ? ''
      : TLS_FAILURE.test(err.message)
        ? '; the server certificate is not trusted: give its CA with --ca-cert or KEYWARD_CACERT'
        : '; is the server running? set --addr or KEYWARD_ADDR';
  return new KeywardError(err.code as KeywardCode, err.message + hint, { cause: err }); // a wire string: the server's code or the client's own
}
