/**
 * Builds the Koa app without listening, so tests drive it over real HTTP on an ephemeral port and
 * the server binary only adds `listen`.
 * @module
 */
import { randomBytes } from 'node:crypto';
import Router from '@koa/router';
import Koa from 'koa';
import type { Context, Next } from 'koa';
import type { Hsm } from '../engine/hsm.js';
import type { CryptoPool } from '../engine/crypto/index.js';
import { DEFAULT_BODY_LIMIT } from './body.js';
import type { AppDeps } from './deps.js';
import { answerThrown, routeNotFound, sendError } from './errors.js';
import { openApiDocument } from './openapi.js';
import { createLogger } from './log.js';
import type { Logger } from './log.js';
import { ServerMetrics, appMetrics } from './metrics.js';
import { DEFAULT_CEREMONY_RATE } from './rate-limit.js';
import type { RateLimitOptions } from './rate-limit.js';
import { appRefusals } from './refusals.js';
import type { Refusals } from './refusals.js';
import { approvalRoutes } from './routes/approvals.js';
import { auditRoutes } from './routes/audit.js';
import { authRoutes } from './routes/auth.js';
import { backupRoutes } from './routes/backup.js';
import { keyRoutes } from './routes/keys.js';
import { metricsRoutes } from './routes/metrics.js';
import { policyRoutes } from './routes/policies.js';
import { sysRoutes } from './routes/sys.js';
import { transitRoutes } from './routes/transit.js';
import { consoleAssets } from './ui.js';
import type { DirectParts, HotContext } from './direct.js';

export interface AppOptions {
  hsm: Hsm;
  log?: Logger;
  bodyLimit?: number;
  ceremonyRate?: RateLimitOptions;
  /** Failed authentications per client (server/refusals.ts; default burst 20, 5/s). */
  authFailureRate?: RateLimitOptions;
  /** The interval over which one client's refusals of one code fold into one record, ms (default 10 s; 0: no folding). */
  refusalFoldMs?: number;
  /** The listener speaks TLS: every response carries Strict-Transport-Security. */
  secure?: boolean;
  /** Where the web console's built files are (default build/ui/; server/ui.ts). */
  uiDir?: string;
  /** GET /metrics answers without a token, outside the pipeline (`--metrics-unauthenticated`). */
  metricsUnauthenticated?: boolean;
  /** The crypto worker pool, for its metrics. */
  pool?: CryptoPool;
  /**
   * Hot routes skip Koa's context (server/direct.ts; default true). Off only in the tests and
   * benches that compare the two paths.
   */
  directPath?: boolean;
}

const directParts = new WeakMap<Koa, DirectParts>();

/** What server/direct.ts runs for an app built by {@link createApp}; undefined when its direct path is off. */
export function directPartsOf(app: Koa): DirectParts | undefined {
  return directParts.get(app);
}

/** HSTS for one year once TLS is on (docs/operations.md, "TLS"). */
export const HSTS = 'max-age=31536000';

/**
 * The app's outer middleware, as one async function rather than four (each Koa layer is a promise
 * and a resumption per request): outermost the request log (the id, the fixed headers, the
 * checkpoint header, the line), then the refusals (server/refusals.ts: sees the final answer, to
 * record a refusal before the pipeline), then the error handler (server/errors.ts) and, inside it,
 * the 405 for methods no router implements. The same steps in the same order as the four layers
 * they were. The hot routes' direct path (server/direct.ts) runs this same function.
 */
function front(log: Logger, hsm: Hsm, tls: boolean, metrics: ServerMetrics, refusals: Refusals) {
  // Request ids: a random per-process prefix and a counter (unique across nodes, and no CSPRNG call
  // per request); 16 hex characters as before.
  const prefix = randomBytes(4).toString('hex');
  let counter = 0;
  // The header of the newest checkpoint, made once per checkpoint (the integrator makes a new object
  // for each) rather than once per response.
  let shown: { cp: NonNullable<ReturnType<Hsm['latestCheckpoint']>>; header: string } | undefined;
  return async function frontMiddleware(ctx: HotContext, next: Next): Promise<void> {
    const start = process.hrtime.bigint();
    counter = (counter + 1) % 0x1_0000_0000;
    const reqId = prefix + counter.toString(16).padStart(8, '0');
    ctx.state.reqId = reqId;
    // Straight to node (nothing is sent yet): Koa's ctx.set allocates per call.
    const res = ctx.res;
    res.setHeader('X-Request-Id', reqId);
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    if (tls) res.setHeader('Strict-Transport-Security', HSTS);
    try {
      ctx.state.refusals = refusals;
      try {
        await next();
        methodNotAllowed(ctx);
        routeNotFound(ctx);
      } catch (thrown) {
        answerThrown(ctx, thrown, log);
      }
      const refused = refusals.after(ctx);
      if (refused) await refused;
    } finally {
      // Every response names the newest signed checkpoint this node knows: clients that keep it can
      // later catch a rolled-back or forked log (docs/architecture.md, "The audit log").
      const cp = hsm.latestCheckpoint();
      if (cp) {
        if (shown?.cp !== cp) shown = { cp, header: `${cp.size} ${Buffer.from(cp.root).toString('base64')}` };
        ctx.set('Keyward-Checkpoint', shown.header);
      }
      log.info('request', {
        reqId: ctx.state.reqId,
        method: ctx.method,
        path: ctx.path,
        status: ctx.status,
        code: ctx.state.errorCode,
        ms: Number(process.hrtime.bigint() - start) / 1e6,
      });
      metrics.response(ctx.status);
    }
  };
}

