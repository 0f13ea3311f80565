/**
 * /v1/sys: health, seal status, init, unseal, seal, root rotation, rekey (docs/architecture.md, "Keys at rest"; docs/openapi.md).
 * Health, seal status, init, unseal and rekey submissions are unauthenticated (a quorum of shards is
 * their authority) and rate-limited per client; seal, rotate and rekey init/cancel go through the
 * pipeline like every other request.
 * @module
 */
import Router from '@koa/router';
import type { Context } from 'koa';
import { KeywardError } from '../../lib/errors.js';
import { pqBackend } from '../../engine/crypto/index.js';
import { parseHolderPublicKey } from '../../ceremony/index.js';
import type { HolderPublicKey } from '../../ceremony/index.js';
import type { AppDeps } from '../deps.js';
import { parseBody } from '../body.js';
import { rateLimit } from '../rate-limit.js';
import { CeremonyBody, EmptyBody, SubmissionBody } from '../schemas.js';
import { caller, recorded } from '../auth.js';
import { respond } from './respond.js';

function holdersFrom(files: unknown[]): HolderPublicKey[] {
  return files.map((f, i) => {
    try {
      return parseHolderPublicKey(f as object);
    } catch (err) {
      if (err instanceof KeywardError)
        throw new KeywardError(err.code, `holders[${i}]: ${err.message}`, { cause: err });
      throw err;
    }
  });
}

export function sysRoutes(deps: AppDeps): Router {
  const { hsm, bodyLimit } = deps;
  const r = new Router({ prefix: '/v1/sys' });
  const limited = rateLimit(deps.ceremonyRate);

  // Readiness: 200 only when initialized, unsealed and the database answers (docs/operations.md).
  r.get('/health', async (ctx: Context) => {
    const h = hsm.health();
    const s = await hsm.storageHealth();
    ctx.status = !h.initialized ? 501 : h.sealed ? 503 : !s.ok ? 503 : 200;
    if (!s.ok) ctx.set('Retry-After', '1');
    // `crypto.postQuantum`: the backend this node's ML-DSA/ML-KEM run on (engine/crypto/pq.ts).
    ctx.body = { ...h, storage: s, crypto: { postQuantum: pqBackend().name } };
  });

  r.get('/seal-status', (ctx: Context) => {
    ctx.body = hsm.sealStatus();
  });

  r.post('/init', limited, async (ctx: Context) => {
    const body = await parseBody(ctx, CeremonyBody, bodyLimit);
    const holders = holdersFrom(body.holders);
    recorded(ctx);
    const res = await hsm.init(holders, body.threshold);
    deps.log.info('initialized', {
      reqId: ctx.state.reqId,
      ceremonyId: res.ceremonyId,
      shares: res.shares,
      threshold: res.threshold,
    });
    ctx.body = {
      ceremonyId: res.ceremonyId,
      generation: res.generation,
      threshold: res.threshold,
      shares: res.shares,
      shards: res.shardFiles,
      rootToken: res.rootToken.token,
      rootTokenId: res.rootToken.tokenId,
    };
  });

  r.post('/unseal', limited, async (ctx: Context) => {
    const body = await parseBody(ctx, SubmissionBody, bodyLimit);
    recorded(ctx);
    const res = await hsm.submitUnseal(body);
    deps.log.info(res.sealed ? 'unseal progress' : 'unsealed', {
      reqId: ctx.state.reqId,
      holder: res.holder,
      index: res.index,
      progress: res.progress,
      threshold: res.threshold,
    });
    ctx.body = { ...hsm.sealStatus(), holder: res.holder, index: res.index, progress: res.sealed ? res.progress : 0 };
  });

  r.post('/unseal/reset', limited, async (ctx: Context) => {
    await parseBody(ctx, EmptyBody, bodyLimit);
    recorded(ctx);
    ctx.body = { ...(await hsm.resetUnseal()), version: hsm.health().version, node: hsm.node };
  });

  r.post('/seal', async (ctx: Context) => {
    await parseBody(ctx, EmptyBody, bodyLimit);
    const out = await hsm.request({ ...caller(ctx), operation: 'sys.seal' }, async (a) => {
      await a.seal();
      deps.log.info('sealed', {
        reqId: ctx.state.reqId,
        principal: a.principal.principal,
        tokenId: a.principal.tokenId,
      });
    });
    respond(ctx, out, 200, () => hsm.sealStatus());
  });

  r.post('/rotate', async (ctx: Context) => {
    await parseBody(ctx, EmptyBody, bodyLimit);
    const out = await hsm.request({ ...caller(ctx), operation: 'sys.rotate' }, async (a) => {
      const res = await a.rotateRoot();
      deps.log.info('root rotated', { reqId: ctx.state.reqId, principal: a.principal.principal, term: res.term });
      return res;
    });
    respond(ctx, out);
  });

  r.get('/rekey', (ctx: Context) => {
    ctx.body = hsm.rekeyStatus();
  });

  r.post('/rekey/init', async (ctx: Context) => {
    const body = await parseBody(ctx, CeremonyBody, bodyLimit);
    respond(
      ctx,
      await hsm.request({ ...caller(ctx), operation: 'sys.rekey.init' }, (a) =>
        a.startRekey(holdersFrom(body.holders), body.threshold),
      ),
    );
  });

  r.post('/rekey/update', limited, async (ctx: Context) => {
    const body = await parseBody(ctx, SubmissionBody, bodyLimit);
    recorded(ctx);
    const res = await hsm.submitRekey(body);
    if (!res.complete) {
      ctx.body = res;
      return;
    }
    deps.log.info('rekeyed', {
      reqId: ctx.state.reqId,
      ceremonyId: res.ceremonyId,
      generation: res.generation,
      shares: res.shares,
      threshold: res.threshold,
    });
    ctx.body = {
      complete: true,
      ceremonyId: res.ceremonyId,
      generation: res.generation,
      threshold: res.threshold,
      shares: res.shares,
      shards: res.shardFiles,
    };
  });

  r.post('/rekey/cancel', async (ctx: Context) => {
    await parseBody(ctx, EmptyBody, bodyLimit);
    respond(ctx, await hsm.request({ ...caller(ctx), operation: 'sys.rekey.cancel' }, (a) => a.cancelRekey()));
  });

  return r;
}
