/**
 * The audit queue: group commit, bounded waits (deadline → AUDIT_UNAVAILABLE, full queue →
 * AUDIT_QUEUE_FULL at once), and nothing committed for a record whose caller already gave up.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import { AuditLog } from '../../../../engine/audit/log/log.js';
import { createHash, randomBytes } from 'node:crypto';
import { batchInputsPath, decodeBatchInputs } from '../../../../engine/audit/log/inputs.js';
import { aeadOpen, aeadSeal, label } from '../../../../engine/seal/aead.js';
import {
  auditHeadSize,
  openStore,
  readAuditBatches,
  readAuditBatchInputs,
  readAuditRecords,
  withTransaction,
} from '../../../../engine/store/index.js';
import type { Db, Store } from '../../../../engine/store/index.js';
import { createTestDatabaseUrl, describePostgres, openTestStore } from '../../../helpers/store.js';
import { sampleRecord } from '../helpers.js';

/** Holds the head row (PostgreSQL) / the one connection (PGlite) until `free`: appends can't commit. */
async function holdHead(db: Db): Promise<{ holder: Promise<void>; free: () => void }> {
  let free!: () => void;
  const gate = new Promise<void>((r) => (free = r));
  let locked!: () => void;
  const isLocked = new Promise<void>((r) => (locked = r));
  const holder = withTransaction(db, async (tx) => {
    await tx.execute(sql`select size from audit_head where id = 1 for update`);
    locked();
    await gate;
  });
  await isLocked;
  return { holder, free };
}

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
      const { holder, free } = await holdHead(store.db);
      release = free;
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
  it('fails each append at its own deadline (one timer for all) and holds no timer once idle', async () => {
    const store = await openTestStore();
    let release: () => void = () => {};
    try {
      const log = await AuditLog.open(store.db, { deadlineMs: 300 });
      await log.append(sampleRecord(0, { requestId: 'warm' }));
      const { holder, free } = await holdHead(store.db);
      release = free;
      // Failed at, in ms after the append was made.
      const failedAfter = (p: Promise<number>, t0: number) =>
        p.then(
          () => -1,
          (e) => (assert.equal(e.code, 'AUDIT_UNAVAILABLE'), performance.now() - t0),
        );
      const t0 = performance.now();
      const first = failedAfter(log.append(sampleRecord(1, { requestId: 'd1' })), t0);
      await new Promise((r) => setTimeout(r, 150));
      const t1 = performance.now();
      const second = failedAfter(log.append(sampleRecord(2, { requestId: 'd2' })), t1);
      const [a, b] = await Promise.all([first, second]);
      // Never before its own deadline (the later append is not cut short by the earlier one's timer).
      assert.ok(a >= 299 && a < 1500, `the first failed ${a.toFixed(0)} ms after its append`);
      assert.ok(b >= 299 && b < 1500, `the second failed ${b.toFixed(0)} ms after its append`);
      release();
      await holder;
      // Everything settled: one append arms the deadline timer (the only one of 300 ms here: the
      // database driver keeps timers of its own) only until it commits.
      const armed: unknown[] = [];
      const cleared = new Set<unknown>();
      const { setTimeout: set, clearTimeout: clear } = globalThis;
      globalThis.setTimeout = ((fn: () => void, ms?: number) => {
        const t = set(fn, ms);
        if (ms === 300) armed.push(t);
        return t;
      }) as typeof setTimeout;
      globalThis.clearTimeout = ((t: NodeJS.Timeout | undefined) => {
        cleared.add(t);
        clear(t);
      }) as typeof clearTimeout;
      try {
        assert.equal(typeof (await log.append(sampleRecord(3, { requestId: 'after' }))), 'number');
      } finally {
        globalThis.setTimeout = set;
        globalThis.clearTimeout = clear;
      }
      assert.equal(armed.length, 1, 'one deadline timer for the append');
      assert.ok(cleared.has(armed[0]), 'a log with nothing waiting holds no deadline timer');
    } finally {
      release();
      await store.close();
    }
  });
});

