/**
 * KeywardClient: the Keyward HTTP API over openapi-fetch, typed by the generated `paths`
 * (./schema.ts). Every call resolves to the operation's typed result, or to `{parked}` when the
 * policies parked the request for approval (202, docs/approvals.md): a parked request did not run,
 * but it is not a failure either, so it is a value and not an exception. Everything else that is not
 * a success throws a {@link KeywardApiError} carrying the server's code.
 * @module
 */
import createClient from 'openapi-fetch';
import type { Client, MaybeOptionalInit } from 'openapi-fetch';
import { fromBase64, toBase64 } from './bytes.js';
import { KeywardApiError, errorFromResponse } from './errors.js';
import type { components, paths } from './schema.js';

/** How long one request may take, by default, before it fails with `TIMEOUT`. */
export const DEFAULT_TIMEOUT_MS = 30_000;

export interface KeywardClientOptions {
  /** The server's URL, e.g. `http://127.0.0.1:8420`; a path prefix is kept (`https://gw.example/keyward`). */
  baseUrl: string;
  /** Bearer token (`kwt_…`); omit it for the unauthenticated routes (health, seal status, init, unseal). */
  token?: string;
  /** Milliseconds one request may take, reading its body included (default 30 s; 0: no limit). */
  timeoutMs?: number;
  /** The fetch to use (default: globalThis.fetch). */
  fetch?: (input: Request) => Promise<Response>;
  /**
   * Node.js only (ignored elsewhere): the undici dispatcher Node's fetch sends through, e.g. to trust
   * a private CA: `new Agent({ connect: { ca: readFileSync('ca.pem') } })` from the `undici`
   * package. Browsers verify against their own trust store and take no dispatcher.
   */
  dispatcher?: object;
  /** Headers sent with every request. */
  headers?: Record<string, string>;
}

/** What the server answers (202) for a request the policies parked for approval. */
export interface ParkedRequest {
  approvalId: string;
  /** Approvals needed in all. */
  required: number;
  /** The role approvers must hold. */
  group: string;
  reason: string;
  /** ISO 8601; after it the approval can't be approved or executed. */
  expiresAt: string;
}

/** A request parked for approval, as a value: `if (isParked(r)) …`. */
export interface Parked {
  parked: ParkedRequest;
}

/** The parked request a 202's JSON body names (the server's fields, as the types say them). */
export function parkedRequest(body: Record<string, unknown>): ParkedRequest {
  return {
    approvalId: String(body.approvalId),
    required: Number(body.required),
    group: String(body.group),
    reason: String(body.reason ?? ''),
    expiresAt: String(body.expiresAt),
  };
}

export function isParked(value: unknown): value is Parked {
  return (
    typeof value === 'object' &&
    value !== null &&
    'parked' in value &&
    typeof (value as Parked).parked?.approvalId === 'string'
  );
}

export type HttpMethod = 'get' | 'post' | 'delete';

/** The paths that have an operation for `M`. */
export type PathsWith<M extends HttpMethod> = {
  [P in keyof paths]: paths[P] extends { [K in M]: { responses: unknown } } ? P : never;
}[keyof paths];

/** The operation object of `M` on `P`. */
export type Operation<P extends keyof paths, M extends HttpMethod> = paths[P] extends { [K in M]: infer O } ? O : never;

type JsonOf<R> = R extends { content: { 'application/json': infer J } } ? J : undefined;

/** The typed body of an operation's success (200, 201, 204; the parked 202 is {@link Parked}). */
export type Result<O> = O extends { responses: infer R }
  ? { [S in keyof R]: S extends 200 | 201 | 204 ? JsonOf<R[S]> : never }[keyof R]
  : never;

/** What a call resolves to: its result, or {@link Parked} where the document says the operation can be parked (202). */
export type Outcome<O> = Result<O> | (O extends { responses: { 202: unknown } } ? Parked : never);

