/**
 * Migration 0010 (engine/store/migrations/0010_audit_tiles.sql) on a log written by the schema before
 * it: records appended in batches (as 0008/0009 store them) and integrated the way that release's
 * integrator stored its tree (one audit_nodes row per perfect node, test/engine/store/old-tree.ts),
 * with checkpoints signed at two sizes. After the migration: the tiles are the tlog-tiles layout of
 * those nodes, the unseal check (verifyTail) passes, every inclusion and consistency proof and a
 * range proof are byte-identical to an in-memory tree's, and the integrator goes on from the
 * converted tiles. A missing node leaves its tile out, and a proof that needs it is AUDIT_LOG_CORRUPT
 * rather than a wrong hash.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import { AuditIntegrator } from '../../../engine/audit/log/integrator.js';
import { auditConsistencyProof, auditInclusionProof, auditRangeProof } from '../../../engine/audit/log/read.js';
import {
  TILE_WIDTH,
  appendLeaves,
  consistencyProof,
  inclusionProof,
  leafHash,
  rangeProof,
} from '../../../engine/audit/math/merkle.js';
import type { AppendResult } from '../../../engine/audit/math/merkle.js';
import { encodeRecord } from '../../../engine/audit/math/record.js';
import {
  AUDIT_CHAIN_SEED,
  casAppendAuditBatch,
  ensureAuditRows,
  queryRows,
  readAuditHead,
  readAuditRecords,
} from '../../../engine/store/index.js';
import type { Db, Store } from '../../../engine/store/index.js';
import { sampleRecord, testCheckpointSigner } from '../audit/helpers.js';
import { availableDrivers } from '../../helpers/store.js';
import { advanceOldTree } from './old-tree.js';
import { oldDatabasesAt } from './old-database.js';
import { createHash } from 'node:crypto';

/** The last migration of the per-node tree. */
const OLD_LAST = 9;

const oldDatabase = oldDatabasesAt(OLD_LAST);

/** Appends records [from, to) as batches of `per` (the batch path of 0008/0009). */
async function appendRecords(db: Db, from: number, to: number, per = 64): Promise<void> {
  for (let first = from; first < to; first += per) {
    const base = await readAuditHead(db);
    assert.equal(base.size, first);
    const leaves: string[] = [];
    const n = Math.min(per, to - first);
    const chains = new Uint8Array(32 * n);
    let chain = first === 0 ? AUDIT_CHAIN_SEED : base.chain;
    for (let k = 0; k < n; k++) {
      const leaf = Buffer.from(encodeRecord(sampleRecord(first + k))).toString('utf8');
      leaves.push(leaf);
      chain = createHash('sha256')
        .update(chain)
        .update(leafHash(Buffer.from(leaf)))
        .digest();
      chains.set(chain, 32 * k);
    }
    assert.equal(await casAppendAuditBatch(db, base, { n, leaves: leaves.join('\n'), chains, inputs: null }), true);
  }
}

const b64 = (h: Uint8Array) => Buffer.from(h).toString('base64');

/** The proofs the in-memory tree of `leaves` gives, in the routes' form. */
function memoryTree(leafHashes: readonly Uint8Array[]) {
  const whole = appendLeaves([], 0, leafHashes);
  const nodes = new Map(whole.newNodes.map((n) => [`${n.level}:${n.index}`, n.hash]));
  const getNode = (level: number, index: number) => {
    const h = nodes.get(`${level}:${index}`);
    if (!h) throw new Error(`node (${level}, ${index}) is not in the tree`);
    return h;
  };
  return {
    inclusion: async (index: number, size: number) => (await inclusionProof(index, size, getNode)).map(b64),
    consistency: async (a: number, b: number) => (await consistencyProof(a, b, getNode)).map(b64),
    range: (from: number, to: number, size: number) => rangeProof(from, to, size, getNode),
  };
}

