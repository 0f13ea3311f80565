/**
 * The direct path (issue 14): a POST on a hot route (a handler registered with {@link hot}: the
 * native and the Vault transit encrypt, decrypt, sign and verify) runs the app's own front
 * middleware and the route's own handler (server/app.ts `front`, the handler `routeTable` would
 * call) on a {@link DirectContext} instead of the context Koa builds, and is answered as Koa's
 * `respond` would answer it. Koa's
 * per-request machinery (three prototype objects, the middleware composition, the on-finished
 * watchers, the getter chains into the request and response, its respond) cost ~9 µs of a ~90–140 µs
 * encrypt (bench/api's profile); the rules (headers, refusals, errors, the log line, metrics, the
 * body limit) are the functions both paths call, so the two give the same bytes
 * (test/server/direct.test.ts compares them over HTTP).
 *
 * Any doubt goes to Koa unchanged ({@link ordinary}): only HTTP/1.x POSTs whose target is a plain
 * path (no query, fragment or unusual character: there `ctx.path` is the target as it is), with a
 * decimal Content-Length of at most {@link DIRECT_BODY_MAX} bytes and no Transfer-Encoding,
 * Content-Encoding, Expect or Upgrade header, with Content-Type `application/json` (optionally
 * `; charset=utf-8`), on a hot route as the router spells it (`directRoutes`: lower case, no
 * trailing slash, a non-empty name).
 *
 * What that code may use of the context is typed ({@link HotContext}, {@link HotRouteContext}: what
 * DirectContext provides), so a handler that starts using more of Koa's fails the type check.
 * @module
 */
import assert from 'node:assert';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type Koa from 'koa';
import statuses from 'statuses';
import type { directRoutes } from './app.js';
import { JSON_TYPE } from './routes/respond.js';

/**
 * The part of Koa's context that code the direct path runs (the front middleware, server/app.ts
 * `front`, the hot routes' handlers and what they call) may use: what {@link DirectContext}
 * provides, so that using anything else (`ctx.query`, `ctx.throw`, `ctx.headers`, …) there fails
 * the type check. Koa's own context has all of it, so the same functions take either.
 */
export interface HotContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly method: string;
  readonly url: string;
  readonly path: string;
  readonly state: Record<string, unknown>;
  /** The TCP peer (the app sets `proxy: false`). */
  readonly ip: string;
  /** Koa's `ctx.response`, for its `get` (a header of the response). */
  readonly response: { get(field: string): unknown };
  /** A request header, as Koa's `ctx.get`. */
  get(field: string): string;
  set(field: string, value: string): void;
  remove(field: string): void;
  status: number;
  type: string;
  body: unknown;
}

/** What a hot route's handler is given: {@link HotContext} and the router's parameters. */
export interface HotRouteContext extends HotContext {
  readonly params: Record<string, string>;
}

/** A hot route's handler, as its router registers it ({@link hot}). */
export type HotHandler = (ctx: HotRouteContext) => Promise<void>;

const hotHandlers = new WeakSet<HotHandler>();

/**
 * Registers a route's handler as one the direct path runs (the routers' hot routes: the native and
 * the Vault transit encrypt, decrypt, sign and verify), typed against {@link HotRouteContext}. A route of
 * `directRoutes` whose handler is not one of these goes to Koa.
 */
export function hot(handler: HotHandler): HotHandler {
  hotHandlers.add(handler);
  return handler;
}

function isHot(handler: unknown): handler is HotHandler {
  return hotHandlers.has(handler as HotHandler);
}

/** The largest declared body taken directly; larger bodies (batches) go to Koa. */
export const DIRECT_BODY_MAX = 64 * 1024;

/** What the direct path runs, from createApp: the front middleware and the routers' direct routes. */
export interface DirectParts {
  front: (ctx: HotContext, next: () => Promise<void>) => Promise<void>;
  routes: ReturnType<typeof directRoutes>;
}

/** A target whose `ctx.path` is itself: `/` then printable ASCII other than `"`, `#` and `?` (parseurl's fast path). */
const PLAIN_TARGET = /^\/[\x21\x24-\x3e\x40-\x7e]*$/;
const JSON_CONTENT_TYPE = /^application\/json(; ?charset=utf-8)?$/i;
const DECIMAL = /^[0-9]{1,9}$/;

