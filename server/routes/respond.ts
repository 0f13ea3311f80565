/**
 * Shapes a pipeline outcome (engine/pipeline.ts `Outcome`) as the native API's answer: a request that
 * ran is its value (with the route's status); a parked one is `202 Accepted` with the approval and
 * a `Location` to follow it (docs/approvals.md). The Vault transit routes shape it their own way
 * (server/transit/envelope.ts `sendParked`).
 * @module
 */
import type { Context } from 'koa';
import type { Outcome } from '../../engine/hsm.js';

export function respond<T>(ctx: Context, out: Outcome<T>, status = 200, shape: (value: T) => unknown = (v) => v): void {
  if (out.kind === 'parked') {
    ctx.status = 202;
    ctx.body = { ...out.approval };
    ctx.set('Location', `/v1/approvals/${out.approval.approvalId}`);
    // For the request log: parked, not run.
    ctx.state.errorCode = 'APPROVAL_PENDING';
    return;
  }
  ctx.body = shape(out.value);
  ctx.status = status;
}
