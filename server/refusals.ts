/**
 * Floods and refusals (docs/architecture.md, "Floods and refusals"; docs/audit-bundle.md §2.1): the
 * per-client bound on failed authentication, and the records of requests refused before the
 * pipeline, folded per client and code.
 *
 * - **Failed authentication** (missing, malformed, unknown, revoked or expired token) takes a token
 *   from the client's bucket (server/rate-limit.ts; default burst 20, 5 per second). A client whose
 *   bucket is empty is answered 429 RATE_LIMITED with `Retry-After` before the token lookup, so
 *   before any database work, whatever token it sends, until the bucket refills.
 * - **Refusals before the pipeline** (a body that is not JSON or does not validate, a wrong media
 *   type, a body too large, a method or route that does not exist, the ceremony rate limit): any
 *   error answer of a request that never reached the pipeline or a ceremony step.
 * - **Folding.** Within one fold interval (default 10 s), the first refusal of a (client address,
 *   code) pair is recorded as it happens (a failed authentication by the pipeline, as any failure;
 *   a pre-pipeline refusal as a `request.refused` record); the ones after it are only counted, and
 *   at the interval's end each pair with a count writes ONE `request.refused.folded` record (client,
 *   code, count, first and last time). Pairs past {@link DEFAULT_FOLD_KEYS} in one interval are
 *   counted together under client `*`, so the records per interval are bounded whatever the number
 *   of addresses. Folded counts are flushed at close and when the HSM seals too.
 *
 * A folded count is written after the answers it counts: a crash loses at most one interval's
 * counts, never a record of a request that was served. Secrets never reach these records (the
 * token of a failed authentication is only in the first record, as its keyed HMAC).
 * @module
 */
import type { Context, Next } from 'koa';
import type { Hsm, RefusalRecord } from '../engine/hsm.js';
import type { AuthFailureGuard } from '../engine/pipeline.js';
import type { AuditRecord } from '../engine/audit/math/record.js';
import { KeywardError } from '../lib/errors.js';
import type { Logger } from './log.js';
import type { HotContext } from './direct.js';
import { TokenBuckets } from './rate-limit.js';
import type { RateLimitOptions } from './rate-limit.js';

/** Failed authentications a client may make: a burst of 20, then 5 a second. */
export const DEFAULT_AUTH_FAILURE_RATE: RateLimitOptions = { burst: 20, perMinute: 300 };
/** The fold interval, ms. */
export const DEFAULT_FOLD_MS = 10_000;
/** Most (client, code) pairs counted apart in one interval; the rest count under client `*`. */
export const DEFAULT_FOLD_KEYS = 1024;

export interface RefusalOptions {
  /** The bucket of failed authentications per client. */
  authFailureRate?: RateLimitOptions;
  /** The fold interval in ms; 0 records every refusal on its own (no folding). */
  foldMs?: number;
  /** Most (client, code) pairs counted apart in one interval. */
  foldKeys?: number;
  /** The clock, ms (tests inject one). */
  now?: () => number;
  /** Most clients with an auth-failure bucket. */
  maxClients?: number;
}

/** Where records go: the Hsm's audit log (engine/hsm.ts recordRefusal). */
export type RefusalSink = (r: RefusalRecord) => Promise<void>;

interface Fold {
  client: string;
  code: string;
  status: number;
  /** Refusals counted after the interval's first (which was recorded on its own). */
  count: number;
  first: number;
  last: number;
  bytes: number;
}

const CODE_RE = /^[A-Z][A-Z0-9_]{0,63}$/;
/** Answers that are not refusals of the request: the HSM's state, which the pipeline does not record either. */
const NOT_REFUSALS = new Set(['SEALED', 'NOT_INITIALIZED']);

const apps = new WeakMap<object, Refusals>();

/** The refusals of an app built by createApp (server/app.ts), to close it with the server. */
export function refusalsOf(app: object): Refusals | undefined {
  return apps.get(app);
}

