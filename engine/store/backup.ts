/**
 * Table-level snapshot and load for backup and restore (docs/backup.md; docs/architecture.md, "The
 * parts" (engine/store)). Generic over the schema: the tables are every table schema.ts declares,
 * in foreign-key order, so a table added, renamed or reshaped by a migration is carried without a
 * change here. What the snapshot records of the schema is the migrations applied (drizzle's
 * journal table), and a load refuses a snapshot made under other migrations.
 *
 * Rows travel as PostgreSQL's own JSON of the row (`row_to_json`: bytea as `\x` hex, timestamps
 * with microseconds, bigints as exact digits) and come back through `json_populate_recordset`, the
 * inverse, so no value is parsed or re-encoded in JavaScript and both drivers agree byte for byte.
 *
 * A snapshot is one REPEATABLE READ, READ ONLY transaction: every table is read at the same
 * instant (PostgreSQL's MVCC snapshot, no lock taken, writers are not blocked). On PGlite that
 * transaction holds the one connection, and every request waits until it ends; so there the
 * transaction reads every table but the append-only ones ({@link APPEND_ONLY}: the audit records,
 * nearly all of a store's bytes) and the bound of each (the audit head's size); the append-only
 * table is then read after it, page by page, each page its own statement bounded by that value, so
 * requests run between the pages. Its rows below the bound are committed, and never change or go,
 * so what the pages read is what the transaction would have: one snapshot still.
 * @module
 */
import { PGlite } from '@electric-sql/pglite';
import { getTableName, is, sql } from 'drizzle-orm';
import type { SQL } from 'drizzle-orm';
import { readMigrationFiles } from 'drizzle-orm/migrator';
import { PgTable, getTableConfig } from 'drizzle-orm/pg-core';
import { KeywardError } from '../../lib/errors.js';
import type { Db } from './driver.js';
import { MIGRATIONS_SCHEMA, MIGRATIONS_TABLE, migrationsFolder } from './driver.js';
import { queryRows } from './repos.js';
import * as schema from './schema.js';
import { auditBatches, auditHead } from './schema.js';

/**
 * Tables whose rows, once committed, are never updated or deleted, and are committed as a gap-free
 * prefix of `key` bounded by `bound` (read in the same transaction as the rest): a snapshot may
 * read them after its transaction, below the bound (see the module comment). No table may reference
 * one (they are written last). `audit_batches`: records [first, first + n) of the audit log, whose
 * appends advance `audit_head.size` in the same transaction (engine/store/audit-repos.ts).
 *
 * `audit_tiles` (about 32 bytes a record) is not one of them, and is read inside the transaction:
 * the last tile of each level grows in place (`hashes || …` as the integrator advances the tree), so
 * a row read later may hold hashes beyond the tree size the transaction read, and would have to be
 * cut back to it, per level, in SQL (the hashes below the tree size never change).
 */
export const APPEND_ONLY: ReadonlyArray<{ table: string; key: string; bound: SQL }> = [
  {
    table: getTableName(auditBatches),
    key: auditBatches.first.name,
    bound: sql`select coalesce((select ${sql.identifier(auditHead.size.name)} from ${sql.identifier(getTableName(auditHead))}), 0)::text as b`,
  },
];

/** One table of the schema, as the snapshot sees it. */
export interface BackupTable {
  name: string;
  /** Primary-key columns (SQL names), in key order: the snapshot pages by them. */
  key: string[];
  /** Tables this one references (foreign keys): loaded before it. */
  references: string[];
}

/** The migrations a database has applied: their number and the hash drizzle keeps of the last. */
export interface SchemaVersion {
  migrations: number;
  last: string;
}

/** Rows read per statement while taking a snapshot. */
const PAGE_ROWS = 1000;
/**
 * Rows read per statement of an append-only table after the transaction: an audit batch holds up to
 * a few hundred records, so a page is a few MB at most, and requests wait for one page at most.
 */
const LATE_PAGE_ROWS = 50;
/** Largest batch of JSON rows loaded in one statement, in characters. */
const LOAD_BATCH_CHARS = 4 * 1024 * 1024;