/** The request options of `M` on `P` (path and query parameters, body, signal, headers). */
export type RequestInitFor<P extends keyof paths, M extends HttpMethod> = MaybeOptionalInit<paths[P], M>;
type InitArgs<I> = undefined extends I ? [init?: I] : [init: I];

/** Options every helper takes. */
export interface CallOptions {
  /** Aborts the request (the client's own timeout still applies). */
  signal?: AbortSignal;
}

export interface WaitOptions extends CallOptions {
  /** Milliseconds between polls (default 1 s). */
  interval?: number;
  /** Milliseconds to wait in all before failing with APPROVAL_WAIT_TIMEOUT (default 5 min). */
  timeout?: number;
}

export interface AuditRecordsOptions extends CallOptions {
  /** First record index (default 0). */
  from?: number;
  /** End of the half-open range (default: the head when each page is read, i.e. everything). */
  to?: number;
  /** Records per request (the server caps it). */
  pageSize?: number;
}

const APPROVAL_POLL_MS_DEFAULT = 1000;
const APPROVAL_WAIT_MS_DEFAULT = 5 * 60 * 1000;
/** Approval states after which nothing more happens (docs/approvals.md). */
const APPROVAL_FINAL = new Set(['denied', 'expired', 'executing', 'executed', 'failed']);

const NO_ANSWERS: ReadonlySet<number> = new Set();

/**
 * `Accept` of a streamed answer: a backup gzipped (the server sends the plain file to a client that
 * does not name gzip, as clients before it), errors and a parked answer as JSON.
 */
const STREAM_ACCEPT = 'application/gzip, application/json;q=0.9';
/** Health's statuses: 200 unsealed, 501 not initialized, 503 sealed; each with the same body. */
const HEALTH_ANSWERS: ReadonlySet<number> = new Set([501, 503]);

/** The shape openapi-fetch resolves every call to. */
type Settled = { data?: unknown; error?: unknown; response: Response };

export class KeywardClient {
  /** The server's URL, without a trailing slash. */
  readonly baseUrl: string;
  readonly timeoutMs: number;
  /**
   * The underlying openapi-fetch client, for what the typed methods don't cover (parseAs, custom
   * serializers, middleware). Its calls bypass this class's error, timeout and parked handling.
   */
  readonly api: Client<paths, 'application/json'>;

  /** @throws {TypeError} when `baseUrl` is not an http(s) URL or `timeoutMs` is not a non-negative number */
  constructor(options: KeywardClientOptions) {
    let url: URL;
    try {
      url = new URL(options.baseUrl);
    } catch {
      throw new TypeError(
        `baseUrl: expected an http(s) URL like http://127.0.0.1:8420, got ${JSON.stringify(String(options.baseUrl))}`,
      );
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw new TypeError(`baseUrl: expected an http(s) URL, got ${JSON.stringify(options.baseUrl)}`);
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (!Number.isFinite(timeoutMs) || timeoutMs < 0)
      throw new TypeError(`timeoutMs: expected a non-negative number of milliseconds, got ${timeoutMs}`);
    this.baseUrl = url.origin + url.pathname.replace(/\/+$/, '');
    this.timeoutMs = timeoutMs;
    this.api = createClient<paths, 'application/json'>({
      baseUrl: this.baseUrl,
      headers: {
        accept: 'application/json',
        ...options.headers,
        ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
      },
      ...(options.fetch ? { fetch: options.fetch } : {}),
      // openapi-fetch passes requestInitExt as fetch's second argument, on Node only.
      ...(options.dispatcher ? { requestInitExt: { dispatcher: options.dispatcher } } : {}),
    });
  }

  /** GET `path` (`/v1/keys/{name}`, with `params: {path: {name}}`). */
  get<P extends PathsWith<'get'>>(
    path: P,
    ...init: InitArgs<RequestInitFor<P, 'get'>>
  ): Promise<Outcome<Operation<P, 'get'>>> {
    return this.#send('get', path, init[0]) as Promise<Outcome<Operation<P, 'get'>>>;
  }

  /** POST `path` with `body`. */
  post<P extends PathsWith<'post'>>(
    path: P,
    ...init: InitArgs<RequestInitFor<P, 'post'>>
  ): Promise<Outcome<Operation<P, 'post'>>> {
    return this.#send('post', path, init[0]) as Promise<Outcome<Operation<P, 'post'>>>;
  }

  /** DELETE `path`. */
  delete<P extends PathsWith<'delete'>>(
    path: P,
    ...init: InitArgs<RequestInitFor<P, 'delete'>>
  ): Promise<Outcome<Operation<P, 'delete'>>> {
    return this.#send('delete', path, init[0]) as Promise<Outcome<Operation<P, 'delete'>>>;
  }

  // -------------------------------------------------------------------------------------------
  // Helpers for the common flows: bytes in and out (base64 on the wire), a parked request as a value.

  /**
   * GET /v1/sys/health, which answers its body with 200 (unsealed), 503 (sealed) and 501 (not
   * initialized) alike: resolves with the body for all three, where `get` throws for 503 and 501.
   */
  async health(options: CallOptions = {}): Promise<components['schemas']['Health']> {
    return (await this.#send(
      'get',
      '/v1/sys/health',
      signalOf(options.signal),
      HEALTH_ANSWERS,
    )) as components['schemas']['Health'];
  }

