/**
 * /v1/audit: the log's verification keys, records, checkpoints, proofs, the HMAC of a known value,
 * and the attestation export. Reading the log is a request like any other (the default policy
 * gives `audit.*` to auditors and admins), and is itself audited.
 * @module
 */
import { Readable } from 'node:stream';
import Router from '@koa/router';
import type { Context } from 'koa';
import { KeywardError } from '../../lib/errors.js';
import { toBase64 } from '../../lib/bytes.js';
import type { AppDeps } from '../deps.js';
import { caller } from '../auth.js';
import { parseBody, parseQuery } from '../body.js';
import {
  AuditExportBody,
  AuditHashBody,
  AuditRecordsQuery,
  ConsistencyProofQuery,
  InclusionProofQuery,
} from '../schemas.js';
import { AUDIT_PAGE_MAX, AUDIT_RAW_PAGE_MAX } from '../../engine/audit/log/read.js';
import { AUDIT_RECORDS_MEDIA_TYPE, encodeRecordsPage } from '../../engine/audit/verifier/records-page.js';
import { respond } from './respond.js';

const EMPTY = new Uint8Array(0);

export function auditRoutes(deps: AppDeps): Router {
  const { hsm } = deps;
  const r = new Router({ prefix: '/v1/audit' });

  r.get('/keys', async (ctx: Context) => {
    const out = await hsm.request({ ...caller(ctx), operation: 'audit.keys' }, (a) => a.auditKeys());
    respond(ctx, out, 200, (k) => ({
      origin: k.origin,
      ed25519: k.ed25519,
      mlDsa44: k.mlDsa44,
      keys: [k.ed25519, k.mlDsa44],
    }));
  });

  r.get('/checkpoint', async (ctx: Context) => {
    const out = await hsm.request({ ...caller(ctx), operation: 'audit.read' }, async (a) => {
      const cp = await a.checkpoint();
      if (!cp) throw new KeywardError('AUDIT_NOT_READY', 'no checkpoint has been signed yet; retry shortly');
      return cp;
    });
    respond(ctx, out, 200, (cp) => ({ size: cp.size, root: toBase64(cp.root), note: cp.note }));
  });

  // JSON by default; the records as stored (engine/audit/verifier/records-page.ts) to a client that
  // asks for them by Accept, in larger pages (what `keyward audit verify` reads).
  r.get('/records', async (ctx: Context) => {
    const q = parseQuery(ctx, AuditRecordsQuery);
    const raw = ctx.accepts('application/json', AUDIT_RECORDS_MEDIA_TYPE) === AUDIT_RECORDS_MEDIA_TYPE;
    const from = q.from;
    const limit = Math.min(q.limit, raw ? AUDIT_RAW_PAGE_MAX : AUDIT_PAGE_MAX);
    const to = q.to ?? from + limit;
    if (to < from) throw new KeywardError('AUDIT_RANGE_INVALID', `expected from ≤ to, got from=${from} to=${to}`);
    ctx.vary('Accept');
    if (!raw) {
      respond(
        ctx,
        await hsm.request({ ...caller(ctx), operation: 'audit.read' }, (a) =>
          a.auditPage(from, Math.min(to, from + limit)),
        ),
      );
      return;
    }
    const out = await hsm.request({ ...caller(ctx), operation: 'audit.read' }, (a) =>
      a.auditPageRaw(from, Math.min(to, from + limit)),
    );
    if (out.kind === 'parked') {
      respond(ctx, out);
      return;
    }
    // The page's parts are written one after another under their total length, the bytes
    // encodeRecordsPage would join (engine/audit/verifier/records-page.ts): joining them copied
    // every page (issue 14). The header line is the same JSON line.
    const p = out.value;
    const head = encodeRecordsPage(p, p.chains, EMPTY);
    ctx.status = 200;
    ctx.body = Readable.from([head, ...p.leaves], { objectMode: false });
    ctx.type = AUDIT_RECORDS_MEDIA_TYPE;
    ctx.length = head.length + p.leavesBytes;
  });

  r.get('/proofs/inclusion', async (ctx: Context) => {
    const { index, size } = parseQuery(ctx, InclusionProofQuery);
    respond(ctx, await hsm.request({ ...caller(ctx), operation: 'audit.read' }, (a) => a.inclusionProof(index, size)));
  });

  r.get('/proofs/consistency', async (ctx: Context) => {
    const { from, to } = parseQuery(ctx, ConsistencyProofQuery);
    respond(ctx, await hsm.request({ ...caller(ctx), operation: 'audit.read' }, (a) => a.consistencyProof(from, to)));
  });

  r.post('/hash', async (ctx: Context) => {
    const body = await parseBody(ctx, AuditHashBody, deps.bodyLimit);
    respond(
      ctx,
      await hsm.request(
        { ...caller(ctx), operation: 'audit.hash', payloadBytes: Buffer.byteLength(body.value) },
        async (a) => ({ hash: a.auditHash(body.value) }),
      ),
    );
  });

  r.post('/export', async (ctx: Context) => {
    const body = await parseBody(ctx, AuditExportBody, deps.bodyLimit);
    const includeInputs = body.includeInputs ?? false;
    const includeWasm = body.includeWasm ?? false;
    const attributes = { includeInputs: String(includeInputs), includeWasm: String(includeWasm) };
    const out = await hsm.request({ ...caller(ctx), operation: 'audit.export', attributes }, async (a) => {
      const cp = await a.checkpoint({ fresh: true });
      if (!cp) throw new KeywardError('AUDIT_NOT_READY', 'no checkpoint could be signed; is the server unsealed?');
      return a.exportAudit(cp, { from: body.from, to: body.to, includeInputs, includeWasm });
    });
    respond(ctx, out);
  });

  return r;
}