/** Every table of schema.ts, parents before children (foreign keys), then by name. */
export function backupTables(): BackupTable[] {
  const tables = new Map<string, BackupTable>();
  for (const value of Object.values(schema)) {
    if (!is(value, PgTable)) continue;
    const cfg = getTableConfig(value);
    const pk =
      cfg.primaryKeys[0]?.columns.map((c) => c.name) ?? cfg.columns.filter((c) => c.primary).map((c) => c.name);
    // A table without a primary key is paged by all its columns (it has none today).
    const key = pk.length > 0 ? pk : cfg.columns.map((c) => c.name);
    const references = cfg.foreignKeys
      .map((fk) => getTableName(fk.reference().foreignTable))
      .filter((t) => t !== cfg.name);
    tables.set(cfg.name, { name: cfg.name, key, references: [...new Set(references)] });
  }
  const out: BackupTable[] = [];
  const placed = new Set<string>();
  const visit = (t: BackupTable, path: string[]) => {
    if (placed.has(t.name)) return;
    if (path.includes(t.name)) throw new Error(`schema.ts: foreign keys form a cycle through ${path.join(' → ')}`);
    for (const r of t.references.slice().sort()) {
      const parent = tables.get(r);
      if (parent) visit(parent, [...path, t.name]);
    }
    placed.add(t.name);
    out.push(t);
  };
  for (const name of [...tables.keys()].sort()) visit(tables.get(name)!, []);
  return out;
}

/** The migrations applied to `db` (drizzle's journal table). */
export async function schemaVersion(db: Db): Promise<SchemaVersion> {
  const rows = await queryRows<{ n: number | string; last: string | null }>(
    db,
    sql`select count(*)::int as n,
               (select hash from ${sql.identifier(MIGRATIONS_SCHEMA)}.${sql.identifier(MIGRATIONS_TABLE)}
                 order by created_at desc, id desc limit 1) as last
          from ${sql.identifier(MIGRATIONS_SCHEMA)}.${sql.identifier(MIGRATIONS_TABLE)}`,
  );
  const r = rows[0];
  return { migrations: Number(r?.n ?? 0), last: r?.last ?? '' };
}

/** The migrations this build of Keyward applies (its journal), as {@link schemaVersion} reads them once applied. */
export function codeSchemaVersion(): SchemaVersion {
  const files = readMigrationFiles({ migrationsFolder: migrationsFolder() });
  return { migrations: files.length, last: files[files.length - 1]?.hash ?? '' };
}

/** BACKUP_SCHEMA_MISMATCH unless a snapshot's schema version is `have`. */
export function assertSchemaVersion(snapshot: SchemaVersion, have: SchemaVersion): void {
  if (have.migrations !== snapshot.migrations || have.last !== snapshot.last)
    throw new KeywardError(
      'BACKUP_SCHEMA_MISMATCH',
      `the backup was taken under schema migration ${snapshot.migrations} (${snapshot.last.slice(0, 12)}), ` +
        `this keyward has migration ${have.migrations} (${have.last.slice(0, 12)}): restore it with the keyward version that made it`,
    );
}

/** What a snapshot wrote of one table. */
export interface TableCount {
  name: string;
  rows: number;
}

/** Where a snapshot's rows go (see {@link snapshotTables}). */
export interface SnapshotSink<H> {
  header: (tx: Db, version: SchemaVersion) => Promise<H>;
  table: (name: string) => Promise<void> | void;
  row: (json: string) => Promise<void> | void;
}

/** Whether `db` is a PGlite database (one connection). */
function onPglite(db: Db): boolean {
  return (db as { $client?: unknown }).$client instanceof PGlite;
}

/**
 * Reads every table at one instant: one REPEATABLE READ, READ ONLY transaction. `header` runs first
 * inside it (so what it reads is of the same instant), then each table's rows go to `row` in
 * primary-key order, one `row_to_json` text each, after a `table` call naming it. On PGlite the
 * append-only tables are read after the transaction, below the bounds it read, and written last (see
 * the module comment), unless `oneTransaction` (everything inside it, holding the connection).
 */