export class Refusals {
  readonly #sink: RefusalSink;
  readonly #now: () => number;
  readonly #foldMs: number;
  readonly #foldKeys: number;
  readonly #buckets: TokenBuckets;
  readonly #table = new Map<string, Fold>();
  readonly #writes = new Set<Promise<void>>();
  readonly #timer: ReturnType<typeof setInterval> | undefined;
  #onError: (err: unknown) => void = () => undefined;

  constructor(sink: RefusalSink, opts: RefusalOptions = {}) {
    const foldMs = opts.foldMs ?? DEFAULT_FOLD_MS;
    if (!(Number.isSafeInteger(foldMs) && foldMs >= 0))
      throw new RangeError(`expected foldMs to be an integer ≥ 0, got ${foldMs}`);
    this.#sink = sink;
    this.#now = opts.now ?? Date.now;
    this.#foldMs = foldMs;
    this.#foldKeys = opts.foldKeys ?? DEFAULT_FOLD_KEYS;
    this.#buckets = new TokenBuckets(opts.authFailureRate ?? DEFAULT_AUTH_FAILURE_RATE, this.#now, opts.maxClients);
    if (foldMs > 0) {
      this.#timer = setInterval(() => void this.flush(), foldMs);
      this.#timer.unref();
    }
  }

  /** Where write failures go (the server's log). */
  set onError(fn: (err: unknown) => void) {
    this.#onError = fn;
  }

  /** Pairs counted in this interval (bounded by foldKeys plus one `*` pair per code). */
  get pending(): number {
    return this.#table.size;
  }

  /** Refuses a client that failed authentication too often: RATE_LIMITED with `retryAfter`. */
  admit(client: string): void {
    const retryAfter = this.#buckets.peek(client);
    if (retryAfter !== undefined) throw rateLimited(retryAfter);
  }

