import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import {
  AUDIT_CHAIN_SEED,
  appendAuditLeaves,
  auditChainAt,
  auditHeadSize,
  casAppendAuditBatch,
  directAuditAppender,
  ensureAuditRows,
  getAuditInputs,
  openStore,
  POOL_MAX,
  queryRows,
  readAuditHead,
  readAuditRecords,
  readAuditRecordsText,
  withTransaction,
} from '../../../engine/store/index.js';
import type { AuditBatchWrite, AuditHead, Db, Store } from '../../../engine/store/index.js';
import { casLanded } from '../../../engine/store/audit-repos.js';
import { availableDrivers, createTestDatabaseUrl, describePostgres, openTestStore } from '../../helpers/store.js';

const sha256 = (...parts: Uint8Array[]) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
};

/** The chain as docs/architecture.md, "The audit log" defines it, computed here in Node to check the SQL. */
function expectedChains(leaves: readonly string[]): Uint8Array[] {
  let prev = AUDIT_CHAIN_SEED;
  return leaves.map((leaf) => {
    prev = sha256(prev, sha256(Uint8Array.of(0), new TextEncoder().encode(leaf)));
    return prev;
  });
}

for (const driver of availableDrivers()) {
  describe(`audit append on ${driver}`, () => {
    it('gives contiguous indexes and computes the chain in SQL (keyward_audit_append, one batch row)', async () => {
      const store = await openTestStore(driver);
      try {
        await ensureAuditRows(store.db);
        await ensureAuditRows(store.db); // idempotent
        const leaves = ['{"a":1}', '{"b":"é \\"q\\" \\u0000"}', '{"c":3}', '{"d":4}'];
        assert.deepEqual(await appendAuditLeaves(store.db, leaves.slice(0, 1)), { first: 0 });
        assert.deepEqual(await appendAuditLeaves(store.db, leaves.slice(1, 3)), { first: 1 });
        assert.deepEqual(await appendAuditLeaves(store.db, leaves.slice(3)), { first: 3 });
        assert.equal(await auditHeadSize(store.db), 4);
        const rows = await readAuditRecords(store.db, 0, 10);
        assert.deepEqual(
          rows.map((r) => new TextDecoder().decode(r.leaf)),
          leaves,
        );
        assert.deepEqual(
          rows.map((r) => Buffer.from(r.chain).toString('hex')),
          expectedChains(leaves).map((c) => Buffer.from(c).toString('hex')),
        );
      } finally {
        await store.close();
      }
    });

    it('reads records across batches as text and hex, and names a malformed batch', async () => {
      const store = await openTestStore(driver);
      try {
        await ensureAuditRows(store.db);
        const leaves = ['{"a":1}', '{"b":"é ☃ 😀"}', '{"c":3}', '{"d":4}', '{"e":5}'];
        await appendAuditLeaves(store.db, leaves.slice(0, 3));
        await appendAuditLeaves(store.db, leaves.slice(3));
        const asText = async (from: number, to: number) =>
          (await readAuditRecordsText(store.db, from, to)).map((r) => [r.idx, r.leaf, r.chain]);
        const fromBytes = async (from: number, to: number) =>
          (await readAuditRecords(store.db, from, to)).map((r) => [
            r.idx,
            new TextDecoder().decode(r.leaf),
            Buffer.from(r.chain).toString('hex'),
          ]);
        assert.deepEqual(await asText(0, 10), await fromBytes(0, 10));
        assert.deepEqual(
          (await asText(0, 10)).map((r) => r[1]),
          leaves,
        );
        // A range cut out of the middle of two batches.
        assert.deepEqual(
          (await asText(2, 4)).map((r) => r[0]),
          [2, 3],
        );
        assert.deepEqual(await fromBytes(1, 2), (await fromBytes(0, 10)).slice(1, 2));
        assert.deepEqual(await readAuditRecordsText(store.db, 5, 2), []);
        const chains = (await readAuditRecords(store.db, 0, 10)).map((r) => Buffer.from(r.chain).toString('hex'));
        for (const i of [0, 2, 3, 4])
          assert.equal(Buffer.from((await auditChainAt(store.db, i))!).toString('hex'), chains[i]);
        assert.equal(await auditChainAt(store.db, 5), undefined);
        // The old table's name is a read-only view of the same records.
        const view = await queryRows<{ idx: number | string; leaf: Uint8Array; chain: Uint8Array }>(
          store.db,
          sql`select idx, leaf, chain from audit_records order by idx`,
        );
        assert.deepEqual(
          view.map((r) => [Number(r.idx), new TextDecoder().decode(r.leaf), Buffer.from(r.chain).toString('hex')]),
          await fromBytes(0, 10),
        );
        // A batch whose leaves don't number n is AUDIT_LOG_CORRUPT naming its first record.
        await store.db.execute(sql.raw(`UPDATE audit_batches SET leaves = leaves || E'\\n{}' WHERE first = 3`));
        await assert.rejects(readAuditRecordsText(store.db, 0, 10), (e: Error & { code?: string }) => {
          assert.equal(e.code, 'AUDIT_LOG_CORRUPT');
          assert.match(e.message, /^record 3: the stored batch of records \[3, 5\) is malformed/);
          return true;
        });
        assert.equal((await readAuditRecords(store.db, 0, 3)).length, 3, 'the batches before it still read');
      } finally {
        await store.close();
      }
    });

    const appenders: [string, (db: Db) => (base: AuditHead, b: AuditBatchWrite) => Promise<boolean>][] = [
      ['with the query builder', (db) => (base, b) => casAppendAuditBatch(db, base, b)],
      ['on the driver client', (db) => directAuditAppender(db)!],
    ];
    for (const [how, appenderOf] of appenders)
      it(`appends a batch by compare-and-set on the head ${how}, and writes nothing when the head moved`, async () => {
        const store = await openTestStore(driver);
        try {
          await ensureAuditRows(store.db);
          assert.ok(directAuditAppender(store.db), `the ${driver} store offers the direct append`);
          const append = appenderOf(store.db);
          const casAppendAuditBatch = (_db: Db, base: AuditHead, b: AuditBatchWrite) => append(base, b);
          const leaves = ['{"a":1}', '{"b":2}', '{"c":3}'];
          const want = expectedChains(leaves);
          const batch = (from: number, to: number) => ({
            n: to - from,
            leaves: leaves.slice(from, to).join('\n'),
            chains: Buffer.concat(want.slice(from, to)),
            inputs: null,
          });
          const head0 = await readAuditHead(store.db);
          assert.deepEqual(head0, { size: 0, chain: AUDIT_CHAIN_SEED });
          assert.equal(await casAppendAuditBatch(store.db, head0, batch(0, 2)), true);
          // The same base again (a stale node): refused, nothing written.
          assert.equal(await casAppendAuditBatch(store.db, head0, batch(0, 2)), false);
          // The right size with another chain (a prediction that didn't land): refused too.
          assert.equal(await casAppendAuditBatch(store.db, { size: 2, chain: want[0]! }, batch(2, 3)), false);
          const head = await readAuditHead(store.db);
          assert.equal(head.size, 2);
          assert.deepEqual(Buffer.from(head.chain), Buffer.from(want[1]!));
          assert.equal(await casAppendAuditBatch(store.db, head, batch(2, 3)), true);
          const rows = await readAuditRecords(store.db, 0, 10);
          assert.deepEqual(
            rows.map((r) => new TextDecoder().decode(r.leaf)),
            leaves,
          );
          assert.deepEqual(
            rows.map((r) => Buffer.from(r.chain).toString('hex')),
            want.map((c) => Buffer.from(c).toString('hex')),
          );
          const [row] = await queryRows<{ n: number }>(store.db, sql`select count(*)::int as n from audit_batches`);
          assert.equal(row?.n, 2, 'one row per batch');
          // A batch with an inputs blob, and the head's previous chain moved along.
          const blob = Uint8Array.of(0, 1, 2, 255);
          const head3 = await readAuditHead(store.db);
          assert.equal(await casAppendAuditBatch(store.db, head3, { ...batch(0, 1), inputs: blob }), true);
          const [b3] = await queryRows<{ first: string | number; inputs: Uint8Array }>(
            store.db,
            sql`select first, inputs from audit_batches order by first desc limit 1`,
          );
          assert.equal(Number(b3!.first), 3);
          assert.deepEqual(Buffer.from(b3!.inputs), Buffer.from(blob));
          const [h] = await queryRows<{ size: string | number; prev: Uint8Array }>(
            store.db,
            sql`select size, prev_chain as prev from audit_head where id = 1`,
          );
          assert.equal(Number(h!.size), 4);
          assert.deepEqual(Buffer.from(h!.prev), Buffer.from(want[2]!));
          // A transaction has no client of its own: the direct append is never offered inside one.
          await withTransaction(store.db, async (tx) => assert.equal(directAuditAppender(tx), undefined));
        } finally {
          await store.close();
        }
      });

    it('stores policy inputs with the batch, once per digest', async () => {
      const store = await openTestStore(driver);
      try {
        await ensureAuditRows(store.db);
        const input = { digest: 'ab'.repeat(32), blob: Uint8Array.of(1, 2, 3, 0, 255) };
        await appendAuditLeaves(store.db, ['{"x":1}'], [input]);
        await appendAuditLeaves(store.db, ['{"x":2}'], [input]);
        const got = await getAuditInputs(store.db, [input.digest, 'cd'.repeat(32)]);
        assert.deepEqual([...got.keys()], [input.digest]);
        assert.deepEqual(got.get(input.digest), input.blob);
      } finally {
        await store.close();
      }
    });

    it('rolls back with the caller transaction, leaving no gap', async () => {
      const store = await openTestStore(driver);
      try {
        await ensureAuditRows(store.db);
        await assert.rejects(
          withTransaction(store.db, async (tx) => {
            await appendAuditLeaves(tx, ['{"gone":1}']);
            throw new Error('state change failed');
          }),
          /state change failed/,
        );
        assert.deepEqual(await appendAuditLeaves(store.db, ['{"kept":1}']), { first: 0 });
        assert.equal(await auditHeadSize(store.db), 1);
      } finally {
        await store.close();
      }
    });
  });
}

