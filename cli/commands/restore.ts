/**
 * `keyward restore FILE --data-dir DIR | --database-url URL` (docs/backup.md): offline, with the
 * server stopped, loads a backup into an empty store. The file is checked against its header first
 * (nothing is written when it fails); a store with any row is refused; the load is one transaction.
 * The restored server starts sealed, and its first unseal checks the backup's seal.
 * @module
 */
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Command, Option, UsageError } from 'clipanion';
import { KeywardError } from '../../lib/errors.js';
import { OfflineCommand } from '../base.js';
import { readStoreImage } from './server.js';

export default class RestoreCommand extends OfflineCommand {
  static override paths = [['restore']];
  static override usage = Command.Usage({
    category: 'System',
    description: 'load a backup into an empty data directory or database (server stopped)',
    details: `
      Checks FILE against its header (length, SHA-256, tables, row counts, ceremony), then loads every table into the store in one transaction. The target must be empty: a new or empty --data-dir, or a --database-url with no Keyward rows (a new database); anything else is refused with RESTORE_TARGET_NOT_EMPTY, or with BACKUP_OLDER_THAN_TARGET when the database holds the same HSM with an audit log ahead of the backup's (restoring would roll it back). The file may be gzipped (as \`keyward backup\` writes it) or plain. A backup of another schema version is refused with BACKUP_SCHEMA_MISMATCH: restore with the Keyward version that made it.

      Start the server on the restored store: it is sealed, and the same shard holders unseal it. The first unseal checks the backup's seal under the restored keyring; if it fails (the file was altered) the server stays sealed with BACKUP_INVALID.
    `,
    examples: [
      ['Into a new PGlite data directory', 'keyward restore keyward.backup --data-dir /var/lib/keyward-restored'],
      [
        'Into a new PostgreSQL database',
        'keyward restore keyward.backup --database-url postgres://keyward@db/keyward2',
      ],
    ],
  });

  file = Option.String({ name: 'FILE' });
  dataDir = Option.String('--data-dir', { description: 'A new (or empty) PGlite data directory' });
  databaseUrl = Option.String('--database-url', {
    description: 'An empty PostgreSQL database (env KEYWARD_DATABASE_URL)',
    env: 'KEYWARD_DATABASE_URL',
  });

  async run(): Promise<number> {
    if ((this.dataDir === undefined) === (this.databaseUrl === undefined))
      throw new UsageError('expected exactly one of --data-dir DIR or --database-url URL');
    const [{ checkBackupFile, restoreBackup }, { openStore, redactDatabaseUrl }] = await Promise.all([
      import('../../engine/backup.js'),
      import('../../engine/store/index.js'),
    ]);
    // Nothing is touched before the file checks out, and is of this version's schema.
    const { assertSchemaVersion, codeSchemaVersion } = await import('../../engine/store/backup.js');
    const head = await checkBackupFile(this.file).catch((err: unknown): never => {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'EACCES')
        throw new KeywardError(
          'FILE_UNREADABLE',
          `cannot read the backup ${this.file}: ${(err as NodeJS.ErrnoException).code}`,
        );
      throw err;
    });
    assertSchemaVersion(head.header.schema, codeSchemaVersion());
    let target: string;
    if (this.dataDir !== undefined) {
      const entries = await readdir(this.dataDir).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return [];
        throw new KeywardError('FILE_UNREADABLE', `cannot read --data-dir ${this.dataDir}: ${err.code ?? err.message}`);
      });
      if (entries.length > 0)
        throw new KeywardError(
          'RESTORE_TARGET_NOT_EMPTY',
          `--data-dir ${this.dataDir} is not empty: restore only into a new or empty directory`,
        );
      target = this.dataDir;
    } else target = redactDatabaseUrl(this.databaseUrl!);
    const store = await openStore(
      this.dataDir !== undefined
        ? { dataDir: this.dataDir, image: () => readStoreImage() }
        : { databaseUrl: this.databaseUrl!, statementTimeoutMs: 3_600_000 },
    );
    let restored;
    try {
      restored = await restoreBackup(store.db, this.file);
    } catch (err) {
      await store.close();
      // The directory was new or empty: leave it so, not holding an empty database.
      if (this.dataDir !== undefined)
        for (const n of await readdir(this.dataDir).catch(() => []))
          await rm(join(this.dataDir, n), { recursive: true, force: true });
      throw err;
    }
    try {
      const { head, tables } = restored;
      const h = head.header;
      const summary = {
        file: this.file,
        target,
        id: h.id,
        createdAt: h.createdAt,
        ceremonyId: h.ceremony.id,
        threshold: h.ceremony.threshold,
        holders: h.ceremony.holders.map((x) => x.name),
        audit: {
          headSize: h.audit.headSize,
          treeSize: h.audit.treeSize,
          root: h.audit.root,
          checkpoint: h.audit.checkpoint,
        },
        rows: tables.reduce((n, t) => n + t.rows, 0),
        tables,
      };
      this.print(summary, () =>
        [
          `Restored backup ${summary.id} (taken ${summary.createdAt}) into ${summary.target}: ${summary.rows} rows`,
          `Ceremony ${summary.ceremonyId}: ${summary.threshold} of ${summary.holders.join(', ')} unseal it`,
          `Audit log: ${summary.audit.headSize} records; newest checkpoint ${summary.audit.checkpoint?.size ?? 'none'}, tree root ${summary.audit.root}`,
          'Start the server on it: it is sealed; its first unseal checks the backup seal.',
        ].join('\n'),
      );
      return 0;
    } finally {
      await store.close();
    }
  }
}
