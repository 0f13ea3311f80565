/**
 * Per-client token buckets (docs/architecture.md, "Floods and refusals"): the unauthenticated
 * ceremony endpoints (init, unseal, rekey submissions) take one token per request, so a client can't
 * grind submissions or flood the session; failed authentication takes one per failure
 * (server/refusals.ts). Buckets are in memory per node.
 *
 * The bucket map has a hard bound: it is kept in least-recently-used order (a Map's insertion order,
 * re-inserted on use), and a new client past the bound evicts the oldest one, so memory is bounded
 * and each request costs O(1) whatever the number of addresses. An evicted client starts again with
 * a full bucket: an attacker who can cycle through more addresses than the bound gets a burst per
 * address, which is what any number of addresses gives them anyway.
 * @module
 */
import type { Context, Next } from 'koa';
import { KeywardError } from '../lib/errors.js';

export interface RateLimitOptions {
  /** Burst size: requests a client may make at once. */
  burst: number;
  /** Sustained rate, requests per minute. */
  perMinute: number;
}

export const DEFAULT_CEREMONY_RATE: RateLimitOptions = { burst: 20, perMinute: 60 };
/** Most clients whose buckets are kept (the least recently seen is evicted past it). */
export const MAX_CLIENTS = 10_000;

/** A bounded set of per-client token buckets, in least-recently-used order. */
export class TokenBuckets {
  readonly #opts: RateLimitOptions;
  readonly #perMs: number;
  readonly #now: () => number;
  readonly #max: number;
  readonly #buckets = new Map<string, { tokens: number; at: number }>();

  constructor(opts: RateLimitOptions, now: () => number = Date.now, maxClients = MAX_CLIENTS) {
    if (!(opts.burst >= 1 && opts.perMinute > 0))
      throw new RangeError(
        `expected a burst ≥ 1 and a rate > 0 per minute, got burst ${opts.burst}, ${opts.perMinute}/min`,
      );
    if (!(Number.isSafeInteger(maxClients) && maxClients >= 1))
      throw new RangeError(`expected maxClients to be a positive integer, got ${maxClients}`);
    this.#opts = opts;
    this.#perMs = opts.perMinute / 60_000;
    this.#now = now;
    this.#max = maxClients;
  }

  /** Clients with a bucket now (never more than the bound). */
  get size(): number {
    return this.#buckets.size;
  }

  /** Takes a token from `client`'s bucket: undefined when taken, else the seconds until one is there. */
  take(client: string): number | undefined {
    const b = this.#refill(client);
    if (b.tokens < 1) return this.#retryAfter(b.tokens);
    b.tokens -= 1;
    return undefined;
  }

  /** Whether `client` has a token, without taking it: undefined when it has, else the seconds until it will. */
  peek(client: string): number | undefined {
    const b = this.#buckets.get(client);
    if (!b) return undefined;
    const tokens = Math.min(this.#opts.burst, b.tokens + (this.#now() - b.at) * this.#perMs);
    return tokens < 1 ? this.#retryAfter(tokens) : undefined;
  }

  #retryAfter(tokens: number): number {
    return Math.max(1, Math.ceil((1 - tokens) / this.#perMs / 1000));
  }

  /** The client's bucket, refilled to now and moved to the most recently used end. */
  #refill(client: string): { tokens: number; at: number } {
    const t = this.#now();
    let b = this.#buckets.get(client);
    if (b) {
      this.#buckets.delete(client);
      b.tokens = Math.min(this.#opts.burst, b.tokens + (t - b.at) * this.#perMs);
      b.at = t;
    } else {
      if (this.#buckets.size >= this.#max) {
        // The least recently used client is the Map's first key: O(1).
        const oldest = this.#buckets.keys().next();
        if (!oldest.done) this.#buckets.delete(oldest.value);
      }
      b = { tokens: this.#opts.burst, at: t };
    }
    this.#buckets.set(client, b);
    return b;
  }
}

/** Koa middleware: one token per request from `ctx.ip`, else 429 RATE_LIMITED with `retryAfter`. */
export function rateLimit(opts: RateLimitOptions, now: () => number = Date.now, maxClients = MAX_CLIENTS) {
  const buckets = new TokenBuckets(opts, now, maxClients);
  return async function limit(ctx: Context, next: Next): Promise<void> {
    const retryAfter = buckets.take(ctx.ip || 'unknown');
    if (retryAfter !== undefined) {
      throw new KeywardError('RATE_LIMITED', `too many ceremony requests from this address; retry in ${retryAfter} s`, {
        details: { retryAfter },
      });
    }
    await next();
  };
}