if (availableDrivers().includes('postgres')) {
  describe('audit append with several nodes on one PostgreSQL', () => {
    it('produces one gap-free log whose chain verifies under concurrent appends', async () => {
      const db = await createTestDatabaseUrl();
      const nodes: Store[] = [];
      try {
        for (let i = 0; i < 3; i++) nodes.push(await openStore({ databaseUrl: db.url }));
        await ensureAuditRows(nodes[0]!.db);
        const perNode = 40;
        await Promise.all(
          nodes.map((n, ni) =>
            Promise.all(
              Array.from({ length: perNode }, (_, j) =>
                appendAuditLeaves(n.db, [`{"n":${ni},"j":${j},"k":0}`, `{"n":${ni},"j":${j},"k":1}`]),
              ),
            ),
          ),
        );
        const rows = await readAuditRecords(nodes[0]!.db, 0, 10_000);
        assert.equal(rows.length, nodes.length * perNode * 2);
        assert.deepEqual(
          rows.map((r) => r.idx),
          rows.map((_, i) => i),
        );
        const leaves = rows.map((r) => new TextDecoder().decode(r.leaf));
        // Each batch landed contiguously: its k=0 leaf is right before its k=1 leaf.
        for (let i = 0; i < leaves.length; i += 2) assert.equal(leaves[i + 1], leaves[i]!.replace('"k":0', '"k":1'));
        assert.deepEqual(
          rows.map((r) => Buffer.from(r.chain).toString('hex')),
          expectedChains(leaves).map((c) => Buffer.from(c).toString('hex')),
        );
      } finally {
        for (const n of nodes) await n.close();
        await db.drop();
      }
    });
  });
}