  /**
   * The pipeline's guard for one request from `client` (engine/pipeline.ts AuthFailureGuard). A
   * client with failures behind it (a bucket not full) sets a token aside at admission, kept if the
   * authentication fails and given back if it succeeds, so that concurrent requests can't all pass
   * on the last token; a client with a full bucket passes freely (at most one wave of concurrent
   * requests beyond the burst).
   */
  guard(client: string): AuthFailureGuard {
    let reserved = false;
    const release = () => {
      if (reserved) this.#buckets.refund(client);
      reserved = false;
    };
    return {
      admit: () => {
        const r = this.#buckets.reserve(client);
        if (r.retryAfter !== undefined) throw rateLimited(r.retryAfter);
        reserved = r.reserved;
      },
      passed: release,
      fold: (rec: AuditRecord) => {
        if (rec.code === 'UNAUTHENTICATED') {
          if (!reserved) this.#buckets.take(client);
          reserved = false;
        } else {
          release();
          if (rec.code !== 'RATE_LIMITED') return false;
        }
        if (this.#count(client, rec.code, rec.status, rec.sizes.in)) return true;
        rec.details = { ...rec.details, client };
        return false;
      },
    };
  }

  /**
   * A request refused before the pipeline: the interval's first of its (client, code) is recorded
   * now (resolves once durable, or once the failure to write it is logged), the rest are counted.
   */
  async refused(r: {
    client: string;
    code: string;
    status: number;
    requestId: string | undefined;
    method: string;
    bytesIn: number;
  }): Promise<void> {
    if (this.#count(r.client, r.code, r.status, r.bytesIn)) return;
    await this.#write({
      operation: 'request.refused',
      time: new Date(this.#now()),
      requestId: r.requestId,
      status: r.status,
      code: r.code,
      bytesIn: r.bytesIn,
      details: { client: r.client, method: r.method },
    });
  }

  /** Counts a refusal: true when folded (counted), false when it is the interval's first (record it). */
  #count(client: string, code: string, status: number, bytes: number): boolean {
    if (this.#foldMs === 0) return false;
    let key = `${code} ${client}`;
    let e = this.#table.get(key);
    if (!e && this.#table.size >= this.#foldKeys) {
      key = `${code} *`;
      e = this.#table.get(key);
      client = '*';
    }
    if (!e) {
      this.#table.set(key, { client, code, status, count: 0, first: 0, last: 0, bytes: 0 });
      return false;
    }
    const t = this.#now();
    if (e.count === 0) e.first = t;
    e.count += 1;
    e.last = t;
    e.bytes = Math.min(e.bytes + bytes, Number.MAX_SAFE_INTEGER);
    return true;
  }

  /** Ends the interval: one folded record per pair with a count; resolves once they are written. */
  async flush(): Promise<void> {
    const folds = [...this.#table.values()].filter((e) => e.count > 0);
    this.#table.clear();
    const time = new Date(this.#now());
    await Promise.all(
      folds.map((e) =>
        this.#write({
          operation: 'request.refused.folded',
          time,
          requestId: undefined,
          status: e.status,
          code: e.code,
          bytesIn: e.bytes,
          details: {
            client: e.client,
            count: e.count,
            first: new Date(e.first).toISOString(),
            last: new Date(e.last).toISOString(),
            intervalMs: this.#foldMs,
          },
        }),
      ),
    );
  }

  /** Writes one record; a failure goes to onError (a refusal stays refused whatever happens to its record). */
  #write(r: RefusalRecord): Promise<void> {
    const p = this.#sink(r).catch((err: unknown) => this.#onError(err));
    this.#writes.add(p);
    return p.finally(() => this.#writes.delete(p));
  }

  /** Stops the timer and writes what is counted (graceful shutdown). */
  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    await this.flush();
    await Promise.all([...this.#writes]);
  }

  /**
   * The middleware, outside the error handler: hands caller() (server/auth.ts) this object, and
   * records an error answer of a request that never reached the pipeline or a ceremony step.
   */
  middleware() {
    return async (ctx: Context, next: Next): Promise<void> => {
      ctx.state.refusals = this;
      await next();
      const after = this.after(ctx);
      if (after) await after;
    };
  }

  /**
   * What {@link middleware} does once the request is answered (the app's front middleware calls it
   * itself): a refusal (a 4xx/5xx whose code is one, not audited by the pipeline) is counted or
   * recorded; undefined, without a promise, for everything else.
   */
  after(ctx: HotContext): Promise<void> | undefined {
    const code: unknown = ctx.state.errorCode;
    if (ctx.status < 400 || ctx.state.audited === true) return undefined;
    if (typeof code !== 'string' || !CODE_RE.test(code) || NOT_REFUSALS.has(code)) return undefined;
    const length = ctx.get('content-length');
    return this.refused({
      client: clientOf(ctx),
      code,
      status: ctx.status,
      requestId: typeof ctx.state.reqId === 'string' ? ctx.state.reqId : undefined,
      method: ctx.method,
      bytesIn: /^\d{1,15}$/.test(length) ? Number(length) : 0,
    });
  }
}

function rateLimited(retryAfter: number): KeywardError {
  return new KeywardError(
    'RATE_LIMITED',
    `too many failed authentications from this address; retry in ${retryAfter} s`,
    {
      details: { retryAfter },
    },
  );
}

/** The client's address as the refusals key it (the TCP peer: the app does not trust proxy headers). */
export function clientOf(ctx: HotContext): string {
  return ctx.ip || 'unknown';
}

/** Builds the refusals of an app over `hsm`, flushed when the HSM seals; `refusalsOf(app)` finds it. */
export function appRefusals(app: object, hsm: Hsm, log: Logger, opts: RefusalOptions): Refusals {
  const refusals = new Refusals((r) => hsm.recordRefusal(r), opts);
  refusals.onError = (err) =>
    log.error('refusal record', {
      code: (err as { code?: string }).code,
      error: err instanceof Error ? err.message.slice(0, 300) : String(err),
    });
  hsm.seal.onSeal(() => void refusals.flush());
  apps.set(app, refusals);
  return refusals;
}
