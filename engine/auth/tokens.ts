/**
 * Bearer tokens: 256 random bits, shown once, stored only as a domain-separated SHA-256 hash (an
 * unkeyed hash is fine for a full-entropy secret; it would not be for a low-entropy one).
 *
 *   token = "kwt_" ‖ base64url(32 random bytes)          (47 characters)
 *   id    = "tok_" ‖ hex(8 random bytes)                  (public handle for revoke and audit)
 *   hash  = SHA-256("keyward/token/v1" ‖ 0x00 ‖ token)
 *
 * Bearer tokens are looked up by that hash whatever their form, so a dev root token chosen by the
 * user (`keyward server --dev --dev-root-token root`, as `vault server -dev -dev-root-token-id=root`)
 * authenticates like any other: any 1-1024 visible ASCII characters, what an `Authorization: Bearer`
 * header can carry. Only dev mode sets such a token; its hash is as guessable as the token itself,
 * which is why the CLI warns when it is not Keyward's own form. Issued tokens are always `kwt_`.
 *
 * Token lifetime: `ttlSeconds`, default DEFAULT_TOKEN_TTL_SECONDS (24 h) when a caller of
 * `POST /v1/auth/tokens` gives none, at most MAX_TOKEN_TTL_SECONDS; only the root token never expires.
 * @module
 */
import { createHash, randomBytes } from 'node:crypto';
import { KeywardError } from '../../lib/errors.js';
import type { CommitScope, Db } from '../store/index.js';
import { STORAGE_DEADLINE_MS_DEFAULT, withDeadline } from '../store/deadline.js';
import { SharedReads } from '../store/shared-reads.js';
import { findTokenByHash, insertToken, revokeToken as revokeTokenRow, writeTransaction } from '../store/index.js';

export const TOKEN_PREFIX = 'kwt_';
const TOKEN_RE = /^kwt_[A-Za-z0-9_-]{43}$/;
/** What a bearer token may be: visible ASCII (no spaces or controls), as an HTTP header carries it. */
const BEARER_RE = /^[\x21-\x7e]{1,1024}$/;
export const BEARER_TOKEN_FORM =
  '1-1024 visible ASCII characters without spaces (it travels as Authorization: Bearer <token>)';
export const ROLES = ['admin', 'operator', 'app', 'auditor'] as const;
export type Role = (typeof ROLES)[number];
/** The longest a token may live: one year. */
export const MAX_TOKEN_TTL_SECONDS = 365 * 24 * 3600;
/**
 * How long a token lives when `POST /v1/auth/tokens` names no `ttl`: 24 hours. Shorter than Vault's
 * 768 h system default on purpose: a bearer secret that was forgotten (in a shell history, a CI
 * log) stops working within a day, and it is the default `keyward token create --ttl` always had.
 * Callers that want longer say so (`"ttl": "768h"`, up to a year).
 */
export const DEFAULT_TOKEN_TTL_SECONDS = 24 * 3600;

export interface Principal {
  tokenId: string;
  principal: string;
  roles: string[];
  expiresAt: Date | null;
}

export interface IssuedToken extends Principal {
  /** The bearer secret: returned once, never stored. */
  token: string;
}

const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86400 } as const;

/** Seconds from a TTL given as whole seconds or "90s" / "15m" / "24h" / "7d"; at most a year. */
export function ttlSeconds(ttl: number | string): number {
  const secs =
    typeof ttl === 'number' ? ttl : Number(ttl.slice(0, -1)) * UNIT_SECONDS[ttl.slice(-1) as keyof typeof UNIT_SECONDS];
  if (!Number.isSafeInteger(secs) || secs < 1 || secs > MAX_TOKEN_TTL_SECONDS) {
    throw new KeywardError(
      'VALIDATION_FAILED',
      `ttl: expected 1 second to ${MAX_TOKEN_TTL_SECONDS / 86400} days, got ${ttl}`,
    );
  }
  return secs;
}

/** True for Keyward's own token form (`kwt_` + 43 base64url characters). */
export function isKeywardToken(token: string): boolean {
  return TOKEN_RE.test(token);
}

/** Throws TOKEN_INVALID unless `token` can be a bearer token (BEARER_TOKEN_FORM). */
export function assertBearerToken(token: string): void {
  if (typeof token !== 'string' || !BEARER_RE.test(token))
    throw new KeywardError('TOKEN_INVALID', `expected a token of ${BEARER_TOKEN_FORM}`);
}

const TOKEN_HASH_PREFIX = 'keyward/token/v1\0';

export function hashToken(token: string): Uint8Array {
  return new Uint8Array(createHash('sha256').update(TOKEN_HASH_PREFIX).update(token).digest());
}

/** A fresh token id (`tok_` and 16 hex digits): public, it names the token in lists and audit records. */
export function newTokenId(): string {
  return 'tok_' + randomBytes(8).toString('hex');
}