for (const driver of availableDrivers()) {
  describe(`audit tree tiles on ${driver}`, () => {
    it('stores an advance as tiles of 256 hashes on levels 0 and 8, growing the partial ones, and refuses a tile that disagrees', async () => {
      const { appendLeaves, TILE_WIDTH } = await import('../../../engine/audit/math/merkle.js');
      const { tileRuns } = await import('../../../engine/audit/log/integrator.js');
      const { advanceAuditTree, getAuditTiles } = await import('../../../engine/store/index.js');
      const store = await openTestStore(driver);
      try {
        await ensureAuditRows(store.db);
        const leaves = Array.from({ length: 800 }, (_, i) =>
          sha256(Uint8Array.of(0), new TextEncoder().encode(`leaf ${i}`)),
        );
        const whole = appendLeaves([], 0, leaves.slice(0, 700));
        const trees = new Map([[0, appendLeaves([], 0, [])]]);
        const advance = (from: number, to: number) =>
          withTransaction(store.db, async (tx) => {
            const next = appendLeaves(trees.get(from)!.frontier, from, leaves.slice(from, to), {
              keepLevel: (l) => l > 0 && l % 8 === 0,
            });
            const ok = await advanceAuditTree(tx, {
              fromSize: from,
              size: next.size,
              root: next.root,
              frontier: next.frontier,
              tiles: tileRuns(from, Buffer.concat(leaves.slice(from, to)), next.newNodes),
              note: `n${next.size}`,
            });
            if (ok) trees.set(next.size, next);
            return ok;
          });
        // Rounds that start and end inside tiles, one that fills a tile exactly, one of a single leaf.
        for (const [from, to] of [
          [0, 100],
          [100, 256],
          [256, 257],
          [257, 600],
          [600, 700],
        ] as const)
          assert.equal(await advance(from, to), true, `[${from}, ${to})`);
        assert.equal(await advance(600, 700), false, 'the size moved on: compare-and-set fails');
        assert.deepEqual(trees.get(700)!.root, whole.root);
        const expected = new Map<string, Buffer>();
        for (const n of whole.newNodes.filter((x) => x.level % 8 === 0)) {
          const key = `${n.level / 8}:${Math.floor(n.index / TILE_WIDTH)}`;
          expected.set(key, Buffer.concat([expected.get(key) ?? Buffer.alloc(0), n.hash]));
        }
        assert.deepEqual([...expected.keys()].sort(), ['0:0', '0:1', '0:2', '1:0']);
        const got = await getAuditTiles(store.db, [
          { level: 0, index: 0 },
          { level: 0, index: 1 },
          { level: 0, index: 2 },
          { level: 0, index: 3 },
          { level: 1, index: 0 },
        ]);
        assert.equal(got.size, 4, 'tile (0, 3) does not exist');
        for (const [k, v] of expected) assert.deepEqual(Buffer.from(got.get(k)!), v, `tile ${k}`);
        assert.equal(got.get('0:2')!.length, 32 * (700 - 512), 'the partial tile holds the leaves so far');
        const [{ n: rows } = { n: 0 }] = await queryRows<{ n: number }>(
          store.db,
          sql`select count(*)::int as n from audit_tiles`,
        );
        assert.equal(rows, 4, 'one row per tile, whatever the number of records');

        // A partial tile that is not as wide as the tree says (edited behind the log's back) stops the advance.
        await store.db.execute(
          sql`update audit_tiles set hashes = substring(hashes from 33) where level = 0 and idx = 2`,
        );
        await assert.rejects(advance(700, 701), { code: 'AUDIT_LOG_CORRUPT', message: /tile \(0, 2\) is missing/ });
        assert.equal((await readTree(store.db)).size, 700, 'nothing written');
        // A tile beyond the tree already stored stops it too.
        await store.db.execute(
          sql`update audit_tiles set hashes = ${expected.get('0:2')!}::bytea where level = 0 and idx = 2`,
        );
        await store.db.execute(sql`insert into audit_tiles (level, idx, hashes) values (0, 3, '\\x00'::bytea)`);
        await assert.rejects(advance(700, 800), { code: 'AUDIT_LOG_CORRUPT', message: /already stored/ });
        await store.db.execute(sql`delete from audit_tiles where level = 0 and idx = 3`);
        assert.equal(await advance(700, 800), true, 'with the tiles right again, the tree advances');
        const after = await getAuditTiles(store.db, [
          { level: 0, index: 2 },
          { level: 0, index: 3 },
        ]);
        assert.deepEqual(Buffer.from(after.get('0:2')!), Buffer.concat(leaves.slice(512, 768)));
        assert.deepEqual(Buffer.from(after.get('0:3')!), Buffer.concat(leaves.slice(768, 800)));
      } finally {
        await store.close();
      }
    });
  });
}

