/**
 * /v1/auth: tokens (create: shown once, stored as a hash; revoke) and who am I. Token
 * administration is a request like any other: the default policy lets only admins do it.
 * @module
 */
import Router from '@koa/router';
import type { Context } from 'koa';
import { KeywardError } from '../../lib/errors.js';
import { DEFAULT_TOKEN_TTL_SECONDS, ttlSeconds } from '../../engine/auth/tokens.js';
import type { AppDeps } from '../deps.js';
import { caller } from '../auth.js';
import { parseBody } from '../body.js';
import { TokenCreateBody } from '../schemas.js';
import { respond } from './respond.js';

const TOKEN_ID_RE = /^tok_[0-9a-f]{16}$/;

export function authRoutes(deps: AppDeps): Router {
  const { hsm } = deps;
  const r = new Router({ prefix: '/v1/auth' });

  r.get('/whoami', async (ctx: Context) => {
    const out = await hsm.request({ ...caller(ctx), operation: 'auth.whoami' }, async ({ principal: p }) => ({
      tokenId: p.tokenId,
      principal: p.principal,
      roles: p.roles,
      expiresAt: p.expiresAt?.toISOString() ?? null,
    }));
    respond(ctx, out);
  });

  r.post('/tokens', async (ctx: Context) => {
    const body = await parseBody(ctx, TokenCreateBody, deps.bodyLimit);
    const ttl = body.ttl === undefined ? DEFAULT_TOKEN_TTL_SECONDS : ttlSeconds(body.ttl);
    const roles = [...new Set(body.roles)];
    const attributes = { principal: body.principal, roles: roles.join(','), ttlSeconds: String(ttl) };
    const out = await hsm.request({ ...caller(ctx), operation: 'auth.token.create', attributes }, async (a) => {
      const t = await a.issueToken({ principal: body.principal, roles, ttlSeconds: ttl });
      deps.log.info('token created', {
        reqId: ctx.state.reqId,
        tokenId: t.tokenId,
        principal: t.principal,
        roles,
        by: a.principal.principal,
      });
      return {
        token: t.token,
        tokenId: t.tokenId,
        principal: t.principal,
        roles: t.roles,
        expiresAt: t.expiresAt?.toISOString() ?? null,
      };
    });
    respond(ctx, out, 201);
  });

  r.delete('/tokens/:id', async (ctx: Context) => {
    const id = ctx.params.id as string;
    if (!TOKEN_ID_RE.test(id)) {
      throw new KeywardError(
        'VALIDATION_FAILED',
        `expected a token id like tok_ followed by 16 hex characters, got "${id.slice(0, 40)}"`,
      );
    }
    const out = await hsm.request(
      { ...caller(ctx), operation: 'auth.token.revoke', attributes: { tokenId: id } },
      async (a) => {
        await a.revokeToken(id);
        deps.log.info('token revoked', { reqId: ctx.state.reqId, tokenId: id, by: a.principal.principal });
        return { tokenId: id, revoked: true };
      },
    );
    respond(ctx, out);
  });

  return r;
}