/**
 * Issues a token for `principal` with `roles`; `ttlSeconds` undefined means no expiry (root token).
 * `token` fixes the secret (dev mode's chosen root token): any bearer-safe string (assertBearerToken).
 */
export async function issueToken(
  db: Db,
  opts: {
    principal: string;
    roles: string[];
    ttlSeconds?: number;
    createdBy?: string;
    now: Date;
    token?: string;
    id?: string;
    commit?: CommitScope | undefined;
  },
): Promise<IssuedToken> {
  const token = opts.token ?? TOKEN_PREFIX + randomBytes(32).toString('base64url');
  assertBearerToken(token);
  const id = opts.id ?? newTokenId();
  const expiresAt = opts.ttlSeconds === undefined ? null : new Date(opts.now.getTime() + opts.ttlSeconds * 1000);
  await writeTransaction(
    db,
    opts.commit,
    (tx) =>
      insertToken(tx, {
        id,
        tokenHash: hashToken(token),
        principal: opts.principal,
        roles: opts.roles,
        createdAt: opts.now,
        expiresAt,
        createdBy: opts.createdBy ?? null,
      }),
    {
      tokenId: id,
      tokenPrincipal: opts.principal,
      roles: opts.roles.join(','),
      expiresAt: expiresAt?.toISOString() ?? null,
    },
  );
  return { tokenId: id, token, principal: opts.principal, roles: [...opts.roles], expiresAt };
}

/** Resolves a bearer token to its principal, or throws UNAUTHENTICATED (never echoing the token). */
export async function authenticateToken(db: Db, bearer: string | undefined, now: Date): Promise<Principal> {
  if (!bearer) throw new KeywardError('UNAUTHENTICATED', 'missing token: send Authorization: Bearer <token>');
  // Looked up by hash whatever its form (a dev root token may be any string); only what no header could carry is refused unread.
  if (!BEARER_RE.test(bearer))
    throw new KeywardError('UNAUTHENTICATED', `malformed token: expected ${BEARER_TOKEN_FORM}`);
  const row = await findTokenByHash(db, hashToken(bearer));
  if (!row || row.revokedAt) throw new KeywardError('UNAUTHENTICATED', 'unknown or revoked token');
  if (row.expiresAt && row.expiresAt.getTime() <= now.getTime())
    throw new KeywardError('UNAUTHENTICATED', 'token expired');
  return { tokenId: row.id, principal: row.principal, roles: row.roles as string[], expiresAt: row.expiresAt };
}

export async function revokeToken(db: Db, id: string, now: Date, commit?: CommitScope): Promise<void> {
  // Thrown inside the transaction, so a revocation that changed nothing leaves no success record.
  await writeTransaction(
    db,
    commit,
    async (tx) => {
      if (!(await revokeTokenRow(tx, id, now))) throw new KeywardError('TOKEN_NOT_FOUND', `no token with id ${id}`);
    },
    { tokenId: id },
  );
}

/** How long a node trusts a token row it read: a revocation on another node takes effect within this. */
export const TOKEN_CACHE_TTL_MS = 1000;
export const TOKEN_CACHE_MAX = 10_000;

/**
 * `authenticateToken` with a short per-node cache of valid token rows: without it every request pays
 * a database round trip before anything else (measured by bench/api: about two thirds of an
 * encrypt's engine time on PGlite). Expiry is checked on every use; this node's revocations evict at
 * once; other nodes' take effect within TOKEN_CACHE_TTL_MS, as the policy bindings cache does.
 * Unknown and revoked tokens are never cached. Cleared on seal.
 *
 * Keyed by the bearer string itself, not its SHA-256 (issue 14: hashing it on every request was ~1%
 * of an encrypt's CPU). The process holds the bearer of each request anyway while it runs; here a
 * valid one stays until the first database lookup (of any token) after its TTL, which drops every
 * stale entry (the map is in lookup order), or until an unref'd sweeper drops it about one TTL later
 * on a node with no lookups; at most TOKEN_CACHE_MAX of them; never written anywhere
 * (logs, records, errors), and dropped on seal and on this node's revocation as before. The
 * database still stores only the hash.
 */
export class TokenAuthenticator {
  readonly #db: Db;
  readonly #ttlMs: number;
  readonly #max: number;
  readonly #deadlineMs: number;
  readonly #cache = new Map<string, { principal: Principal; fetched: number }>();
  /**
   * The lookups in flight, by bearer (engine/store/shared-reads.ts): requests that miss the cache
   * meanwhile await the same lookup instead of each sending their own. Its outcome, a failure
   * included (unknown, revoked, storage down), reaches those who joined and is kept no longer than
   * the lookup runs. clear() and this node's revocations drop them all: a request after one never
   * joins a lookup from before it, and such a lookup caches nothing (a seal during the await would
   * otherwise put the bearer back after clearing, and a lookup that read a row just before its
   * revocation committed would re-cache it after the eviction). At most `max` are shared: a bearer
   * is anyone's to choose, before they are authenticated.
   */
  readonly #reads: SharedReads<string, Principal>;
  /** Drops stale entries once the TTL has passed with no lookup (an idle node holds no bearer for long); unref'd. */
  #sweeper: NodeJS.Timeout | undefined;

