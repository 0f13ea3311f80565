/**
 * Audit-log storage (docs/architecture.md, "The audit log"): one row per committed batch of records, appended by
 * compare-and-set on the one-row head in one statement; the integrated tree's compare-and-set,
 * its hashes in tiles (C2SP tlog-tiles), checkpoints and encrypted policy inputs.
 * What the bytes mean (leaves, hashes, notes) is engine/audit's business; these functions move rows.
 * @module
 */
import { and, desc, eq, inArray, or, sql } from 'drizzle-orm';
import type { SQL } from 'drizzle-orm';
import { KeywardError } from '../../lib/errors.js';
import { auditAppendConnection } from './driver.js';
import type { Db } from './driver.js';
import { queryRows } from './repos.js';
import { auditCheckpoints, auditHead, auditInputs, auditTiles, auditTree, SINGLETON_ID } from './schema.js';
import type { AuditCheckpointRow } from './schema.js';
import { toPlainBytes } from './columns.js';
import { isPgliteRawClient, PglitePreparedStatement } from './pglite-wire.js';
import type { WireType, WireValue } from './pglite-wire.js';

/** The chain value before the first record: 32 zero bytes. */
export const AUDIT_CHAIN_SEED = new Uint8Array(32);
/** Empty tree root: SHA-256 of the empty string (RFC 9162 §2.1.1). */
const EMPTY_ROOT_HEX = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/** Creates the head and tree rows if this database has none yet. Safe with several nodes at once. */
export async function ensureAuditRows(db: Db): Promise<void> {
  await db
    .insert(auditHead)
    .values({ id: SINGLETON_ID, size: 0, chain: AUDIT_CHAIN_SEED, prevChain: AUDIT_CHAIN_SEED })
    .onConflictDoNothing();
  await db
    .insert(auditTree)
    .values({ id: SINGLETON_ID, size: 0, root: Buffer.from(EMPTY_ROOT_HEX, 'hex'), frontier: new Uint8Array(0) })
    .onConflictDoNothing();
}

/** A policy input to keep beside the records: its digest (hex) and its barrier-encrypted bytes. */
export interface StoredInput {
  digest: string;
  blob: Uint8Array;
}

/**
 * Appends leaves (UTF-8 JSON text, already canonical) through keyward_audit_append (migration
 * 0008): ONE statement that locks the head row, takes the index range [first, first + n), computes
 * the chain in SQL and inserts one batch row (and each input into audit_inputs). Keyward's own
 * appends chain in Node instead (`casAppendAuditBatch`); this is the path of nodes of the previous
 * release during an upgrade, and bench/audit's one-statement-per-record baseline.
 */
export async function appendAuditLeaves(
  db: Db,
  leaves: readonly string[],
  inputs: readonly StoredInput[] = [],
): Promise<{ first: number }> {
  if (leaves.length === 0) throw new TypeError('"leaves" expected at least one leaf');
  const leafJson = JSON.stringify(leaves);
  const inputJson = JSON.stringify(inputs.map((i) => [i.digest, Buffer.from(i.blob).toString('base64')]));
  const rows = await queryRows<{ first: number | string | null }>(
    db,
    sql`select keyward_audit_append(${leafJson}::jsonb, ${inputJson}::jsonb) as first`,
  );
  const first = rows[0]?.first;
  if (first === null || first === undefined)
    throw new Error('audit append inserted no records (is the audit_head row missing?)');
  return { first: Number(first) };
}

/** The log's head: records committed and the chain value of the newest (the seed when empty). */
export interface AuditHead {
  size: number;
  chain: Uint8Array;
}

/**
 * The head row. With `lock`, also takes its row lock until the transaction `db` ends (call inside
 * one): no other append commits in between, so a batch built on this head lands where it says.
 */
export async function readAuditHead(db: Db, opts: { lock?: boolean } = {}): Promise<AuditHead> {
  const rows = await queryRows<{ size: number | string; chain: Uint8Array }>(
    db,
    opts.lock
      ? sql`select size, chain from audit_head where id = 1 for update`
      : sql`select size, chain from audit_head where id = 1`,
  );
  const row = rows[0];
  if (!row) throw new Error('the audit_head row is missing (was the audit log opened?)');
  return { size: Number(row.size), chain: toPlainBytes(row.chain) };
}

