/**
 * /v1/audit: the log's verification keys, records, checkpoints, proofs, the HMAC of a known value,
 * and the attestation export. Reading the log is a request like any other (the default policy
 * gives `audit.*` to auditors and admins), and is itself audited.
 * @module
 */
import Router from '@koa/router';
import type { Context } from 'koa';
import { KeywardError } from '../../lib/errors.js';
import { toBase64 } from '../../lib/bytes.js';
import type { AppDeps } from '../deps.js';
import { caller } from '../auth.js';
import { parseBody, parseQuery } from '../body.js';
import { AuditExportBody, AuditHashBody, AuditRecordsQuery, ConsistencyProofQuery, InclusionProofQuery } from '../schemas.js';
import { AUDIT_PAGE_MAX, auditConsistencyProof, auditInclusionProof, auditRecordsPage, exportBundle } from '../../engine/audit/log/read.js';

export function auditRoutes(deps: AppDeps): Router {
  const { hsm } = deps;
  const r = new Router({ prefix: '/v1/audit' });

  r.get('/keys', async (ctx: Context) => {
    ctx.body = await hsm.request({ ...caller(ctx), operation: 'audit.keys' }, async () => {
      const k = await hsm.auditKeys();
      return { origin: k.origin, ed25519: k.ed25519, mlDsa44: k.mlDsa44, keys: [k.ed25519, k.mlDsa44] };
    });
  });

  r.get('/checkpoint', async (ctx: Context) => {
    ctx.body = await hsm.request({ ...caller(ctx), operation: 'audit.read' }, async () => {
      const cp = await hsm.integrator?.integrate();
      if (!cp) throw new KeywardError('AUDIT_NOT_READY', 'no checkpoint has been signed yet; retry shortly');
      return { size: cp.size, root: toBase64(cp.root), note: cp.note };
    });
  });

  r.get('/records', async (ctx: Context) => {
    const q = parseQuery(ctx, AuditRecordsQuery);
    const from = q.from;
    const limit = Math.min(q.limit, AUDIT_PAGE_MAX);
    const to = q.to ?? from + limit;
    if (to < from) throw new KeywardError('AUDIT_RANGE_INVALID', `expected from ≤ to, got from=${from} to=${to}`);
    ctx.body = await hsm.request({ ...caller(ctx), operation: 'audit.read' }, () => auditRecordsPage(hsm.store.db, from, Math.min(to, from + limit)));
  });

  r.get('/proofs/inclusion', async (ctx: Context) => {
    const { index, size } = parseQuery(ctx, InclusionProofQuery);
    ctx.body = await hsm.request({ ...caller(ctx), operation: 'audit.read' }, () => auditInclusionProof(hsm.store.db, index, size));
  });

  r.get('/proofs/consistency', async (ctx: Context) => {
    const { from, to } = parseQuery(ctx, ConsistencyProofQuery);
    ctx.body = await hsm.request({ ...caller(ctx), operation: 'audit.read' }, () => auditConsistencyProof(hsm.store.db, from, to));
  });

  r.post('/hash', async (ctx: Context) => {
    const body = await parseBody(ctx, AuditHashBody, deps.bodyLimit);
    ctx.body = await hsm.request({ ...caller(ctx), operation: 'audit.hash', payloadBytes: Buffer.byteLength(body.value) }, async () => ({
      hash: hsm.auditHash(body.value),
    }));
  });

  r.post('/export', async (ctx: Context) => {
    const body = await parseBody(ctx, AuditExportBody, deps.bodyLimit);
    const attributes = { includeInputs: String(body.includeInputs ?? false), includeWasm: String(body.includeWasm ?? false) };
    ctx.body = await hsm.request({ ...caller(ctx), operation: 'audit.export', attributes }, async () => {
      const cp = await hsm.integrator?.integrate({ fresh: true });
      if (!cp) throw new KeywardError('AUDIT_NOT_READY', 'no checkpoint could be signed; is the server unsealed?');
      return exportBundle(hsm, cp, {
        from: body.from ?? 0,
        to: body.to ?? cp.size,
        includeInputs: body.includeInputs ?? false,
        includeWasm: body.includeWasm ?? false,
        keys: await hsm.auditKeys(),
      });
    });
  });

  return r;
}
