/**
 * `keyward backup --out FILE` (docs/backup.md): asks the running server for a snapshot of the whole
 * store (POST /v1/sys/backup, decided by the policies and audited) and writes it (gzipped, as the
 * server sends it) to FILE, mode 0600,
 * through a temporary file renamed into place once complete and checked against its own header, so
 * FILE is never a partial backup.
 * @module
 */
import { createWriteStream, existsSync } from 'node:fs';
import { link, rename, rm } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Command, Option } from 'clipanion';
import { KeywardError } from '../../lib/errors.js';
import { RemoteCommand } from '../base.js';
import { done } from '../http.js';

export default class BackupCommand extends RemoteCommand {
  static override paths = [['backup']];
  static override usage = Command.Usage({
    category: 'System',
    description: 'write a consistent snapshot of everything the server stores to a file',
    details: `
      Asks the running server for a backup (POST /v1/sys/backup): every table, read in one consistent snapshot while the server keeps serving, with a header naming the ceremony, the schema version and the audit log's tree size, root and newest checkpoint. Everything secret in it is encrypted under the barrier, as in the database; the header is sealed by the barrier too, and checked at the first unseal after a restore (docs/backup.md).

      Needs a token allowed \`sys.backup\` (admin under the default policy). Restore with \`keyward restore FILE\` while the server is stopped.
    `,
    examples: [['Back up to a file', 'keyward backup --out keyward-2026-12-04.backup.gz']],
  });

  out = Option.String('--out', { required: true, description: 'Write the backup here (mode 0600)' });
  force = Option.Boolean('--force', false, { description: 'Overwrite --out if it exists' });

  async run(): Promise<number> {
    refuseExisting(this.out, this.force);
    const { id, body } = done(await this.client().backup());
    const summary = await saveBackup(body, this.out, id, this.force);
    this.print(summary, () => backupText(summary));
    return 0;
  }
}

/** FILE_EXISTS unless `file` is free (or `force`). */
export function refuseExisting(file: string, force = false): void {
  if (!force && existsSync(file))
    throw new KeywardError('FILE_EXISTS', `${file} already exists; refusing to overwrite it (use --force)`);
}

/**
 * Writes a backup answer's bytes to `out` (mode 0600) through `out.partial`, checked against its own
 * header before it is moved into place; also what `keyward approval execute --out` does with an
 * approved backup's answer. Without `force` it is linked into place, which fails on a file created at
 * `out` while the backup was on its way (a rename would replace it). Returns what the CLI prints.
 */
export async function saveBackup(body: ReadableStream<Uint8Array>, out: string, id = '', force = false) {
  const partial = `${out}.partial`;
  try {
    await pipeline(
      Readable.fromWeb(body as import('node:stream/web').ReadableStream<Uint8Array>),
      createWriteStream(partial, { mode: 0o600 }),
    );
    const { checkBackupFile } = await import('../../engine/backup.js');
    const { header } = await checkBackupFile(partial);
    if (force) await rename(partial, out);
    else {
      await link(partial, out).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'EEXIST') throw appeared(out);
        // A file system without hard links: check once more, then rename.
        if (existsSync(out)) throw appeared(out);
        return rename(partial, out);
      });
      await rm(partial, { force: true });
    }
    return {
      file: out,
      id: header.id || id,
      createdAt: header.createdAt,
      ceremonyId: header.ceremony.id,
      schema: header.schema,
      audit: {
        headSize: header.audit.headSize,
        treeSize: header.audit.treeSize,
        root: header.audit.root,
        checkpointSize: header.audit.checkpoint?.size ?? null,
      },
      tables: header.tables,
      bytes: header.body.bytes,
      sha256: header.body.sha256,
    };
  } catch (err) {
    await rm(partial, { force: true });
    throw err;
  }
}

const appeared = (out: string) =>
  new KeywardError('FILE_EXISTS', `${out} appeared while the backup was written; refusing to overwrite it`);

export function backupText(summary: Awaited<ReturnType<typeof saveBackup>>): string {
  return [
    `Backup ${summary.id} written to ${summary.file} (${summary.bytes} bytes of data, sha256 ${summary.sha256.slice(0, 16)}…)`,
    `Ceremony ${summary.ceremonyId}, schema migration ${summary.schema.migrations}`,
    `Audit log: ${summary.audit.headSize} records, tree size ${summary.audit.treeSize}, newest checkpoint ${summary.audit.checkpointSize ?? 'none'}`,
    `Rows: ${summary.tables.map((t) => `${t.name} ${t.rows}`).join(', ')}`,
    `Restore (server stopped): keyward restore ${summary.file} --data-dir DIR | --database-url URL`,
  ].join('\n');
}
