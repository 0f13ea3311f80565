/**
 * Repositories: small functions over the tables of schema.ts. Each takes the database first, which may
 * be a transaction (`Db` covers both), so callers compose them inside `withTransaction`.
 *
 * These functions see ciphertexts and hashes only; what they mean is engine/seal's and engine/auth's
 * business. Blobs come back as plain `Uint8Array` views on both drivers.
 * @module
 */
import { asc, eq, sql } from 'drizzle-orm';
import type { SQL } from 'drizzle-orm';
import type { PgTransactionConfig } from 'drizzle-orm/pg-core';
import { KeywardError } from '../../lib/errors.js';
import { writeTransaction } from './commit-scope.js';
import type { CommitNote, CommitScope } from './commit-scope.js';
import type { Db } from './driver.js';
import { barrierEntries, keyring, sealConfig, shardCommitments, SINGLETON_ID, tokens } from './schema.js';
import type {
  KeyringRow,
  NewSealConfigRow,
  NewShardCommitmentRow,
  NewTokenRow,
  SealConfigRow,
  ShardCommitmentRow,
  TokenRow,
} from './schema.js';

/** Runs `fn` in a transaction (a savepoint when `db` is already a transaction). */
export function withTransaction<T>(db: Db, fn: (tx: Db) => Promise<T>, config?: PgTransactionConfig): Promise<T> {
  return db.transaction((tx) => fn(tx), config);
}

/**
 * Runs raw SQL and returns its rows on either driver (`db.execute` returns PGlite's `{ rows }` or
 * postgres-js's row array). Values are as the driver parses them: no column mapping happens here.
 */
export async function queryRows<T extends Record<string, unknown>>(db: Db, query: SQL): Promise<T[]> {
  const result: unknown = await db.execute(query);
  if (Array.isArray(result)) return [...(result as T[])];
  return [...((result as { rows: T[] }).rows ?? [])];
}

// ---------------------------------------------------------------------------------------------------
// Seal configuration and shard commitments

/** What a ceremony (init or rekey) writes. `keyring` is written at init; a rekey leaves it alone. */
export interface CeremonyWrite {
  config: NewSealConfigRow;
  commitments: readonly NewShardCommitmentRow[];
  keyring?: { blob: Uint8Array; activeTerm: number };
}

export async function getSealConfig(db: Db): Promise<SealConfigRow | undefined> {
  const [row] = await db.select().from(sealConfig).where(eq(sealConfig.id, SINGLETON_ID));
  return row;
}

/** Inserts or replaces the seal configuration row. */
export async function putSealConfig(db: Db, row: NewSealConfigRow): Promise<void> {
  const { ceremonyId, generation, threshold, shares, holders, rootKeyBlob } = row;
  await db
    .insert(sealConfig)
    .values({ ...row, id: SINGLETON_ID })
    .onConflictDoUpdate({
      target: sealConfig.id,
      set: { ceremonyId, generation, threshold, shares, holders, rootKeyBlob, updatedAt: sql`now()` },
    });
}

/** The commitments of one ceremony, ordered by share index. */
export async function getCommitments(db: Db, ceremonyId: string): Promise<ShardCommitmentRow[]> {
  return db
    .select()
    .from(shardCommitments)
    .where(eq(shardCommitments.ceremonyId, ceremonyId))
    .orderBy(asc(shardCommitments.idx));
}

/**
 * Replaces the ceremony atomically (a rekey): writes the seal configuration and makes `commitments`
 * the only ones stored (those of other ceremonies are deleted, as are any of the same ceremony id),
 * and writes the keyring if given. Either all of it is stored or none.
 */
export async function replaceCeremony(db: Db, write: CeremonyWrite, commit?: CommitScope): Promise<void> {
  assertCommitmentsMatch(write);
  await writeTransaction(
    db,
    commit,
    async (tx) => {
      await putSealConfig(tx, write.config);
      await writeCommitments(tx, write);
      if (write.keyring) await putKeyring(tx, write.keyring);
    },
    ceremonyNote(write),
  );
}

/** What a ceremony's audit record says of it (docs/architecture.md, "The audit log"): no secret, no shard. */
function ceremonyNote(write: CeremonyWrite): CommitNote {
  const c = write.config;
  return { ceremonyId: c.ceremonyId, generation: c.generation, threshold: c.threshold, shares: c.shares };
}

/**
 * Stores the first ceremony. Fails with ALREADY_INITIALIZED if a seal configuration exists. Race-safe:
 * the insert of row id 1 does nothing on conflict, so of two concurrent inits (two nodes on one
 * PostgreSQL database) exactly one inserts; the other waits for it to commit, sees no row inserted
 * and rolls back.
 */
export async function initCeremony(db: Db, write: Required<CeremonyWrite>, commit?: CommitScope): Promise<void> {
  assertCommitmentsMatch(write);
  await writeTransaction(
    db,
    commit,
    async (tx) => {
      const inserted = await tx
        .insert(sealConfig)
        .values({ ...write.config, id: SINGLETON_ID })
        .onConflictDoNothing({ target: sealConfig.id })
        .returning({ id: sealConfig.id });
      if (inserted.length === 0) {
        throw new KeywardError('ALREADY_INITIALIZED', 'keyward is already initialized: a seal configuration exists');
      }
      await writeCommitments(tx, write);
      await putKeyring(tx, write.keyring);
    },
    ceremonyNote(write),
  );
}

