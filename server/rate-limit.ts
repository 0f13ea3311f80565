/**
 * Per-client token buckets (docs/architecture.md, "Floods and refusals"): the unauthenticated
 * ceremony endpoints (init, unseal, rekey submissions) take one token per request, so a client can't
 * grind submissions or flood the session; failed authentication takes one per failure
 * (server/refusals.ts). Buckets are in memory per node.
 *
 * The buckets have a hard bound: they are kept in least-recently-used order (a doubly linked list
 * beside the Map; not the Map's own order, since evicting from a Map's front leaves holes its
 * iterators skip one by one until it rehashes), and a new client past the bound evicts the least
 * recently used, so memory is bounded and each request costs O(1) whatever the number of addresses. An evicted client starts again with
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
  readonly #buckets = new Map<string, Bucket>();
  /** Least recently used end of the list. */
  #oldest: Bucket | undefined;
  /** Most recently used end. */
  #newest: Bucket | undefined;

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

  /**
   * For a request that takes a token only if it fails (server/refusals.ts): a client whose bucket is
   * full (or who has none) is let through without taking one; any other takes one now, so concurrent
   * requests can't all pass on the same last token; {@link refund} gives it back when the request
   * did not fail. `retryAfter` when refused.
   */
  reserve(client: string): { reserved: boolean; retryAfter?: number } {
    const b = this.#buckets.get(client);
    if (!b || Math.min(this.#opts.burst, b.tokens + (this.#now() - b.at) * this.#perMs) >= this.#opts.burst)
      return { reserved: false };
    const retryAfter = this.take(client);
    return retryAfter === undefined ? { reserved: true } : { reserved: false, retryAfter };
  }

  /** Gives back a token {@link reserve} took. */
  refund(client: string): void {
    const b = this.#buckets.get(client);
    if (b) b.tokens = Math.min(this.#opts.burst, b.tokens + 1);
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
  #refill(client: string): Bucket {
    const t = this.#now();
    let b = this.#buckets.get(client);
    if (b) {
      this.#unlink(b);
      b.tokens = Math.min(this.#opts.burst, b.tokens + (t - b.at) * this.#perMs);
      b.at = t;
    } else {
      if (this.#buckets.size >= this.#max && this.#oldest) {
        const evicted = this.#oldest;
        this.#unlink(evicted);
        this.#buckets.delete(evicted.client);
      }
      b = { client, tokens: this.#opts.burst, at: t, prev: undefined, next: undefined };
      this.#buckets.set(client, b);
    }
    b.prev = this.#newest;
    if (this.#newest) this.#newest.next = b;
    else this.#oldest = b;
    this.#newest = b;
    return b;
  }

  #unlink(b: Bucket): void {
    if (b.prev) b.prev.next = b.next;
    else this.#oldest = b.next;
    if (b.next) b.next.prev = b.prev;
    else this.#newest = b.prev;
    b.prev = b.next = undefined;
  }
}

interface Bucket {
  client: string;
  tokens: number;
  at: number;
  /** Toward the least recently used end. */
  prev: Bucket | undefined;
  /** Toward the most recently used end. */
  next: Bucket | undefined;
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
