/**
 * The audit queue: group commit, bounded waits (deadline → AUDIT_UNAVAILABLE, full queue →
 * AUDIT_QUEUE_FULL at once), and nothing committed for a record whose caller already gave up.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import { AuditLog } from '../../../../engine/audit/log/log.js';
import { auditHeadSize, readAuditRecords, withTransaction } from '../../../../engine/store/index.js';
import { openTestStore } from '../../../helpers/store.js';
import { sampleRecord } from '../helpers.js';

describe('AuditLog', () => {
  it('group-commits concurrent appends into contiguous indexes', async () => {
    const store = await openTestStore();
    try {
      const log = await AuditLog.open(store.db);
      const idx = await Promise.all(
        Array.from({ length: 200 }, (_, i) => log.append(sampleRecord(i, { requestId: `r${i}` }))),
      );
      assert.deepEqual(
        [...idx].sort((a, b) => a - b),
        Array.from({ length: 200 }, (_, i) => i),
      );
      assert.equal(log.committed, 200);
      assert.ok(log.statements < 50, `expected batches, got ${log.statements} statements for 200 records`);
      const rows = await readAuditRecords(store.db, 0, 200);
      // Each caller got the index its own record landed at.
      idx.forEach((at, i) => assert.match(new TextDecoder().decode(rows[at]!.leaf), new RegExp(`"requestId":"r${i}"`)));
    } finally {
      await store.close();
    }
  });

  it('answers AUDIT_UNAVAILABLE at the deadline and AUDIT_QUEUE_FULL at once, and recovers', async () => {
    const store = await openTestStore();
    let release: () => void = () => {};
    try {
      // The first append warms the fresh database up; under load that alone can take over 300 ms.
      await (await AuditLog.open(store.db)).append(sampleRecord(1, { requestId: 'before' }));
      const log = await AuditLog.open(store.db, { deadlineMs: 300, maxQueue: 3 });
      const gate = new Promise<void>((r) => (release = r));
      let locked!: () => void;
      const isLocked = new Promise<void>((r) => (locked = r));
      // Hold the head row (PostgreSQL) / the one connection (PGlite): appends can't commit.
      const holder = withTransaction(store.db, async (tx) => {
        await tx.execute(sql`select size from audit_head where id = 1 for update`);
        locked();
        await gate;
      });
      await isLocked;
      const t0 = performance.now();
      const settle = (p: Promise<number>) =>
        p.then(
          () => 'ok',
          (e) => e.code as string,
        );
      // The first starts flushing on the next turn (and sticks on the lock); three more queue.
      const waiting = [settle(log.append(sampleRecord(0, { requestId: 'w0' })))];
      await new Promise((r) => setImmediate(r));
      for (let i = 1; i < 4; i++) waiting.push(settle(log.append(sampleRecord(i, { requestId: `w${i}` }))));
      // The queue is full: the next is refused at once.
      const full = await log.append(sampleRecord(9, { requestId: 'full' })).then(
        () => 'ok',
        (e) => e.code as string,
      );
      assert.equal(full, 'AUDIT_QUEUE_FULL');
      assert.ok(performance.now() - t0 < 250, 'a full queue answers at once');
      assert.deepEqual(await Promise.all(waiting), [
        'AUDIT_UNAVAILABLE',
        'AUDIT_UNAVAILABLE',
        'AUDIT_UNAVAILABLE',
        'AUDIT_UNAVAILABLE',
      ]);
      release();
      await holder;
      // Records still queued at their deadline never commit; the one already flushing may.
      await new Promise((r) => setTimeout(r, 100));
      const size = await auditHeadSize(store.db);
      assert.ok(size <= 2, `expected at most the earlier record and the one that was flushing, got ${size}`);
      assert.equal(await log.append(sampleRecord(10, { requestId: 'after' })), size);
    } finally {
      release(); // never leave the holding transaction open: closing the store would wait for it
      await store.close();
    }
  });
});