  /** Creates a key: generated by the server, or verify/encapsulate-only from `publicKey` (PEM). */
  createKey(
    name: string,
    type: KeyTypeName,
    options: { labels?: Record<string, string>; exportable?: boolean; publicKey?: string } & CallOptions = {},
  ) {
    const { signal, ...rest } = options;
    return this.post('/v1/keys', { body: { name, type, ...rest }, ...signalOf(signal) });
  }

  /** Encrypts `plaintext` under the key's latest version; `aad` is bound, not stored. */
  async encrypt(key: string, plaintext: Uint8Array, options: { aad?: Uint8Array } & CallOptions = {}) {
    const r = await this.post('/v1/keys/{name}/encrypt', {
      params: { path: { name: key } },
      body: { plaintext: toBase64(plaintext), ...aadOf(options.aad) },
      ...signalOf(options.signal),
    });
    return isParked(r) ? r : one(r, 'encrypt');
  }

  /** Decrypts a `kw:v<N>:` ciphertext (or a raw RSA-OAEP one, with `keyVersion`) to bytes. */
  async decrypt(
    key: string,
    ciphertext: string,
    options: { aad?: Uint8Array; keyVersion?: number } & CallOptions = {},
  ): Promise<{ plaintext: Uint8Array } | Parked> {
    const body = {
      ciphertext,
      ...aadOf(options.aad),
      ...(options.keyVersion !== undefined ? { keyVersion: options.keyVersion } : {}),
    };
    const r = await this.post('/v1/keys/{name}/decrypt', {
      params: { path: { name: key } },
      body,
      ...signalOf(options.signal),
    });
    if (isParked(r)) return r;
    return { plaintext: decoded(one(r, 'decrypt').plaintext, 'plaintext') };
  }

  /** Signs `message` (bytes; `prehashed`: already the digest) with the key's latest version. */
  async sign(key: string, message: Uint8Array, options: SignOptions & CallOptions = {}) {
    const r = await this.post('/v1/keys/{name}/sign', {
      params: { path: { name: key } },
      body: { message: toBase64(message), ...signFields(options) },
      ...signalOf(options.signal),
    });
    return isParked(r) ? r : one(r, 'sign');
  }

  /** Verifies `signature` over `message`: `{valid: false}` for a signature that doesn't verify. */
  async verify(key: string, message: Uint8Array, signature: string, options: SignOptions & CallOptions = {}) {
    const r = await this.post('/v1/keys/{name}/verify', {
      params: { path: { name: key } },
      body: { message: toBase64(message), signature, ...signFields(options) },
      ...signalOf(options.signal),
    });
    return isParked(r) ? r : one(r, 'verify');
  }

