/**
 * Test stores on either driver.
 *
 * - `pglite` (always available): an in-memory PGlite, started from a cached image of a freshly
 *   migrated database (about 0.4 s instead of 1.5–3 s for initdb), checkpointed and with its WAL cut
 *   down (scripts/store-image.mjs). The image is kept per process and on disk in the checkout's
 *   node_modules/.cache/ (checkouts with other migrations don't remove each other's), keyed by the
 *   PGlite version and the migration files, so it is never stale; a bad image is thrown away and
 *   rebuilt.
 * - `postgres` (when KEYWARD_TEST_DATABASE_URL names a superuser on a throwaway server): every store
 *   gets its own database, created with a random name and dropped (WITH FORCE) on close.
 *
 * `openTestStore()` follows KEYWARD_TEST_DRIVER (default pglite), so whole suites switch drivers.
 * Always close what you open: an open PGlite keeps the test process alive.
 */
import { after, before, beforeEach, describe, it } from 'node:test';
import { createHash, randomBytes } from 'node:crypto';
import type { Hash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';
import { getTableName, is, sql } from 'drizzle-orm';
import { PgTable } from 'drizzle-orm/pg-core';
import { PGlite } from '@electric-sql/pglite';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import {
  ensureAuditRows,
  migrationsFolder,
  openStore,
  pgliteClientOf,
  queryRows,
  redactDatabaseUrl,
  storeImageBlob,
} from '../../engine/store/index.js';
import type { Db, Store, StoreDriver } from '../../engine/store/index.js';
import * as schema from '../../engine/store/schema.js';
import { ROOT } from '../../scripts/dist-fresh.mjs';
import { dumpCompactImage } from '../../scripts/store-image.mjs';

export type TestStore = Store & { url?: string };

const DRIVERS: readonly StoreDriver[] = ['pglite', 'postgres'];

/** The superuser URL of the throwaway PostgreSQL server, if there is one. */
export function adminDatabaseUrl(): string | undefined {
  const url = process.env.KEYWARD_TEST_DATABASE_URL;
  return url === undefined || url === '' ? undefined : url;
}

/**
 * The test server's Unix socket: its port, and the first of its socket directories holding the
 * socket (undefined when it listens on none this process can reach).
 */
export async function testServerSocket(): Promise<{ dir: string | undefined; port: string }> {
  const admin = postgres(adminDatabaseUrl()!, { max: 1, onnotice: () => {} });
  try {
    const [row] =
      await admin`select current_setting('unix_socket_directories') as dirs, current_setting('port') as port`;
    const port = row!.port as string;
    const dir = (row!.dirs as string)
      .split(',')
      .map((d) => d.trim())
      .find((d) => d.startsWith('/') && existsSync(join(d, `.s.PGSQL.${port}`)));
    return { dir, port };
  } finally {
    await admin.end({ timeout: 1 });
  }
}

/**
 * `describe` for a suite that needs PostgreSQL: without KEYWARD_TEST_DATABASE_URL it is one skipped
 * test (so `npm test`'s summary counts it under "# skipped"; a skipped describe is not counted).
 */
export function describePostgres(name: string, opts: { timeout?: number }, fn: () => void): void {
  if (availableDrivers().includes('postgres')) describe(name, opts, fn);
  else
    describe(name, () => it('runs only on PostgreSQL', { skip: 'needs KEYWARD_TEST_DATABASE_URL' }, () => undefined));
}

/**
 * The drivers the storage suites run on: pglite, and postgres too when KEYWARD_TEST_DATABASE_URL is
 * set; only postgres in a KEYWARD_TEST_DRIVER=postgres run, which runs everything on PostgreSQL
 * (.ci/run runs the default run first: its PGlite half was the same tests again).
 */
export function availableDrivers(): StoreDriver[] {
  if (adminDatabaseUrl() === undefined) return ['pglite'];
  return defaultTestDriver() === 'postgres' ? ['postgres'] : ['pglite', 'postgres'];
}

/** The driver KEYWARD_TEST_DRIVER asks for (default pglite). */
export function defaultTestDriver(): StoreDriver {
  const d = process.env.KEYWARD_TEST_DRIVER ?? 'pglite';
  if (!(DRIVERS as readonly string[]).includes(d)) {
    throw new Error(`KEYWARD_TEST_DRIVER expected one of ${DRIVERS.join(', ')}, got "${d}"`);
  }
  return d as StoreDriver;
}

/** A new, empty, migrated store. `close()` also drops the PostgreSQL database. */
export async function openTestStore(driver: string = defaultTestDriver()): Promise<TestStore> {
  if (driver === 'pglite') return openPgliteTestStore();
  if (driver !== 'postgres') throw new Error(`openTestStore expected driver pglite or postgres, got "${driver}"`);
  const db = await createTestDatabaseUrl({ migrated: true });
  let store: Store;
  try {
    store = await openStore({ databaseUrl: db.url });
  } catch (err) {
    await db.drop();
    throw err;
  }
  let closed = false;
  return {
    driver: store.driver,
    db: store.db,
    url: db.url,
    async close() {
      if (closed) return;
      closed = true;
      try {
        await store.close();
      } finally {
        await db.drop();
      }
    },
  };
}

/**
 * A fresh, empty database on the test server, for tests that open several stores ("nodes") on one
 * database. Nothing is migrated until a store opens it. `drop()` is idempotent.
 */
/**
 * For a describe block over the audit tables: one store opened before its tests (handed to `use`),
 * reset with the audit head rows in place before each test, closed after them.
 */
export function auditStoreHooks(use: (store: TestStore) => void): void {
  let store: TestStore | undefined;
  before(async () => {
    use((store = await openTestStore()));
  });
  beforeEach(async () => {
    await resetTestStore(store!);
    await ensureAuditRows(store!.db);
  });
  after(async () => {
    await store?.close();
  });
}

export async function createTestDatabaseUrl(
  opts: { migrated?: boolean } = {},
): Promise<{ url: string; drop(): Promise<void> }> {
  const admin = adminDatabaseUrl();
  if (admin === undefined) {
    throw new Error(
      'the postgres test driver needs KEYWARD_TEST_DATABASE_URL: a superuser URL to a throwaway PostgreSQL server ' +
        '(.ci/run starts one)',
    );
  }
  const name = `keyward_test_${randomBytes(8).toString('hex')}`;
  const template = opts.migrated ? ` TEMPLATE "${await migratedTemplate(admin)}"` : '';
  await withAdmin(admin, (sql) => sql.unsafe(`CREATE DATABASE "${name}"${template}`));
  let dropped = false;
  return {
    url: databaseUrlOn(admin, name),
    async drop() {
      if (dropped) return;
      dropped = true;
      await withAdmin(admin, (sql) => sql.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
    },
  };
}

/**
 * The admin URL `admin` naming the database `name` instead: in its path, and without a `dbname`
 * parameter, which would win over the path (engine/store/pg-socket.ts reads it as libpq does). The
 * other parameters are kept as written: URLSearchParams would write them again, a space as "+".
 */
export function databaseUrlOn(admin: string, name: string): string {
  const u = new URL(admin);
  u.pathname = `/${name}`;
  u.search = u.search
    .slice(1)
    .split('&')
    .filter((p) => !isDbname(p.split('=', 1)[0]!))
    .join('&');
  return u.toString();
}

/** A parameter's name is `dbname`, percent-encoded or not; one that is no percent-encoding is not. */
function isDbname(name: string): boolean {
  try {
    return decodeURIComponent(name) === 'dbname';
  } catch {
    return false; // kept: opening the store refuses it, naming it
  }
}

let template: Promise<string> | undefined;

/**
 * A template database holding a freshly migrated store, named by a hash of the migration files, made
 * once per server (and migration files): a test store copies it (CREATE DATABASE ... TEMPLATE)
 * instead of running every migration, about 1 s of the server's CPU and round trips per store. Made
 * under an advisory lock, as parallel test processes ask at once; marked a template (datistemplate)
 * only once migrated and closed, so a half-made one (a process killed meanwhile) is made again. A
 * database of its own no test connects to: CREATE DATABASE refuses a template with connections.
 * Stores that must run the migrations themselves open an empty database (createTestDatabaseUrl()).
 */
function migratedTemplate(admin: string): Promise<string> {
  template ??= makeTemplate(admin).catch((err: unknown) => {
    template = undefined;
    throw err;
  });
  return template;
}

async function makeTemplate(admin: string): Promise<string> {
  const name = `keyward_template_${migrationsHash()}`;
  const ready = (sql: postgres.Sql) =>
    sql`select 1 from pg_database where datname = ${name} and datistemplate`.then((r) => r.length > 0);
  await withAdmin(admin, async (sql) => {
    if (await ready(sql)) return;
    // hashtext('keyward test template'): the key of this lock only.
    await sql`select pg_advisory_lock(hashtext('keyward test template'))`;
    try {
      if (await ready(sql)) return;
      await sql.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await sql.unsafe(`CREATE DATABASE "${name}"`);
      const store = await openStore({ databaseUrl: databaseUrlOn(admin, name) });
      await store.close();
      await sql.unsafe(`ALTER DATABASE "${name}" IS_TEMPLATE true`);
    } finally {
      await sql`select pg_advisory_unlock(hashtext('keyward test template'))`;
    }
  });
  return name;
}

async function withAdmin<T>(url: string, fn: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 10 });
  try {
    return await fn(sql);
  } catch (err) {
    throw new Error(`test database admin on ${redactDatabaseUrl(url)}: ${(err as Error).message}`, { cause: err });
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** The tables of a migrated store: those of the schema (engine/store/schema.ts). */
const SCHEMA_TABLES: ReadonlySet<string> = new Set(
  Object.values(schema)
    .filter((t) => is(t, PgTable))
    .map((t) => getTableName(t)),
);

/**
 * Empties every table of a test store (and restarts its sequences), as a fresh store would be: for
 * suites whose tests each want an empty store, one store and this between tests instead of one store
 * per test (opening one costs about half a second of CPU on PGlite, a database on PostgreSQL). A
 * table that is not in the schema (one a test made) is dropped, as a fresh store would not have it:
 * a closed PGlite test store is reset so when the next store of its process takes it.
 */
export async function resetTestStore(store: Store): Promise<void> {
  const tables = await queryRows<{ name: string; ident: string }>(
    store.db,
    sql`select table_name as name, quote_ident(table_name) as ident from information_schema.tables
        where table_schema = 'public' and table_type = 'BASE TABLE' order by table_name`,
  );
  const made = tables.filter((t) => !SCHEMA_TABLES.has(t.name)).map((t) => t.ident);
  const kept = tables.filter((t) => SCHEMA_TABLES.has(t.name)).map((t) => t.ident);
  if (kept.length === 0) throw new Error('resetTestStore: the store has no tables (was it migrated?)');
  if (made.length > 0) await store.db.execute(sql.raw(`drop table ${made.join(', ')} cascade`));
  await store.db.execute(sql.raw(`truncate ${kept.join(', ')} restart identity cascade`));
}

// ---------------------------------------------------------------------------------------------------
// PGlite image cache

let image: Promise<Blob> | undefined;

/**
 * PGlite clients a closed test store left, kept for the next store of this process: a new one costs
 * about 0.6 s of CPU (its image is unpacked and PostgreSQL started), emptying one a few ms. A kept
 * client is closed when no store takes it within IDLE_MS. The files that scripts/test.mjs runs in one
 * process are all loaded before the first test runs, so the next file's store comes within
 * milliseconds of the last one's close. The wait still holds the test process open at its end,
 * although the timer is unref'd (5 s of it added 5 s to every process that opened a store: about a
 * minute of a whole run), so it stays short.
 */
const idle: Array<{ client: PGlite; timer: NodeJS.Timeout }> = [];
const IDLE_MS = 200;

async function openPgliteTestStore(): Promise<TestStore> {
  for (let kept = idle.pop(); kept; kept = idle.pop()) {
    clearTimeout(kept.timer);
    const store = lease(kept.client);
    try {
      await resetTestStore(store);
      return store;
    } catch {
      // Left mid-transaction or broken by its last test: not worth saving.
      await store.close();
    }
  }
  return lease(pgliteClientOf(await openImagedPgliteStore())!);
}

/**
 * A store over `client` that behaves as a store of its own: after `close()` its database answers
 * every call as a closed PGlite does ("PGlite is closed"), and the client goes back to `idle`.
 */
function lease(client: PGlite): TestStore {
  const { proxy, revoke } = revocableClient(client);
  let closed = false;
  return {
    driver: 'pglite',
    db: drizzlePglite(proxy, { schema }) as unknown as Db,
    async close() {
      if (closed) return;
      closed = true;
      revoke();
      if (client.closed) return;
      const timer = setTimeout(() => {
        const i = idle.findIndex((k) => k.client === client);
        if (i >= 0) idle.splice(i, 1);
        void client.close().catch(() => {});
      }, IDLE_MS);
      timer.unref();
      idle.push({ client, timer });
    },
  };
}

function revocableClient(client: PGlite): { proxy: PGlite; revoke: () => void } {
  let revoked = false;
  const proxy = new Proxy(client, {
    get(target, key) {
      if (revoked) throw new Error('PGlite is closed');
      const value: unknown = Reflect.get(target, key, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { proxy, revoke: () => (revoked = true) };
}

async function openImagedPgliteStore(): Promise<Store> {
  try {
    return await openStore({ memory: true, image: await pgliteTestImage() });
  } catch {
    // A damaged cached image: forget it and start from initdb (rebuilding the image next time).
    image = undefined;
    await rm(imageCacheFile(''), { force: true });
    return openStore({ memory: true });
  }
}

/** An image of a freshly migrated PGlite database (see the module comment). */
export function pgliteTestImage(): Promise<Blob> {
  image ??= loadOrBuildImage().catch((err: unknown) => {
    image = undefined;
    throw err;
  });
  return image;
}

function loadOrBuildImage(): Promise<Blob> {
  return cachedPgliteImage('', async () => {
    let built = await builtStoreImage();
    const fromInitdb = async () => openStore({ memory: true, image: await pgliteInitdbImage() });
    // A build stopped half-way can leave a truncated image newer than the migrations: initdb's then.
    const store = built
      ? await openStore({ memory: true, image: built }).catch(() => {
          built = undefined;
          return fromInitdb();
        })
      : await fromInitdb();
    try {
      const client = pgliteClientOf(store)!;
      // What the initdb image sets (pgliteInitdbImage), for the stores opened from a data directory.
      if (built) await client.exec(`alter system set shared_buffers = '${TEST_SHARED_BUFFERS}'`);
      return await dumpCompactImage(client);
    } finally {
      await store.close();
    }
  });
}

/**
 * The empty migrated store `npm run build` writes (build/pglite/store-image.tar), when it is newer
 * than every migration file and than the installed PGlite, so made by them: the test image then
 * starts from it (about 2.6 s of CPU) rather than from initdb and every migration (about 7.5 s with
 * no initdb image cached). A fresh clone (CI) has no image cached, and the first test processes,
 * which start together, each made one. openStore still runs the migrations, as on any image.
 */
async function builtStoreImage(): Promise<Blob | undefined> {
  const file = join(ROOT, 'build', 'pglite', 'store-image.tar');
  try {
    const made = statSync(file).mtimeMs;
    const pglite = join(dirname(dirname(fileURLToPath(import.meta.resolve('@electric-sql/pglite')))), 'package.json');
    const folder = migrationsFolder();
    const inputs = [pglite, folder, ...listFiles(folder).map((f) => join(folder, f))];
    if (inputs.some((f) => statSync(f).mtimeMs > made)) return undefined;
    return storeImageBlob(await readFile(file));
  } catch {
    return undefined; // no build yet
  }
}

let initdbImage: Promise<Blob> | undefined;

/**
 * The test images' shared_buffers, instead of PostgreSQL's 128 MB: PGlite zeroes its shared memory
 * as it starts, which made half the CPU of opening a store from an image (about 0.7 s of 1.4 s per
 * new PGlite, measured). A test store holds a few MB; the cache's size changes no result.
 */
const TEST_SHARED_BUFFERS = '16MB';

/**
 * An image of a database straight from initdb, no migration applied (cached as the migrated one is):
 * what the migrated image and the old databases of the migration tests (test/engine/store/
 * old-database.ts) start from, instead of paying initdb (about 2 s of CPU) each.
 */
export function pgliteInitdbImage(): Promise<Blob> {
  initdbImage ??= cachedPgliteImage('initdb', async () => {
    const client = await PGlite.create();
    try {
      // Every test image starts here, so every test store gets it (postgresql.auto.conf).
      await client.exec(`alter system set shared_buffers = '${TEST_SHARED_BUFFERS}'`);
      return await dumpCompactImage(client);
    } finally {
      await client.close();
    }
  }).catch((err: unknown) => {
    initdbImage = undefined;
    throw err;
  });
  return initdbImage;
}

/**
 * The image named `name` ('' for the migrated database) from the disk cache (see the module
 * comment), else `build()`'s, which is then cached. Images of other PGlite versions or migration
 * files under the same name are removed (40 MB each).
 */
export async function cachedPgliteImage(name: string, build: () => Promise<Blob>): Promise<Blob> {
  if (!/^[a-z0-9]*$/.test(name)) throw new Error(`cachedPgliteImage: a name of a-z0-9, got "${name}"`);
  const file = imageCacheFile(name);
  const cached = await readCached(file);
  if (cached) return storeImageBlob(cached);
  await mkdir(dirname(file), { recursive: true });
  const lock = `${file}.lock`;
  // One process builds an image at a time; the others wait for its file. A fresh clone's first test
  // processes start together and each made every image it needed (seconds of CPU each). The wait is
  // bounded: a lock held by a process that is stuck, or by a live process that reused a dead
  // builder's id, must not hang the suite; past the bound this process builds without the lock.
  const waitUntil = Date.now() + LOCK_WAIT_MS;
  let locked: boolean;
  while (!(locked = await takeLock(lock)) && Date.now() < waitUntil) {
    const made = await readCached(file);
    if (made) return storeImageBlob(made);
    await new Promise((r) => setTimeout(r, 100));
  }
  try {
    const made = await readCached(file); // built while this process waited for the lock
    if (made) return storeImageBlob(made);
    const bytes = new Uint8Array(await (await build()).arrayBuffer());
    // Write-then-rename, so parallel test processes never read a half-written image.
    const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
    await writeFile(tmp, bytes);
    await rename(tmp, file).catch(() => rm(tmp, { force: true }));
    await removeStaleImages(file, name);
    return storeImageBlob(bytes);
  } finally {
    if (locked) await rm(lock, { force: true });
  }
}

/** How long a process waits for another's image build (a loaded machine's slowest is well under a minute). */
const LOCK_WAIT_MS = 120_000;

async function readCached(file: string): Promise<Uint8Array | undefined> {
  const bytes = await readFile(file).catch(() => undefined);
  return bytes !== undefined && bytes.length > 0 ? bytes : undefined;
}

/**
 * Creates `lock` holding this process's id; false while a live process holds it. A lock whose process
 * has exited (killed mid-build) is taken over.
 */
async function takeLock(lock: string): Promise<boolean> {
  try {
    await writeFile(lock, String(process.pid), { flag: 'wx' });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const [text, since] = await Promise.all([
    readFile(lock, 'utf8').catch(() => ''),
    stat(lock).then(
      (st) => st.mtimeMs,
      () => 0,
    ),
  ]);
  const holder = Number(text);
  // An empty lock is being written, unless its writer died between creating and writing it.
  if (text === '' ? Date.now() - since < 10_000 : isAlive(holder)) return false;
  await rm(lock, { force: true });
  return takeLock(lock);
}

function isAlive(pid: number): boolean {
  // 0 and negative ids would signal process groups: no builder wrote those.
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Images of the same name for other migrations or PGlite versions are of no further use. */
async function removeStaleImages(current: string, name: string): Promise<void> {
  const names = await readdir(dirname(current)).catch(() => [] as string[]);
  for (const file of names) {
    const m = IMAGE_FILE_RE.exec(file);
    if (m && (m[1] ?? '') === name && join(dirname(current), file) !== current) {
      await rm(join(dirname(current), file), { force: true }).catch(() => {});
    }
  }
}

const IMAGE_FILE_RE = /^keyward-test-pglite-(?:([a-z0-9]+)-)?[0-9a-f]{16}\.tar$/;
let imageHash: string | undefined;
let migrationsHashValue: string | undefined;

/** `h` updated with every migration file's name and contents. */
function withMigrationFiles(h: Hash): Hash {
  const folder = migrationsFolder();
  for (const rel of listFiles(folder))
    h.update(rel)
      .update('\0')
      .update(readFileSync(join(folder, rel)))
      .update('\0');
  return h;
}

/** A hash of every migration file (names and contents). */
function migrationsHash(): string {
  if (migrationsHashValue === undefined) {
    migrationsHashValue = withMigrationFiles(createHash('sha256')).digest('hex').slice(0, 16);
  }
  return migrationsHashValue;
}

/** An image's cache file: its name and a hash of the PGlite version and every migration file. */
function imageCacheFile(name: string): string {
  if (imageHash === undefined) {
    const h = createHash('sha256').update(`compact-wal 1 shared_buffers ${TEST_SHARED_BUFFERS}\0`);
    const pgliteDir = dirname(dirname(fileURLToPath(import.meta.resolve('@electric-sql/pglite'))));
    h.update(readFileSync(join(pgliteDir, 'package.json')));
    imageHash = withMigrationFiles(h).digest('hex').slice(0, 16);
  }
  return join(
    ROOT,
    'node_modules',
    '.cache',
    'keyward-images',
    `keyward-test-pglite-${name ? name + '-' : ''}${imageHash}.tar`,
  );
}

function listFiles(dir: string, prefix = ''): string[] {
  return readdirSync(join(dir, prefix), { withFileTypes: true })
    .sort((a, b) => (a.name < b.name ? -1 : 1))
    .flatMap((e) => (e.isDirectory() ? listFiles(dir, join(prefix, e.name)) : [join(prefix, e.name)]));
}
