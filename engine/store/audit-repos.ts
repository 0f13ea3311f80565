/**
 * Audit-log storage (docs/architecture.md, "The audit log"): the one-statement group append against the one-row head, the
 * integrated tree's compare-and-set, perfect-subtree nodes, checkpoints and encrypted policy inputs.
 * What the bytes mean (leaves, hashes, notes) is engine/audit's business; these functions move rows.
 * @module
 */
import { and, asc, desc, eq, gte, inArray, lt, or, sql } from 'drizzle-orm';
import type { Db } from './driver.js';
import { queryRows } from './repos.js';
import {
  auditCheckpoints,
  auditHead,
  auditInputs,
  auditNodes,
  auditRecords,
  auditTree,
  SINGLETON_ID,
} from './schema.js';
import type { AuditCheckpointRow } from './schema.js';
import { toPlainBytes } from './columns.js';

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
 * Appends leaves (UTF-8 JSON text, already canonical) as ONE statement: it takes the index range
 * [first, first + n) from the head row under its row lock (so commit order is index order, and the
 * committed records are a gap-free prefix with any number of nodes), computes each record's chain
 * value in SQL from the head's chain, inserts the records and their policy inputs. Works inside a
 * caller's transaction, so a state change and its record commit together.
 *
 * (A correlated subquery in the head's UPDATE ... SET, the first form of this statement, was not
 * re-evaluated against the row version the UPDATE re-reads after waiting for a concurrent append
 * — EvalPlanQual — and broke the chain under load; the multi-node test caught it.)
 */
export async function appendAuditLeaves(
  db: Db,
  leaves: readonly string[],
  inputs: readonly StoredInput[] = [],
): Promise<{ first: number }> {
  if (leaves.length === 0) throw new TypeError('"leaves" expected at least one leaf');
  const leafJson = JSON.stringify(leaves);
  const inputJson = JSON.stringify(inputs.map((i) => [i.digest, Buffer.from(i.blob).toString('base64')]));
  // One call of keyward_audit_append (migration 0005): it locks the head row, takes the index
  // range, computes the chain in SQL and inserts the records and inputs.
  const rows = await queryRows<{ first: number | string | null }>(
    db,
    sql`select keyward_audit_append(${leafJson}::jsonb, ${inputJson}::jsonb) as first`,
  );
  const first = rows[0]?.first;
  if (first === null || first === undefined)
    throw new Error('audit append inserted no records (is the audit_head row missing?)');
  return { first: Number(first) };
}

/** The number of committed records (the head's size). */
export async function auditHeadSize(db: Db): Promise<number> {
  const [row] = await db.select({ size: auditHead.size }).from(auditHead).where(eq(auditHead.id, SINGLETON_ID));
  return row ? Number(row.size) : 0;
}

export interface AuditRecordRow {
  idx: number;
  leaf: Uint8Array;
  chain: Uint8Array;
}

/** Records with from ≤ idx < to, in order. */
export async function readAuditRecords(db: Db, from: number, to: number): Promise<AuditRecordRow[]> {
  if (to <= from) return [];
  const rows = await db
    .select()
    .from(auditRecords)
    .where(and(gte(auditRecords.idx, from), lt(auditRecords.idx, to)))
    .orderBy(asc(auditRecords.idx));
  return rows.map((r) => ({ idx: Number(r.idx), leaf: toPlainBytes(r.leaf), chain: toPlainBytes(r.chain) }));
}

export interface AuditRecordText {
  idx: number;
  /** The leaf decoded from UTF-8 (U+FFFD for invalid bytes, as TextDecoder does). */
  leaf: string;
  /** The chain value, lowercase hex. */
  chain: string;
}

const decoder = new TextDecoder();

/**
 * Records with from ≤ idx < to, in order, as served by GET /v1/audit/records: the database converts
 * the leaves to text and the chains to hex, about twice as fast as fetching bytea (hex on the wire)
 * and converting here. A leaf that is not valid UTF-8 (a damaged or tampered row) makes the
 * conversion fail; then the page is read as bytes and decoded here instead.
 */