for (const driver of availableDrivers()) {
  describe(`audit migration 0010 (tiles) on ${driver}`, { timeout: 120_000 }, () => {
    it('converts the per-node tree: tiles, the unseal check, proofs byte-identical, and integration goes on', async () => {
      const old = await oldDatabase(driver);
      let store: Store | undefined;
      const s = testCheckpointSigner();
      try {
        // 1. 700 records, integrated as the 0009 integrator did, signed at 333 and at 700: tiles
        //    (0, 0) and (0, 1) full, (0, 2) partial, and the level 8 tile (1, 0) with two hashes.
        await ensureAuditRows(old.db);
        const total = 700;
        await appendRecords(old.db, 0, total);
        const rows = await readAuditRecords(old.db, 0, total);
        const leafHashes = rows.map((r) => leafHash(r.leaf));
        let tree: AppendResult = appendLeaves([], 0, []);
        for (const [from, to] of [
          [0, 333],
          [333, total],
        ] as const) {
          const next = appendLeaves(tree.frontier, from, leafHashes.slice(from, to));
          await advanceOldTree(old.db, {
            fromSize: from,
            size: to,
            root: next.root,
            frontier: next.frontier,
            nodes: next.newNodes,
            note: s.sign(to, next.root, new Date()),
          });
          tree = next;
        }
        const [{ n: nodeRows } = { n: 0 }] = await queryRows<{ n: number }>(
          old.db,
          sql`select count(*)::int as n from audit_nodes`,
        );
        assert.equal(nodeRows, 2 * total - 6, 'one row per perfect node: 2n − popcount(n), popcount(700) = 6');

        // 2. Migrate.
        store = await old.reopen();
        const db = store.db;
        const tables = await queryRows<{ t: string }>(
          db,
          sql`select table_name as t from information_schema.tables where table_name in ('audit_nodes', 'audit_tiles')`,
        );
        assert.deepEqual(
          tables.map((r) => r.t),
          ['audit_tiles'],
        );
        const tiles = await queryRows<{ level: number; idx: number | string; width: number; hashes: string }>(
          db,
          sql`select level, idx, length(hashes) / 32 as width, encode(hashes, 'hex') as hashes from audit_tiles order by level, idx`,
        );
        assert.deepEqual(
          tiles.map((t) => [t.level, Number(t.idx), t.width]),
          [
            [0, 0, 256],
            [0, 1, 256],
            [0, 2, total - 512],
            [1, 0, 2],
          ],
        );
        const level8 = appendLeaves([], 0, leafHashes).newNodes.filter((n) => n.level === 8);
        assert.equal(tiles[3]!.hashes, Buffer.concat(level8.map((n) => n.hash)).toString('hex'));
        assert.equal(tiles[1]!.hashes, Buffer.concat(leafHashes.slice(TILE_WIDTH, 2 * TILE_WIDTH)).toString('hex'));

        // 3. The unseal check passes on the converted tree; proofs are the in-memory tree's, byte for byte.
        const integrator = new AuditIntegrator(db, { signer: async () => s });
        await integrator.verifyTail(s.verify);
        const mem = memoryTree(leafHashes);
        for (const size of [333, total]) {
          for (const index of [0, 1, 200, 255, 256, 300, 332, 511, 512, 600, 699].filter((i) => i < size)) {
            const got = await auditInclusionProof(db, index, size);
            assert.deepEqual(got.proof, await mem.inclusion(index, size), `inclusion of ${index} in ${size}`);
            assert.equal(got.leafHash, b64(leafHashes[index]!));
          }
        }
        assert.deepEqual((await auditConsistencyProof(db, 333, total)).proof, await mem.consistency(333, total));
        const range = async (p: Promise<{ left: Uint8Array[]; right: Uint8Array[] }>) => {
          const { left, right } = await p;
          return { left: left.map(b64), right: right.map(b64) };
        };
        assert.deepEqual(await range(auditRangeProof(db, 100, 650, total)), await range(mem.range(100, 650, total)));

        // 4. The integrator continues from the converted tiles (the partial ones grow), and proofs stay right.
        const more = 900;
        await appendRecords(db, total, more, 100);
        const cp = await integrator.integrate();
        assert.equal(cp?.size, more);
        const all = [...leafHashes, ...(await readAuditRecords(db, total, more)).map((r) => leafHash(r.leaf))];
        const mem2 = memoryTree(all);
        assert.equal(b64(cp!.root), b64(appendLeaves([], 0, all).root));
        for (const index of [5, 333, 699, 700, 767, 768, 899])
          assert.deepEqual((await auditInclusionProof(db, index, more)).proof, await mem2.inclusion(index, more));
        assert.deepEqual((await auditConsistencyProof(db, 333, more)).proof, await mem2.consistency(333, more));
        assert.deepEqual((await auditConsistencyProof(db, total, more)).proof, await mem2.consistency(total, more));
        await integrator.verifyTail(s.verify);
      } finally {
        await store?.close();
        await old.drop();
      }
    });

    it('leaves out a tile one of whose nodes is missing: a proof that needs it is AUDIT_LOG_CORRUPT', async () => {
      const old = await oldDatabase(driver);
      let store: Store | undefined;
      const s = testCheckpointSigner();
      try {
        await ensureAuditRows(old.db);
        await appendRecords(old.db, 0, 300);
        const leafHashes = (await readAuditRecords(old.db, 0, 300)).map((r) => leafHash(r.leaf));
        const next = appendLeaves([], 0, leafHashes);
        await advanceOldTree(old.db, {
          fromSize: 0,
          size: 300,
          root: next.root,
          frontier: next.frontier,
          nodes: next.newNodes,
          note: s.sign(300, next.root, new Date()),
        });
        await old.db.execute(sql`delete from audit_nodes where level = 0 and idx = 100`);
        store = await old.reopen();
        const widths = await queryRows<{ level: number; idx: number | string }>(
          store.db,
          sql`select level, idx from audit_tiles order by level, idx`,
        );
        assert.deepEqual(
          widths.map((t) => [t.level, Number(t.idx)]),
          [
            [0, 1],
            [1, 0],
          ],
          'tile (0, 0) is left out, not shifted',
        );
        await assert.rejects(auditInclusionProof(store.db, 7, 300), {
          code: 'AUDIT_LOG_CORRUPT',
          message: /node \(0, 6\) is missing/,
        });
        const mem = memoryTree(leafHashes);
        assert.deepEqual((await auditInclusionProof(store.db, 290, 300)).proof, await mem.inclusion(290, 300));
      } finally {
        await store?.close();
        await old.drop();
      }
    });
  });
}