/**
 * A method the routers do not implement (TRACE) gets the router's 501, set over whatever a catch-all
 * route (transit's, in Vault's form) answered: a 405, as for a known method (never a 5xx: issue 13).
 * Health's own 501 (not initialized, as Vault's) answers a GET and stays. A route that answered its
 * own 405 (the Vault-transit routes, in Vault's error form) keeps it.
 */
function methodNotAllowed(ctx: HotContext): void {
  const routerMethod = ROUTER_METHODS.has(ctx.method);
  if (ctx.status === 501 && !routerMethod && ctx.body != null) ctx.status = 405;
  if ((ctx.status === 405 || (ctx.status === 501 && !routerMethod)) && ctx.body == null)
    sendError(
      ctx,
      'METHOD_NOT_ALLOWED',
      `${ctx.method.slice(0, 20)} is not allowed on ${ctx.path.slice(0, 200)}; allowed: ${ctx.response.get('Allow')}`,
    );
}

/** Every router of the API, in one list (the OpenAPI coverage test walks it too). */
export function appRouters(deps: AppDeps): Router[] {
  const meta = new Router();
  meta.get('/openapi.json', (ctx) => {
    ctx.body = openApiDocument();
  });
  const routers = [
    sysRoutes(deps),
    backupRoutes(deps),
    authRoutes(deps),
    policyRoutes(deps),
    keyRoutes(deps),
    auditRoutes(deps),
    transitRoutes(deps),
    metricsRoutes(deps),
    meta,
  ];
  // Approvals execute parked requests through the routers that parked them.
  return [...routers, approvalRoutes(deps, routers)];
}

/** The methods @koa/router implements by default: its allowedMethods answers 501 to any other. */
const ROUTER_METHODS = new Set(['HEAD', 'OPTIONS', 'GET', 'PUT', 'PATCH', 'POST', 'DELETE']);

export function createApp(opts: AppOptions): Koa {
  const metrics = new ServerMetrics(opts.hsm, { pool: opts.pool });
  const deps: AppDeps = {
    hsm: opts.hsm,
    log: opts.log ?? createLogger(),
    bodyLimit: opts.bodyLimit ?? DEFAULT_BODY_LIMIT,
    ceremonyRate: opts.ceremonyRate ?? DEFAULT_CEREMONY_RATE,
    metrics: { registry: metrics, unauthenticated: opts.metricsUnauthenticated === true },
  };
  const app = new Koa({ proxy: false });
  app.silent = true;
  appMetrics.set(app, metrics);
  const refusals = appRefusals(app, deps.hsm, deps.log, {
    ...(opts.authFailureRate ? { authFailureRate: opts.authFailureRate } : {}),
    ...(opts.refusalFoldMs !== undefined ? { foldMs: opts.refusalFoldMs } : {}),
  });
  const frontMiddleware = front(deps.log, deps.hsm, opts.secure === true, metrics, refusals);
  app.use(frontMiddleware);
  const routers = appRouters(deps);
  // The web console's static files at /ui (server/ui.ts); every other path goes on to the API.
  app.use(consoleAssets(opts.uiDir, routeTable(routers) as (ctx: Context, next: Next) => Promise<void>));
  // The hot routes' direct path runs the same front middleware and handlers without Koa's context.
  if (opts.directPath !== false) directParts.set(app, { front: frontMiddleware, routes: directRoutes(routers) });
  return app;
}