  /**
   * Polls GET /v1/approvals/{id} every `interval` ms until the approval has its approvals (still
   * `pending`, `approvals >= required`: the requester may execute it) or reached a final state
   * (`denied`, `expired`, `executed`, …), and resolves with it; check `state` before executing.
   * @throws {KeywardApiError} APPROVAL_WAIT_TIMEOUT after `timeout` ms, or the server's error
   */
  async waitForApproval(id: string, options: WaitOptions = {}) {
    const interval = options.interval ?? APPROVAL_POLL_MS_DEFAULT;
    const deadline = Date.now() + (options.timeout ?? APPROVAL_WAIT_MS_DEFAULT);
    for (;;) {
      const a = unparked(
        await this.get('/v1/approvals/{id}', { params: { path: { id } }, ...signalOf(options.signal) }),
        'approval read',
      );
      if (APPROVAL_FINAL.has(a.state) || a.approvals >= a.required) return a;
      const wait = Math.min(interval, deadline - Date.now());
      if (wait <= 0)
        throw new KeywardApiError(
          0,
          'APPROVAL_WAIT_TIMEOUT',
          `approval ${id} has ${a.approvals} of ${a.required} approvals from "${a.group}" after ${options.timeout ?? APPROVAL_WAIT_MS_DEFAULT} ms`,
        );
      await sleep(wait, options.signal);
    }
  }

  /**
   * Runs an approved request once (only its requester may). With no `body` the server runs the body
   * it kept, encrypted, when it parked the request (the parked value does not hold a copy: it would
   * keep plaintexts in a value applications log); a `body` given must be the parked one (its digest
   * is checked). Resolves with the operation's own answer.
   */
  async executeApproval(approval: Parked | string, body?: Record<string, unknown>, options: CallOptions = {}) {
    const id = typeof approval === 'string' ? approval : approval.parked.approvalId;
    const sent = body ?? {};
    return unparked(
      await this.post('/v1/approvals/{id}/execute', {
        params: { path: { id } },
        body: sent,
        ...signalOf(options.signal),
      }),
      'approval execute',
    );
  }

  /**
   * The audit log's records (the exact leaves, in order) from `from` to `to`, read a page at a time
   * and yielded one by one.
   */
  async *auditRecords(options: AuditRecordsOptions = {}) {
    let from: number | null = options.from ?? 0;
    while (from !== null && (options.to === undefined || from < options.to)) {
      const query: { from: number; to?: number; limit?: number } = {
        from,
        ...(options.to !== undefined ? { to: options.to } : {}),
        ...(options.pageSize !== undefined ? { limit: options.pageSize } : {}),
      };
      const page: components['schemas']['AuditRecords'] = unparked(
        await this.get('/v1/audit/records', { params: { query }, ...signalOf(options.signal) }),
        'audit records',
      );
      yield* page.records;
      from = page.next;
    }
  }

  /** An attestation bundle over a fresh signed checkpoint (docs/audit-bundle.md): records [from, to). */
  async exportAudit(
    options: { from?: number; to?: number; includeInputs?: boolean; includeWasm?: boolean } & CallOptions = {},
  ) {
    const { signal, ...body } = options;
    return unparked(await this.post('/v1/audit/export', { body, ...signalOf(signal) }), 'audit export');
  }

  /**
   * POST /v1/sys/backup: a snapshot of the whole store (the server's docs/backup.md), as the stream
   * of the backup file's bytes (gzipped: this client asks for gzip, the server's default is the
   * plain file), with its id; {@link Parked} when the policies parked the request.
   * The client's timeout covers reading the stream too: give a large `timeoutMs` for a big store.
   */
  async backup(options: CallOptions = {}): Promise<{ id: string; body: ReadableStream<Uint8Array> } | Parked> {
    const r = await this.#postStream('/v1/sys/backup', {}, options);
    return 'parked' in r ? r : { id: r.headers.get('keyward-backup-id') ?? '', body: r.body };
  }