/** A batch built on a known head: its leaves joined by "\n", chain values and the head after it. */
export interface AuditBatchWrite {
  n: number;
  /** The leaf texts joined by "\n" (none holds a line feed). */
  leaves: string;
  /** n chain values of 32 bytes. */
  chains: Uint8Array;
  /** The barrier blob of the batch's policy inputs (path audit/inputs/<first>), or null. */
  inputs: Uint8Array | null;
}

/**
 * Appends a batch built on `base` as ONE statement: the head moves from `base` to (base.size + n,
 * last chain) by compare-and-set, and the batch row is inserted only if it did. False, with nothing
 * written, when the head is not `base` any more (another node, or an append inside a transaction,
 * committed first): read the head and build again. The UPDATE holds the head row's lock until
 * commit and a waiting one re-checks its condition on the committed row, so commit order is index
 * order and the committed batches are a gap-free prefix, with any number of nodes. Works inside a
 * caller's transaction.
 */
export async function casAppendAuditBatch(db: Db, base: AuditHead, b: AuditBatchWrite): Promise<boolean> {
  const params = casAppendParams(base, b);
  // CAS_APPEND_SQL through the query builder, its $n bound to the same parameters (one statement text for both paths).
  const query = sql.join(
    CAS_APPEND_PARTS.map((part, i) => (i % 2 === 0 ? sql.raw(part) : sql`${params[Number(part) - 1]}`)),
  );
  return casLanded(await queryCount(db, query));
}

/**
 * Whether CAS_APPEND_SQL landed, from its row count: 1 it did, 0 the head was elsewhere. Any other
 * count (a driver that gave none) throws: the batch may have landed, and reading the head again and
 * appending the same records a second time would be worse than failing them (their flush answers
 * 503 and the next one reads the head).
 */
export function casLanded(count: unknown): boolean {
  if (count === 1) return true;
  if (count === 0) return false;
  throw new Error(`the audit append's row count was ${String(count)}, not 0 or 1: whether it landed is unknown`);
}

/**
 * `casAppendAuditBatch`'s statement as fixed text: $1 n, $2 last chain, $3 base size, $4 base chain,
 * $5 leaves, $6 chains, $7 inputs. Whether it landed is the row count of its command tag (`INSERT 0
 * 1`, or `INSERT 0 0` when the head was elsewhere): no `returning`, so no row to describe, send and
 * parse per batch.
 */
export const CAS_APPEND_SQL =
  'with h as (update audit_head set size = size + $1::bigint, chain = $2::bytea, prev_chain = chain' +
  ' where id = 1 and size = $3::bigint and chain = $4::bytea returning size - $1::bigint as first)' +
  ' insert into audit_batches (first, n, leaves, chains, inputs)' +
  ' select first, $1::int, $5::text, $6::bytea, $7::bytea from h';
/** CAS_APPEND_SQL's parameter types, as declared when it is prepared on PGlite. */
const CAS_APPEND_TYPES: readonly WireType[] = ['int8', 'bytea', 'int8', 'bytea', 'text', 'bytea', 'bytea'];
/** CAS_APPEND_SQL split at its placeholders: text, parameter number, text, … (for the query builder). */
const CAS_APPEND_PARTS = CAS_APPEND_SQL.split(/\$(\d+)/);

/** Appends a batch built on a head (`casAppendAuditBatch` without its `db`); false when the head moved. */
export type AuditBatchAppender = (base: AuditHead, b: AuditBatchWrite) => Promise<boolean>;

interface PostgresJsClient {
  unsafe(query: string, params: unknown[], opts: { prepare: boolean }): PromiseLike<{ count: number | null }>;
}
interface QueryClient {
  query(query: string, params: unknown[]): Promise<{ affectedRows?: number }>;
}

/**
 * Runs raw SQL and returns its command's row count on either driver (postgres.js's result `count`,
 * PGlite's `affectedRows`; undefined when the driver gives none).
 */
async function queryCount(db: Db, query: SQL): Promise<unknown> {
  const result: unknown = await db.execute(query);
  return Array.isArray(result)
    ? (result as { count?: unknown }).count
    : (result as { affectedRows?: unknown }).affectedRows;
}

