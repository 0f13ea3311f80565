/**
 * /v1/policies: push (validate + store by hash), list, activate/deactivate (global or per key), and a
 * dry-run evaluation. Each is itself a request that the active policies decide, under its own
 * operation name (engine/operations.ts): `policy.activate` and `policy.deactivate`, `policy.list` and
 * `policy.evaluate` are told apart, so a policy can allow one and not the other.
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
import { respond } from './respond.js';

/** Room for a 1 MiB module in base64 plus the JSON around it. */
const POLICY_BODY_LIMIT = 1.5 * 1024 * 1024;

export function policyRoutes(deps: AppDeps): Router {
  const { hsm } = deps;
  const r = new Router({ prefix: '/v1/policies' });

  r.post('/', async (ctx: Context) => {
    const body = await parseBody(ctx, PolicyPushBody, Math.max(deps.bodyLimit, POLICY_BODY_LIMIT));
    const wasm = fromBase64(body.wasm, 'wasm', undefined, 'VALIDATION_FAILED');
    const out = await hsm.request(
      { ...caller(ctx), operation: 'policy.push', payloadBytes: wasm.length, attributes: { name: body.name } },
      async (a) => {
        const res = await a.pushPolicy(wasm, body.name);
        deps.log.info('policy pushed', {
          reqId: ctx.state.reqId,
          sha256: res.sha256,
          name: res.name,
          principal: a.principal.principal,
        });
        return res;
      },
    );
    respond(ctx, out, 201);
  });

  r.get('/', async (ctx: Context) => {
    respond(
      ctx,
      await hsm.request({ ...caller(ctx), operation: 'policy.list' }, async (a) => ({
        policies: await a.listPolicies(),
      })),
    );
  });

  const binding = (action: 'activate' | 'deactivate') => async (ctx: Context) => {
    const hash = ctx.params.hash as string;
    assertPolicyHash(hash);
    const body = await parseBody(ctx, PolicyBindingBody, deps.bodyLimit);
    const key = body.scope === 'key' ? body.key : undefined;
    // `action` stays an attribute so policies written when both shared `policy.activate` still read it.
    const attributes = { action, policy: hash, scope: body.scope, ...(key ? { target: key } : {}) };
    const out = await hsm.request(
      { ...caller(ctx), operation: action === 'activate' ? 'policy.activate' : 'policy.deactivate', attributes },
      async (a) => {
        const principal = a.principal.principal;
        if (action === 'activate') {
          const res = await a.activatePolicy(hash, body.scope, key);
          deps.log.info('policy activated', {
            reqId: ctx.state.reqId,
            sha256: hash,
            scope: body.scope,
            key,
            principal,
          });
          return { sha256: hash, scope: body.scope, key: key ?? null, active: true, created: res.created };
        }
        await a.deactivatePolicy(hash, body.scope, key);
        deps.log.info('policy deactivated', {
          reqId: ctx.state.reqId,
          sha256: hash,
          scope: body.scope,
          key,
          principal,
        });
        return { sha256: hash, scope: body.scope, key: key ?? null, active: false };
      },
    );
    respond(ctx, out);
  };
  r.post('/:hash/activate', binding('activate'));
  r.post('/:hash/deactivate', binding('deactivate'));

  r.post('/evaluate', async (ctx: Context) => {
    const body = await parseBody(ctx, PolicyEvaluateBody, deps.bodyLimit);
    const input = parsePolicyInput(body.input);
    const out = await hsm.request(
      { ...caller(ctx), operation: 'policy.evaluate', attributes: { action: 'evaluate' } },
      async (a) => {
        if (!body.hash) return a.evaluatePolicies(input);
        const res = await a.evaluatePolicy(body.hash, input);
        return {
          decision: res.decision,
          approvals: res.approvals,
          group: res.group,
          reason: res.reason,
          gas: res.gas,
          hash: res.hash,
          fault: res.fault,
        };
      },
    );
    respond(ctx, out);
  });

  return r;
}