  /** `deadlineMs`: the budget of each database lookup (default STORAGE_DEADLINE_MS_DEFAULT, engine/store/deadline.ts). */
  constructor(db: Db, opts: { ttlMs?: number; max?: number; deadlineMs?: number } = {}) {
    this.#db = db;
    this.#ttlMs = opts.ttlMs ?? TOKEN_CACHE_TTL_MS;
    this.#max = opts.max ?? TOKEN_CACHE_MAX;
    this.#deadlineMs = opts.deadlineMs ?? STORAGE_DEADLINE_MS_DEFAULT;
    this.#reads = new SharedReads({ what: 'the token lookup', deadlineMs: this.#deadlineMs, max: this.#max });
  }

  async authenticate(bearer: string | undefined, now: Date): Promise<Principal> {
    const hit = this.cached(bearer, now);
    if (hit) return hit;
    if (!bearer || !BEARER_RE.test(bearer)) return authenticateToken(this.#db, bearer, now); // refused unread
    // Neither cached nor shared, but under the storage deadline all the same: the pipeline adds none.
    if (this.#ttlMs <= 0)
      return withDeadline(authenticateToken(this.#db, bearer, now), this.#deadlineMs, 'the token lookup');
    const joined = this.#reads.joined(bearer);
    if (joined) {
      const principal = await joined;
      // The read checked expiry at its own time, which may be before this request's.
      if (principal.expiresAt && principal.expiresAt.getTime() <= now.getTime())
        throw new KeywardError('UNAUTHENTICATED', 'token expired');
      return principal;
    }
    this.#cache.delete(bearer); // read again, it goes last: the map stays in the order its entries were read
    return this.#reads.start(
      bearer,
      () => authenticateToken(this.#db, bearer, now),
      (principal) => this.#keep(bearer, principal),
    );
  }

  /** Caches a principal its lookup brought, dropping what went stale (and the oldest at `max`). */
  #keep(bearer: string, principal: Principal): void {
    const fetched = performance.now();
    this.#sweep(fetched);
    if (this.#cache.size >= this.#max) this.#cache.delete(this.#cache.keys().next().value!);
    this.#cache.set(bearer, { principal, fetched });
    this.#sweeper ??= setTimeout(() => this.#swept(), this.#ttlMs).unref();
  }

  /** Drops the entries read a TTL or more before `now`: they lead, as the map is in the order they were read. */
  #sweep(now: number): void {
    for (const [k, v] of this.#cache) {
      if (now - v.fetched < this.#ttlMs) break;
      this.#cache.delete(k);
    }
  }

  /** The sweeper's turn: drop what went stale, and come back while anything is held. */
  #swept(): void {
    this.#sweeper = undefined;
    this.#sweep(performance.now());
    if (this.#cache.size > 0) this.#sweeper = setTimeout(() => this.#swept(), this.#ttlMs).unref();
  }

  /**
   * The principal of a token this node read within the TTL, without I/O (the request path asks this
   * first, so a hit costs no promise, timer or database call); undefined when it must be looked up.
   * A cached token that has expired since is UNAUTHENTICATED at once.
   */
  cached(bearer: string | undefined, now: Date): Principal | undefined {
    // Only well-formed bearers are ever stored (authenticate), so a lookup needs no form check: a
    // string that is not one misses.
    if (!bearer || this.#ttlMs <= 0 || this.#cache.size === 0) return undefined;
    const hit = this.#cache.get(bearer);
    if (!hit || performance.now() - hit.fetched >= this.#ttlMs) return undefined;
    if (hit.principal.expiresAt && hit.principal.expiresAt.getTime() <= now.getTime())
      throw new KeywardError('UNAUTHENTICATED', 'token expired');
    return hit.principal;
  }

  /** Revokes a token and drops it from this node's cache at once. */
  async revoke(id: string, now: Date, commit?: CommitScope): Promise<void> {
    await revokeToken(this.#db, id, now, commit);
    this.#reads.clear(); // which bearer an in-flight lookup will find to be `id` is not known yet
    for (const [k, v] of this.#cache) if (v.principal.tokenId === id) this.#cache.delete(k);
  }

  clear(): void {
    this.#cache.clear();
    this.#reads.clear();
    clearTimeout(this.#sweeper);
    this.#sweeper = undefined;
  }

  /** Tokens held (tests). */
  get size(): number {
    return this.#cache.size;
  }

  /** Lookups in flight (tests). */
  get inFlight(): number {
    return this.#reads.size;
  }
}
