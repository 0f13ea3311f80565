/**
 * The integrator's tree write of releases before migration 0010: one audit_nodes row per perfect
 * node, one statement per run of consecutive indexes on a level (advanceAuditTree and nodeRuns as
 * they were), for tests that build a log as those releases stored it.
 */
import { sql } from 'drizzle-orm';
import type { NodeHash } from '../../../engine/audit/math/merkle.js';
import type { Db } from '../../../engine/store/index.js';

export async function advanceOldTree(
  tx: Db,
  a: {
    fromSize: number;
    size: number;
    root: Uint8Array;
    frontier: readonly Uint8Array[];
    nodes: readonly NodeHash[];
    note: string;
  },
): Promise<void> {
  const frontier = Buffer.concat(a.frontier.map((h) => Buffer.from(h)));
  await tx.execute(sql`update audit_tree set size = ${a.size}::bigint, root = ${Buffer.from(a.root)}::bytea,
    frontier = ${frontier}::bytea where id = 1 and size = ${a.fromSize}::bigint`);
  const byLevel = new Map<number, NodeHash[]>();
  for (const n of a.nodes) byLevel.set(n.level, [...(byLevel.get(n.level) ?? []), n]);
  for (const [level, list] of byLevel) {
    list.sort((x, y) => x.index - y.index);
    let start = 0;
    for (let i = 1; i <= list.length; i++) {
      if (i < list.length && list[i]!.index === list[i - 1]!.index + 1) continue;
      const part = list.slice(start, i);
      const hashes = Buffer.concat(part.map((n) => n.hash));
      await tx.execute(sql`insert into audit_nodes (level, idx, hash)
        select ${level}::int, ${part[0]!.index}::bigint + g, substring(${hashes}::bytea from g * 32 + 1 for 32)
        from generate_series(0, ${part.length}::int - 1) as g
        on conflict do nothing`);
      start = i;
    }
  }
  await tx.execute(sql`insert into audit_checkpoints (size, root, note) values (${a.size}::bigint, ${Buffer.from(a.root)}::bytea, ${a.note})
    on conflict (size) do update set note = excluded.note`);
}