/**
 * `casAppendAuditBatch` on the driver's own client (drizzle's `$client` of a database opened by
 * openStore), without drizzle's query builder: the statement is the fixed text CAS_APPEND_SQL with
 * seven positional parameters, prepared once per connection and named by postgres.js; on PGlite
 * prepared once per appender under a name and bound with binary parameters in one call into its
 * WebAssembly (pglite-wire.ts: ~125 µs a statement of 13 records against ~630 µs through PGlite's
 * `query`, which parses and plans it anew and sends bytea as hex text; a PGlite client without
 * those entry points falls back to `query`). On PostgreSQL it runs on the store's append connection
 * (`auditAppendConnection`), so it never waits behind the pool's other statements; a client that is
 * not a store's pool runs it itself. The append runs once per batch on the request path, and
 * building it with the query builder cost about 2.5% of the dev server's CPU. Undefined when the
 * client is neither kind (the caller then uses casAppendAuditBatch). Only for the database itself,
 * never for a transaction: the client runs each statement on its own.
 */
export function directAuditAppender(db: Db): AuditBatchAppender | undefined {
  const client = (db as { $client?: unknown }).$client;
  if (typeof client !== 'object' && typeof client !== 'function') return undefined;
  if (client === null) return undefined;
  // Each way resolves with the statement's row count: 1 when it landed, 0 when the head was elsewhere.
  let run: (params: unknown[]) => PromiseLike<number | null | undefined>;
  if (typeof (client as PostgresJsClient).unsafe === 'function') {
    const pg = (auditAppendConnection(client) ?? client) as PostgresJsClient;
    run = (params) => pg.unsafe(CAS_APPEND_SQL, params, { prepare: true }).then((r) => r.count);
  } else if (isPgliteRawClient(client)) {
    // PGlite: prepared once, bound with binary parameters, one call into its WebAssembly (pglite-wire.ts).
    const statement = new PglitePreparedStatement(client, 'keyward_audit_cas_append', CAS_APPEND_SQL, CAS_APPEND_TYPES);
    run = (params) => statement.run(params as WireValue[]).then((r) => r.count);
  } else if (typeof (client as QueryClient).query === 'function') {
    const lite = client as QueryClient;
    run = (params) => lite.query(CAS_APPEND_SQL, params).then((r) => r.affectedRows);
  } else return undefined;
  return async (base, b) => casLanded(await run(casAppendParams(base, b)));
}

/** CAS_APPEND_SQL's seven parameters for a batch built on `base`. */
export function casAppendParams(base: AuditHead, b: AuditBatchWrite): unknown[] {
  if (b.n < 1 || b.chains.length !== 32 * b.n) throw new TypeError('"chains" expected 32 bytes per record');
  return [
    b.n,
    bytes(b.chains.subarray(32 * (b.n - 1))),
    base.size,
    bytes(base.chain),
    b.leaves,
    bytes(b.chains),
    b.inputs === null ? null : bytes(b.inputs),
  ];
}

/** A Buffer view (postgres.js sends a Buffer as bytea; PGlite takes any Uint8Array). */
const bytes = (u: Uint8Array): Buffer => (Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength));

/** The number of committed records (the head's size). */
export async function auditHeadSize(db: Db): Promise<number> {
  const [row] = await db.select({ size: auditHead.size }).from(auditHead).where(eq(auditHead.id, SINGLETON_ID));
  return row ? Number(row.size) : 0;
}

/** A stored batch: records [first, first + n). */
export interface AuditBatchRow {
  first: number;
  n: number;
  leaves: string;
  chains: Uint8Array;
}

/**
 * The batches holding records from ≤ idx < to, in order: the one holding `from` found by the primary
 * key (the newest batch starting at or before it), then those starting before `to`. Whole rows:
 * callers cut them to the range.
 */
export async function readAuditBatches(db: Db, from: number, to: number): Promise<AuditBatchRow[]> {
  if (to <= from) return [];
  // The chain values as hex text, decoded here: PGlite's JavaScript bytea parser took more time than
  // the rest of the query (150 ms against 17 ms for 50,000 records' chains), Buffer's hex is native.
  const rows = await queryRows<{ first: number | string; n: number; leaves: string; chains: string }>(
    db,
    sql`select first, n, leaves, encode(chains, 'hex') as chains from audit_batches ${batchesHolding(from, to)}`,
  );
  return rows.map((r) => ({
    first: Number(r.first),
    n: Number(r.n),
    leaves: r.leaves,
    chains: hexBytes(r.chains),
  }));
}