/** Whether `req` may go the direct way before its route is looked at (see the module comment). */
function ordinary(req: IncomingMessage): boolean {
  if (req.method !== 'POST' || req.httpVersionMajor !== 1) return false;
  const h = req.headers;
  const length = h['content-length'];
  return (
    length !== undefined &&
    DECIMAL.test(length) &&
    Number(length) <= DIRECT_BODY_MAX &&
    h['transfer-encoding'] === undefined &&
    h['content-encoding'] === undefined &&
    h.expect === undefined &&
    h.upgrade === undefined &&
    h['content-type'] !== undefined &&
    JSON_CONTENT_TYPE.test(h['content-type']) &&
    req.url !== undefined &&
    PLAIN_TARGET.test(req.url)
  );
}

/**
 * {@link HotRouteContext} with Koa 3's semantics (koa/lib/request.js, response.js): the same header calls
 * in the same order, so the same bytes go out. `path` is the target (see {@link ordinary}); `ip` the
 * TCP peer (the app sets `proxy: false`).
 */
class DirectContext implements HotRouteContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly method: string;
  readonly url: string;
  readonly path: string;
  readonly state: Record<string, unknown> = {};
  /** What @koa/router sets on a match (server/app.ts directRoutes `enter`). */
  readonly request: Record<string, unknown> = {};
  params: Record<string, string> = {};
  #body: unknown = undefined;
  #explicitStatus = false;
  #explicitNullBody = false;
  #ip: string | undefined;

  constructor(req: IncomingMessage, res: ServerResponse) {
    this.req = req;
    this.res = res;
    this.method = req.method!;
    this.url = req.url!;
    this.path = this.url;
  }

  get ip(): string {
    return (this.#ip ??= this.req.socket.remoteAddress || '');
  }

  get response(): { get(field: string): unknown } {
    return { get: (field) => this.res.getHeader(field) };
  }

  get(field: string): string {
    const f = field.toLowerCase();
    const h = this.req.headers;
    const v = f === 'referer' || f === 'referrer' ? h.referrer || h.referer : h[f];
    return (v as string | undefined) || '';
  }

  set(field: string, value: string | number): void {
    if (this.res.headersSent || !field) return;
    this.res.setHeader(field, value);
  }

  remove(field: string): void {
    if (this.res.headersSent) return;
    this.res.removeHeader(field);
  }

  get status(): number {
    return this.res.statusCode;
  }

  set status(code: number) {
    if (this.res.headersSent) return;
    assert(Number.isInteger(code), 'status code must be a number');
    assert(code >= 100 && code <= 999, `invalid status code: ${code}`);
    this.#explicitStatus = true;
    this.res.statusCode = code;
    // Koa's reason phrase, from the package Koa reads it from (undefined for a code it does not name:
    // node then writes its own), so the two paths cannot differ whatever their versions.
    this.res.statusMessage = statuses.message[code] as string;
    if (this.#body && statuses.empty[code]) this.body = null;
  }

  get type(): string {
    const type = this.res.getHeader('Content-Type');
    if (!type) return '';
    return String(type).split(';', 1)[0]!;
  }

  /** Only the JSON type the error writers set (mime-types' `contentType('application/json')`). */
  set type(type: string) {
    if (type !== 'application/json') throw new TypeError(`the direct path sets no Content-Type ${type}`);
    this.set('Content-Type', JSON_TYPE);
  }

  #length(n: number): void {
    if (!this.res.hasHeader('Transfer-Encoding')) this.set('Content-Length', n);
  }

  get body(): unknown {
    return this.#body;
  }

  /** Koa's body setter for what these handlers answer: nothing, a string, a Buffer or a JSON value. */
  set body(val: unknown) {
    this.#body = val;
    if (val == null) {
      if (!statuses.empty[this.status]) {
        if (this.type === 'application/json') {
          this.#body = 'null';
          return;
        }
        this.status = 204;
      }
      if (val === null) this.#explicitNullBody = true;
      this.remove('Content-Type');
      this.remove('Content-Length');
      this.remove('Transfer-Encoding');
      return;
    }
    if (!this.#explicitStatus) this.status = 200;
    const setType = !this.res.hasHeader('Content-Type');
    if (typeof val === 'string') {
      if (setType)
        this.set('Content-Type', /^\s*</.test(val) ? 'text/html; charset=utf-8' : 'text/plain; charset=utf-8');
      this.#length(Buffer.byteLength(val));
      return;
    }
    if (Buffer.isBuffer(val)) {
      if (setType) this.set('Content-Type', 'application/octet-stream');
      this.#length(val.length);
      return;
    }
    if (typeof val !== 'object' || typeof (val as { pipe?: unknown }).pipe === 'function')
      throw new TypeError('the direct path answers no stream');
    this.remove('Content-Length');
    if (!this.type || !/\bjson\b/i.test(this.type)) this.set('Content-Type', JSON_TYPE);
  }

  /** Koa's `respond` (koa/lib/application.js) for a POST and the bodies above. */
  respond(): void {
    const res = this.res;
    if (res.writableEnded || (res.socket && !res.socket.writable)) {
      res.end();
      return;
    }
    let body = this.#body;
    const code = this.status;
    if (statuses.empty[code]) {
      this.body = null;
      res.end();
      return;
    }
    if (body == null) {
      if (this.#explicitNullBody) {
        this.remove('Content-Type');
        this.remove('Transfer-Encoding');
        this.#length(0);
        res.end();
        return;
      }
      body = res.statusMessage || statuses.message[code] || String(code);
      if (!res.headersSent) {
        this.set('Content-Type', 'text/plain; charset=utf-8');
        this.#length(Buffer.byteLength(body as string));
      }
      res.end(body);
      return;
    }
    if (Buffer.isBuffer(body) || typeof body === 'string') {
      res.end(body);
      return;
    }
    const text = JSON.stringify(body);
    if (!res.headersSent) this.#length(Buffer.byteLength(text));
    res.end(text);
  }
}

/** DirectContext's own fields (set per instance, so they shadow anything on its prototype). */
const OWN_FIELDS = new Set(['req', 'res', 'method', 'url', 'path', 'state', 'request', 'params']);

/**
 * Makes every member of Koa's context that {@link DirectContext} does not provide (`ctx.query`,
 * `ctx.throw`, `ctx.headers`, …: read from Koa's own context prototype, `koaContext`) throw a
 * TypeError that names it, instead of reading as undefined. The types ({@link HotRouteContext}) refuse
 * such a use where the context is typed; this catches what they cannot see: a use through a cast
 * or an `any` (`(ctx as Context).query`, a helper whose parameter is untyped), at its first run in
 * the first test that sends that route through the dispatcher (the server suite's servers all do),
 * rather than answering differently from Koa. Once per process.
 */
function guardUnprovided(koaContext: object): void {
  const proto = DirectContext.prototype as unknown as Record<string, unknown>;
  for (const name of Object.getOwnPropertyNames(koaContext)) {
    if (OWN_FIELDS.has(name) || Object.hasOwn(proto, name) || name === 'inspect' || name === 'toJSON') continue;
    const unprovided = (): never => {
      throw new TypeError(`server/direct.ts: ctx.${name} is not provided on the direct path (add it to DirectContext)`);
    };
    Object.defineProperty(proto, name, { configurable: true, get: unprovided, set: unprovided });
  }
}

/**
 * The server's request listener: a request {@link ordinary} on a hot route goes the direct way,
 * every other one to `app.callback()` unchanged. An error the front middleware lets through (it
 * answers every error of the route itself) is answered by Koa's own `ctx.onerror`, on a Koa context
 * made for it, as Koa would.
 */
export function requestListener(app: Koa, parts: DirectParts | undefined): RequestListener {
  const koa = app.callback();
  if (parts !== undefined) guardUnprovided(Object.getPrototypeOf(app.context) as object);
  const listener = ((req, res) => {
    if (parts === undefined || !ordinary(req)) return void koa(req, res);
    const ctx = new DirectContext(req, res);
    const handler = parts.routes.enter(ctx)?.stack[0];
    if (!isHot(handler)) return void koa(req, res);
    listener.direct++;
    res.statusCode = 404;
    parts
      .front(ctx, () => handler(ctx))
      .then(
        () => {
          try {
            ctx.respond();
          } catch (err) {
            app.createContext(req, res).onerror(err as Error);
          }
        },
        (err: unknown) => app.createContext(req, res).onerror(err as Error),
      );
  }) as RequestListener;
  listener.direct = 0;
  return listener;
}

/** A node:http request listener that counts the requests it took the direct way (for the tests). */
export type RequestListener = ((req: IncomingMessage, res: ServerResponse) => void) & { direct: number };