export async function readAuditRecordsText(db: Db, from: number, to: number): Promise<AuditRecordText[]> {
  if (to <= from) return [];
  try {
    const rows = await queryRows<{ idx: number | string; leaf: string; chain: string }>(
      db,
      sql`select idx, convert_from(leaf, 'UTF8') as leaf, encode(chain, 'hex') as chain from audit_records where idx >= ${from} and idx < ${to} order by idx`,
    );
    return rows.map((r) => ({ idx: Number(r.idx), leaf: r.leaf, chain: r.chain }));
  } catch {
    const rows = await readAuditRecords(db, from, to);
    return rows.map((r) => ({ idx: r.idx, leaf: decoder.decode(r.leaf), chain: Buffer.from(r.chain).toString('hex') }));
  }
}

/** The chain value of record idx (the seed for idx = -1), or undefined when the row is missing. */
export async function auditChainAt(db: Db, idx: number): Promise<Uint8Array | undefined> {
  if (idx < 0) return AUDIT_CHAIN_SEED;
  const [row] = await db.select({ chain: auditRecords.chain }).from(auditRecords).where(eq(auditRecords.idx, idx));
  return row ? toPlainBytes(row.chain) : undefined;
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

export interface TreeAdvance {
  fromSize: number;
  size: number;
  root: Uint8Array;
  frontier: readonly Uint8Array[];
  nodes: readonly { level: number; index: number; hash: Uint8Array }[];
  note: string;
}

/**
 * Advances the integrated tree by compare-and-set on its size: false (and nothing written) when
 * another integrator moved it first. Call inside a transaction so nodes, tree and checkpoint land together.
 */
export async function advanceAuditTree(tx: Db, a: TreeAdvance): Promise<boolean> {
  const frontier = Buffer.concat(a.frontier.map((h) => Buffer.from(h)));
  const moved = await tx
    .update(auditTree)
    .set({ size: a.size, root: a.root, frontier, updatedAt: new Date() })
    .where(and(eq(auditTree.id, SINGLETON_ID), eq(auditTree.size, a.fromSize)))
    .returning({ size: auditTree.size });
  if (moved.length !== 1) return false;
  for (let i = 0; i < a.nodes.length; i += 1000) {
    const chunk = a.nodes.slice(i, i + 1000).map((n) => ({ level: n.level, idx: n.index, hash: n.hash }));
    await tx.insert(auditNodes).values(chunk).onConflictDoNothing();
  }
  await putAuditCheckpoint(tx, a.size, a.root, a.note);
  return true;
}

/** Stores a checkpoint note for a size (a re-signed checkpoint at an unchanged size replaces the old note). */
export async function putAuditCheckpoint(db: Db, size: number, root: Uint8Array, note: string): Promise<void> {
  await db
    .insert(auditCheckpoints)
    .values({ size, root, note })
    .onConflictDoUpdate({ target: auditCheckpoints.size, set: { note, createdAt: new Date() } });
}

/** Perfect-subtree hashes by (level, index); missing nodes are absent from the map. Key: `${level}:${index}`. */
export async function getAuditNodes(
  db: Db,
  ids: readonly { level: number; index: number }[],
): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  if (ids.length === 0) return out;
  const byLevel = new Map<number, number[]>();
  for (const { level, index } of ids) byLevel.set(level, [...(byLevel.get(level) ?? []), index]);
  const conds = [...byLevel].map(([level, idxs]) => and(eq(auditNodes.level, level), inArray(auditNodes.idx, idxs)));
  const rows = await db
    .select()
    .from(auditNodes)
    .where(or(...conds));
  for (const r of rows) out.set(`${r.level}:${Number(r.idx)}`, toPlainBytes(r.hash));
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

/** Encrypted policy inputs by digest. */
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
