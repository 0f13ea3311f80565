/**
 * GET /metrics: the Prometheus exposition (server/metrics.ts; docs/operations.md, "Metrics"). A
 * request like any other, decided by the policies as operation `metrics` (the default policy grants
 * it to admin, operator and monitor) and audited; it needs the server unsealed. Only a server started
 * with `--metrics-unauthenticated` answers without a token, outside the pipeline (no decision, no
 * record, sealed or not): for a scraper on a network the operator trusts.
 * @module
 */
import Router from '@koa/router';
import type { Context } from 'koa';
import type { AppDeps } from '../deps.js';
import { caller } from '../auth.js';
import { respond } from './respond.js';

export function metricsRoutes(deps: AppDeps): Router {
  const { hsm } = deps;
  const r = new Router();
  r.get('/metrics', async (ctx: Context) => {
    const metrics = deps.metrics;
    if (!metrics) throw new TypeError('the app was built without its metrics');
    if (metrics.unauthenticated) {
      ctx.type = metrics.registry.contentType;
      ctx.body = await metrics.registry.render();
      return;
    }
    // Rendered as the operation: nothing is released before the request's record is durable.
    const out = await hsm.request({ ...caller(ctx), operation: 'metrics' }, () => metrics.registry.render());
    respond(ctx, out);
    if (out.kind === 'done') ctx.type = metrics.registry.contentType;
  });
  return r;
}
