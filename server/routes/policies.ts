/**
 * /v1/policies: push (validate + store by hash), list, activate/deactivate (global or per key), and a
 * dry-run evaluation. Each is itself a request that the active policies decide (DESIGN.md §4).
 * @module
 */
import Router from '@koa/router';
import type { Context } from 'koa';
import { fromBase64 } from '../../lib/bytes.js';
import { parsePolicyInput } from '../../engine/policy/sandbox/index.js';
import { assertPolicyHash } from '../../engine/policy/bindings/service.js';
import type { AppDeps } from '../deps.js';
import { caller } from '../auth.js';
import { parseBody } from '../body.js';
import { PolicyBindingBody, PolicyEvaluateBody, PolicyPushBody } from '../schemas.js';

/** Room for a 1 MiB module in base64 plus the JSON around it. */
const POLICY_BODY_LIMIT = 1.5 * 1024 * 1024;

export function policyRoutes(deps: AppDeps): Router {
  const { hsm } = deps;
  const r = new Router({ prefix: '/v1/policies' });

  r.post('/', async (ctx: Context) => {
    const body = await parseBody(ctx, PolicyPushBody, Math.max(deps.bodyLimit, POLICY_BODY_LIMIT));
    const wasm = fromBase64(body.wasm, 'wasm', undefined, 'VALIDATION_FAILED');
    ctx.body = await hsm.request({ ...caller(ctx), operation: 'policy.push', payloadBytes: wasm.length, attributes: { name: body.name } }, async (p, a) => {
      const res = await hsm.policies.push(wasm, body.name, p.principal, a.commit);
      deps.log.info('policy pushed', { reqId: ctx.state.reqId, sha256: res.sha256, name: res.name, principal: p.principal });
      return res;
    });
    ctx.status = 201;
  });

  r.get('/', async (ctx: Context) => {
    ctx.body = await hsm.request({ ...caller(ctx), operation: 'policy.list' }, async () => ({ policies: await hsm.policies.list() }));
  });

  const binding = (action: 'activate' | 'deactivate') => async (ctx: Context) => {
    const hash = ctx.params.hash as string;
    assertPolicyHash(hash);
    const body = await parseBody(ctx, PolicyBindingBody, deps.bodyLimit);
    const key = body.scope === 'key' ? body.key : undefined;
    ctx.body = await hsm.request(
      { ...caller(ctx), operation: 'policy.activate', attributes: { action, policy: hash, scope: body.scope, ...(key ? { target: key } : {}) } },
      async (p, a) => {
        if (action === 'activate') {
          const res = await hsm.policies.activate(hash, body.scope, key, p.principal, a.commit);
          deps.log.info('policy activated', { reqId: ctx.state.reqId, sha256: hash, scope: body.scope, key, principal: p.principal });
          return { sha256: hash, scope: body.scope, key: key ?? null, active: true, created: res.created };
        }
        await hsm.policies.deactivate(hash, body.scope, key, a.commit);
        deps.log.info('policy deactivated', { reqId: ctx.state.reqId, sha256: hash, scope: body.scope, key, principal: p.principal });
        return { sha256: hash, scope: body.scope, key: key ?? null, active: false };
      },
    );
  };
  r.post('/:hash/activate', binding('activate'));
  r.post('/:hash/deactivate', binding('deactivate'));

  r.post('/evaluate', async (ctx: Context) => {
    const body = await parseBody(ctx, PolicyEvaluateBody, deps.bodyLimit);
    const input = parsePolicyInput(body.input);
    ctx.body = await hsm.request({ ...caller(ctx), operation: 'policy.list', attributes: { action: 'evaluate' } }, async () => {
      if (body.hash) {
        const res = await hsm.policies.evaluateOne(body.hash, input);
        return { decision: res.decision, approvals: res.approvals, group: res.group, reason: res.reason, gas: res.gas, hash: res.hash, fault: res.fault };
      }
      return hsm.policies.decide(input);
    });
  });

  return r;
}