/** `where … order by` of the stored batches holding records [from, to): from the one holding `from` on. */
function batchesHolding(from: number, to: number): SQL {
  return sql`where first >= coalesce((select max(first) from audit_batches where first <= ${from}::bigint), 0) and first < ${to}::bigint
        order by first`;
}

/** Hex text as bytes; a character that is not hex (never from encode()) makes the length wrong, which callers check. */
function hexBytes(hex: string): Uint8Array {
  return new Uint8Array(Buffer.from(hex, 'hex')); // a copy: small Buffers share a pool
}

/** The stored policy-input blobs of the batches holding records [from, to): [first, blob]. */
export async function readAuditBatchInputs(db: Db, from: number, to: number): Promise<[number, Uint8Array][]> {
  if (to <= from) return [];
  const rows = await queryRows<{ first: number | string; inputs: Uint8Array }>(
    db,
    sql`select first, inputs from audit_batches
        where first >= coalesce((select max(first) from audit_batches where first <= ${from}::bigint), 0) and first < ${to}::bigint
          and inputs is not null
        order by first`,
  );
  return rows.map((r) => [Number(r.first), toPlainBytes(r.inputs)]);
}

function malformed(b: AuditBatchRow, what: string): KeywardError {
  return new KeywardError(
    'AUDIT_LOG_CORRUPT',
    `record ${b.first}: the stored batch of records [${b.first}, ${b.first + b.n}) is malformed (${what})`,
    { details: { index: b.first } },
  );
}

/**
 * Cuts batches into records from ≤ idx < to: `each(idx, start, end)` with the leaf's byte range in
 * `bytes` (the batch's leaves as UTF-8) and the batch's chains. A batch whose leaf count or chain
 * length disagrees with its `n` is AUDIT_LOG_CORRUPT naming its first record.
 */
function cutBatches(
  batches: readonly AuditBatchRow[],
  from: number,
  to: number,
  each: (idx: number, bytes: Buffer, start: number, end: number, chains: Uint8Array, k: number) => void,
): void {
  for (const b of batches) {
    if (b.chains.length !== 32 * b.n) throw malformed(b, `${b.chains.length} bytes of chain values for ${b.n}`);
    const bytes = Buffer.from(b.leaves, 'utf8');
    let start = 0;
    for (let k = 0; k < b.n; k++) {
      const nl = bytes.indexOf(0x0a, start);
      const end = nl < 0 ? bytes.length : nl;
      if (nl < 0 !== (k === b.n - 1)) throw malformed(b, `its leaves do not number ${b.n}`);
      const idx = b.first + k;
      if (idx >= from && idx < to) each(idx, bytes, start, end, b.chains, k);
      start = end + 1;
    }
  }
}

export interface AuditRecordRow {
  idx: number;
  leaf: Uint8Array;
  chain: Uint8Array;
}

/** Records with from ≤ idx < to, in order (leaves and chains are views into each batch's bytes). */
export async function readAuditRecords(db: Db, from: number, to: number): Promise<AuditRecordRow[]> {
  const out: AuditRecordRow[] = [];
  cutBatches(await readAuditBatches(db, from, to), from, to, (idx, bytes, start, end, chains, k) =>
    out.push({ idx, leaf: bytes.subarray(start, end), chain: chains.subarray(32 * k, 32 * k + 32) }),
  );
  return out;
}

export interface AuditRecordText {
  idx: number;
  /** The leaf text, as stored. */
  leaf: string;
  /** The chain value, lowercase hex. */
  chain: string;
}

/**
 * Records with from ≤ idx < to, in order, as served by GET /v1/audit/records: leaf text, chain hex.
 * Whole batches are read (a page of 1,000 records is about four rows) and cut here, the text split
 * as it came and the chains hex-encoded once per batch.
 */
