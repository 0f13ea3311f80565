import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import {
  appendAuditLeaves,
  ensureAuditRows,
  readAuditRecords,
  readAuditRecordsRaw,
} from '../../../engine/store/index.js';
import { auditRecordsRaw } from '../../../engine/audit/log/read.js';
import { availableDrivers, openTestStore } from '../../helpers/store.js';

/** What readAuditRecordsRaw should give, from the per-record reader: chains concatenated, leaves each + "\n". */
async function expected(db: Parameters<typeof readAuditRecords>[0], from: number, to: number) {
  const rows = await readAuditRecords(db, from, to);
  return {
    count: rows.length,
    chains: Buffer.concat(rows.map((r) => r.chain)).toString('hex'),
    leaves: Buffer.concat(rows.flatMap((r) => [r.leaf, Buffer.from('\n')])).toString('utf8'),
  };
}

/** The leaves' parts joined, as text. */
const text = (raw: { leaves: Uint8Array[] }) => Buffer.concat(raw.leaves).toString('utf8');

for (const driver of availableDrivers()) {
  describe(`audit records as stored (the raw page) on ${driver}`, () => {
    it('cuts batches to any range exactly as the per-record reader does, and stops at the byte budget', async () => {
      const store = await openTestStore(driver);
      try {
        await ensureAuditRows(store.db);
        const leaves = Array.from({ length: 23 }, (_, i) => JSON.stringify({ i, s: 'é☃😀'.repeat(i % 4) }));
        // Batches of 1, 5, 7, 10 records.
        for (const [a, b] of [
          [0, 1],
          [1, 6],
          [6, 13],
          [13, 23],
        ] as const)
          await appendAuditLeaves(store.db, leaves.slice(a, b));
        for (const from of [0, 1, 2, 5, 6, 7, 12, 13, 20, 22, 23, 24])
          for (const to of [from, from + 1, from + 9, 30]) {
            const raw = await readAuditRecordsRaw(store.db, from, to);
            const want = await expected(store.db, from, to);
            assert.deepEqual(
              { count: raw.count, chains: raw.chains.toString('hex'), leaves: text(raw) },
              want,
              `[${from}, ${to})`,
            );
            assert.equal(raw.leavesBytes, Buffer.byteLength(want.leaves));
            assert.equal(raw.from, from);
          }
        // The byte budget: the page ends with the record that reaches it, and holds at least one.
        const one = await readAuditRecordsRaw(store.db, 2, 23, 1);
        assert.equal(one.count, 1);
        const budget = Buffer.byteLength(leaves.slice(2, 9).join('\n') + '\n');
        const some = await readAuditRecordsRaw(store.db, 2, 23, budget);
        assert.equal(some.count, 7);
        assert.equal((await readAuditRecordsRaw(store.db, 2, 23, budget + 1)).count, 8);
        // The page function: the head, and where the next page starts.
        const page = await auditRecordsRaw(store.db, 20, 100);
        assert.deepEqual([page.size, page.from, page.count, page.next], [23, 20, 3, null]);
        assert.equal((await auditRecordsRaw(store.db, 0, 5)).next, 5);
        // Deleted rows: a page ends before the gap, and the next starts after it, saying where.
        await store.db.execute(sql.raw('DELETE FROM audit_batches WHERE first = 6'));
        const before = await readAuditRecordsRaw(store.db, 2, 23);
        assert.deepEqual([before.from, before.count], [2, 4]);
        const afterGap = await readAuditRecordsRaw(store.db, 6, 23);
        assert.deepEqual([afterGap.from, afterGap.count], [13, 10]);
        assert.deepEqual(text(afterGap), (await expected(store.db, 13, 23)).leaves);
        // A batch whose leaves don't number n is AUDIT_LOG_CORRUPT naming its first record.
        await store.db.execute(sql.raw(`UPDATE audit_batches SET leaves = leaves || E'\\n{}' WHERE first = 13`));
        await assert.rejects(readAuditRecordsRaw(store.db, 13, 23), (e: Error & { code?: string }) => {
          assert.equal(e.code, 'AUDIT_LOG_CORRUPT');
          assert.match(e.message, /^record 13: the stored batch of records \[13, 23\) is malformed/);
          return true;
        });
      } finally {
        await store.close();
      }
    });

    it('gives the leaves of pages larger than a part in several parts, end to end', async () => {
      const store = await openTestStore(driver);
      try {
        await ensureAuditRows(store.db);
        // Six batches of ~200 KB: more than one 1 MiB part.
        for (let b = 0; b < 6; b++)
          await appendAuditLeaves(
            store.db,
            Array.from({ length: 4 }, (_, i) => JSON.stringify({ b, i, s: 'x'.repeat(50_000) })),
          );
        for (const [from, to] of [
          [0, 24],
          [1, 23],
          [5, 14],
          [17, 22],
        ] as const) {
          const raw = await readAuditRecordsRaw(store.db, from, to);
          assert.equal(text(raw), (await expected(store.db, from, to)).leaves, `[${from}, ${to})`);
          assert.equal(raw.leavesBytes, Buffer.concat(raw.leaves).length);
        }
        assert.ok((await readAuditRecordsRaw(store.db, 0, 24)).leaves.length > 1, 'several parts');
      } finally {
        await store.close();
      }
    });
  });
}
