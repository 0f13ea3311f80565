/**
 * Dev mode's store starts from the empty image `npm run build` writes (build/pglite/store-image.tar)
 * instead of running initdb; a missing or unreadable image falls back to initdb. Either way the
 * result is a migrated database.
 * @module
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import { openDevStore, storageLine } from '../../cli/commands/server.js';
import { openStore } from '../../engine/store/index.js';
import type { Store, StoreOptions } from '../../engine/store/index.js';
import { pgliteTestImage } from '../helpers/store.js';

/** An opener (openStore unless given), recording whether each call carried an image. */
function recording(open: (opts: StoreOptions) => Promise<Store> = openStore): {
  open: (opts: StoreOptions) => Promise<Store>;
  calls: boolean[];
} {
  const calls: boolean[] = [];
  return {
    calls,
    open: (opts) => {
      calls.push('memory' in opts && opts.image !== undefined);
      return open(opts);
    },
  };
}

/** The store is migrated: the keys table exists and is empty. */
async function assertMigrated(store: Store): Promise<void> {
  const r = (await store.db.execute(sql`select count(*)::int as n from keys`)) as unknown as {
    rows: Array<{ n: number }>;
  };
  assert.equal(r.rows[0]!.n, 0);
}

describe('keyward server --dev: the in-memory store image', () => {
  it(
    'starts from the built image when there is one',
    { skip: !existsSync('build/pglite/store-image.tar') },
    async () => {
      const r = recording();
      const store = await openDevStore(r.open);
      try {
        assert.deepEqual(r.calls, [true]);
        await assertMigrated(store);
      } finally {
        await store.close();
      }
    },
  );

  it('falls back to initdb with an image PGlite cannot read, and without one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kw-image-'));
    try {
      const bad = join(dir, 'store-image.tar');
      await writeFile(bad, 'not a tarball of a PostgreSQL data directory');
      const r = recording();
      const store = await openDevStore(r.open, bad);
      try {
        assert.deepEqual(r.calls, [true, false]);
        await assertMigrated(store);
      } finally {
        await store.close();
      }
      // Without one, the same fallback: initdb, as above. It is not run a second time (seconds of
      // CPU): the store opened for it comes from the test image, and what is checked is that initdb
      // is asked for, once, and its store handed back.
      let opened: Store | undefined;
      const none = recording(async () => (opened = await openStore({ memory: true, image: await pgliteTestImage() })));
      const fresh = await openDevStore(none.open, join(dir, 'missing.tar'));
      try {
        assert.deepEqual(none.calls, [false]);
        assert.equal(fresh, opened);
      } finally {
        await fresh.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('keyward server: the storage its start-up line names', () => {
  it('says in-memory only for --dev without --data-dir or --database-url', () => {
    const target = (url: string) => ({ target: `target of ${url}` });
    assert.equal(storageLine({ dev: true }, target), 'in-memory PGlite (everything is lost on exit)');
    assert.equal(storageLine({ dev: true, dataDir: '/var/kw' }, target), 'PGlite in /var/kw');
    assert.equal(
      storageLine({ dev: true, databaseUrl: 'postgres://h/d' }, target),
      'PostgreSQL at target of postgres://h/d',
    );
    assert.equal(storageLine({ databaseUrl: 'postgres://h/d' }, target), 'PostgreSQL at target of postgres://h/d');
    assert.match(storageLine({}, target), /^PGlite in \S/);
  });
});
