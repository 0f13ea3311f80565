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
import { KeywardApiError, errorFromResponse } from './errors.js';
import type { paths } from './schema.js';

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
  /** The body this client sent (`{}` when none): execution must send the same one. */
  body: unknown;
}

/** A request parked for approval, as a value: `if (isParked(r)) …`. */
export interface Parked {
  parked: ParkedRequest;
}

export function isParked(value: unknown): value is Parked {
  return typeof value === 'object' && value !== null && 'parked' in value && typeof (value as Parked).parked?.approvalId === 'string';
}

export type HttpMethod = 'get' | 'post' | 'delete';

/** The paths that have an operation for `M`. */
export type PathsWith<M extends HttpMethod> = { [P in keyof paths]: paths[P] extends { [K in M]: { responses: unknown } } ? P : never }[keyof paths];

/** The operation object of `M` on `P`. */
export type Operation<P extends keyof paths, M extends HttpMethod> = paths[P] extends { [K in M]: infer O } ? O : never;

type JsonOf<R> = R extends { content: { 'application/json': infer J } } ? J : undefined;

/** The typed body of an operation's success (200, 201, 204; the parked 202 is {@link Parked}). */
export type Result<O> = O extends { responses: infer R } ? { [S in keyof R]: S extends 200 | 201 | 204 ? JsonOf<R[S]> : never }[keyof R] : never;

/** What a call resolves to: its result, or {@link Parked} where the document says the operation can be parked (202). */
export type Outcome<O> = Result<O> | (O extends { responses: { 202: unknown } } ? Parked : never);

/** The request options of `M` on `P` (path and query parameters, body, signal, headers). */
export type RequestInitFor<P extends keyof paths, M extends HttpMethod> = MaybeOptionalInit<paths[P], M>;
type InitArgs<I> = undefined extends I ? [init?: I] : [init: I];

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
      throw new TypeError(`baseUrl: expected an http(s) URL like http://127.0.0.1:8420, got ${JSON.stringify(String(options.baseUrl))}`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError(`baseUrl: expected an http(s) URL, got ${JSON.stringify(options.baseUrl)}`);
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (!Number.isFinite(timeoutMs) || timeoutMs < 0) throw new TypeError(`timeoutMs: expected a non-negative number of milliseconds, got ${timeoutMs}`);
    this.baseUrl = url.origin + url.pathname.replace(/\/+$/, '');
    this.timeoutMs = timeoutMs;
    this.api = createClient<paths, 'application/json'>({
      baseUrl: this.baseUrl,
      headers: { accept: 'application/json', ...options.headers, ...(options.token ? { authorization: `Bearer ${options.token}` } : {}) },
      ...(options.fetch ? { fetch: options.fetch } : {}),
    });
  }

  /** GET `path` (`/v1/keys/{name}`, with `params: {path: {name}}`). */
  get<P extends PathsWith<'get'>>(path: P, ...init: InitArgs<RequestInitFor<P, 'get'>>): Promise<Outcome<Operation<P, 'get'>>> {
    return this.#send('get', path, init[0]) as Promise<Outcome<Operation<P, 'get'>>>;
  }

  /** POST `path` with `body`. */
  post<P extends PathsWith<'post'>>(path: P, ...init: InitArgs<RequestInitFor<P, 'post'>>): Promise<Outcome<Operation<P, 'post'>>> {
    return this.#send('post', path, init[0]) as Promise<Outcome<Operation<P, 'post'>>>;
  }

  /** DELETE `path`. */
  delete<P extends PathsWith<'delete'>>(path: P, ...init: InitArgs<RequestInitFor<P, 'delete'>>): Promise<Outcome<Operation<P, 'delete'>>> {
    return this.#send('delete', path, init[0]) as Promise<Outcome<Operation<P, 'delete'>>>;
  }

  /**
   * One request: adds the timeout to the caller's signal, maps transport failures and error bodies
   * to KeywardApiError, and a 202 naming an approval to {@link Parked}. The typed methods above fix
   * the types; here the path is a plain string (openapi-fetch's generics don't survive a generic P).
   */
  async #send(method: HttpMethod, path: string, init: { signal?: AbortSignal | null; body?: unknown } | undefined): Promise<unknown> {
    const timeout = this.timeoutMs > 0 ? AbortSignal.timeout(this.timeoutMs) : undefined;
    const signal = timeout && init?.signal ? AbortSignal.any([init.signal, timeout]) : (timeout ?? init?.signal ?? undefined);
    const request = this.api.request as unknown as (method: string, path: string, init: object) => Promise<Settled>;
    let settled: Settled;
    try {
      // parseAs text: the JSON is parsed below, where a body that isn't JSON can name its status.
      settled = await request(method, path, { ...init, parseAs: 'text', ...(signal ? { signal } : {}) });
    } catch (err) {
      if (timeout?.aborted) throw new KeywardApiError(0, 'TIMEOUT', `${method.toUpperCase()} ${path}: no answer from ${this.baseUrl} within ${this.timeoutMs} ms`, { cause: err });
      if (init?.signal?.aborted) throw err; // the caller's own abort: theirs to handle
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
      throw new KeywardApiError(0, 'SERVER_UNREACHABLE', `cannot reach keyward at ${this.baseUrl} (${cause})`, { cause: err });
    }
    const { response } = settled;
    if (!response.ok) throw errorFromResponse(response.status, settled.error);
    let data: unknown;
    try {
      data = typeof settled.data === 'string' && settled.data !== '' ? JSON.parse(settled.data) : undefined;
    } catch (err) {
      throw new KeywardApiError(response.status, 'BAD_RESPONSE', `${method.toUpperCase()} ${path}: the server answered ${response.status} with a body that is not JSON`, { cause: err });
    }
    const body = data as Record<string, unknown> | undefined;
    if (response.status === 202 && typeof body?.approvalId === 'string') {
      const parked: ParkedRequest = {
        approvalId: body.approvalId,
        required: Number(body.required),
        group: String(body.group),
        reason: String(body.reason ?? ''),
        expiresAt: String(body.expiresAt),
        body: init?.body ?? {},
      };
      return { parked } satisfies Parked;
    }
    return data;
  }
}
