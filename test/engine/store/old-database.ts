/**
 * A database at an earlier migration, for the tests of a later one (audit-migration.test.ts for
 * 0008, audit-tiles-migration.test.ts for 0010): the migration files as they are, the journal cut
 * after entry `last`; `reopen` closes it and opens it as a Keyward store, which applies the rest.
 * On PGlite the migrated database's image is cached on disk with the test store image
 * (test/helpers/store.ts), keyed by the PGlite version and the migration files; each test starts from it.
 */
import { realpathSync } from 'node:fs';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { PGlite } from '@electric-sql/pglite';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import { MIGRATIONS_SCHEMA, MIGRATIONS_TABLE, migrationsFolder, openStore } from '../../../engine/store/index.js';
import type { Db, Store } from '../../../engine/store/index.js';
import * as schema from '../../../engine/store/schema.js';
import { cachedPgliteImage, createTestDatabaseUrl, pgliteInitdbImage } from '../../helpers/store.js';
import { dumpCompactImage } from '../../../scripts/store-image.mjs';

export interface OldDatabase {
  db: Db;
  reopen(): Promise<Store>;
  drop(): Promise<void>;
}

/** Registers the file's before/after hooks; returns a function opening a database at migration `last` on a driver. */
export function oldDatabasesAt(last: number): (driver: string) => Promise<OldDatabase> {
  let folder: string | undefined;
  let image: Promise<Blob> | undefined;
  before(async () => {
    folder = await mkdtemp(join(tmpdir(), `keyward-migrations-${String(last).padStart(4, '0')}-`));
    // realpath: the test runner's compiled mirror links the folder (scripts/test-mirror.mjs).
    await cp(realpathSync(migrationsFolder()), folder, { recursive: true, dereference: true });
    const journalFile = join(folder, 'meta', '_journal.json');
    const journal = JSON.parse(await readFile(journalFile, 'utf8')) as { entries: { idx: number }[] };
    journal.entries = journal.entries.filter((e) => e.idx <= last);
    await writeFile(journalFile, JSON.stringify(journal));
  });
  after(async () => {
    if (folder) await rm(folder, { recursive: true, force: true });
  });
  const config = () => {
    if (!folder) throw new Error('oldDatabasesAt: open databases inside tests (the folder is made in before())');
    return { migrationsFolder: folder, migrationsTable: MIGRATIONS_TABLE, migrationsSchema: MIGRATIONS_SCHEMA };
  };

  return async (driver) => {
    if (driver === 'pglite') {
      // The database at `last` from the test image cache (test/helpers/store.ts), else migrated
      // from the cached initdb image: once per checkout and migration files, not per file and run.
      image ??= cachedPgliteImage(`at${last}`, async () => {
        const first = await PGlite.create({ loadDataDir: await pgliteInitdbImage() });
        try {
          await migratePglite(drizzlePglite(first, { schema }), config());
          return await dumpCompactImage(first);
        } finally {
          await first.close();
        }
      });
      const client = await PGlite.create({ loadDataDir: await image });
      return {
        db: drizzlePglite(client, { schema }) as unknown as Db,
        async reopen() {
          const dumped = await client.dumpDataDir('none');
          await client.close();
          return openStore({ memory: true, image: dumped });
        },
        async drop() {
          if (!client.closed) await client.close();
        },
      };
    }
    const target = await createTestDatabaseUrl();
    const client = postgres(target.url, { max: 1, onnotice: () => {} });
    const db = drizzlePostgres(client, { schema });
    await migratePostgres(db, config());
    let ended = false;
    return {
      db: db as unknown as Db,
      async reopen() {
        ended = true;
        await client.end();
        return openStore({ databaseUrl: target.url });
      },
      async drop() {
        if (!ended) await client.end();
        await target.drop();
      },
    };
  };
}
