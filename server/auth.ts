/**
 * Reads the bearer token from `Authorization: Bearer <token>`; the pipeline validates it.
 * @module
 */
import type { Context } from 'koa';
import type { RequestOrigin } from '../engine/approvals/index.js';
import { clientCertAttributes } from './tls.js';

export function bearer(ctx: Context): string | undefined {
  const h = ctx.get('authorization');
  if (!h) return undefined;
  const m = /^Bearer[ ]+(\S+)$/i.exec(h.trim());
  return m ? m[1] : '';
}

/**
 * What every pipeline call takes from the HTTP request: the bearer token, the request id (for the
 * audit record), the request itself (method, path, parsed body: a request the policies park for
 * approval is executed later by repeating it), the approval being executed, if any, and what the
 * connection proves (a verified TLS client certificate's subject: server/tls.ts).
 */
export function caller(ctx: Context): {
  bearer: string | undefined;
  requestId: string | undefined;
  origin: () => RequestOrigin;
  approval?: { id: string; execute: boolean };
  transport: Record<string, string>;
} {
  return {
    transport: clientCertAttributes(ctx.req.socket),
    bearer: bearer(ctx),
    requestId: typeof ctx.state.reqId === 'string' ? ctx.state.reqId : undefined,
    origin: () => ({ method: ctx.method, path: ctx.url, body: ctx.state.json ?? {} }),
    ...(ctx.state.approval ? { approval: ctx.state.approval as { id: string; execute: boolean } } : {}),
  };
}
