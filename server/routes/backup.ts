/**
 * POST /v1/sys/backup (docs/backup.md): a consistent snapshot of the whole store, decided by the
 * policies (`sys.backup`: admin under the default policy) and audited like every request. The
 * snapshot is taken inside the request (engine/store/backup.ts, after a fresh checkpoint), its body
 * spooled gzipped to a private temporary file (the only copy on disk), and the file streamed as the
 * answer once the request's audit record has committed: the gzipped header and seal, then the spool
 * (engine/backup.ts). The spool is removed when the answer ends, however it ends.
 *
 * Format negotiation: the answer is gzipped only for a client whose `Accept` names
 * `application/gzip` (the CLI and @keyward/client since gzip send it); any other request, a CLI of
 * an earlier release included (it sends `Accept: application/json`), gets the same file
 * decompressed as `application/x-ndjson`, the format it reads. `Vary: Accept` says so to caches.
 * @module
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Router from '@koa/router';
import type { Context } from 'koa';
import type { AppDeps } from '../deps.js';
import { caller } from '../auth.js';
import { parseBody } from '../body.js';
import { EmptyBody } from '../schemas.js';
import { respond } from './respond.js';
import { backupStream, spoolFailed } from '../../engine/backup.js';

/** The media type of a backup file: gzipped newline-delimited JSON (docs/backup.md). */
export const BACKUP_MEDIA_TYPE = 'application/gzip';
/** The media type of a backup answer not asked for gzipped: the file decompressed (releases before gzip). */
export const BACKUP_PLAIN_MEDIA_TYPE = 'application/x-ndjson';

/** True when the request's `Accept` names `application/gzip` itself (not a wildcard) with q > 0. */
export function acceptsGzip(ctx: Context): boolean {
  if (!ctx.get('Accept')) return false;
  return (ctx.accepts() as string[]).some((t) => t.toLowerCase() === BACKUP_MEDIA_TYPE);
}

export function backupRoutes(deps: AppDeps): Router {
  const { hsm } = deps;
  const r = new Router({ prefix: '/v1/sys' });

  r.post('/backup', async (ctx: Context) => {
    await parseBody(ctx, EmptyBody, deps.bodyLimit);
    const dir = await mkdtemp(join(tmpdir(), 'keyward-backup-')).catch((err: unknown) => {
      throw spoolFailed(err);
    });
    const file = join(dir, 'body.ndjson.gz');
    const cleanup = () => rm(dir, { recursive: true, force: true }).catch(() => undefined);
    let out;
    try {
      out = await hsm.request({ ...caller(ctx), operation: 'sys.backup' }, async (a) => {
        // Sign what is committed so far: the header's checkpoint then covers (nearly) the whole log.
        await a.checkpoint({ fresh: true });
        return a.backup(file);
      });
    } catch (err) {
      await cleanup();
      throw err;
    }
    if (out.kind === 'parked') {
      await cleanup();
      respond(ctx, out);
      return;
    }
    const { header } = out.value;
    deps.log.info('backup', {
      reqId: ctx.state.reqId,
      backupId: header.id,
      bytes: header.body.bytes,
      auditSize: header.audit.headSize,
    });
    const gzip = acceptsGzip(ctx);
    const stream = backupStream(out.value, { gzip });
    stream.once('close', () => void cleanup());
    ctx.status = 200;
    ctx.type = gzip ? BACKUP_MEDIA_TYPE : BACKUP_PLAIN_MEDIA_TYPE;
    ctx.vary('Accept');
    const name = gzip ? `keyward-${header.id}.backup.gz` : `keyward-${header.id}.ndjson`;
    ctx.set('Content-Disposition', `attachment; filename="${name}"`);
    ctx.set('Keyward-Backup-Id', header.id);
    ctx.body = stream;
  });

  return r;
}
