import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import {
  AUDIT_CHAIN_SEED,
  appendAuditLeaves,
  auditHeadSize,
  ensureAuditRows,
  getAuditInputs,
  openStore,
  readAuditRecords,
  readAuditRecordsText,
  withTransaction,
} from '../../../engine/store/index.js';
import type { Store } from '../../../engine/store/index.js';
import { availableDrivers, createTestDatabaseUrl, openTestStore } from '../../helpers/store.js';

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
    it('gives contiguous indexes and computes the chain in SQL', async () => {
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

    it('reads pages as text and hex, also when a damaged leaf is not UTF-8', async () => {
      const store = await openTestStore(driver);
      try {
        await ensureAuditRows(store.db);
        const leaves = ['{"a":1}', '{"b":"é ☃ 😀"}', '{"c":3}'];
        await appendAuditLeaves(store.db, leaves);
        const asText = async () => (await readAuditRecordsText(store.db, 0, 10)).map((r) => [r.idx, r.leaf, r.chain]);
        const fromBytes = async () =>
          (await readAuditRecords(store.db, 0, 10)).map((r) => [
            r.idx,
            new TextDecoder().decode(r.leaf),
            Buffer.from(r.chain).toString('hex'),
          ]);
        assert.deepEqual(await asText(), await fromBytes());
        assert.deepEqual(
          (await asText()).map((r) => r[1]),
          leaves,
        );
        assert.deepEqual(await readAuditRecordsText(store.db, 5, 2), []);
        // The database can't convert a leaf that isn't UTF-8: the page is decoded here instead (U+FFFD).
        await store.db.execute(sql.raw(`UPDATE audit_records SET leaf = '\\x7bff7d'::bytea WHERE idx = 1`));
        const damaged = await asText();
        assert.deepEqual(damaged, await fromBytes());
        assert.equal(damaged[1]![1], '{\ufffd}');
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
