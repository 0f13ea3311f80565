import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { inspect } from 'node:util';
import { sql } from 'drizzle-orm';
import { isKeywardError } from '../../../lib/errors.js';
import {
  DATA_DIR_LOCK_FILE,
  MIGRATIONS_SCHEMA,
  MIGRATIONS_TABLE,
  getEntry,
  migrationsFolder,
  openStore,
  pgliteClientOf,
  putEntry,
  queryRows,
  redactDatabaseUrl,
} from '../../../engine/store/index.js';
import { WAL_CHECK_MS } from '../../../engine/store/driver.js';
import type { Db, Store, StoreDriver } from '../../../engine/store/index.js';
import {
  adminDatabaseUrl,
  availableDrivers,
  createTestDatabaseUrl,
  databaseUrlOn,
  openTestStore,
  pgliteTestImage,
} from '../../helpers/store.js';
import { closingPeer } from '../../helpers/pg-peer.js';

const TABLES = [
  'approval_grants',
  'approvals',
  'audit_batches',
  'audit_checkpoints',
  'audit_head',
  'audit_inputs',
  'audit_records', // a view since migration 0008
  'audit_tiles', // audit_nodes before migration 0010
  'audit_tree',
  'barrier_entries',
  'key_versions',
  'keyring',
  'keys',
  'policies',
  'policy_bindings',
  'seal_config',
  'shard_commitments',
  'tokens',
];

async function journalEntries(): Promise<number> {
  const journal = JSON.parse(await readFile(join(migrationsFolder(), 'meta', '_journal.json'), 'utf8')) as {
    entries: unknown[];
  };
  return journal.entries.length;
}

async function appliedMigrations(db: Db): Promise<number> {
  const rows = await queryRows<{ n: number }>(
    db,
    sql`select count(*)::int as n from ${sql.identifier(MIGRATIONS_SCHEMA)}.${sql.identifier(MIGRATIONS_TABLE)}`,
  );
  return Number(rows[0]?.n);
}

async function tableNames(db: Db): Promise<string[]> {
  const rows = await queryRows<{ name: string }>(
    db,
    sql`select table_name::text as name from information_schema.tables where table_schema = 'public'`,
  );
  return rows.map((r) => r.name).sort();
}

/** Opens "the same database" more than once: a PGlite data directory, or one PostgreSQL database. */
async function sharedDatabase(driver: StoreDriver): Promise<{ open(): Promise<Store>; cleanup(): Promise<void> }> {
  if (driver === 'pglite') {
    // From the test image: initdb and the migrations after it cost seconds of CPU, and the damaged
    // image's test below runs them (and checks every migration was applied).
    const dir = await mkdtemp(join(tmpdir(), 'keyward-store-'));
    const image = await pgliteTestImage();
    return { open: () => openStore({ dataDir: dir, image }), cleanup: () => rm(dir, { recursive: true, force: true }) };
  }
  const db = await createTestDatabaseUrl();
  return { open: () => openStore({ databaseUrl: db.url }), cleanup: () => db.drop() };
}

async function assertUnavailable(p: Promise<unknown>, secret?: string): Promise<Error> {
  const err = await p.then(
    () => assert.fail('expected STORAGE_UNAVAILABLE'),
    (e: unknown) => e,
  );
  assert.ok(isKeywardError(err, 'STORAGE_UNAVAILABLE'), `expected STORAGE_UNAVAILABLE, got ${inspect(err)}`);
  if (secret !== undefined) {
    assert.ok(!err.message.includes(secret), `message leaks the password: ${err.message}`);
    assert.ok(!inspect(err, { depth: 8 }).includes(secret), 'the error or its cause leaks the password');
  }
  return err;
}

/** A PGlite store's WAL: its segment files and where its last checkpoint's redo starts. */
async function walOf(store: Store): Promise<{ segments: number; redo: string }> {
  const [res] = await pgliteClientOf(store)!.exec(
    `select (select count(*)::int from pg_ls_waldir()) as segments, redo_lsn::text as redo from pg_control_checkpoint()`,
  );
  return res!.rows[0] as { segments: number; redo: string };
}

