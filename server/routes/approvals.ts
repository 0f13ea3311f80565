/**
 * /v1/approvals: dual control (docs/approvals.md). A request the policies answer with
 * `require_approval` is parked (202 from its own route); here it is listed, shown, approved, denied,
 * and executed once by its requester.
 *
 * Execute re-runs the parked request through the route that parked it: the stored method and path
 * are dispatched to the other routers with the execute request's body, and the pipeline
 * (engine/pipeline.ts) checks the approval (requester, method, path, body digest, still pending),
 * re-evaluates the policies with the approvals gathered, and claims the one execution before running
 * the operation. The response is the operation's own.
 *
 * An execute without a body (or with `{}`) from the requester runs with the body the request was
 * parked with (kept under the barrier by engine/approvals): nobody has to repeat it by hand.
 * @module
 */
import Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { KeywardError } from '../../lib/errors.js';
import { assertApprovalId } from '../../engine/approvals/index.js';
import type { AppDeps } from '../deps.js';
import { admitAuth, bearer, caller } from '../auth.js';
import { respond } from './respond.js';
import { parseBody, parseQuery, readJson } from '../body.js';
import { ApprovalDenyBody, ApprovalListQuery, EmptyBody } from '../schemas.js';

/** The largest body any route takes (key operations allow 8 MiB); the target route re-checks its own. */
const EXECUTE_BODY_LIMIT = 8 * 1024 * 1024;

function isEmptyObject(v: unknown): boolean {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 0;
}

/**
 * @param targets the routers whose requests can be parked and executed (every other router of the
 *   app; never this one, so an execute can't execute an execute).
 */
export function approvalRoutes(deps: AppDeps, targets: readonly Router[]): Router {
  const { hsm } = deps;
  const r = new Router({ prefix: '/v1/approvals' });
  const chain = targets.map((t) => t.routes() as unknown as Middleware);
  /** Runs the routers in order, as the app does; `last` runs when none matched. */
  const dispatch = (ctx: Context, last: () => Promise<void>) => {
    const step = (i: number): Promise<void> =>
      i < chain.length ? Promise.resolve(chain[i]!(ctx, () => step(i + 1))) : last();
    return step(0);
  };

  r.get('/', async (ctx: Context) => {
    const q = parseQuery(ctx, ApprovalListQuery);
    respond(
      ctx,
      await hsm.request(
        { ...caller(ctx), operation: 'approval.list', attributes: q.state ? { state: q.state } : {} },
        (a) => a.listApprovals(q),
      ),
    );
  });

  r.get('/:id', async (ctx: Context) => {
    const id = ctx.params.id as string;
    assertApprovalId(id);
    respond(
      ctx,
      await hsm.request({ ...caller(ctx), operation: 'approval.read', approval: { id, execute: false } }, (a) =>
        a.approval(id),
      ),
    );
  });

  r.post('/:id/approve', async (ctx: Context) => {
    const id = ctx.params.id as string;
    assertApprovalId(id);
    await parseBody(ctx, EmptyBody, deps.bodyLimit);
    respond(
      ctx,
      await hsm.request(
        {
          ...caller(ctx),
          operation: 'approval.approve',
          approval: { id, execute: false },
          attributes: { approval: id },
        },
        (a) => a.approve(id),
      ),
    );
  });

  r.post('/:id/deny', async (ctx: Context) => {
    const id = ctx.params.id as string;
    assertApprovalId(id);
    const body = await parseBody(ctx, ApprovalDenyBody, deps.bodyLimit);
    respond(
      ctx,
      await hsm.request(
        { ...caller(ctx), operation: 'approval.deny', approval: { id, execute: false }, attributes: { approval: id } },
        (a) => a.deny(id, body.reason),
      ),
    );
  });

  r.post('/:id/execute', async (ctx: Context) => {
    const id = ctx.params.id as string;
    assertApprovalId(id);
    let body = await readJson(ctx, Math.max(deps.bodyLimit, EXECUTE_BODY_LIMIT));
    // Only the requester may execute, so only the requester learns where the request goes (and has
    // it dispatched, to be checked by the target route). Anyone else is answered by the approval's
    // own checks, recorded and decided like any request: whoever may not see the approval gets the
    // same 404 as for an id that does not exist (a stranger's body never reaches a target route,
    // whose validation would tell). A token lookup: under the bound on failed authentication, as
    // the pipeline's own.
    admitAuth(ctx);
    const target = await hsm.approvalTarget(bearer(ctx), id);
    if (!target) {
      // A policy may even park it (then that is the answer).
      const refused = await hsm.request(
        { ...caller(ctx), operation: 'approval.execute', approval: { id, execute: false } },
        async (a) => {
          await a.assertExecutable(id);
          throw new KeywardError('APPROVAL_NOT_FOUND', `no approval ${id}`);
        },
      );
      return respond(ctx, refused);
    }
    if (isEmptyObject(body)) {
      // The parked body, when the caller is the approval's requester (engine/hsm.ts parkedBody).
      const parked = await hsm.parkedBody(bearer(ctx), id);
      if (parked !== undefined) body = parked;
      // No parked body (no longer pending): say why rather than let the target route reject an
      // empty body. Recorded like any refused execute.
      else {
        const checked = await hsm.request(
          { ...caller(ctx), operation: 'approval.execute', approval: { id, execute: false } },
          (a) => a.assertExecutable(id),
        );
        if (checked.kind === 'parked') return respond(ctx, checked);
      }
    }
    const saved = {
      method: ctx.method,
      url: ctx.url,
      params: ctx.params,
      matched: (ctx as { matched?: unknown }).matched,
    };
    ctx.state.json = body;
    ctx.state.approval = { id, execute: true };
    ctx.method = target.method;
    ctx.url = target.path;
    ctx.params = {};
    try {
      await dispatch(ctx, async () => {
        throw new KeywardError(
          'APPROVAL_MISMATCH',
          `approval ${id} is for ${target.method} ${target.path}, which this server no longer serves`,
        );
      });
    } finally {
      ctx.method = saved.method;
      ctx.url = saved.url;
      ctx.params = saved.params;
      (ctx as { matched?: unknown }).matched = saved.matched;
      ctx.state.approval = undefined;
    }
  });

  return r;
}