export async function snapshotTables<H>(
  db: Db,
  sink: SnapshotSink<H>,
  opts: { oneTransaction?: boolean } = {},
): Promise<{ header: H; version: SchemaVersion; tables: TableCount[] }> {
  const all = backupTables();
  const late =
    opts.oneTransaction || !onPglite(db)
      ? []
      : APPEND_ONLY.map((a) => ({ ...a, t: all.find((t) => t.name === a.table)! })).filter((a) => a.t);
  for (const a of late) {
    const child = all.find((t) => t.references.includes(a.table));
    if (child)
      throw new Error(`schema.ts: ${child.name} references append-only ${a.table}, which a snapshot writes last`);
  }
  const skip = new Set(late.map((a) => a.table));
  const snap = await db.transaction(
    async (tx) => {
      // The pool's statement bound (2 s) is for requests; a page of a big table may need longer.
      await tx.execute(SNAPSHOT_SETTINGS);
      await tx.execute(sql`set local idle_in_transaction_session_timeout = '120s'`);
      const version = await schemaVersion(tx);
      const header = await sink.header(tx, version);
      const bounds: string[] = [];
      for (const a of late) bounds.push((await queryRows<{ b: string }>(tx, a.bound))[0]!.b);
      const tables: TableCount[] = [];
      for (const t of all) if (!skip.has(t.name)) tables.push(await readTable(tx, t, sink));
      return { header, version, tables, bounds };
    },
    { isolationLevel: 'repeatable read', accessMode: 'read only' },
  );
  // Each page its own short transaction: the connection is free between them.
  for (const [i, a] of late.entries()) snap.tables.push(await readLate(db, a.t, a.key, snap.bounds[i]!, sink));
  return { header: snap.header, version: snap.version, tables: snap.tables };
}

/**
 * The settings every statement of a snapshot runs under, whatever the session's own: `bytea` as
 * `\x` hex (what restore and the rows read inside the transaction have; a session default of
 * `escape` would change the file), and the snapshot's 120 s statement bound rather than the pool's
 * request bound. Local to the transaction it runs in.
 */
const SNAPSHOT_SETTINGS = sql`select set_config('statement_timeout', '120s', true), set_config('bytea_output', 'hex', true)`;

/**
 * An append-only table read after the snapshot's transaction, below `below` on its key column `key`
 * (its whole primary key), {@link LATE_PAGE_ROWS} rows a page. Each page is one short transaction
 * under {@link SNAPSHOT_SETTINGS}, and the next page starts after the last key read (the key alone
 * as the keyset parameter, not the row's JSON).
 */
async function readLate(
  db: Db,
  t: BackupTable,
  key: string,
  below: string,
  sink: SnapshotSink<unknown>,
): Promise<TableCount> {
  if (t.key.length !== 1 || t.key[0] !== key)
    throw new Error(`schema.ts: append-only ${t.name} must have ${key} as its whole primary key`);
  const table = sql.identifier(t.name);
  const k = sql.identifier(key);
  return readPaged(t, sink, LATE_PAGE_ROWS, async (after) => {
    // PGlite answers in-process, so a page's promise settles without ever returning to the event
    // loop; give it a turn so requests (sockets, timers) run between pages.
    await new Promise<void>((resolve) => setImmediate(resolve));
    const from = after === undefined ? sql`` : sql`${k} > ${after}::bigint and`;
    const page = await db.transaction(async (tx) => {
      await tx.execute(SNAPSHOT_SETTINGS);
      return queryRows<{ k: string; j: string }>(
        tx,
        sql`select t.${k}::text as k, row_to_json(t)::text as j
              from (select * from ${table} where ${from} ${k} < ${below}::bigint order by ${k} limit ${LATE_PAGE_ROWS}) t`,
      );
    });
    return { rows: page, next: page.at(-1)?.k };
  });
}

/** Every row of `t` inside the snapshot's transaction, {@link PAGE_ROWS} a page in primary-key order. */
function readTable(db: Db, t: BackupTable, sink: SnapshotSink<unknown>): Promise<TableCount> {
  return readPaged(t, sink, PAGE_ROWS, async (after) => {
    const page = await queryRows<{ j: string }>(db, pageQuery(t, after));
    return { rows: page, next: page.at(-1)?.j };
  });
}

