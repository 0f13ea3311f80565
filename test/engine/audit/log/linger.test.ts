/**
 * The group commit's adaptive linger (engine/audit/log/log.ts, `lingerFor`): a flush is held back
 * only when the append statement waits on the disk (PostgreSQL) or runs on this thread (PGlite) and arrivals
 * would grow the batch materially; never for a lone request or an idle log, never on a PostgreSQL
 * whose commits wait on no disk.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import {
  AuditLog,
  LINGER_FRACTION,
  LINGER_MIN_STATEMENT_MS,
  LINGER_ON_THREAD_MS,
  lingerFor,
} from '../../../../engine/audit/log/log.js';
import { readAuditRecords, withTransaction } from '../../../../engine/store/index.js';
import type { Db } from '../../../../engine/store/index.js';
import { defaultTestDriver, openTestStore } from '../../../helpers/store.js';
import { sampleRecord } from '../helpers.js';

// Eight records queued behind a 6 ms statement that just landed with eight others: the halves of 16 clients.
const base = { queued: 8, returning: 8, sinceLandedMs: 0, statementMs: 6, batchMax: 256, maxWaitMs: 10 };

describe('lingerFor', () => {
  it('holds a flush for the clients the last statement answered, up to a fraction of its latency', () => {
    const d = lingerFor(base);
    assert.equal(d.waitMs, 6 * LINGER_FRACTION, 'relative to the statement');
    assert.equal(d.target, 16, 'ends as soon as everyone is back');
    assert.equal(lingerFor({ ...base, batchMax: 12 }).target, 12, 'capped by the largest batch');
    assert.equal(lingerFor({ ...base, statementMs: 40 }).waitMs, 10, 'capped by the max wait');
    // 1.5 ms after the landing, the window has 1.5 ms less left.
    assert.equal(lingerFor({ ...base, sinceLandedMs: 1.5 }).waitMs, 6 * LINGER_FRACTION - 1.5);
    // Merged halves: the first client back finds the queue empty but for itself and waits for the others.
    assert.deepEqual(lingerFor({ ...base, queued: 1, returning: 15, sinceLandedMs: 0.5 }), {
      waitMs: 6 * LINGER_FRACTION - 0.5,
      target: 16,
    });
    // Slow statements on a loaded machine (the case the fixed 2 ms cap never caught): 4 clients, halves of 2.
    assert.ok(lingerFor({ ...base, queued: 2, returning: 2, statementMs: 12 }).waitMs > 0, '-c 4 at 12 ms');
    // A durable commit on a fast disk (fdatasync ~110 µs): the statement still waits on its WAL flush.
    assert.equal(lingerFor({ ...base, statementMs: 1.4 }).waitMs, 1.4 * LINGER_FRACTION, '16 clients, fast disk');
  });
  it('never holds a lone request, sparse traffic, a fast database, a full batch, or when switched off', () => {
    // -c 1: the one client's record is the one that arrived since its previous statement landed.
    assert.equal(lingerFor({ ...base, queued: 1, returning: 0, statementMs: 20 }).waitMs, 0, 'a lone client');
    assert.equal(lingerFor({ ...base, queued: 1, returning: 0, sinceLandedMs: 1e6 }).waitMs, 0, 'idle');
    assert.equal(lingerFor({ ...base, sinceLandedMs: 6 * LINGER_FRACTION }).waitMs, 0, 'the window is over');
    assert.equal(lingerFor({ ...base, statementMs: LINGER_MIN_STATEMENT_MS - 0.1 }).waitMs, 0, 'fast statement');
    // No WAL flush to wait for (synchronous_commit off, or fsync off): nothing worth holding a flush for.
    assert.equal(lingerFor({ ...base, statementMs: 0.4 }).waitMs, 0, 'a commit that waits on no disk');
    assert.equal(lingerFor({ ...base, queued: 40, returning: 9 }).waitMs, 0, 'would grow the batch by under a quarter');
    assert.equal(lingerFor({ ...base, queued: 0 }).waitMs, 0, 'nothing queued');
    assert.equal(lingerFor({ ...base, queued: 256 }).waitMs, 0, 'a full batch');
    assert.equal(lingerFor({ ...base, maxWaitMs: 0 }).waitMs, 0, 'off');
    assert.equal(lingerFor({ ...base, statementMs: 0 }).waitMs, 0, 'no history yet');
  });
  it('on this thread (PGlite) holds for the returning clients however fast the statement, the same cases excepted', () => {
    const here = { ...base, statementMs: 0.3, onThread: true, maxWaitMs: LINGER_ON_THREAD_MS };
    assert.deepEqual(lingerFor(here), { waitMs: LINGER_ON_THREAD_MS, target: 16 }, 'the whole window');
    assert.equal(lingerFor({ ...here, statementMs: 0 }).waitMs, LINGER_ON_THREAD_MS, 'no history needed');
    assert.equal(lingerFor({ ...here, sinceLandedMs: 0.5 }).waitMs, LINGER_ON_THREAD_MS - 0.5);
    assert.equal(lingerFor({ ...here, queued: 1, returning: 0 }).waitMs, 0, 'a lone client');
    assert.equal(lingerFor({ ...here, sinceLandedMs: LINGER_ON_THREAD_MS }).waitMs, 0, 'the window is over');
    assert.equal(lingerFor({ ...here, queued: 40, returning: 9 }).waitMs, 0, 'would grow the batch by under a quarter');
    assert.equal(lingerFor({ ...here, queued: 256 }).waitMs, 0, 'a full batch');
    assert.equal(lingerFor({ ...here, maxWaitMs: 0 }).waitMs, 0, 'off');
  });
});

/** Closes `log` and checks that it committed `n` records, stored gap-free from index 0. */
async function closedWithAll(log: AuditLog, db: Db, n: number): Promise<void> {
  await log.close();
  assert.equal(log.committed, n);
  const rows = await readAuditRecords(db, 0, 1000);
  assert.deepEqual(
    rows.map((r) => r.idx),
    Array.from({ length: n }, (_, i) => i),
  );
}

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
      await closedWithAll(log, store.db, n);
    } finally {
      await store.close();
    }
  });
  it('close() drains a record a linger would hold: it does not linger once closing', async (t) => {
    // PostgreSQL: the holder below makes the append statement reliably slow (the head row's lock).
    if (defaultTestDriver() !== 'postgres')
      return t.skip('PGlite runs the holder and the append on one session: statements are not reliably slow');
    const store = await openTestStore();
    try {
      const log = await AuditLog.open(store.db, { lingerMaxMs: 20 });
      // Eight records land behind a slow statement: its latency is now worth lingering for.
      let holder = await slowNextStatement(store.db, 60);
      await Promise.all([holder, ...Array.from({ length: 8 }, (_, i) => log.append(sampleRecord(i)))]);
      // Eight more behind another slow statement. As the first of them is answered (while the flush
      // that landed them has not yet ended), one more record comes and close() is called: the flush's
      // end then found the eight answered clients "returning" and lingered for them, and the old
      // close() returned with that record held by the linger's timer.
      holder = await slowNextStatement(store.db, 60);
      let late: Promise<number> | undefined;
      let closing: Promise<void> | undefined;
      const second = Array.from({ length: 8 }, (_, i) => log.append(sampleRecord(8 + i)));
      void second[0]!.then(() => {
        late = log.append(sampleRecord(16, { requestId: 'late' }));
        closing = log.close();
      });
      await Promise.all([holder, ...second]);
      await closing;
      assert.equal(log.committed, 17, 'every record appended before close() is committed when it returns');
      assert.equal(await late, 16);
    } finally {
      await store.close();
    }
  });
  it('by default on PGlite, lingers for clients in a closed loop, never for a lone one, and loses nothing', async (t) => {
    if (defaultTestDriver() !== 'pglite') return t.skip('PGlite only: its statements run on this thread');
    const store = await openTestStore();
    try {
      const log = await AuditLog.open(store.db);
      for (let i = 0; i < 4; i++) await log.append(sampleRecord(i, { requestId: `lone${i}` }));
      assert.equal(log.lingers, 0, 'a lone request never waits');
      // 16 clients in a closed loop, each appending again once its record is durable (after a turn of
      // the event loop, as a request's answer and the next request take).
      let n = 4;
      const client = async (c: number) => {
        for (let k = 0; k < 8; k++) {
          await new Promise((r) => setImmediate(r));
          await log.append(sampleRecord(n++, { requestId: `c${c}-${k}` }));
        }
      };
      await Promise.all(Array.from({ length: 16 }, (_, c) => client(c)));
      assert.ok(log.lingers > 0, 'the log lingered for the clients it had answered');
      await closedWithAll(log, store.db, n);
    } finally {
      await store.close();
    }
  });
  it('does not linger when switched off', async () => {
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
