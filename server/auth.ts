/**
 * Reads the bearer token from `Authorization: Bearer <token>`; the pipeline validates it.
 * @module
 */
import type { Context } from 'koa';

export function bearer(ctx: Context): string | undefined {
  const h = ctx.get('authorization');
  if (!h) return undefined;
  const m = /^Bearer[ ]+(\S+)$/i.exec(h.trim());
  return m ? m[1] : '';
}

/** What every pipeline call takes from the HTTP request: the bearer token and the request id (for the audit record). */
export function caller(ctx: Context): { bearer: string | undefined; requestId: string | undefined } {
  return { bearer: bearer(ctx), requestId: typeof ctx.state.reqId === 'string' ? ctx.state.reqId : undefined };
}