export async function readAuditRecordsText(db: Db, from: number, to: number): Promise<AuditRecordText[]> {
  const out: AuditRecordText[] = [];
  for (const b of await readAuditBatches(db, from, to)) {
    if (b.chains.length !== 32 * b.n) throw malformed(b, `${b.chains.length} bytes of chain values for ${b.n}`);
    const leaves = b.leaves.split('\n');
    if (leaves.length !== b.n) throw malformed(b, `its leaves do not number ${b.n}`);
    const hex = Buffer.from(b.chains.buffer, b.chains.byteOffset, b.chains.byteLength).toString('hex');
    const lo = Math.max(from, b.first) - b.first;
    const hi = Math.min(to, b.first + b.n) - b.first;
    for (let k = lo; k < hi; k++)
      out.push({ idx: b.first + k, leaf: leaves[k]!, chain: hex.slice(64 * k, 64 * k + 64) });
  }
  return out;
}

/** Records [from, from + count) as stored: their chain values and their leaves, each ending in "\n". */
export interface AuditRecordsRaw {
  /** The first record's index: the `from` asked for, or the first stored after it when records are missing. */
  from: number;
  count: number;
  /** count × 32 bytes. */
  chains: Buffer;
  /**
   * The leaves' UTF-8, each followed by "\n" (no leaf holds a line feed), in parts to be written one
   * after another: joining them copied every page once more (issue 14).
   */
  leaves: Buffer[];
  /** The bytes of `leaves` together. */
  leavesBytes: number;
}

/**
 * Records with from ≤ idx < to, in order, as the bytes they are stored as: the body of a GET
 * /v1/audit/records page in the raw format (engine/audit/verifier/records-page.ts) without a
 * string or an object per record. Stops after the record that brings the leaves to `maxBytes` (at
 * least one record is returned when there is one), and before a gap in the stored indexes. A batch whose leaf count or chain length
 * disagrees with its `n` is AUDIT_LOG_CORRUPT naming its first record.
 */
export async function readAuditRecordsRaw(
  db: Db,
  from: number,
  to: number,
  maxBytes: number = Number.POSITIVE_INFINITY,
): Promise<AuditRecordsRaw> {
  const chains: Uint8Array[] = [];
  const leaves: Buffer[] = [];
  let count = 0;
  let bytes = 0;
  let first = from;
  // Each batch's text is encoded straight into a shared chunk with its last line feed after it, so
  // the leaves taken from successive batches lie end to end there: a few parts per page, and no
  // Buffer per batch to join afterwards.
  let chunk = Buffer.allocUnsafe(0);
  let used = 0;
  let partStart = 0;
  for (const b of await readAuditBatches(db, from, to)) {
    if (b.chains.length !== 32 * b.n) throw malformed(b, `${b.chains.length} bytes of chain values for ${b.n}`);
    // Records are contiguous in a page: a gap between batches (deleted rows) ends it, and the next
    // page starts after the gap, where its reader sees the missing records.
    if (count > 0 && b.first !== first + count) break;
    // The text's UTF-8 and the line feed (counted, not reserved at 3 bytes per UTF-16 unit: that held
    // up to 3.5× the page's bytes alive until it was sent).
    const room = Buffer.byteLength(b.leaves, 'utf8') + 1;
    if (chunk.length - used < room) {
      if (used > partStart) leaves.push(chunk.subarray(partStart, used));
      chunk = Buffer.allocUnsafe(Math.max(room, LEAF_CHUNK));
      used = 0;
      partStart = 0;
    }
    const base = used;
    const length = chunk.write(b.leaves, base, 'utf8');
    const text = chunk.subarray(base, base + length);
    const lo = Math.max(from, b.first) - b.first;
    const hi = Math.min(to, b.first + b.n) - b.first;
    // Walk the line feeds up to the last leaf taken (a short batch fails here; a long one at its end).
    let start = 0;
    let cutFrom = -1;
    let cutTo = -1;
    let k = 0;
    while (k < b.n) {
      const nl = text.indexOf(0x0a, start);
      const end = nl < 0 ? text.length : nl;
      if (nl < 0 !== (k === b.n - 1)) throw malformed(b, `its leaves do not number ${b.n}`);
      if (k === lo) cutFrom = start;
      if (k >= lo) bytes += end + 1 - start;
      start = end + 1;
      k++;
      if (k >= lo) cutTo = start;
      if (k >= hi || (k > lo && bytes >= maxBytes)) break;
    }
    if (cutFrom < 0 || k <= lo) {
      used = base; // nothing taken: the next batch's text goes over it
      continue;
    }
    const taken = k - lo;
    if (count === 0) first = b.first + lo;
    // The last leaf of a batch has no line feed after it in storage.
    if (cutTo > length) chunk[base + length] = 0x0a;
    // Leaves not taken at the start of the first batch are left out of the part.
    if (base + cutFrom !== used) {
      if (used > partStart) leaves.push(chunk.subarray(partStart, used));
      partStart = base + cutFrom;
    }
    used = base + cutTo;
    chains.push(b.chains.subarray(32 * lo, 32 * (lo + taken)));
    count += taken;
    if (bytes >= maxBytes) break;
  }
  // A small page's last part is copied out of its mostly empty chunk (polling for a few records held
  // 1 MiB per answer until it was sent).
  if (used > partStart) {
    const last = chunk.subarray(partStart, used);
    leaves.push(used < chunk.length / 4 ? Buffer.from(last) : last);
  }
  return { from: first, count, chains: Buffer.concat(chains), leaves, leavesBytes: bytes };
}
/** The size of the buffers a raw page's leaves are encoded into (a batch larger than this gets its own). */
const LEAF_CHUNK = 1024 * 1024;