  /**
   * POST /v1/approvals/{id}/execute for an approval whose answer is a file, not JSON (an approved
   * `sys.backup`): the answer's headers and its bytes as a stream. `body` is the original request
   * body ({} for the parked one). As {@link backup}, the timeout covers reading the stream.
   */
  async executeApprovalStream(
    id: string,
    body: Record<string, unknown> = {},
    options: CallOptions = {},
  ): Promise<{ headers: Headers; body: ReadableStream<Uint8Array> } | Parked> {
    return this.#postStream(`/v1/approvals/${encodeURIComponent(id)}/execute`, body, options);
  }

  /**
   * A POST whose answer is streamed bytes (a backup file, gzipped: `Accept` {@link STREAM_ACCEPT}):
   * error bodies and a 202 (parked) read as JSON.
   */
  async #postStream(
    path: string,
    body: object,
    options: CallOptions,
  ): Promise<{ headers: Headers; body: ReadableStream<Uint8Array> } | Parked> {
    const timeout = this.timeoutMs > 0 ? AbortSignal.timeout(this.timeoutMs) : undefined;
    const signal = timeout && options.signal ? AbortSignal.any([options.signal, timeout]) : (timeout ?? options.signal);
    const request = this.api.request as unknown as (method: string, path: string, init: object) => Promise<Settled>;
    let settled: Settled;
    try {
      // Accept: the server gzips a backup only for a client that says it reads gzip (its docs/backup.md).
      settled = await request('post', path, {
        body,
        parseAs: 'stream',
        headers: { accept: STREAM_ACCEPT },
        ...(signal ? { signal } : {}),
      });
    } catch (err) {
      throw this.#transportError('post', path, err, timeout, options.signal);
    }
    const { response } = settled;
    if (!response.ok) throw errorFromResponse(response.status, settled.error);
    if (response.status === 202) {
      const text = await new Response(settled.data as ReadableStream<Uint8Array>).text();
      return { parked: parkedRequest(JSON.parse(text) as Record<string, unknown>) };
    }
    if (!(settled.data instanceof ReadableStream))
      throw new KeywardApiError(response.status, 'BAD_RESPONSE', `POST ${path}: expected a body`);
    return { headers: response.headers, body: settled.data as ReadableStream<Uint8Array> };
  }

  /**
   * One request: adds the timeout to the caller's signal, maps transport failures and error bodies
   * to KeywardApiError, and a 202 naming an approval to {@link Parked}. The typed methods above fix
   * the types; here the path is a plain string (openapi-fetch's generics don't survive a generic P).
   */
  async #send(
    method: HttpMethod,
    path: string,
    init: { signal?: AbortSignal | null; body?: unknown } | undefined,
    answers: ReadonlySet<number> = NO_ANSWERS,
  ): Promise<unknown> {
    const timeout = this.timeoutMs > 0 ? AbortSignal.timeout(this.timeoutMs) : undefined;
    const signal =
      timeout && init?.signal ? AbortSignal.any([init.signal, timeout]) : (timeout ?? init?.signal ?? undefined);
    const request = this.api.request as unknown as (method: string, path: string, init: object) => Promise<Settled>;
    let settled: Settled;
    try {
      // parseAs text: the JSON is parsed below, where a body that isn't JSON can name its status.
      settled = await request(method, path, { ...init, parseAs: 'text', ...(signal ? { signal } : {}) });
    } catch (err) {
      throw this.#transportError(method, path, err, timeout, init?.signal ?? undefined);
    }
    const { response } = settled;
    // An error status whose body is the answer (health's 501/503), as openapi-fetch parsed it.
    if (
      answers.has(response.status) &&
      typeof settled.error === 'object' &&
      settled.error !== null &&
      !('error' in settled.error)
    )
      return settled.error;
    if (!response.ok) throw errorFromResponse(response.status, settled.error);
    let data: unknown;
    try {
      data = typeof settled.data === 'string' && settled.data !== '' ? JSON.parse(settled.data) : undefined;
    } catch (err) {
      throw new KeywardApiError(
        response.status,
        'BAD_RESPONSE',
        `${method.toUpperCase()} ${path}: the server answered ${response.status} with a body that is not JSON`,
        { cause: err },
      );
    }
    const body = data as Record<string, unknown> | undefined;
    if (response.status === 202 && typeof body?.approvalId === 'string') {
      return { parked: parkedRequest(body) } satisfies Parked;
    }
    return data;
  }

  /** What a request that got no answer throws: TIMEOUT, the caller's own abort as is, else SERVER_UNREACHABLE. */
  #transportError(
    method: HttpMethod,
    path: string,
    err: unknown,
    timeout: AbortSignal | undefined,
    signal: AbortSignal | undefined,
  ): unknown {
    if (timeout?.aborted)
      return new KeywardApiError(
        0,
        'TIMEOUT',
        `${method.toUpperCase()} ${path}: no answer from ${this.baseUrl} within ${this.timeoutMs} ms`,
        { cause: err },
      );
    if (signal?.aborted) return err; // the caller's own abort: theirs to handle
    // undici's "fetch failed" names nothing; its cause says ECONNREFUSED, ENOTFOUND, "bad port"…
    const inner = (err as { cause?: { code?: string; message?: string } }).cause;
    const cause = inner?.code ?? inner?.message ?? (err as Error).message;
    return new KeywardApiError(0, 'SERVER_UNREACHABLE', `cannot reach keyward at ${this.baseUrl} (${cause})`, {
      cause: err,
    });
  }
}