/**
 * `t`'s rows (`j`: each row's JSON) to `sink`, page after page: `page(after)` gives up to `size` rows
 * after the cursor `after` (undefined: from the start) and the cursor of its last row; a short page
 * is the last.
 */
async function readPaged(
  t: BackupTable,
  sink: SnapshotSink<unknown>,
  size: number,
  page: (after: string | undefined) => Promise<{ rows: { j: string }[]; next: string | undefined }>,
): Promise<TableCount> {
  await sink.table(t.name);
  let rows = 0;
  let after: string | undefined;
  for (;;) {
    const p = await page(after);
    for (const r of p.rows) await sink.row(r.j);
    rows += p.rows.length;
    if (p.rows.length < size) break;
    after = p.next;
  }
  return { name: t.name, rows };
}

/**
 * One page of `t` after the row whose JSON is `after` (keyset pagination on the primary key, which
 * may have several columns of any type: the row's own JSON gives them back).
 */
function pageQuery(t: BackupTable, after: string | undefined): SQL {
  const table = sql.identifier(t.name);
  const cols = sql.join(
    t.key.map((k) => sql.identifier(k)),
    sql`, `,
  );
  const where =
    after === undefined
      ? sql``
      : sql`where (${cols}) > (select ${cols} from json_populate_record(null::${table}, ${after}::json))`;
  return sql`select row_to_json(t)::text as j from (select * from ${table} ${where} order by ${cols} limit ${PAGE_ROWS}) t`;
}

/** The first table of the schema holding a row, or undefined when every table is empty. */
export async function firstNonEmptyTable(db: Db): Promise<string | undefined> {
  for (const t of backupTables()) {
    const rows = await queryRows(db, sql`select 1 from ${sql.identifier(t.name)} limit 1`);
    if (rows.length > 0) return t.name;
  }
  return undefined;
}

/**
 * Loads a snapshot into an empty store, in one transaction: `tables` yields each table's name and
 * its rows (the `row_to_json` texts a snapshot wrote), in the snapshot's order. Refuses a store
 * with rows in any table (RESTORE_TARGET_NOT_EMPTY), a snapshot of other migrations
 * (BACKUP_SCHEMA_MISMATCH) and a table this schema doesn't have (BACKUP_INVALID). `finish` runs
 * last, in the same transaction.
 */
export async function loadTables(
  db: Db,
  expected: SchemaVersion,
  tables: AsyncIterable<{ name: string; rows: AsyncIterable<string> }>,
  finish?: (tx: Db) => Promise<void>,
): Promise<TableCount[]> {
  const known = new Map(backupTables().map((t) => [t.name, t]));
  return db.transaction(async (tx) => {
    await tx.execute(sql`set local statement_timeout = 0`);
    assertSchemaVersion(expected, await schemaVersion(tx));
    const full = await firstNonEmptyTable(tx);
    if (full !== undefined)
      throw new KeywardError(
        'RESTORE_TARGET_NOT_EMPTY',
        `the target store is not empty (table ${full} has rows): restore only into a new data directory or an empty database`,
      );
    const counts: TableCount[] = [];
    for await (const t of tables) {
      if (!known.has(t.name))
        throw new KeywardError('BACKUP_INVALID', `the backup holds table "${t.name}", which this schema does not have`);
      const table = sql.identifier(t.name);
      let batch: string[] = [];
      let chars = 0;
      let rows = 0;
      const flush = async () => {
        if (batch.length === 0) return;
        await tx.execute(
          sql`insert into ${table} select * from json_populate_recordset(null::${table}, ${`[${batch.join(',')}]`}::json)`,
        );
        rows += batch.length;
        batch = [];
        chars = 0;
      };
      for await (const json of t.rows) {
        batch.push(json);
        chars += json.length;
        if (chars >= LOAD_BATCH_CHARS) await flush();
      }
      await flush();
      counts.push({ name: t.name, rows });
    }
    await finish?.(tx);
    return counts;
  });
}