/** The chain value of record idx (the seed for idx = -1), or undefined when the record is missing. */
export async function auditChainAt(db: Db, idx: number): Promise<Uint8Array | undefined> {
  if (idx < 0) return AUDIT_CHAIN_SEED;
  const rows = await queryRows<{ first: number | string; n: number; chain: Uint8Array }>(
    db,
    sql`select first, n, substring(chains from (${idx}::bigint - first)::int * 32 + 1 for 32) as chain
        from audit_batches where first <= ${idx}::bigint order by first desc limit 1`,
  );
  const row = rows[0];
  if (!row || Number(row.first) + Number(row.n) <= idx) return undefined;
  const chain = toPlainBytes(row.chain);
  return chain.length === 32 ? chain : undefined;
}

export interface AuditTreeState {
  size: number;
  root: Uint8Array;
  frontier: Uint8Array[];
}

export async function getAuditTree(db: Db): Promise<AuditTreeState> {
  const [row] = await db.select().from(auditTree).where(eq(auditTree.id, SINGLETON_ID));
  if (!row) return { size: 0, root: Buffer.from(EMPTY_ROOT_HEX, 'hex'), frontier: [] };
  const f = toPlainBytes(row.frontier);
  const frontier: Uint8Array[] = [];
  for (let i = 0; i < f.length; i += 32) frontier.push(f.subarray(i, i + 32));
  return { size: Number(row.size), root: toPlainBytes(row.root), frontier };
}

/** Hashes per full tile in audit_tiles (C2SP tlog-tiles: 2^8, one tile level per 8 tree levels). */
export const AUDIT_TILE_WIDTH = 256;
const TILE_BYTES = 32 * AUDIT_TILE_WIDTH;

/**
 * New hashes of one tile level, consecutive: nodes [from, from + hashes.length / 32) of tree level
 * 8 · level. The tile holding `from` may already hold the hashes before it (the tree's last, partial tile).
 */
export interface TileRun {
  level: number;
  from: number;
  hashes: Uint8Array;
}

export interface TreeAdvance {
  fromSize: number;
  size: number;
  root: Uint8Array;
  frontier: readonly Uint8Array[];
  /** The hashes the advance completed on the tile levels (level 0: the leaf hashes). */
  tiles: readonly TileRun[];
  note: string;
}

/**
 * Advances the integrated tree by compare-and-set on its size: false (and nothing written) when
 * another integrator moved it first. Call inside a transaction so tiles, tree and checkpoint land
 * together. Per tile level, at most two statements whatever the number of records: the partial tile
 * the run continues gets the new hashes appended (only if it holds exactly the hashes before them),
 * and the tiles after it are inserted from one parameter (the last of them possibly partial).
 * A stored tile that disagrees with the tree (missing, of the wrong width, or already there) is
 * AUDIT_LOG_CORRUPT, and the caller's transaction rolls everything back.
 */
