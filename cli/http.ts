/**
 * The CLI's side of @keyward/client, the one HTTP client: the client for `--addr`/`--token`, a
 * parked request turned into the CLI's APPROVAL_PENDING error, and the client's errors turned into
 * KeywardErrors with the server's code (base.ts prints them).
 * @module
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { KeywardApiError, KeywardClient, errorFromResponse, isParked, parkedRequest } from '@keyward/client';
import type { Parked } from '@keyward/client';
import type { Agent } from 'undici';
import { KeywardError, type KeywardCode } from '../lib/errors.js';

export const DEFAULT_ADDR = 'http://127.0.0.1:8420';
/** How long the CLI waits for one answer by default: an export of a large audit log takes a while. */
export const CLI_TIMEOUT_S_DEFAULT = 300;

/** The PEM of `--ca-cert` (one or more certificates), read and checked to hold a certificate. */
export function readCaCert(file: string): Buffer {
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
  return pem;
}

/**
 * The connection pool that trusts `pem` ({@link readCaCert}) instead of the system's CAs: an undici
 * Agent, the dispatcher Node's fetch takes. Loaded only when a CA is given (most commands never pay
 * for undici). Verification stays on: the server's certificate must chain to this CA and name the
 * host of --addr.
 */
export function caAgent(pem: Buffer): Agent {
  const undici = createRequire(import.meta.url)('undici') as typeof import('undici');
  return new undici.Agent({ connect: { ca: pem } });
}

