/**
 * Per-client token buckets for the unauthenticated ceremony endpoints (init, unseal, rekey
 * submissions), so a client can't grind submissions or flood the session. Buckets are in memory per
 * node and swept when idle.
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
const MAX_CLIENTS = 10_000;

export function rateLimit(opts: RateLimitOptions, now: () => number = Date.now) {
  const buckets = new Map<string, { tokens: number; at: number }>();
  const perMs = opts.perMinute / 60_000;
  return async function limit(ctx: Context, next: Next): Promise<void> {
    const t = now();
    const key = ctx.ip || 'unknown';
    let b = buckets.get(key);
    if (!b) {
      if (buckets.size >= MAX_CLIENTS) {
        for (const [k, v] of buckets) if (v.tokens + (t - v.at) * perMs >= opts.burst) buckets.delete(k);
      }
      b = { tokens: opts.burst, at: t };
      buckets.set(key, b);
    }
    b.tokens = Math.min(opts.burst, b.tokens + (t - b.at) * perMs);
    b.at = t;
    if (b.tokens < 1) {
      const retryAfter = Math.max(1, Math.ceil((1 - b.tokens) / perMs / 1000));
      throw new KeywardError('RATE_LIMITED', `too many ceremony requests from this address; retry in ${retryAfter} s`, {
        details: { retryAfter },
      });
    }
    b.tokens -= 1;
    await next();
  };
}
