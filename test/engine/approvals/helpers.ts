/**
 * ApprovalService under test: a real store (PGlite, or PostgreSQL with KEYWARD_TEST_DRIVER) with an
 * unsealed barrier for the kept bodies, a clock the test moves, an HMAC-SHA256 digest computed with
 * node:crypto (so the test can recompute it independently), and records of every sealBody/openBody
 * call. Principals and groups are fresh per test (`fresh`), so tests sharing a store don't see each
 * other's approvals.
 * @module
 */
import { createHmac, randomBytes } from 'node:crypto';
import { ApprovalService, canonicalBody } from '../../../engine/approvals/index.js';
import type { Actor, ApprovalServiceOptions, PendingApproval, RequestOrigin } from '../../../engine/approvals/index.js';
import type { Unsealed } from '../keys/helpers.js';

export { code } from '../keys/helpers.js';

export const HMAC_KEY = randomBytes(32);
/** The digest the service is given (and the test recomputes). */
export const hmac = (canonical: string): string => createHmac('sha256', HMAC_KEY).update(canonical).digest('hex');

/** A moving clock: `tick` advances it (1 ms by default), so approval ids sort by creation. */
export class Clock {
  ms = Date.parse('2026-03-01T00:00:00Z');
  now = (): Date => new Date(this.ms);
  tick(ms = 1): Date {
    this.ms += ms;
    return this.now();
  }
}

export interface BodyCalls {
  sealed: Array<{ path: string; text: string }>;
  opened: Array<{ path: string; blob: Uint8Array }>;
}

/** A service over `u`'s store; sealBody/openBody go through the real barrier and are recorded. */
export function makeService(
  u: Unsealed,
  clock: Clock,
  opts: { ttlMs?: number; onExpired?: ApprovalServiceOptions['onExpired']; keepBodies?: boolean } = {},
): { svc: ApprovalService; calls: BodyCalls } {
  const calls: BodyCalls = { sealed: [], opened: [] };
  const svc = new ApprovalService(u.store.db, {
    now: clock.now,
    digest: hmac,
    ...(opts.ttlMs !== undefined ? { ttlMs: opts.ttlMs } : {}),
    ...(opts.onExpired ? { onExpired: opts.onExpired } : {}),
    ...(opts.keepBodies === false
      ? {}
      : {
          sealBody: (path: string, canonical: Uint8Array) => {
            calls.sealed.push({ path, text: new TextDecoder().decode(canonical) });
            return u.seal.barrier.encrypt(path, canonical);
          },
          openBody: (path: string, blob: Uint8Array) => {
            calls.opened.push({ path, blob });
            return u.seal.barrier.decrypt(path, blob);
          },
        }),
  });
  return { svc, calls };
}

/** Fresh principals and an approver group for one test. */
export function fresh(): {
  group: string;
  requester: Actor;
  a1: Actor;
  a2: Actor;
  a3: Actor;
  stranger: Actor;
  admin: Actor;
} {
  const t = randomBytes(4).toString('hex');
  const group = `approvers-${t}`;
  return {
    group,
    requester: { principal: `req-${t}`, roles: ['operator', group] },
    a1: { principal: `a1-${t}`, roles: [group] },
    a2: { principal: `a2-${t}`, roles: ['operator', group] },
    a3: { principal: `a3-${t}`, roles: [group] },
    stranger: { principal: `stranger-${t}`, roles: ['operator'] },
    admin: { principal: `admin-${t}`, roles: ['admin'] },
  };
}

export const ORIGIN: RequestOrigin = {
  method: 'DELETE',
  path: '/v1/keys/orders?force=true',
  body: { reason: 'rotation done', n: 1 },
};

/** Parks a request like the pipeline does (key deletion, 2 approvals). */
export function park(
  svc: ApprovalService,
  clock: Clock,
  requester: Actor,
  group: string,
  over: Partial<{ origin: RequestOrigin; required: number; operation: string; key: string | null }> = {},
): Promise<PendingApproval> {
  clock.tick();
  const origin = over.origin ?? ORIGIN;
  return svc.create({
    requester: requester.principal,
    operation: over.operation ?? 'key.delete',
    key: over.key === undefined ? 'orders' : over.key,
    origin,
    canonical: canonicalBody(origin.body),
    policies: ['a'.repeat(64)],
    required: over.required ?? 2,
    group,
    reason: 'deleting a key needs two operators',
  });
}

/** openExecution's input for the requester repeating ORIGIN (or `origin`). */
export function execInput(
  requester: Actor,
  origin: RequestOrigin = ORIGIN,
  over: Partial<{ operation: string; key: string | null; principal: string }> = {},
) {
  return {
    principal: over.principal ?? requester.principal,
    operation: over.operation ?? 'key.delete',
    key: over.key === undefined ? 'orders' : over.key,
    origin,
    canonical: canonicalBody(origin.body),
  };
}
