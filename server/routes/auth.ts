/**
 * /v1/auth: who am I (token create and revoke arrive with the crypto API).
 * @module
 */
import Router from '@koa/router';
import type { Context } from 'koa';
import type { AppDeps } from '../deps.js';
import { bearer } from '../auth.js';

export function authRoutes(deps: AppDeps): Router {
  const r = new Router({ prefix: '/v1/auth' });
  r.get('/whoami', async (ctx: Context) => {
    ctx.body = await deps.hsm.request({ bearer: bearer(ctx), operation: 'auth.whoami' }, async (p) => ({
      tokenId: p.tokenId,
      principal: p.principal,
      roles: p.roles,
      expiresAt: p.expiresAt?.toISOString() ?? null,
    }));
  });
  return r;
}
