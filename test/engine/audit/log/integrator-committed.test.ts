/**
 * The integrator with the leaf hashes its node's audit log kept (engine/audit/log/committed.ts):
 * a round whose stored batches are all ones this node committed reads their chain values only,
 * not their leaves, and signs the same root as a round that re-hashes them (here computed
 * independently with @noble's leaf hashes, merkle.ts). What it still checks: the stored chain values
 * are byte for byte the ones written (each followed from the one before it when the log computed
 * them), and a kept batch's first one follows from the record before it and its kept leaf hash;
 * a batch it did not commit (another node's), or a stored row that differs from what it wrote (its
 * chain values, or its leaves' length), is read back whole and judged by re-hashing, as before. A leaf
 * edited to the same length with its chain values untouched is not seen here: the tree signs what was
 * written, which the edited row then fails to verify against.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import { CommittedBatches } from '../../../../engine/audit/log/committed.js';
import { AuditIntegrator, INTEGRATE_MAX, INTEGRATOR_LOCK_KEY } from '../../../../engine/audit/log/integrator.js';
import { AuditLog } from '../../../../engine/audit/log/log.js';
import { encodeRecordText } from '../../../../engine/audit/math/record.js';
import {
  casAppendAuditBatch,
  ensureAuditRows,
  getAuditTree,
  queryRows,
  readAuditHead,
  tryIntegratorLock,
  withTransaction,
} from '../../../../engine/store/index.js';
import type { Db } from '../../../../engine/store/index.js';
import { auditStoreHooks, resetTestStore } from '../../../helpers/store.js';
import type { TestStore } from '../../../helpers/store.js';
import { chainValues, mth, refLeafHash, sampleRecord, testCheckpointSigner } from '../helpers.js';

const rootOfTexts = (leaves: string[]) => Buffer.from(mth(leaves.map((l) => refLeafHash(Buffer.from(l, 'utf8')))));

/** Appends `n` sample records through the log's group commit, as requests do; returns their leaf texts. */
async function appendThroughLog(log: AuditLog, from: number, n: number): Promise<string[]> {
  const records = Array.from({ length: n }, (_, k) => sampleRecord(from + k));
  await Promise.all(records.map((r) => log.append(r)));
  return records.map((r) => encodeRecordText(r));
}

/** Appends one batch on the head with chain values computed here (as another node would). */
async function appendElsewhere(db: Db, leaves: string[]): Promise<void> {
  const base = await readAuditHead(db);
  const chains = chainValues(base.chain, leaves);
  assert.equal(
    await casAppendAuditBatch(db, base, { n: leaves.length, leaves: leaves.join('\n'), chains, inputs: null }),
    true,
  );
}

/**
 * Counts, at PGlite's protocol entry point, the statements that read leaves back whole
 * (readAuditBatches's text: `reads`) and those that read a round's batch rows in any form (`rows`:
 * whole, or with the kept batches' leaves left out); undefined on PostgreSQL (the roots are checked
 * there all the same).
 */
function countLeafReads(store: TestStore): { reads: number; rows: number; restore(): void } | undefined {
  if (store.driver !== 'pglite') return undefined;
  const db = store.db;
  type Raw = (message: Uint8Array, ...rest: unknown[]) => Promise<Uint8Array>;
  const client = (db as unknown as { $client: { execProtocolRaw: Raw } }).$client;
  const raw = client.execProtocolRaw;
  const needle = Buffer.from('select first, n, leaves');
  const rowsNeedle = Buffer.from('octet_length(leaves)');
  const counter = {
    reads: 0,
    rows: 0,
    restore: () => {
      client.execProtocolRaw = raw;
    },
  };
  client.execProtocolRaw = function (this: unknown, message: Uint8Array, ...rest: unknown[]) {
    const text = Buffer.from(message.buffer, message.byteOffset, message.byteLength);
    if (message[0] === 0x50 && text.includes(needle)) counter.reads++;
    if (message[0] === 0x50 && (text.includes(needle) || text.includes(rowsNeedle))) counter.rows++;
    return raw.call(this, message, ...rest);
  };
  return counter;
}