describePostgres('audit append on PostgreSQL: a connection of its own', { timeout: 30_000 }, () => {
  it('commits an append while every pooled connection is busy (the pool would pipeline it behind them)', async () => {
    const store = await openTestStore('postgres');
    try {
      await ensureAuditRows(store.db);
      const append = directAuditAppender(store.db)!;
      // Warm the append connection (connect, prepare), then hold all POOL_MAX pooled connections.
      const head0 = await readAuditHead(store.db);
      const chains0 = sha256(head0.chain, sha256(Uint8Array.of(0), new TextEncoder().encode('{"a":1}')));
      assert.equal(await append(head0, { n: 1, leaves: '{"a":1}', chains: chains0, inputs: null }), true);
      const holdS = 1.5;
      const hold = Array.from({ length: POOL_MAX }, () =>
        queryRows(store.db, sql`select pg_sleep(${holdS}) is null as slept`),
      );
      await new Promise((r) => setTimeout(r, 200)); // every pooled connection is now in pg_sleep
      const head = { size: 1, chain: chains0 };
      const chains = sha256(chains0, sha256(Uint8Array.of(0), new TextEncoder().encode('{"b":2}')));
      const t0 = performance.now();
      assert.equal(await append(head, { n: 1, leaves: '{"b":2}', chains, inputs: null }), true);
      const ms = performance.now() - t0;
      // Pipelined behind a pg_sleep it would take the rest of it (≥ 1.3 s); alone, one commit.
      assert.ok(ms < 1000, `the append took ${Math.round(ms)} ms while the pool was busy`);
      await Promise.all(hold);
      assert.equal((await readAuditHead(store.db)).size, 2);
    } finally {
      await store.close();
    }
  });
});

async function readTree(db: Db) {
  const { getAuditTree } = await import('../../../engine/store/index.js');
  return getAuditTree(db);
}

describe('the audit append reads whether it landed from its row count', () => {
  it('1 landed, 0 the head was elsewhere, and a missing or other count throws instead of reading as "moved"', () => {
    assert.equal(casLanded(1), true);
    assert.equal(casLanded(0), false);
    // Read as "the head moved", the flush would read the head again, which may hold its own batch,
    // and append the same records a second time.
    for (const count of [undefined, null, 2, '1'])
      assert.throws(() => casLanded(count), /row count was .*not 0 or 1: whether it landed is unknown/);
  });
});