/** Checks records [0, size): contiguous indexes, and each chain value from the one before (in Node, independently). */
async function assertChained(db: Db, size: number): Promise<string[]> {
  const rows = await readAuditRecords(db, 0, size + 10);
  assert.deepEqual(
    rows.map((r) => r.idx),
    Array.from({ length: size }, (_, i) => i),
  );
  let prev = Buffer.alloc(32);
  for (const r of rows) {
    const lh = createHash('sha256').update(Buffer.of(0)).update(r.leaf).digest();
    prev = createHash('sha256').update(prev).update(lh).digest();
    assert.deepEqual(Buffer.from(r.chain), prev, `chain of record ${r.idx}`);
  }
  return rows.map((r) => new TextDecoder().decode(r.leaf));
}

/** Seals as the barrier does: AES-256-GCM under a throwaway key, the path in the AAD. */
function testSealer(): {
  encrypt(path: string, p: Uint8Array): Uint8Array;
  open(path: string, b: Uint8Array): Uint8Array;
} {
  const key = new Uint8Array(randomBytes(32));
  return {
    encrypt: (path, p) => aeadSeal(key, p, label('test', path)),
    open: (path, b) => {
      const plain = aeadOpen(key, b, label('test', path));
      if (!plain) throw new Error(`the blob does not open at ${path}`);
      return plain;
    },
  };
}

describe('AuditLog batches', () => {
  it('writes one row per batch, its inputs sealed once, and interleaves with appends inside transactions', async () => {
    const store = await openTestStore();
    try {
      const sealer = testSealer();
      const log = await AuditLog.open(store.db, { sealer, flushesInFlight: 2 });
      const input = (i: number) => ({
        digest: createHash('sha256').update(`input ${i}`).digest('hex'),
        bytes: new TextEncoder().encode(`input ${i}`),
      });
      // Queued appends, with a state change's append in its own transaction between them.
      const queued = Array.from({ length: 120 }, (_, i) =>
        log.append(sampleRecord(i, { requestId: `q${i}` }), input(i)),
      );
      const inTx = withTransaction(store.db, (tx) =>
        log.appendInTransaction(tx, [sampleRecord(999, { requestId: 'tx' })], [input(999)]),
      );
      const more = Array.from({ length: 80 }, (_, i) => log.append(sampleRecord(200 + i, { requestId: `m${i}` })));
      const idx = await Promise.all([...queued, inTx, ...more]);
      assert.deepEqual(
        [...idx].sort((a, b) => a - b),
        Array.from({ length: 201 }, (_, i) => i),
      );
      const leaves = await assertChained(store.db, 201);
      idx.slice(0, 120).forEach((at, i) => assert.match(leaves[at]!, new RegExp(`"requestId":"q${i}"`)));
      assert.match(leaves[idx[120]!]!, /"requestId":"tx"/);
      const batches = await readAuditBatches(store.db, 0, 201);
      assert.ok(batches.length < 20, `expected batches, got ${batches.length} rows for 201 records`);
      // Each batch's inputs are one blob at its own path, holding exactly its records' inputs.
      const blobs = await readAuditBatchInputs(store.db, 0, 201);
      const stored = new Map<string, Uint8Array>();
      for (const [first, blob] of blobs) {
        const before = stored.size;
        decodeBatchInputs(sealer.open(batchInputsPath(first), blob), stored);
        const b = batches.find((x) => x.first === first)!;
        const own = b.leaves.split('\n').filter((l) => /"requestId":"(q\d+|tx)"/.test(l)).length;
        assert.equal(stored.size - before, own, `batch ${first} holds its records' inputs`);
        assert.throws(() => sealer.open(batchInputsPath(first + 1), blob), /does not open/, 'bound to its batch');
      }
      for (const i of [0, 57, 119, 999]) assert.deepEqual(stored.get(input(i).digest), input(i).bytes);
      await log.close();
    } finally {
      await store.close();
    }
  });
});