type KeyTypeName = NonNullable<RequestInitFor<'/v1/keys', 'post'>>['body'] extends { type: infer T } ? T : string;

export interface SignOptions {
  /** `message` is already the digest (ECDSA, RSA). */
  prehashed?: boolean;
  /** ECDSA signature encoding (default der). */
  encoding?: 'der' | 'p1363';
  /** FIPS 204/205 context string (ML-DSA, SLH-DSA). */
  context?: Uint8Array;
}

const signalOf = (signal: AbortSignal | undefined) => (signal ? { signal } : {});
const aadOf = (aad: Uint8Array | undefined) => (aad ? { aad: toBase64(aad) } : {});
const signFields = (o: SignOptions) => ({
  ...(o.prehashed !== undefined ? { prehashed: o.prehashed } : {}),
  ...(o.encoding ? { encoding: o.encoding } : {}),
  ...(o.context ? { context: toBase64(o.context) } : {}),
});

/** The single-item answer of a one-or-batch operation (the helpers never send a batch). */
function one<T extends object>(r: T, op: string): Exclude<T, { batch: unknown }> {
  if ('batch' in r) throw new KeywardApiError(200, 'BAD_RESPONSE', `${op}: expected one result, got a batch`);
  return r as Exclude<T, { batch: unknown }>;
}

/** A result the caller can't do anything with while parked (reads, polling): parking it is an error here. */
function unparked<T>(r: T | Parked, what: string): T {
  if (isParked(r)) {
    const p = r.parked;
    throw new KeywardApiError(
      202,
      'APPROVAL_PENDING',
      `${what} was parked for approval ${p.approvalId}: needs ${p.required} approvals from "${p.group}" before ${p.expiresAt}`,
    );
  }
  return r;
}

function decoded(text: string, field: string): Uint8Array {
  try {
    return fromBase64(text, field);
  } catch (err) {
    throw new KeywardApiError(200, 'BAD_RESPONSE', (err as Error).message, { cause: err });
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const done = () => {
      signal?.removeEventListener('abort', abort);
      resolve();
    };
    const t = setTimeout(done, ms);
    const abort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', abort, { once: true });
  });
}
