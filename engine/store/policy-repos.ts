/**
 * Repositories for policies (by SHA-256 of their wasm) and their bindings (global or per key).
 * @module
 */
import { and, asc, eq, sql } from 'drizzle-orm';
import type { Db } from './driver.js';
import { policies, policyBindings } from './schema.js';
import type { PolicyBindingRow, PolicyRow } from './schema.js';

export type PolicyMeta = Omit<PolicyRow, 'wasm'> & { size: number };

/** Stores a validated policy. The same bytes pushed twice are one row; returns whether it was new. */
export async function insertPolicy(
  db: Db,
  row: { sha256: string; name: string; wasm: Uint8Array; createdBy: string | null },
): Promise<boolean> {
  const inserted = await db.insert(policies).values(row).onConflictDoNothing().returning({ sha256: policies.sha256 });
  return inserted.length > 0;
}

export async function getPolicy(db: Db, sha256: string): Promise<PolicyRow | undefined> {
  const [row] = await db.select().from(policies).where(eq(policies.sha256, sha256));
  return row;
}

/** Every stored policy without its bytes, oldest first. */
export async function listPolicies(db: Db): Promise<PolicyMeta[]> {
  return db
    .select({
      sha256: policies.sha256,
      name: policies.name,
      createdAt: policies.createdAt,
      createdBy: policies.createdBy,
      size: sql<number>`octet_length(${policies.wasm})::int`,
    })
    .from(policies)
    .orderBy(asc(policies.createdAt), asc(policies.sha256));
}

/** Every binding, global ones first, then by key, then by activation time. */
export async function listBindings(db: Db): Promise<PolicyBindingRow[]> {
  return db
    .select()
    .from(policyBindings)
    .orderBy(asc(policyBindings.scope), sql`${policyBindings.target} COLLATE "C"`, asc(policyBindings.activatedAt));
}

/** Binds a policy globally (target '') or to a key; returns false if that binding already existed. */
export async function bindPolicy(
  db: Db,
  b: { sha256: string; scope: 'global' | 'key'; target: string; activatedBy: string | null },
): Promise<boolean> {
  const inserted = await db
    .insert(policyBindings)
    .values(b)
    .onConflictDoNothing()
    .returning({ sha256: policyBindings.sha256 });
  return inserted.length > 0;
}

/** Removes a binding; returns false if there was none. */
export async function unbindPolicy(
  db: Db,
  b: { sha256: string; scope: 'global' | 'key'; target: string },
): Promise<boolean> {
  const deleted = await db
    .delete(policyBindings)
    .where(
      and(eq(policyBindings.sha256, b.sha256), eq(policyBindings.scope, b.scope), eq(policyBindings.target, b.target)),
    )
    .returning({ sha256: policyBindings.sha256 });
  return deleted.length > 0;
}