describe('AuditLog pipelined flushes', () => {
  it("sends a statement that overtook its node's previous flush again unchanged, without rebuilding", async () => {
    const store = await openTestStore();
    try {
      // The driver's client, with its first append statement held back 150 ms: the second flush
      // (built on the first's predicted head) reaches the head row first and misses. postgres.js
      // sends it with `unsafe`; on PGlite it goes out through `execProtocolRawStream` inside the client's
      // mutexes (engine/store/pglite-wire.ts), so it is held back at `_checkReady`, before them.
      const client = (store.db as unknown as { $client: object }).$client;
      const send = 'unsafe' in client ? 'unsafe' : 'execProtocolRawStream';
      const hold = 'unsafe' in client ? 'unsafe' : '_checkReady';
      let calls = 0;
      let held = false;
      let firstSent!: () => void;
      const firstIsSent = new Promise<void>((r) => (firstSent = r));
      const slow = new Proxy(client, {
        get(t, k) {
          const v = Reflect.get(t, k) as unknown;
          if (typeof v !== 'function') return v;
          if (k !== send && k !== hold) return v.bind(t);
          return async (...args: unknown[]) => {
            if (k === send) calls++;
            if (k === hold && !held) {
              held = true;
              firstSent();
              await new Promise((r) => setTimeout(r, 150));
            }
            return v.apply(t, args);
          };
        },
      });
      const db = new Proxy(store.db, { get: (t, k) => (k === '$client' ? slow : Reflect.get(t, k)) }) as Db;
      const sealer = testSealer();
      const log = await AuditLog.open(db, { sealer, flushesInFlight: 2 });
      const input = (i: number) => ({
        digest: createHash('sha256').update(`input ${i}`).digest('hex'),
        bytes: new TextEncoder().encode(`input ${i}`),
      });
      const first = log.append(sampleRecord(0, { requestId: 'a0' }), input(0));
      await firstIsSent;
      const second = Array.from({ length: 5 }, (_, i) =>
        log.append(sampleRecord(i + 1, { requestId: `b${i}` }), input(i + 1)),
      );
      assert.deepEqual(await Promise.all([first, ...second]), [0, 1, 2, 3, 4, 5]);
      assert.equal(log.conflicts, 1, 'the second flush missed once');
      assert.equal(log.resends, 1, 'and was sent again unchanged');
      assert.equal(log.statements, 3);
      assert.equal(calls, 3, 'no head read or rebuild went through the driver client');
      const leaves = await assertChained(store.db, 6);
      assert.match(leaves[0]!, /"requestId":"a0"/);
      // The resent batch's inputs blob is the one sealed for its place (path audit/inputs/1).
      const blobs = await readAuditBatchInputs(store.db, 0, 6);
      assert.deepEqual(
        blobs.map(([f]) => f),
        [0, 1],
      );
      const stored = decodeBatchInputs(sealer.open(batchInputsPath(1), blobs[1]![1]));
      assert.deepEqual(stored.get(input(5).digest), input(5).bytes);
      await log.close();
    } finally {
      await store.close();
    }
  });
});

describePostgres('AuditLog on two nodes (one PostgreSQL)', { timeout: 120_000 }, () => {
  it('keeps one gap-free chained log when both nodes append at once (compare-and-set misses retry)', async () => {
    const target = await createTestDatabaseUrl();
    const stores: Store[] = [];
    try {
      for (let i = 0; i < 2; i++) stores.push(await openStore({ databaseUrl: target.url }));
      const logs = await Promise.all(stores.map((s) => AuditLog.open(s.db, { flushesInFlight: 2 })));
      const per = 600;
      const idx = await Promise.all(
        logs.flatMap((log, n) =>
          Array.from({ length: per }, async (_, i) => {
            // Arrivals spread over a few turns, so both nodes flush many small batches.
            if (i % 50 === 0) await new Promise((r) => setImmediate(r));
            return log.append(sampleRecord(i, { requestId: `n${n}-${i}`, node: `node-${n}` }));
          }),
        ),
      );
      assert.deepEqual(
        [...idx].sort((a, b) => a - b),
        Array.from({ length: 2 * per }, (_, i) => i),
      );
      const leaves = await assertChained(stores[0]!.db, 2 * per);
      idx.forEach((at, k) => assert.match(leaves[at]!, new RegExp(`"requestId":"n${Math.floor(k / per)}-${k % per}"`)));
      for (const log of logs) await log.close();
      const misses = logs[0]!.conflicts + logs[1]!.conflicts;
      const statements = logs[0]!.statements + logs[1]!.statements;
      assert.ok(statements < 2 * per, `batched: ${statements} statements, ${misses} compare-and-set misses`);
    } finally {
      for (const s of stores) await s.close();
      await target.drop();
    }
  });
});
