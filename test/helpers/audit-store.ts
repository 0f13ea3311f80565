/**
 * Editing the stored audit log behind Keyward's back, as an attacker with write access to the
 * database would (tests of verification and of the integrator's checks). Records live in batches
 * (engine/store/audit-repos.ts: one `audit_batches` row per batch, leaves joined by "\n", 32 bytes
 * of chain value per record); these helpers edit one record inside its batch.
 */
import { sql } from 'drizzle-orm';
import { readAuditBatches } from '../../engine/store/index.js';
import type { AuditBatchRow, Db } from '../../engine/store/index.js';

async function batchOf(db: Db, idx: number): Promise<AuditBatchRow> {
  const b = (await readAuditBatches(db, idx, idx + 1))[0];
  if (!b || b.first > idx || b.first + b.n <= idx) throw new Error(`no stored batch holds record ${idx}`);
  return b;
}

/** Replaces record `idx`'s leaf text (chain values untouched). */
export async function setAuditLeaf(db: Db, idx: number, leaf: string): Promise<void> {
  const b = await batchOf(db, idx);
  const leaves = b.leaves.split('\n');
  leaves[idx - b.first] = leaf;
  await db.execute(sql`update audit_batches set leaves = ${leaves.join('\n')} where first = ${b.first}`);
}

/** Replaces record `idx`'s stored chain value. */
export async function setAuditChain(db: Db, idx: number, chain: Uint8Array): Promise<void> {
  const b = await batchOf(db, idx);
  const chains = Buffer.from(b.chains);
  chains.set(chain, 32 * (idx - b.first));
  await db.execute(sql`update audit_batches set chains = ${chains} where first = ${b.first}`);
}

/** Deletes records idx and after (the head row is left as it is). */
export async function deleteAuditRecordsFrom(db: Db, idx: number): Promise<void> {
  const b = await batchOf(db, idx);
  await db.execute(sql`delete from audit_batches where first > ${idx}`);
  if (b.first === idx) await db.execute(sql`delete from audit_batches where first = ${idx}`);
  else {
    const k = idx - b.first;
    const leaves = b.leaves.split('\n').slice(0, k).join('\n');
    const chains = Buffer.from(b.chains.subarray(0, 32 * k));
    await db.execute(
      sql`update audit_batches set n = ${k}, leaves = ${leaves}, chains = ${chains} where first = ${b.first}`,
    );
  }
}