/**
 * Writes `n` WAL segments' worth (each switch ends a segment after a row; two are past one
 * checkpoint's bound), then waits (at most 5 s) until `done` holds or the WAL is as it was.
 */
async function writeSegments(store: Store, n: number, done: (wal: { segments: number; redo: string }) => boolean) {
  const pg = pgliteClientOf(store)!;
  await pg.exec('create table wal_probe (n int)');
  for (let i = 0; i < n; i++) await pg.exec(`insert into wal_probe values (${i}); select pg_switch_wal()`);
  const deadline = Date.now() + 5000;
  let wal = await walOf(store);
  while (!done(wal) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    wal = await walOf(store);
  }
  return wal;
}

/** The WAL settings of a PGlite store, as one line. */
async function walSettings(store: Store): Promise<string> {
  const [res] = await pgliteClientOf(store)!.exec(
    `select string_agg(name || '=' || setting || coalesce(unit, ''), ' ' order by name) as s from pg_settings
      where name in ('full_page_writes', 'wal_init_zero', 'min_wal_size', 'max_wal_size')`,
  );
  return (res!.rows[0] as { s: string }).s;
}

describe('store driver (pglite WAL)', () => {
  it('an in-memory store checkpoints past one segment of WAL and keeps two segments, then rests', async () => {
    const store = await openStore({ memory: true, image: await pgliteTestImage() });
    try {
      assert.equal(
        await walSettings(store),
        'full_page_writes=off max_wal_size=32MB min_wal_size=32MB wal_init_zero=off',
      );
      // A 16 MB cache set by the store itself (the test images set it too, in postgresql.auto.conf).
      const [cache] = await pgliteClientOf(store)!.exec(
        `select current_setting('shared_buffers') as size, source from pg_settings where name = 'shared_buffers'`,
      );
      assert.deepEqual({ ...cache!.rows[0]! }, { size: '16MB', source: 'command line' });
      // Single-user PostgreSQL never checkpoints by itself: without ours the six segments stay.
      const before = await walOf(store);
      const wal = await writeSegments(store, 5, (w) => w.segments <= 2);
      assert.notEqual(wal.redo, before.redo, 'no checkpoint ran');
      assert.equal(wal.segments, 2);
      // Nothing written since: no checkpoint again (each would write WAL of its own).
      await new Promise((r) => setTimeout(r, WAL_CHECK_MS * 1.5));
      assert.deepEqual(await walOf(store), wal);
    } finally {
      await store.close();
    }
  });

  it('a data directory keeps full-page writes and zero-filled segments, and is checkpointed too', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'keyward-store-'));
    const store = await openStore({ dataDir: dir, image: await pgliteTestImage() });
    try {
      // Crash recovery of a data directory relies on full-page images (a page torn by a kill).
      assert.equal(
        await walSettings(store),
        'full_page_writes=on max_wal_size=1024MB min_wal_size=80MB wal_init_zero=on',
      );
      // Checkpointed, recovery after a crash replays about a segment, not everything since open.
      // Two segments (each 16 MB of zeros on disk here) are enough to pass the bound.
      const before = await walOf(store);
      const wal = await writeSegments(store, 2, (w) => w.redo !== before.redo);
      assert.notEqual(wal.redo, before.redo, 'no checkpoint ran');
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

for (const driver of availableDrivers()) {
  describe(`store driver (${driver})`, () => {
    it('applies the migrations at open', async () => {
      // An empty database on PostgreSQL (a test store is copied from a migrated template); PGlite's
      // test image was migrated by openStore, and the damaged image's test migrates from initdb.
      const shared = driver === 'postgres' ? await sharedDatabase(driver) : undefined;
      const store = shared ? await shared.open() : await openTestStore(driver);
      try {
        assert.equal(store.driver, driver);
        assert.deepEqual(await tableNames(store.db), TABLES);
        assert.equal(await appliedMigrations(store.db), await journalEntries());
      } finally {
        await store.close();
        await shared?.cleanup();
      }
    });

    it('re-applying the migrations on a second open is a no-op', async () => {
      const shared = await sharedDatabase(driver);
      try {
        const first = await shared.open();
        await putEntry(first.db, 'kept', new Uint8Array([1, 2, 3]));
        await first.close();
        const second = await shared.open();
        try {
          assert.equal(await appliedMigrations(second.db), await journalEntries());
          assert.deepEqual(await getEntry(second.db, 'kept'), new Uint8Array([1, 2, 3]));
        } finally {
          await second.close();
        }
      } finally {
        await shared.cleanup();
      }
    });

    it('close() is idempotent', async () => {
      const store = await openTestStore(driver);
      await store.close();
      await store.close();
    });
  });
}

if (availableDrivers().includes('postgres')) {
  describe('store driver (postgres, several nodes)', () => {
    it('two nodes opening one new database at once migrate it exactly once', async () => {
      const db = await createTestDatabaseUrl();
      const stores: Store[] = [];
      try {
        const opened = await Promise.allSettled([1, 2, 3].map(() => openStore({ databaseUrl: db.url })));
        for (const r of opened) if (r.status === 'fulfilled') stores.push(r.value);
        for (const r of opened) if (r.status === 'rejected') throw r.reason;
        assert.equal(await appliedMigrations(stores[0]!.db), await journalEntries());
        assert.deepEqual(await tableNames(stores[1]!.db), TABLES);
      } finally {
        await Promise.all(stores.map((s) => s.close()));
        await db.drop();
      }
    });

    it('bounds every pooled statement by the storage deadline (statement_timeout), 2 s unless told', async () => {
      const db = await createTestDatabaseUrl();
      const stores: Store[] = [];
      try {
        stores.push(await openStore({ databaseUrl: db.url }));
        stores.push(await openStore({ databaseUrl: db.url, statementTimeoutMs: 150 }));
        const [plain, short] = stores as [Store, Store];
        assert.deepEqual(await queryRows(plain.db, sql`show statement_timeout`), [{ statement_timeout: '2s' }]);
        assert.deepEqual(await queryRows(short.db, sql`show statement_timeout`), [{ statement_timeout: '150ms' }]);
        await assert.rejects(queryRows(short.db, sql`select pg_sleep(1)`), (err: Error) =>
          /statement timeout/.test(String((err.cause as Error)?.message)),
        );
        await assert.rejects(openStore({ databaseUrl: db.url, statementTimeoutMs: 0 }), TypeError);
      } finally {
        await Promise.all(stores.map((s) => s.close()));
        await db.drop();
      }
    });

    it('a database that does not exist is STORAGE_UNAVAILABLE', async () => {
      const u = new URL(databaseUrlOn(adminDatabaseUrl()!, 'keyward_no_such_database'));
      u.password = 'pw-no-such-db-9f2c';
      const err = await assertUnavailable(openStore({ databaseUrl: u.toString() }), 'pw-no-such-db-9f2c');
      assert.match(err.message, /^postgres: /);
      assert.match(err.message, /keyward_no_such_database/);
    });
  });
}

describe('store driver (pglite data directory)', () => {
  // New directories start from the test image (initdb is covered by the damaged image's test).
  // The lock tests reopen the directory the first test left (a new one is 24 MB written to disk),
  // or start it if that test did not run.
  let dir: string;
  let image: Blob;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'keyward-store-'));
    image = await pgliteTestImage();
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('persists across close and reopen', async () => {
    const data = join(dir, 'persist');
    const a = await openStore({ dataDir: data, image });
    await putEntry(a.db, 'secret/one', new Uint8Array([0, 0xff, 0]));
    await a.close();
    const b = await openStore({ dataDir: data, image });
    try {
      assert.deepEqual(await getEntry(b.db, 'secret/one'), new Uint8Array([0, 0xff, 0]));
    } finally {
      await b.close();
    }
  });

  it('refuses a data directory another store holds, and frees it on close', async () => {
    const data = join(dir, 'persist');
    const a = await openStore({ dataDir: data, image });
    try {
      const err = await assertUnavailable(openStore({ dataDir: data, image }));
      assert.match(err.message, /^pglite: /);
      assert.match(err.message, /in use/);
    } finally {
      await a.close();
    }
    const b = await openStore({ dataDir: data, image });
    await b.close();
  });

  it('takes over a lock left by a process that has exited', async () => {
    const data = join(dir, 'persist');
    const a = await openStore({ dataDir: data, image });
    await a.close();
    const dead = spawnSync(process.execPath, ['-e', '']).pid;
    await writeFile(join(data, DATA_DIR_LOCK_FILE), `${dead}\n`);
    const b = await openStore({ dataDir: data, image });
    await b.close();
  });

  it('starts a new directory from an image, and never lays one over an existing database', async () => {
    const data = join(dir, 'imaged');
    let reads = 0;
    const lazy = async () => (reads++, image);
    const a = await openStore({ dataDir: data, image: lazy });
    assert.equal(reads, 1);
    await putEntry(a.db, 'secret/kept', new Uint8Array([7]));
    assert.deepEqual(await tableNames(a.db), TABLES);
    await a.close();
    // The directory holds a database now: the image is not even read, and the entry survives.
    const b = await openStore({ dataDir: data, image: lazy });
    try {
      assert.equal(reads, 1);
      assert.deepEqual(await getEntry(b.db, 'secret/kept'), new Uint8Array([7]));
    } finally {
      await b.close();
    }
  });

  it('a damaged image is cleared away and the directory starts from initdb', async () => {
    // A real image cut short: what it extracted is cleared and initdb runs.
    const s = await openStore({ dataDir: join(dir, 'truncated'), image: image.slice(0, 256 * 1024) });
    try {
      assert.deepEqual(await tableNames(s.db), TABLES);
      assert.equal(await appliedMigrations(s.db), await journalEntries());
      await putEntry(s.db, 'secret/x', new Uint8Array([1]));
    } finally {
      await s.close();
    }
    // Not a tar at all: never handed to PGlite (which would take it for gzip and reject outside its
    // promise); in memory that is an error, in a data directory the same check sends it to initdb.
    const garbage = new Blob([new Uint8Array(4096).fill(0x41)]);
    const err = await assertUnavailable(openStore({ memory: true, image: garbage }));
    assert.match(String(err.cause ?? err.message), /not an uncompressed tar/);
  });

  it('a data directory that is a file is STORAGE_UNAVAILABLE', async () => {
    const file = join(dir, 'not-a-dir');
    await writeFile(file, 'x');
    await assertUnavailable(openStore({ dataDir: file }));
  });
});

