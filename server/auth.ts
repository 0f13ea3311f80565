/**
 * Reads the bearer token from `Authorization: Bearer <token>`; the pipeline validates it, under the
 * per-client bound on failed authentication (server/refusals.ts).
 * @module
 */
import type { RequestOrigin } from '../engine/approvals/index.js';
import type { AuthFailureGuard } from '../engine/pipeline.js';
import type { HotContext } from './direct.js';
import { clientOf } from './refusals.js';
import type { Refusals } from './refusals.js';
import { clientCertAttributes } from './tls.js';

export function bearer(ctx: HotContext): string | undefined {
  const h = ctx.req.headers.authorization;
  if (!h) return undefined;
  const m = BEARER.exec(h.trim());
  return m ? m[1] : '';
}

const BEARER = /^Bearer[ ]+(\S+)$/i;

/**
 * Marks the request as recorded by the HSM (the pipeline or a ceremony step), so that its error
 * answer is not recorded again as a refusal before the pipeline (server/refusals.ts).
 */
export function recorded(ctx: HotContext): void {
  ctx.state.audited = true;
}

/** Refuses (RATE_LIMITED) a client that failed authentication too often: for a token lookup outside the pipeline. */
export function admitAuth(ctx: HotContext): void {
  (ctx.state.refusals as Refusals | undefined)?.admit(clientOf(ctx));
}

/**
 * What every pipeline call takes from the HTTP request: the bearer token, the request id (for the
 * audit record), the request itself (method, path, parsed body: a request the policies park for
 * approval is executed later by repeating it), the approval being executed, if any, the bound on
 * the client's failed authentications, and what the connection proves (a verified TLS client
 * certificate's subject: server/tls.ts). The request is recorded from here on.
 */
export function caller(ctx: HotContext): {
  bearer: string | undefined;
  requestId: string | undefined;
  origin: () => RequestOrigin;
  approval?: { id: string; execute: boolean };
  authGuard?: AuthFailureGuard;
  transport: Readonly<Record<string, string>>;
} {
  recorded(ctx);
  const state = ctx.state;
  const refusals = state.refusals as Refusals | undefined;
  // Built field by field (no spreads): this runs on every request.
  const out: ReturnType<typeof caller> = {
    transport: clientCertAttributes(ctx.req.socket),
    bearer: bearer(ctx),
    requestId: typeof state.reqId === 'string' ? state.reqId : undefined,
    origin: () => ({ method: ctx.method, path: ctx.url, body: state.json ?? {} }),
  };
  if (refusals) out.authGuard = refusals.guard(clientOf(ctx));
  if (state.approval) out.approval = state.approval as { id: string; execute: boolean };
  return out;
}