/** `--addr` as a URL; ADDR_INVALID names the flag when it isn't an http(s) one. */
export function checkAddr(addr: string): URL {
  let u: URL;
  try {
    u = new URL(addr);
  } catch {
    throw new KeywardError('ADDR_INVALID', `expected --addr as a URL like ${DEFAULT_ADDR}, got "${addr}"`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new KeywardError('ADDR_INVALID', `expected an http(s) URL for --addr, got "${addr}"`);
  return u;
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
  checkAddr(addr);
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
  throw parkedError(r.parked);
}

/** The CLI's error for a request parked for approval. */
function parkedError(parked: Parked['parked']): KeywardError {
  return new KeywardError(
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

/** The largest body {@link PlainGet} allocates before it arrives (a raw page of 10,000 typical records is ~5 MB). */
const PLAIN_PREALLOCATE_MAX = 64 * 1024 * 1024;
/** The largest error body {@link PlainGet} reads itself (the API's error JSON is far smaller). */
const PLAIN_ERROR_BODY_MAX = 64 * 1024;

/** A complete 200 answer of {@link PlainGet}: its Content-Type and body. */
export interface PlainAnswer {
  type: string;
  body: Buffer;
}

/**
 * GETs straight over node:http(s), for `keyward audit verify`'s requests (its keys, checkpoint and
 * pages of records). Node's fetch loads undici on first use (70–200 ms, inside the records/s
 * window), and reads a body through web streams into chunks it then copies into one buffer (about a
 * quarter of the CLI's main thread over 50,000 records). A complete 200 is an answer; a 4xx, a
 * 5xx and a parked read are the typed client's errors, worded from the body as it words them (asked
 * again, a refused token would count twice against the server's failure limit, a parked read would
 * park twice); no answer within the timeout is the client's TIMEOUT error, so a silent server is
 * waited for once. Anything else (a redirect, a compressed body, a refused connection, a
 * certificate that does not verify, a body cut short) resolves undefined, and the caller asks again
 * through the typed client, which words every error as for the other commands. Keep-alive connections; https verifies the server
 * against `ca` (--ca-cert) or the system's CAs, as the client does.
 */
export class PlainGet {
  readonly #base: string;
  readonly #headers: Record<string, string>;
  readonly #timeoutMs: number;
  readonly #agent: import('node:http').Agent;
  readonly #request: typeof import('node:http').request;
  /** Set by {@link close}: the command has ended, so nothing may be asked again through the typed client. */
  #closed = false;

  /** Use {@link plainGet}. */
  constructor(
    base: URL,
    token: string | undefined,
    timeoutMs: number,
    http: typeof import('node:http') | typeof import('node:https'),
    ca: Buffer | undefined,
  ) {
    this.#base = base.origin + base.pathname.replace(/\/+$/, '');
    this.#headers = token ? { authorization: `Bearer ${token}` } : {};
    this.#timeoutMs = timeoutMs;
    this.#agent = new http.Agent({ keepAlive: true, ...(ca ? { ca } : {}) });
    this.#request = http.request;
  }

  /**
   * GET `path` (no query in it) with `query` and `accept`: the answer of a 200; the typed client's
   * error for a 4xx, 5xx or parked answer; else undefined (the caller asks the typed client).
   * Once {@link close} has been called, a request that gets no answer rejects with an AbortError
   * instead: `audit verify` reads a page ahead, and when the command has failed meanwhile, that page
   * must not be asked for again through the typed client after the command's end.
   * `shared`: a body of announced length in a SharedArrayBuffer (the log verifier's workers then
   * read a raw page where it is, engine/audit/verifier/verify-log.ts addPage).
   */
  get(
    path: string,
    query: Record<string, number>,
    accept: string,
    opts: { shared?: boolean } = {},
  ): Promise<PlainAnswer | undefined> {
    const search = new URLSearchParams(
      Object.entries(query).map(([k, v]): [string, string] => [k, String(v)]),
    ).toString();
    const url = this.#base + path + (search ? `?${search}` : '');
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const settle = (answer: PlainAnswer | undefined) => {
        clearTimeout(timer);
        if (answer === undefined && this.#closed)
          reject(new DOMException(`GET ${path}: the command ended before the answer`, 'AbortError'));
        else resolve(answer);
      };
      if (this.#closed) return settle(undefined);
      const fail = (err: Error) => {
        clearTimeout(timer);
        reject(err);
      };
      let req: import('node:http').ClientRequest;
      let response: import('node:http').IncomingMessage | undefined;
      try {
        req = this.#request(url, { agent: this.#agent, headers: { ...this.#headers, accept } }, (res) => {
          response = res;
          try {
            this.#read(res, req, opts.shared === true, settle, fail);
          } catch {
            // An allocation refused, say: the typed client asks again.
            req.destroy();
            settle(undefined);
          }
        });
      } catch {
        return settle(undefined);
      }
      req.on('error', () => settle(undefined));
      // Closed with no answer, or before the body's end (a complete body settles at its 'end').
      req.on('close', () => {
        if (!response?.complete) settle(undefined);
      });
      if (this.#timeoutMs > 0)
        timer = setTimeout(() => {
          req.destroy();
          reject(
            new KeywardApiError(0, 'TIMEOUT', `GET ${path}: no answer from ${this.#base} within ${this.#timeoutMs} ms`),
          );
        }, this.#timeoutMs);
      req.end();
    });
  }

  /**
   * Reads the answer `res` for {@link get}: a 200's body into one buffer of its announced length
   * (no copy of chunks at the end), or the typed client's error for a 4xx or 5xx (errorFromResponse,
   * as the client words it: asking again would count a refused token twice against the server's
   * failure limit), or the client's APPROVAL_PENDING for a parked read (asking again would park a
   * second one). Anything else, and a compressed body, the typed client asks again.
   */
  #read(
    res: import('node:http').IncomingMessage,
    req: import('node:http').ClientRequest,
    shared: boolean,
    settle: (answer: PlainAnswer | undefined) => void,
    fail: (err: Error) => void,
  ): void {
    const status = res.statusCode ?? 0;
    const encoding = res.headers['content-encoding'];
    const error = status >= 400 || status === 202;
    if ((status !== 200 && !error) || (encoding !== undefined && encoding !== 'identity')) {
      res.resume();
      return settle(undefined);
    }
    // The announced length is the server's word: preallocated up to a bound, else (or when none
    // is announced) the chunks as they come, compared with it at the end.
    const length = Number(res.headers['content-length']);
    const known = Number.isSafeInteger(length) && length >= 0;
    const limit = error ? PLAIN_ERROR_BODY_MAX : Number.POSITIVE_INFINITY;
    if (known && length > limit) {
      res.resume();
      return settle(undefined);
    }
    const chunks: Buffer[] = [];
    const body =
      !known || length > PLAIN_PREALLOCATE_MAX
        ? undefined
        : shared
          ? Buffer.from(new SharedArrayBuffer(length))
          : Buffer.allocUnsafeSlow(length);
    let got = 0;
    res.on('data', (c: Buffer) => {
      if ((known && got + c.length > length) || got + c.length > limit) return void req.destroy();
      if (body) c.copy(body, got);
      else chunks.push(c);
      got += c.length;
    });
    res.on('end', () => {
      if (known && got !== length) return settle(undefined);
      const whole = body ?? Buffer.concat(chunks);
      if (!error) return settle({ type: res.headers['content-type'] ?? '', body: whole });
      let parsed: unknown = whole.toString('utf8');
      try {
        parsed = JSON.parse(parsed as string);
      } catch {
        // Not JSON (a proxy's page): the client's HTTP_<status>.
      }
      if (status >= 400) return fail(errorFromResponse(status, parsed));
      const p = parsed as Record<string, unknown> | undefined;
      if (typeof p !== 'object' || p === null || typeof p.approvalId !== 'string') return settle(undefined);
      fail(parkedError(parkedRequest(p)));
    });
    res.on('error', () => settle(undefined));
    res.on('aborted', () => settle(undefined));
  }

  /** Closes the kept-alive connections; requests still in flight then reject (see {@link get}). */
  close(): void {
    this.#closed = true;
    this.#agent.destroy();
  }
}

/**
 * A {@link PlainGet} for `--addr`, `--token`, `--timeout` and the --ca-cert PEM: ADDR_INVALID as
 * {@link cliClient} says it. node:http(s) is loaded here, not when the CLI starts.
 */
export async function plainGet(
  addr: string,
  token: string | undefined,
  timeoutSeconds = CLI_TIMEOUT_S_DEFAULT,
  ca?: Buffer,
): Promise<PlainGet> {
  const base = checkAddr(addr);
  const http = base.protocol === 'https:' ? await import('node:https') : await import('node:http');
  return new PlainGet(base, token, timeoutSeconds * 1000, http, ca);
}

/**
 * GET `path` over `plain` as JSON: the value of a 200 whose body is JSON, else undefined (the caller
 * asks the typed client, which words the error). No check of the value's shape: the typed client
 * makes none either.
 */
export async function plainJson<T>(plain: PlainGet, path: string): Promise<T | undefined> {
  const answer = await plain.get(path, {}, 'application/json');
  if (!answer) return undefined;
  try {
    return JSON.parse(answer.body.toString('utf8')) as T;
  } catch {
    return undefined;
  }
}