describe('store driver (errors and names)', () => {
  it('an unreachable PostgreSQL is STORAGE_UNAVAILABLE without the password', async () => {
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    const err = await assertUnavailable(
      openStore({ databaseUrl: 'postgres://keyward:hunter2-Secret%40x@127.0.0.1:1/keyward' }),
      'hunter2-Secret',
    );
    assert.match(
      err.message,
      /^postgres: cannot open PostgreSQL at postgres:\/\/keyward:\*\*\*@127\.0\.0\.1:1\/keyward: /,
    );
    assert.match(err.message, /ECONNREFUSED/);
  });

  it('a peer that closes before PostgreSQL is ready, or answers HTTP, is STORAGE_UNAVAILABLE at once', async () => {
    // The driver reconnected at once, forever, to a peer that closed before the login finished:
    // openStore never settled and thousands of connections a second were opened.
    const fds = () => readdirSync('/proc/self/fd').length;
    for (const [answer, sslmode] of [
      [undefined, 'disable'],
      [undefined, 'require'],
      ['HTTP/1.1 400 Bad Request\r\n\r\n', 'prefer'],
    ] as const) {
      const before = fds();
      const peer = await closingPeer(answer);
      const t0 = performance.now();
      const url = `postgres://keyward:pw-Closer-9@127.0.0.1:${peer.port}/keyward?sslmode=${sslmode}`;
      const err = await assertUnavailable(
        Promise.race([
          openStore({ databaseUrl: url }),
          new Promise((r) => setTimeout(r, 2500, 'still opening after 2.5 s')),
        ]),
        'pw-Closer-9',
      );
      const ms = performance.now() - t0;
      assert.ok(ms < 2000, `${sslmode}: failed after ${ms} ms`);
      assert.match(
        err.message,
        new RegExp(`at postgres://keyward:\\*\\*\\*@127\\.0\\.0\\.1:${peer.port}/keyward.*CONNECTION_CLOSED`),
      );
      assert.ok(peer.accepted <= 2, `${sslmode}: ${peer.accepted} connections`);
      await peer.close();
      assert.equal(fds(), before, `${sslmode}: no socket left open`);
    }
  });

  it('a malformed database URL is STORAGE_UNAVAILABLE without the password', async () => {
    for (const url of ['postgres://u:pw-Malformed-77@[::1/db', 'postgres://u:pw-Malformed-77@host:notaport/db']) {
      await assertUnavailable(openStore({ databaseUrl: url }), 'pw-Malformed-77');
    }
  });

  it('rejects options that name no store with a TypeError', async () => {
    for (const bad of [{ databaseUrl: '' }, { dataDir: '' }, { memory: false }, {}, null]) {
      await assert.rejects(openStore(bad as never), TypeError, inspect(bad));
    }
  });

  it('redacts passwords in database URLs', () => {
    assert.equal(redactDatabaseUrl('postgres://u:p@h:5432/d'), 'postgres://u:***@h:5432/d');
    // From the password parameter on (an unencoded "&" may be the password's).
    assert.equal(
      redactDatabaseUrl('postgres://h/d?sslmode=require&password=p&y=2'),
      'postgres://h/d?sslmode=require&password=***',
    );
    // The values of parameters Keyward reads as it reads them are shown; a value it refuses, or one of
    // a parameter it does not know, may be a secret pasted in the wrong place.
    assert.equal(
      redactDatabaseUrl(
        'postgres://h/d?sslmode=verify-full&connect_timeout=5&application_name=kw&hostaddr=10.0.0.5&port=5433',
      ),
      'postgres://h/d?sslmode=verify-full&connect_timeout=5&application_name=kw&hostaddr=10.0.0.5&port=5433',
    );
    assert.equal(
      redactDatabaseUrl('postgres://u@h/db?sslmode=Hu7Tr9xQ&connect_timeout=Hu7&hostaddr=Hu7&lock_timeout=5000'),
      'postgres://u@h/db?sslmode=***&connect_timeout=***&hostaddr=***&lock_timeout=***',
    );
    assert.equal(
      redactDatabaseUrl('postgres://u@h/db?sslpassword=Hu7&Sslmode=require&constructor=Hu7&Hu7Tr9xQ'),
      'postgres://u@h/db?sslpassword=***&Sslmode=***&constructor=***&***',
    );
    assert.equal(redactDatabaseUrl('postgres://u@h/d'), 'postgres://u@h/d');
    assert.equal(redactDatabaseUrl('postgres://u:p@[bad/d'), 'postgres://u:***@[bad/d');
  });

  it('finds the migrations from the source tree and from the build', () => {
    const root = dirname(dirname(dirname(migrationsFolder())));
    const expected = join(root, 'engine', 'store', 'migrations');
    assert.equal(migrationsFolder(pathToFileURL(join(root, 'engine', 'store', 'driver.ts')).href), expected);
    assert.equal(migrationsFolder(pathToFileURL(join(root, 'dist', 'engine', 'store', 'driver.js')).href), expected);
  });
});
