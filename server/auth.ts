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