export async function advanceAuditTree(tx: Db, a: TreeAdvance): Promise<boolean> {
  const frontier = Buffer.concat(a.frontier.map((h) => Buffer.from(h)));
  const moved = await queryRows<{ size: number | string }>(
    tx,
    sql`update audit_tree set size = ${a.size}::bigint, root = decode(${hex(a.root)}, 'hex'), frontier = decode(${hex(frontier)}, 'hex'), updated_at = now()
        where id = 1 and size = ${a.fromSize}::bigint returning size`,
  );
  if (moved.length !== 1) return false;
  for (const run of a.tiles) await writeTileRun(tx, run);
  await putAuditCheckpoint(tx, a.size, a.root, a.note);
  return true;
}

async function writeTileRun(tx: Db, run: TileRun): Promise<void> {
  const { level, from } = run;
  if (run.hashes.length % 32 !== 0) throw new TypeError('"tiles" expected 32-byte hashes');
  let data = bytes(run.hashes);
  let tile = Math.floor(from / AUDIT_TILE_WIDTH);
  const offset = from % AUDIT_TILE_WIDTH;
  if (data.length > 0 && offset > 0) {
    const take = Math.min(data.length, (AUDIT_TILE_WIDTH - offset) * 32);
    const grown = await queryRows<{ level: number }>(
      tx,
      sql`update audit_tiles set hashes = hashes || decode(${hex(data.subarray(0, take))}, 'hex')
          where level = ${level}::int and idx = ${tile}::bigint and length(hashes) = ${offset * 32}::int returning level`,
    );
    if (grown.length !== 1)
      throw tileCorrupt(
        `tile (${level}, ${tile}) is missing or does not hold exactly the ${offset} hashes before the new ones`,
      );
    data = data.subarray(take);
    tile++;
  }
  if (data.length === 0) return;
  const count = Math.ceil(data.length / TILE_BYTES);
  const inserted = await queryRows<{ idx: number | string }>(
    tx,
    sql`insert into audit_tiles (level, idx, hashes)
        select ${level}::int, ${tile}::bigint + g, substring(h.b from g * ${TILE_BYTES}::int + 1 for ${TILE_BYTES}::int)
        from (select decode(${hex(data)}, 'hex') as b) as h, generate_series(0, ${count}::int - 1) as g
        on conflict do nothing returning idx`,
  );
  if (inserted.length !== count)
    throw tileCorrupt(`tiles (${level}, ${tile}…${tile + count - 1}) beyond the tree are already stored`);
}

/**
 * Bytes as a hex text parameter, for `decode(…, 'hex')`: PGlite serializes a bytea parameter in
 * JavaScript, about 46 ms for a round's 128 KiB of leaf hashes against 2.5 ms as hex (Buffer's hex is native).
 */
const hex = (u: Uint8Array): string => bytes(u).toString('hex');

function tileCorrupt(what: string): KeywardError {
  return new KeywardError('AUDIT_LOG_CORRUPT', `the audit log failed its integrity check: ${what}`);
}

/** Stores a checkpoint note for a size (a re-signed checkpoint at an unchanged size replaces the old note). */
export async function putAuditCheckpoint(db: Db, size: number, root: Uint8Array, note: string): Promise<void> {
  await db
    .insert(auditCheckpoints)
    .values({ size, root, note })
    .onConflictDoUpdate({ target: auditCheckpoints.size, set: { note, createdAt: new Date() } });
}

/**
 * Stored tiles by (tile level, index), each its hashes concatenated (a partial tile holds fewer than
 * 256); tiles not stored are absent from the map. Key: `${level}:${index}`.
 */
export async function getAuditTiles(
  db: Db,
  ids: readonly { level: number; index: number }[],
): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  if (ids.length === 0) return out;
  const byLevel = new Map<number, Set<number>>();
  for (const { level, index } of ids) {
    let set = byLevel.get(level);
    if (!set) byLevel.set(level, (set = new Set()));
    set.add(index);
  }
  const conds = [...byLevel].map(([level, idxs]) =>
    and(eq(auditTiles.level, level), inArray(auditTiles.idx, [...idxs])),
  );
  // The hashes as hex text, decoded here: PGlite parses bytea in JavaScript, Buffer's hex is native.
  const rows = await db
    .select({ level: auditTiles.level, idx: auditTiles.idx, hashes: sql<string>`encode(${auditTiles.hashes}, 'hex')` })
    .from(auditTiles)
    .where(or(...conds));
  for (const r of rows) out.set(`${r.level}:${Number(r.idx)}`, hexBytes(r.hashes));
  return out;
}