/**
 * The routers as one middleware, with a precomputed match: each router is tried only when the
 * request path begins (ASCII case-insensitively, as its routes match) with the literal start of
 * one of its routes — the text before the first parameter, wildcard or optional group — so a
 * request runs the one or two routers that can answer it rather than all ten, each of which would
 * read the host, log a debug line, test every route's pattern and wrap the rest in its
 * allowedMethods (bench/api's profile: ~10 µs of a 1 KiB encrypt). Same answers as
 * `routes()`/`allowedMethods()` per router in order: a router that is skipped could match nothing
 * and so adds nothing to `ctx.matched`, and allowedMethods (the same methods for every router) reads
 * the matches of all routers that ran, so one of them, outermost, answers 405/501/OPTIONS as the
 * innermost of the ten did. A path with a character outside ASCII tries every router.
 *
 * Ahead of that, a POST on one of the {@link directRoutes} (the data plane: `POST
 * /v1/keys/:name/encrypt` and its kind, Vault's `POST /v1/transit/encrypt/:name`) calls the route's
 * handler at once, with the parameter decoded as the router decodes it (issue 14: the router's
 * dispatch, its middleware chain and the allowedMethods frame were ~10% of a 1 KiB encrypt's CPU).
 * Any other spelling (upper case, a trailing slash, an empty parameter) goes the router's way.
 */
