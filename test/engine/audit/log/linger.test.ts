/**
 * The group commit's adaptive linger (engine/audit/log/log.ts, `lingerFor`): a flush is held back
 * only when the append statement is slow and arrivals would grow the batch materially; never for a
 * lone request or an idle log, never on a fast database.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import { AuditLog, LINGER_MIN_STATEMENT_MS, lingerFor } from '../../../../engine/audit/log/log.js';
import { readAuditRecords, withTransaction } from '../../../../engine/store/index.js';
import type { Db } from '../../../../engine/store/index.js';
import { openTestStore } from '../../../helpers/store.js';
import { sampleRecord } from '../helpers.js';

const base = { queued: 8, statementMs: 6, arrivalsPerMs: 1.2, batchMax: 256, maxWaitMs: 2 };

describe('lingerFor', () => {
  it('lingers under a slow statement with arrivals expected to grow the batch', () => {
    const d = lingerFor(base);
    assert.equal(d.waitMs, 2, 'capped by the max wait');
    // What arrives within one statement's latency: 8 queued + ceil(1.2 × 6).
    assert.equal(d.target, 16);
    assert.equal(lingerFor({ ...base, batchMax: 12 }).target, 12, 'capped by the largest batch');
    assert.equal(lingerFor({ ...base, statementMs: 4.5, maxWaitMs: 20 }).waitMs, 4.5, 'never longer than a statement');
  });
  it('does not linger on a fast (CPU-bound) database, when lightly loaded, idle, full, or switched off', () => {
    assert.equal(lingerFor({ ...base, statementMs: LINGER_MIN_STATEMENT_MS - 0.1 }).waitMs, 0, 'fast statement');
    assert.equal(lingerFor({ ...base, statementMs: 1, arrivalsPerMs: 6 }).waitMs, 0, 'fast statement, high rate');
    // -c 1: one request per statement latency and a bit: under 2 records expected within the wait.
    assert.equal(lingerFor({ ...base, queued: 1, arrivalsPerMs: 0.15 }).waitMs, 0, 'a lone client');
    assert.equal(lingerFor({ ...base, arrivalsPerMs: 0.9 }).waitMs, 0, 'under 2 records expected within the wait');
    // 16 clients all queued already: the 2-3 records expected would not grow the batch materially.
    assert.equal(lingerFor({ ...base, queued: 15 }).waitMs, 0, 'the batch holds nearly every client');
    assert.equal(lingerFor({ ...base, queued: 0 }).waitMs, 0, 'idle');
    assert.equal(lingerFor({ ...base, queued: 256 }).waitMs, 0, 'a full batch');
    assert.equal(lingerFor({ ...base, maxWaitMs: 0 }).waitMs, 0, 'off');
    assert.equal(lingerFor({ ...base, statementMs: 0, arrivalsPerMs: 0 }).waitMs, 0, 'no history yet');
  });
});

/** Holds the head row (PostgreSQL) / the one connection (PGlite) for `ms`: the next statement is slow. */
async function slowNextStatement(db: Db, ms: number): Promise<Promise<void>> {
  let locked!: () => void;
  const isLocked = new Promise<void>((r) => (locked = r));
  const holder = withTransaction(db, async (tx) => {
    await tx.execute(sql`select size from audit_head where id = 1 for update`);
    locked();
    await new Promise((r) => setTimeout(r, ms));
  });
  await isLocked;
  return holder;
}

describe('AuditLog linger', () => {
  it('holds a flush under slow statements with queued arrivals, never for a lone request, and loses nothing', async () => {
    const store = await openTestStore();
    try {
      const log = await AuditLog.open(store.db, { lingerMaxMs: 2 });
      // A lone client (-c 1), one append at a time, statements slow: nothing queued behind a flush, no linger.
      for (let i = 0; i < 4; i++) {
        const holder = await slowNextStatement(store.db, 12);
        await log.append(sampleRecord(i, { requestId: `lone${i}` }));
        await holder;
      }
      assert.equal(log.lingers, 0, 'a lone request never waits');
      // 24 clients in a closed loop, each appending again as soon as its record is durable, behind
      // slow statements: the log lingers to take the answered clients' next records.
      let n = 4;
      const client = async (c: number) => {
        for (let k = 0; k < 10; k++) {
          await new Promise((r) => setTimeout(r, c % 4)); // the clients' next requests arrive spread out
          await log.append(sampleRecord(n++, { requestId: `c${c}-${k}` }));
        }
      };
      let slow = true;
      const slowing = (async () => {
        while (slow) await await slowNextStatement(store.db, 8);
      })();
      // Up to three passes: a busy machine may stretch the arrivals of one pass too thin to linger.
      for (let pass = 0; pass < 3 && log.lingers === 0; pass++)
        await Promise.all(Array.from({ length: 24 }, (_, c) => client(c)));
      slow = false;
      await slowing;
      assert.ok(log.lingers > 0, 'the log lingered under slow statements with queued arrivals');
      await log.close();
      assert.equal(log.committed, n);
      const rows = await readAuditRecords(store.db, 0, 1000);
      assert.deepEqual(
        rows.map((r) => r.idx),
        Array.from({ length: n }, (_, i) => i),
      );
    } finally {
      await store.close();
    }
  });
  it('does not linger when switched off (the default on PGlite)', async () => {
    const store = await openTestStore();
    try {
      const log = await AuditLog.open(store.db, { lingerMaxMs: 0 });
      const holder = await slowNextStatement(store.db, 10);
      const all = Promise.all(Array.from({ length: 20 }, (_, i) => log.append(sampleRecord(i))));
      await holder;
      await all;
      await Promise.all(Array.from({ length: 20 }, (_, i) => log.append(sampleRecord(20 + i))));
      assert.equal(log.lingers, 0);
      assert.equal(log.committed, 40);
    } finally {
      await store.close();
    }
  });
});