/** The latest checkpoint, or undefined before the first. */
export async function latestAuditCheckpoint(db: Db): Promise<AuditCheckpointRow | undefined> {
  const [row] = await db.select().from(auditCheckpoints).orderBy(desc(auditCheckpoints.size)).limit(1);
  return row ? { ...row, size: Number(row.size), root: toPlainBytes(row.root) } : undefined;
}

/** The checkpoint at exactly `size`, if one was signed. */
export async function auditCheckpointAt(db: Db, size: number): Promise<AuditCheckpointRow | undefined> {
  const [row] = await db.select().from(auditCheckpoints).where(eq(auditCheckpoints.size, size));
  return row ? { ...row, size: Number(row.size), root: toPlainBytes(row.root) } : undefined;
}

/** Policy inputs stored one by one (audit_inputs: releases before 0008), by digest. */
export async function getAuditInputs(db: Db, digests: readonly string[]): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  if (digests.length === 0) return out;
  const rows = await db
    .select()
    .from(auditInputs)
    .where(inArray(auditInputs.digest, [...digests]));
  for (const r of rows) out.set(r.digest, toPlainBytes(r.blob));
  return out;
}

/** Tries the transaction-scoped advisory lock that makes one node at a time the integrator. */
export async function tryIntegratorLock(tx: Db, key: number): Promise<boolean> {
  const rows = await queryRows<{ ok: boolean }>(tx, sql`select pg_try_advisory_xact_lock(${key}) as ok`);
  return rows[0]?.ok === true;
}

/** A stored batch as an integrator round reads it: records [first, first + n), with its leaves unless its node kept their hashes. */
export interface AuditRoundBatch {
  first: number;
  n: number;
  /** The leaves' UTF-8 length (`octet_length(leaves)`: PostgreSQL takes it from the stored value's header). */
  leafBytes: number;
  /** The leaves joined by "\n", or null for a batch whose first index is in `kept`. */
  leaves: string | null;
  chains: Uint8Array;
}

/**
 * `readAuditBatches` for the integrator (engine/audit/log/integrator.ts), which holds the leaf hashes
 * of the batches its own node committed: the same rows, each with its leaves' byte length, and its
 * leaves only when its first index is not in `kept` (issue 14: reading the leaves back was most of a
 * round's database and JavaScript time). One statement, so a round on a log several nodes write reads
 * each row once, whether its node kept its hashes or not.
 */
export async function readAuditRoundBatches(
  db: Db,
  from: number,
  to: number,
  kept: readonly number[],
): Promise<AuditRoundBatch[]> {
  if (to <= from) return [];
  for (const f of kept) if (!Number.isSafeInteger(f) || f < 0) throw new TypeError('"kept" expected record indexes');
  const rows = await queryRows<{
    first: number | string;
    n: number;
    bytes: number | string;
    leaves: string | null;
    chains: string;
  }>(
    db,
    sql`select first, n, octet_length(leaves) as bytes,
          case when first = any(${`{${kept.join(',')}}`}::bigint[]) then null else leaves end as leaves,
          encode(chains, 'hex') as chains
        from audit_batches ${batchesHolding(from, to)}`,
  );
  return rows.map((r) => ({
    first: Number(r.first),
    n: Number(r.n),
    leafBytes: Number(r.bytes),
    leaves: r.leaves,
    chains: hexBytes(r.chains),
  }));
}

/**
 * Stores tile (level, idx) as `hashes`, replacing what is stored there: for the integrator's repair
 * of a missing or wrong partial tile (tiles are derived from the records; integrator.ts).
 */
export async function putAuditTile(tx: Db, level: number, idx: number, hashes: Uint8Array): Promise<void> {
  if (hashes.length === 0 || hashes.length % 32 !== 0 || hashes.length > TILE_BYTES)
    throw new TypeError('"hashes" expected 1 to 256 hashes of 32 bytes');
  await queryRows(
    tx,
    sql`insert into audit_tiles (level, idx, hashes) values (${level}::int, ${idx}::bigint, decode(${hex(hashes)}, 'hex'))
        on conflict (level, idx) do update set hashes = excluded.hashes`,
  );
}
