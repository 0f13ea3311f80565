/**
 * Repositories for named keys (docs/architecture.md, engine/store): the `keys` and `key_versions`
 * rows, the purge of a key with its barrier-stored material, and the insert-once of a server-wide
 * wrapping key. Every SQL statement of engine/keys lives here. Each function takes the database
 * first, which may be a transaction (`Db` covers both). Material paths are the caller's: this module
 * stores the barrier's ciphertexts and never interprets them.
 * @module
 */
import { and, asc, eq, gt, inArray, isNull, lte } from 'drizzle-orm';
import type { Db } from './driver.js';
import { deleteEntry, listEntries } from './repos.js';
import { keyVersions, keys } from './schema.js';
import type { KeyRow, KeyVersionRow, NewKeyRow } from './schema.js';

export type KeyListItem = Pick<KeyRow, 'name' | 'type' | 'latestVersion' | 'labels' | 'deleteAfter'>;

/** The key row named `name`, with `forUpdate` locked until the transaction ends. */
export async function getKey(db: Db, name: string, opts: { forUpdate?: boolean } = {}): Promise<KeyRow | undefined> {
  const q = db.select().from(keys).where(eq(keys.name, name));
  const [row] = opts.forUpdate ? await q.for('update') : await q;
  return row;
}

/** The name of the key with random id `id`, if any. */
export async function keyNameById(db: Db, id: string): Promise<string | undefined> {
  const [row] = await db.select({ name: keys.name }).from(keys).where(eq(keys.id, id));
  return row?.name;
}

/** Whether a key named `name` exists. */
export async function keyNameTaken(db: Db, name: string): Promise<boolean> {
  const [row] = await db.select({ name: keys.name }).from(keys).where(eq(keys.name, name));
  return row !== undefined;
}

/** Up to `limit` keys by name after `after` (keyset pagination). */
export function listKeys(db: Db, opts: { limit: number; after?: string | undefined }): Promise<KeyListItem[]> {
  return db
    .select({
      name: keys.name,
      type: keys.type,
      latestVersion: keys.latestVersion,
      labels: keys.labels,
      deleteAfter: keys.deleteAfter,
    })
    .from(keys)
    .where(opts.after ? gt(keys.name, opts.after) : undefined)
    .orderBy(asc(keys.name))
    .limit(opts.limit);
}

/** Inserts a key row; false when the name or the id is taken (no conflict target: both land here). */
export async function insertKey(db: Db, row: NewKeyRow): Promise<boolean> {
  const inserted = await db.insert(keys).values(row).onConflictDoNothing().returning({ name: keys.name });
  return inserted.length > 0;
}

/** Sets columns of key `name` (and its `updatedAt`). */
export async function updateKey(
  db: Db,
  name: string,
  set: Partial<
    Pick<NewKeyRow, 'latestVersion' | 'minDecryptionVersion' | 'deletionAllowed' | 'requireLowS' | 'deleteAfter'>
  >,
  updatedAt: Date,
): Promise<void> {
  await db
    .update(keys)
    .set({ ...set, updatedAt })
    .where(eq(keys.name, name));
}

export async function insertKeyVersion(
  db: Db,
  v: { keyName: string; version: number; publicKey: Uint8Array | null },
): Promise<void> {
  await db.insert(keyVersions).values(v);
}

/** Every version of key `name`, oldest first. */
export function listKeyVersions(db: Db, name: string): Promise<KeyVersionRow[]> {
  return db.select().from(keyVersions).where(eq(keyVersions.keyName, name)).orderBy(asc(keyVersions.version));
}

export async function getKeyVersion(db: Db, name: string, version: number): Promise<KeyVersionRow | undefined> {
  const [v] = await db
    .select()
    .from(keyVersions)
    .where(and(eq(keyVersions.keyName, name), eq(keyVersions.version, version)));
  return v;
}

/** Keys whose deletion window has passed by `now`, earliest first, at most `limit`. */
export function keysDueForPurge(db: Db, now: Date, limit: number): Promise<Array<{ name: string; id: string }>> {
  return db
    .select({ name: keys.name, id: keys.id })
    .from(keys)
    .where(lte(keys.deleteAfter, now))
    .orderBy(asc(keys.deleteAfter))
    .limit(limit);
}

/**
 * Deletes key `name` if it still has id `id` and its window has passed by `now` (versions go by
 * cascade), then every barrier entry under `materialPrefix`. False when another node purged it or
 * the name was re-created meanwhile. Run it in a transaction (with the purge's audit record).
 */
export async function purgeKey(
  db: Db,
  k: { name: string; id: string; now: Date; materialPrefix: string },
): Promise<boolean> {
  const [row] = await db
    .delete(keys)
    .where(and(eq(keys.name, k.name), eq(keys.id, k.id), lte(keys.deleteAfter, k.now)))
    .returning({ id: keys.id });
  if (!row) return false;
  for (const path of await listEntries(db, k.materialPrefix)) await deleteEntry(db, path);
  return true;
}

/** Of `ids`, those whose key still exists and is not scheduled for deletion. */
export async function liveKeyIds(db: Db, ids: readonly string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const rows = await db
    .select({ id: keys.id })
    .from(keys)
    .where(and(inArray(keys.id, [...ids]), isNull(keys.deleteAfter)));
  return rows.map((r) => r.id);
}