describe('the integrator with the leaf hashes its node kept', { timeout: 60_000 }, () => {
  let store: TestStore;
  auditStoreHooks((s) => (store = s));
  const signer = testCheckpointSigner();

  it('signs the independently computed root without reading the leaves back', async () => {
    const log = await AuditLog.open(store.db);
    const integrator = new AuditIntegrator(store.db, { signer: async () => signer, committed: log.committedBatches });
    const count = countLeafReads(store);
    try {
      let leaves = await appendThroughLog(log, 0, 40);
      let cp = await integrator.integrate();
      assert.equal(cp?.size, 40);
      assert.deepEqual(Buffer.from(cp!.root), rootOfTexts(leaves));
      leaves = leaves.concat(await appendThroughLog(log, 40, 25));
      cp = await integrator.integrate();
      assert.equal(cp?.size, 65);
      assert.deepEqual(Buffer.from(cp!.root), rootOfTexts(leaves));
      if (count) assert.equal(count.reads, 0, 'no round read leaves back');
      // Integrated batches are dropped from what the log keeps.
      assert.equal(log.committedBatches.records, 0);
    } finally {
      count?.restore();
      await log.close();
    }
  });

  it("reads back and re-hashes a round that holds another node's batch", async () => {
    const log = await AuditLog.open(store.db);
    const integrator = new AuditIntegrator(store.db, { signer: async () => signer, committed: log.committedBatches });
    const count = countLeafReads(store);
    try {
      const leaves = await appendThroughLog(log, 0, 10);
      const other = ['{"elsewhere":1}', '{"elsewhere":2}'];
      await appendElsewhere(store.db, other);
      leaves.push(...other, ...(await appendThroughLog(log, 12, 5)));
      const cp = await integrator.integrate();
      assert.equal(cp?.size, 17);
      assert.deepEqual(Buffer.from(cp!.root), rootOfTexts(leaves));
      // One read of the round's rows, with the other node's leaves: not its chain values first and
      // then every row again whole.
      if (count) assert.equal(count.rows, 1);
    } finally {
      count?.restore();
      await log.close();
    }
  });

  it('reads the rows of a round that holds none of its own batches once, whole', async () => {
    const log = await AuditLog.open(store.db);
    const integrator = new AuditIntegrator(store.db, { signer: async () => signer, committed: log.committedBatches });
    try {
      // A first round's worth of another node's records, then a batch of this node's: the first
      // round (INTEGRATE_MAX records) holds none of the batches this node keeps, the second only those.
      const other = Array.from({ length: INTEGRATE_MAX }, (_, i) => `{"elsewhere":${i}}`);
      await appendElsewhere(store.db, other.slice(0, INTEGRATE_MAX / 2));
      await appendElsewhere(store.db, other.slice(INTEGRATE_MAX / 2));
      const leaves = other.concat(await appendThroughLog(log, INTEGRATE_MAX, 4));
      const count = countLeafReads(store);
      try {
        const cp = await integrator.integrate();
        assert.equal(cp?.size, INTEGRATE_MAX + 4);
        assert.deepEqual(Buffer.from(cp!.root), rootOfTexts(leaves));
        // Round one: the rows once, whole; round two: once, without their leaves.
        if (count) assert.deepEqual({ rows: count.rows, reads: count.reads }, { rows: 2, reads: 1 });
      } finally {
        count?.restore();
      }
    } finally {
      await log.close();
    }
  });

  it('a node that does not integrate drops the hashes it kept once another node integrated them', async () => {
    // Two nodes' logs on one database; B's integrator is sealed (signs nothing), A integrates.
    const a = await AuditLog.open(store.db);
    const b = await AuditLog.open(store.db);
    const integratorA = new AuditIntegrator(store.db, { signer: async () => signer, committed: a.committedBatches });
    const integratorB = new AuditIntegrator(store.db, { signer: async () => undefined, committed: b.committedBatches });
    try {
      const leaves = await appendThroughLog(b, 0, 300);
      leaves.push(...(await appendThroughLog(a, 300, 100)));
      leaves.push(...(await appendThroughLog(b, 400, 200)));
      assert.equal(b.committedBatches.records, 500);
      const cp = await integratorA.integrate();
      assert.equal(cp?.size, 600);
      assert.deepEqual(Buffer.from(cp!.root), rootOfTexts(leaves));
      assert.equal(a.committedBatches.records, 0);
      // B's round: nothing to sign, but the integrated size is read, and what lies below it goes.
      await integratorB.integrate();
      assert.equal(integratorB.latest?.size, 600);
      assert.equal(b.committedBatches.records, 0);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('a node that finds the integrator lock held drops what the holder integrated (PostgreSQL: two connections)', async (t) => {
    if (store.driver !== 'postgres') return t.skip('PGlite is one session: its advisory locks are re-entrant');
    const a = await AuditLog.open(store.db);
    const b = await AuditLog.open(store.db);
    const integratorA = new AuditIntegrator(store.db, { signer: async () => signer, committed: a.committedBatches });
    const integratorB = new AuditIntegrator(store.db, { signer: async () => signer, committed: b.committedBatches });
    try {
      await appendThroughLog(b, 0, 200);
      assert.equal((await integratorA.integrate())?.size, 200);
      await appendThroughLog(b, 200, 50);
      // A holds the lock (a round in progress) while B's round runs: B integrates nothing.
      let release!: () => void;
      let locked!: () => void;
      const held = new Promise<void>((r) => (locked = r));
      const holder = withTransaction(store.db, async (tx) => {
        assert.equal(await tryIntegratorLock(tx, INTEGRATOR_LOCK_KEY), true);
        locked();
        await new Promise<void>((r) => (release = r));
      });
      await held;
      try {
        assert.equal((await integratorB.integrate())?.size, 200);
      } finally {
        release();
        await holder;
      }
      assert.equal(b.committedBatches.records, 50, 'only what is not integrated yet');
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('judges a stored row that differs from what it wrote by re-hashing it: AUDIT_LOG_CORRUPT, nothing signed', async () => {
    for (const [edit, record] of [
      // A chain value edited: no longer the one written, so the row is read back, and it does not follow from its leaf.
      [sql`update audit_batches set chains = overlay(chains placing '\\x00'::bytea from 1 for 1) where first = 0`, 0],
      // The last leaf edited to another length: read back, and its chain value does not follow from it.
      [sql`update audit_batches set leaves = leaves || ' ' where first = 0`, 7],
    ] as const) {
      await resetTestStore(store);
      await ensureAuditRows(store.db);
      const log = await AuditLog.open(store.db);
      const integrator = new AuditIntegrator(store.db, {
        signer: async () => signer,
        committed: log.committedBatches,
      });
      try {
        await appendThroughLog(log, 0, 8);
        await queryRows(store.db, edit);
        await assert.rejects(integrator.integrate(), (err: { code?: string; message: string }) => {
          assert.equal(err.code, 'AUDIT_LOG_CORRUPT');
          assert.match(err.message, new RegExp(`record ${record}:`));
          return true;
        });
        assert.equal((await getAuditTree(store.db)).size, 0);
      } finally {
        await log.close();
      }
    }
  });

  it("catches an earlier batch rewritten whole, chain values recomputed, at its join with this node's batch", async () => {
    // Another node's batch, then this node's: the first is rewritten with one leaf changed and its
    // chain values recomputed so that it is consistent in itself. Only the check of the kept batch's
    // first chain value against the record before it sees the break.
    const base = await readAuditHead(store.db);
    const other = ['{"elsewhere":1}', '{"elsewhere":2}'];
    await appendElsewhere(store.db, other);
    const log = await AuditLog.open(store.db);
    const integrator = new AuditIntegrator(store.db, { signer: async () => signer, committed: log.committedBatches });
    try {
      await appendThroughLog(log, 2, 3);
      assert.equal(log.committedBatches.records, 3);
      const forged = ['{"elsewhere":1}', '{"elsewhere":9}'];
      await queryRows(
        store.db,
        sql`update audit_batches set leaves = ${forged.join('\n')}, chains = ${chainValues(base.chain, forged)} where first = 0`,
      );
      await assert.rejects(integrator.integrate(), (err: { code?: string; message: string }) => {
        assert.equal(err.code, 'AUDIT_LOG_CORRUPT');
        assert.match(err.message, /record 2: its chain value does not follow from record 1/);
        return true;
      });
      assert.equal((await getAuditTree(store.db)).size, 0);
    } finally {
      await log.close();
    }
  });

  it('a halted integrator (AUDIT_LOG_CORRUPT) leaves its log keeping no leaf hashes', async () => {
    const log = await AuditLog.open(store.db);
    const integrator = new AuditIntegrator(store.db, { signer: async () => signer, committed: log.committedBatches });
    try {
      await appendThroughLog(log, 0, 8);
      await queryRows(store.db, sql`update audit_batches set leaves = leaves || ' ' where first = 0`);
      await assert.rejects(integrator.integrate(), { code: 'AUDIT_LOG_CORRUPT' });
      assert.equal(integrator.halted?.code, 'AUDIT_LOG_CORRUPT');
      // No round runs on this node again, so nothing would drop them: none are kept at all.
      assert.equal(log.committedBatches.records, 0);
      await appendThroughLog(log, 8, 20);
      assert.equal(log.committedBatches.records, 0);
    } finally {
      await log.close();
    }
  });

  it('signs what was written when a leaf was edited in place to the same length (left to verification)', async () => {
    const log = await AuditLog.open(store.db);
    const integrator = new AuditIntegrator(store.db, { signer: async () => signer, committed: log.committedBatches });
    try {
      const leaves = await appendThroughLog(log, 0, 6);
      // Same byte length, chain values untouched: the kept hashes are used, so the root is that of the
      // leaves as written, which the stored (edited) leaf no longer hashes into.
      await queryRows(store.db, sql`update audit_batches set leaves = replace(leaves, 'req-000003', 'req-999999')`);
      const cp = await integrator.integrate();
      assert.equal(cp?.size, 6);
      assert.deepEqual(Buffer.from(cp!.root), rootOfTexts(leaves));
      const edited = leaves.map((l) => l.replace('req-000003', 'req-999999'));
      assert.notDeepEqual(Buffer.from(cp!.root), rootOfTexts(edited));
    } finally {
      await log.close();
    }
  });

  it('keeps a bounded number of records, oldest dropped first', () => {
    const kept = new CommittedBatches(10);
    const batch = (first: number, n: number) => ({
      first,
      n,
      leafBytes: n,
      hashes: new Uint8Array(32 * n),
      chains: new Uint8Array(32 * n),
    });
    kept.add(batch(0, 4));
    kept.add(batch(4, 4));
    kept.add(batch(8, 4));
    assert.equal(kept.get(0), undefined);
    assert.equal(kept.get(4)?.n, 4);
    assert.equal(kept.records, 8);
    kept.forgetBefore(8);
    assert.equal(kept.get(4), undefined);
    assert.equal(kept.records, 4);
    // A copy is kept, not the caller's buffers (small pool slices).
    const source = { ...batch(12, 1), hashes: new Uint8Array(32).fill(7), chains: new Uint8Array(32).fill(9) };
    kept.add(source);
    source.hashes.fill(0);
    source.chains.fill(0);
    assert.deepEqual([kept.get(12)!.hashes[0], kept.get(12)!.chains[31]], [7, 9]);
    // The two halves of one buffer of their own (what the log's #build gives) are kept as they are.
    const own = Buffer.alloc(64 * 2, 5);
    kept.add({ first: 20, n: 2, leafBytes: 2, hashes: own.subarray(0, 64), chains: own.subarray(64) });
    assert.equal(kept.get(20)!.hashes.buffer, own.buffer);
    assert.equal(kept.get(20)!.chains.byteOffset, 64);
    // A malformed entry is not kept.
    kept.add({ ...batch(13, 2), chains: new Uint8Array(3) });
    assert.equal(kept.get(13), undefined);
  });

  it('evicts a batch added again at the same first by its newer place in the order, not its older one', () => {
    const kept = new CommittedBatches(3);
    const batch = (first: number) => ({
      first,
      n: 1,
      leafBytes: 1,
      hashes: new Uint8Array(32),
      chains: new Uint8Array(32),
    });
    kept.add(batch(0));
    kept.add(batch(1));
    kept.add(batch(0)); // again (a reset underneath): now newer than 1
    kept.add(batch(2));
    kept.add(batch(3)); // one record too many: the oldest, 1, goes
    assert.equal(kept.get(1), undefined);
    assert.notEqual(kept.get(0), undefined);
    assert.equal(kept.records, 3);
  });
});