export function routeTable(routers: Router[]): Koa.Middleware {
  const table = routers.map((router) => {
    const starts = new Set<string>();
    for (const layer of router.stack) {
      // A pattern given as a RegExp has no literal start: always tried.
      starts.add(typeof layer.path === 'string' ? layer.path.split(/[:*{(\\]/)[0]!.toLowerCase() : '');
    }
    return { routes: router.routes() as Koa.Middleware, starts: [...starts] };
  });
  const allowed = routers[0]!.allowedMethods({ throw: false }) as Koa.Middleware;
  const methods = JSON.stringify(routers[0]!.methods);
  for (const r of routers)
    if (JSON.stringify(r.methods) !== methods) throw new Error('routeTable: every router must allow the same methods');
  const direct = directRoutes(routers);
  const ascii = /^[\x00-\x7f]*$/;
  return function routeTableMiddleware(ctx, next) {
    if (ctx.method === 'POST') {
      const layer = direct.enter(ctx);
      if (layer !== undefined) return (layer.stack[0] as Koa.Middleware)(ctx, next) as Promise<void>;
    }
    const path = ascii.test(ctx.path) ? ctx.path.toLowerCase() : undefined;
    // What every router's routes() leaves when nothing matches: allowedMethods acts on it.
    ctx.matched ??= [];
    const from = (i: number): Promise<void> => {
      for (; i < table.length; i++) {
        const entry = table[i]!;
        if (path === undefined || entry.starts.some((s) => path.startsWith(s)))
          return entry.routes(ctx, () => from(i + 1)) as Promise<void>;
      }
      return next();
    };
    return allowed(ctx, () => from(0));
  };
}

type Layer = Router['stack'][number];

/** What {@link directRoutes}' `enter` reads and sets: Koa's context, or the direct path's (server/direct.ts). */
interface Routable {
  readonly path: string;
  params?: unknown;
  readonly request: object;
}

/** A plain path segment: what our routes' literal segments are made of. */
const LITERAL = /^[a-z0-9._-]+$/;
const PARAM = /^:[A-Za-z_][A-Za-z0-9_]*$/;

/** A route {@link routeTable} may call directly: its path's segments and where its one parameter is. */
interface DirectShape {
  segments: string[];
  at: number;
  name: string;
}

/** The shape of a POST route of literal segments and one `:param`, with one handler and the router's defaults. */
function directShape(router: Router, layer: Layer): DirectShape | undefined {
  const opts = router.opts as Record<string, unknown>;
  if (opts.host !== undefined || opts.routerPath !== undefined || opts.exclusive) return undefined;
  if (typeof layer.path !== 'string' || !layer.methods.includes('POST') || layer.stack.length !== 1) return undefined;
  const lopts = layer.opts as Record<string, unknown>;
  if (lopts.end === false || lopts.ignoreCaptures || lopts.sensitive || lopts.strict) return undefined;
  const segments = layer.path.split('/');
  if (segments[0] !== '') return undefined;
  const params = segments.map((s, i) => (i > 0 && PARAM.test(s) ? i : -1)).filter((i) => i >= 0);
  if (params.length !== 1 || !segments.every((s, i) => i === 0 || i === params[0] || LITERAL.test(s))) return undefined;
  const at = params[0]!;
  const name = segments[at]!.slice(1);
  // The router's own regexp agrees (it captures the parameter, and only it).
  const sample = segments.map((s, i) => (i === at ? 'x' : s)).join('/');
  const captures = layer.captures(sample);
  if (captures.length !== 1 || captures[0] !== 'x' || layer.paramNames.length !== 1) return undefined;
  if (layer.paramNames[0]!.name !== name || layer.paramNames[0]!.type !== 'param') return undefined;
  return { segments, at, name };
}

/**
 * Whether `other`, a layer the router tries before the route of `shape`, could run for a POST on a
 * path of that route. A plain path is compared segment by segment (a parameter matches any
 * segment; literals ASCII case-insensitively); any other pattern (a wildcard, an optional group, a
 * RegExp, a prefix) is probed with the route's path under several parameter values.
 */
function mayOverlap(other: Layer, shape: DirectShape): boolean {
  if (other.methods.length > 0 && !other.methods.includes('POST')) return false;
  const lopts = other.opts as Record<string, unknown>;
  if (typeof other.path === 'string' && lopts.end !== false) {
    const segs = other.path.replace(/(.)\/$/, '$1').split('/');
    if (segs[0] === '' && segs.every((s, i) => i === 0 || PARAM.test(s) || LITERAL.test(s.toLowerCase()))) {
      if (segs.length !== shape.segments.length) return false;
      return segs.every(
        (s, i) => i === shape.at || s.startsWith(':') || s.toLowerCase() === shape.segments[i]!.toLowerCase(),
      );
    }
  }
  const probes = ['x', 'X', '-', '0', 'a.b', '%2F', ...shape.segments.filter((s) => s !== '')];
  return probes.some((p) => other.regexp.test(shape.segments.map((s, i) => (i === shape.at ? p : s)).join('/')));
}

/**
 * The routes {@link routeTable} calls without the router: each POST route of literal segments and
 * one `:param` (with a single handler) such that no layer the router would try before it (an
 * earlier router's, or an earlier one of its own router) could match the same path. Layers after it
 * only run through `next()`, which our handlers never call, and show in `ctx.matched`, which nothing
 * reads once a handler answered (allowedMethods acts only on an unanswered request).
 *
 * `enter(ctx)`: for a path that is exactly such a route's with a non-empty segment in place of the
 * parameter, sets what the router sets (`params`, decoded as @koa/router does, `captures`,
 * `routerPath`, `_matchedRoute`, `matched`) and returns the route's layer; otherwise undefined and
 * nothing is set.
 */
export function directRoutes(routers: Router[]): {
  paths: string[];
  enter(ctx: Routable): Layer | undefined;
} {
  const before: Layer[] = [];
  const byKey = new Map<string, { layer: Layer; name: string }>();
  const positions: number[] = [];
  for (const router of routers)
    for (const layer of router.stack) {
      const shape = directShape(router, layer);
      if (shape && !before.some((other) => mayOverlap(other, shape))) {
        // The path with the parameter's segment empty: `/v1/keys//encrypt`, `/v1/transit/encrypt/`.
        const key = shape.segments.map((s, i) => (i === shape.at ? '' : s)).join('/');
        byKey.set(key, { layer, name: shape.name });
        if (!positions.includes(shape.at)) positions.push(shape.at);
      }
      before.push(layer);
    }
  return {
    paths: [...byKey.values()].map((v) => v.layer.path as string),
    enter(ctx: Routable): Layer | undefined {
      const path = ctx.path;
      for (const at of positions) {
        // The parameter's segment: from after the at-th slash to the next one (or the end).
        let start = 0;
        for (let n = 0; n < at && start >= 0; n++) start = path.indexOf('/', start) + 1 || -1;
        if (start <= 0) continue;
        const slash = path.indexOf('/', start);
        const end = slash < 0 ? path.length : slash;
        if (end === start) continue;
        const hit = byKey.get(path.slice(0, start) + path.slice(end));
        if (hit === undefined) continue;
        const raw = path.slice(start, end);
        const params: Record<string, string> = { ...(ctx.params as Record<string, string> | undefined) };
        params[hit.name] = raw.includes('%') ? safeDecode(raw) : raw;
        const c = ctx as Routable & Record<string, unknown>;
        c.captures = [raw];
        (c.request as Record<string, unknown>).params = params;
        c.params = params;
        c.routerPath = hit.layer.path;
        c._matchedRoute = hit.layer.path;
        c.matched = [hit.layer];
        return hit.layer;
      }
      return undefined;
    },
  };
}

/** As @koa/router decodes a parameter: decodeURIComponent, or the text as it is when that fails. */
function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
