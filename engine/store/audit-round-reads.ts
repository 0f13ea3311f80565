/**
 * The integrator's read of a round's batches (engine/audit/log/integrator.ts): one statement that
 * brings every batch's chain values and, only for the batches its node did not keep the leaf hashes
 * of, the leaves. (It belongs beside `readAuditBatches` in audit-repos.ts, whose row selection it
 * repeats; kept apart while that file is being changed elsewhere.)
 * @module
 */
import { sql } from 'drizzle-orm';
import type { Db } from './driver.js';
import { queryRows } from './repos.js';

/** A stored batch as a round reads it: records [first, first + n), with its leaves unless its node kept them hashed. */
export interface AuditRoundBatch {
  first: number;
  n: number;
  /** The leaves' UTF-8 length (`octet_length(leaves)`, from the stored value's header). */
  leafBytes: number;
  /** The leaves joined by "\n", or null for a batch whose first index is in `kept`. */
  leaves: string | null;
  chains: Uint8Array;
}

/**
 * The batches holding records [from, to), in order, as `readAuditBatches` selects them: the leaves of
 * those whose first index is in `kept` left out (null), so a round on a log several nodes write reads
 * each row once, whether its node kept its hashes or not (issue 14; before, it read every row's chain
 * values and then, if any batch was another node's, every row again whole).
 */
export async function readAuditRoundBatches(
  db: Db,
  from: number,
  to: number,
  kept: readonly number[],
): Promise<AuditRoundBatch[]> {
  if (to <= from) return [];
  for (const f of kept) if (!Number.isSafeInteger(f) || f < 0) throw new TypeError('"kept" expected record indexes');
  // The chain values as hex text, decoded here: PGlite parses bytea in JavaScript, Buffer's hex is native.
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
        from audit_batches
        where first >= coalesce((select max(first) from audit_batches where first <= ${from}::bigint), 0)
          and first < ${to}::bigint
        order by first`,
  );
  return rows.map((r) => ({
    first: Number(r.first),
    n: Number(r.n),
    leafBytes: Number(r.bytes),
    leaves: r.leaves,
    chains: new Uint8Array(Buffer.from(r.chains, 'hex')),
  }));
}