/** Every commitment must belong to the ceremony being written: a mismatch is a caller bug. */
function assertCommitmentsMatch(write: CeremonyWrite): void {
  for (const c of write.commitments) {
    if (c.ceremonyId !== write.config.ceremonyId) {
      throw new TypeError(
        `"commitments" expected ceremony id ${write.config.ceremonyId}, got ${c.ceremonyId} at index ${c.idx}`,
      );
    }
  }
}

async function writeCommitments(tx: Db, write: CeremonyWrite): Promise<void> {
  // Only the current ceremony's commitments are kept: every older row goes, whatever its ceremony id.
  await tx.delete(shardCommitments);
  if (write.commitments.length > 0) await tx.insert(shardCommitments).values([...write.commitments]);
}

// ---------------------------------------------------------------------------------------------------
// Keyring

export async function getKeyring(db: Db): Promise<KeyringRow | undefined> {
  const [row] = await db.select().from(keyring).where(eq(keyring.id, SINGLETON_ID));
  return row;
}

/**
 * The keyring row, locked (SELECT … FOR UPDATE) until `tx` ends: a read-modify-write of the keyring
 * (root rotation) on two nodes at once can't lose a term.
 */
export async function lockKeyring(tx: Db): Promise<KeyringRow | undefined> {
  const [row] = await tx.select().from(keyring).where(eq(keyring.id, SINGLETON_ID)).for('update');
  return row;
}

/** Inserts or replaces the keyring row. */
export async function putKeyring(db: Db, value: { blob: Uint8Array; activeTerm: number }): Promise<void> {
  await db
    .insert(keyring)
    .values({ id: SINGLETON_ID, blob: value.blob, activeTerm: value.activeTerm })
    .onConflictDoUpdate({
      target: keyring.id,
      set: { blob: value.blob, activeTerm: value.activeTerm, updatedAt: sql`now()` },
    });
}

// ---------------------------------------------------------------------------------------------------
// Barrier entries

export async function getEntry(db: Db, path: string): Promise<Uint8Array | undefined> {
  const [row] = await db
    .select({ blob: barrierEntries.blob })
    .from(barrierEntries)
    .where(eq(barrierEntries.path, path));
  return row?.blob;
}

/** Inserts or replaces the blob at `path`. */
export async function putEntry(db: Db, path: string, blob: Uint8Array): Promise<void> {
  await db
    .insert(barrierEntries)
    .values({ path, blob })
    .onConflictDoUpdate({ target: barrierEntries.path, set: { blob, updatedAt: sql`now()` } });
}

/**
 * Inserts the blob at `path` unless an entry is there already (first writer wins: two nodes creating
 * the same key at once keep one). Returns whether this call inserted it.
 */
export async function insertEntryIfAbsent(db: Db, path: string, blob: Uint8Array): Promise<boolean> {
  const inserted = await db
    .insert(barrierEntries)
    .values({ path, blob })
    .onConflictDoNothing()
    .returning({ path: barrierEntries.path });
  return inserted.length > 0;
}

/** Deletes the entry at `path`. Returns whether there was one. */
export async function deleteEntry(db: Db, path: string): Promise<boolean> {
  const deleted = await db
    .delete(barrierEntries)
    .where(eq(barrierEntries.path, path))
    .returning({ path: barrierEntries.path });
  return deleted.length > 0;
}

/** Escapes LIKE's wildcards (`%`, `_`) and its escape character (`\`) so `s` matches literally. */
export function escapeLike(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/**
 * The paths starting with `prefix` (taken literally, wildcards included), in byte order (COLLATE "C",
 * so both drivers and every server locale agree).
 */
export async function listEntries(db: Db, prefix: string): Promise<string[]> {
  const pattern = `${escapeLike(prefix)}%`;
  const rows = await db
    .select({ path: barrierEntries.path })
    .from(barrierEntries)
    .where(sql`${barrierEntries.path} LIKE ${pattern} ESCAPE '\\'`)
    .orderBy(sql`${barrierEntries.path} COLLATE "C"`);
  return rows.map((r) => r.path);
}

// ---------------------------------------------------------------------------------------------------
// Tokens

/** Stores a new token (its hash; never the token). Returns the stored row. */
export async function insertToken(db: Db, row: NewTokenRow): Promise<TokenRow> {
  const [stored] = await db.insert(tokens).values(row).returning();
  if (!stored) throw new Error('insert into tokens returned no row');
  return stored;
}

/** The token with this hash, revoked or expired ones included: the caller decides what they mean. */
export async function findTokenByHash(db: Db, hash: Uint8Array): Promise<TokenRow | undefined> {
  const [row] = await db.select().from(tokens).where(eq(tokens.tokenHash, hash));
  return row;
}

export async function getToken(db: Db, id: string): Promise<TokenRow | undefined> {
  const [row] = await db.select().from(tokens).where(eq(tokens.id, id));
  return row;
}

/**
 * Marks token `id` revoked at `at`. Returns false if there is no such token. Idempotent: revoking a
 * revoked token returns true and keeps the first revocation time.
 */
export async function revokeToken(db: Db, id: string, at: Date): Promise<boolean> {
  const updated = await db
    .update(tokens)
    .set({ revokedAt: sql`coalesce(${tokens.revokedAt}, ${at.toISOString()}::timestamptz)` })
    .where(eq(tokens.id, id))
    .returning({ id: tokens.id });
  return updated.length > 0;
}

/** Every token, oldest first. */
export async function listTokens(db: Db): Promise<TokenRow[]> {
  return db
    .select()
    .from(tokens)
    .orderBy(asc(tokens.createdAt), sql`${tokens.id} COLLATE "C"`);
}
