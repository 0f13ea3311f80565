/**
 * Migration 0008 (engine/store/migrations/0008_audit_batches.sql) on a log written by the schema
 * before it: records appended through the code path of migration 0007 (keyward_audit_append of 0005,
 * one audit_records row per record, each policy input encrypted on its own in audit_inputs) and a
 * checkpoint signed over part of them; then the store opens with every migration, new records are
 * appended in batches, and the whole log, its old and new checkpoints, inclusion and consistency
 * proofs, the record pages and an export bundle with inputs from both sides all check out. A damaged
 * per-record log (a leaf that is not UTF-8, a deleted row) still migrates, and verification names
 * the damaged records.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import { AuditIntegrator } from '../../../engine/audit/log/integrator.js';
import { AuditLog } from '../../../engine/audit/log/log.js';
import {
  auditConsistencyProof,
  auditInclusionProof,
  auditRecordsPage,
  exportBundle,
} from '../../../engine/audit/log/read.js';
import { verifyBundle } from '../../../engine/audit/math/bundle.js';
import { appendLeaves, leafHash, verifyConsistency, verifyInclusion } from '../../../engine/audit/math/merkle.js';
import { encodeRecord } from '../../../engine/audit/math/record.js';
import { LogVerifier } from '../../../engine/audit/verifier/verify-log.js';
import { Barrier } from '../../../engine/seal/barrier.js';
import { Keyring } from '../../../engine/seal/keyring.js';
import {
  ensureAuditRows,
  getAuditTree,
  insertPolicy,
  queryRows,
  readAuditRecords,
} from '../../../engine/store/index.js';
import type { Store, StoredInput } from '../../../engine/store/index.js';
import { POLICY_HASH, POLICY_WASM, policyInputOf, sampleRecord, testCheckpointSigner } from '../audit/helpers.js';
import { availableDrivers } from '../../helpers/store.js';
import { advanceOldTree } from './old-tree.js';
import { oldDatabasesAt } from './old-database.js';

/** The last migration of the per-record log. */
const OLD_LAST = 7;

const oldDatabase = oldDatabasesAt(OLD_LAST);

function testBarrier(): Barrier {
  const keyring = Keyring.create();
  return new Barrier({ keyring: () => keyring, reloadKeyring: async () => keyring });
}

const text = (b: Uint8Array) => Buffer.from(b).toString('utf8');

for (const driver of availableDrivers()) {
  describe(`audit migration 0008 on ${driver}`, { timeout: 120_000 }, () => {
    it('converts a per-record log: the whole log, its checkpoints, proofs, pages and exports verify', async () => {
      const old = await oldDatabase(driver);
      let store: Store | undefined;
      try {
        const barrier = testBarrier();
        const signer = testCheckpointSigner();
        // 1. Records through the 0007 code path, in appends of 1 to 300 records (600 in all).
        await ensureAuditRows(old.db);
        const oldCount = 600;
        const sizes = [1, 7, 300, 40, 2, 250];
        let i = 0;
        for (const n of sizes) {
          const leaves: string[] = [];
          const inputs: StoredInput[] = [];
          for (let k = 0; k < n; k++, i++) {
            leaves.push(text(encodeRecord(sampleRecord(i))));
            const input = policyInputOf(i);
            const digest = sampleRecord(i).inputDigest!;
            inputs.push({ digest, blob: barrier.encrypt(`audit/input/${digest}`, input) });
          }
          await queryRows(
            old.db,
            sql`select keyward_audit_append(${JSON.stringify(leaves)}::jsonb, ${JSON.stringify(
              inputs.map((x) => [x.digest, Buffer.from(x.blob).toString('base64')]),
            )}::jsonb)`,
          );
        }
        assert.equal(i, oldCount);
        const before = await queryRows<{ idx: number | string; leaf: string; chain: string }>(
          old.db,
          sql`select idx, convert_from(leaf, 'UTF8') as leaf, encode(chain, 'hex') as chain from audit_records order by idx`,
        );
        assert.equal(before.length, oldCount);
        // A checkpoint signed over the first 333 records, as the integrator of that release did.
        const signedOld = 333;
        const next = appendLeaves(
          [],
          0,
          before.slice(0, signedOld).map((r) => leafHash(Buffer.from(r.leaf))),
        );
        await advanceOldTree(old.db, {
          fromSize: 0,
          size: signedOld,
          root: next.root,
          frontier: next.frontier,
          nodes: next.newNodes,
          note: signer.sign(signedOld, next.root, new Date()),
        });
        for (const p of ['alpha', 'beta'] as const)
          await insertPolicy(old.db, { sha256: POLICY_HASH[p], name: p, wasm: POLICY_WASM[p], createdBy: 'test' });

        // 2. Migrate, then append more through the batch path, and integrate all.
        store = await old.reopen();
        const db = store.db;
        const [{ n: batches } = { n: 0 }] = await queryRows<{ n: number }>(
          db,
          sql`select count(*)::int as n from audit_batches`,
        );
        assert.equal(batches, 3, 'records in batches of at most 256');
        const page = await auditRecordsPage(db, 0, oldCount);
        assert.deepEqual(
          page.records,
          before.map((r) => ({ index: Number(r.idx), leaf: r.leaf, chain: r.chain })),
          'the record pages are the same JSON',
        );
        const log = await AuditLog.open(db, { sealer: barrier });
        const newCount = 90;
        const got = await Promise.all(
          Array.from({ length: newCount }, (_, k) => {
            const j = oldCount + k;
            const rec = sampleRecord(j);
            return log.append(rec, { digest: rec.inputDigest!, bytes: policyInputOf(j) });
          }),
        );
        assert.deepEqual(
          got.sort((a, b) => a - b),
          Array.from({ length: newCount }, (_, k) => oldCount + k),
        );
        await log.close();
        const integrator = new AuditIntegrator(db, { signer: async () => signer });
        const cp = await integrator.integrate();
        const total = oldCount + newCount;
        assert.equal(cp?.size, total);
        assert.equal((await getAuditTree(db)).size, total);

        // 3. The whole log verifies from record 0 against both checkpoints' roots.
        const verifier = new LogVerifier({
          workers: 0,
          rootChecks: [
            { size: signedOld, root: next.root, what: 'the checkpoint signed before the migration' },
            { size: total, root: cp!.root, what: 'the checkpoint signed after it' },
          ],
        });
        try {
          for (let from = 0; from < total; from += 200)
            await verifier.add(
              (await readAuditRecords(db, from, Math.min(total, from + 200))).map((r) => ({
                index: r.idx,
                leaf: r.leaf,
                chain: r.chain,
              })),
            );
          await verifier.finish();
          assert.equal(verifier.size, total);
        } finally {
          await verifier.close();
        }

        // 4. Proofs: inclusion of an old and a new record, consistency from the old checkpoint.
        for (const idx of [0, 299, 332, total - 1].filter((x) => x < total)) {
          const size = idx < signedOld ? signedOld : total;
          const root = size === signedOld ? next.root : cp!.root;
          const p = await auditInclusionProof(db, idx, size);
          const [row] = await readAuditRecords(db, idx, idx + 1);
          verifyInclusion(
            leafHash(row!.leaf),
            idx,
            size,
            p.proof.map((h) => Buffer.from(h, 'base64')),
            root,
          );
        }
        const c = await auditConsistencyProof(db, signedOld, total);
        verifyConsistency(
          signedOld,
          total,
          c.proof.map((h) => Buffer.from(h, 'base64')),
          next.root,
          cp!.root,
        );

        // 5. An export across the migration carries the inputs of both kinds, and verifies.
        const from = oldCount - 20;
        const bundle = await exportBundle(
          { store: { db }, seal: { barrier } },
          { size: cp!.size, note: cp!.note },
          {
            from,
            to: total,
            includeInputs: true,
            includeWasm: true,
            keys: signer.keys,
          },
        );
        const inputs = (bundle as unknown as { inputs: Record<string, string> }).inputs;
        for (let j = from; j < total; j++)
          assert.equal(
            inputs[sampleRecord(j).inputDigest!],
            Buffer.from(policyInputOf(j)).toString('base64'),
            `the input of record ${j}`,
          );
        const checked = await verifyBundle(bundle, signer.trusted);
        assert.equal(checked.records.length, total - from);
      } finally {
        await store?.close();
        await old.drop();
      }
    });

    it('migrates a damaged per-record log, and verification names the damaged records', async () => {
      const old = await oldDatabase(driver);
      let store: Store | undefined;
      try {
        await ensureAuditRows(old.db);
        const leaves = Array.from({ length: 20 }, (_, k) => text(encodeRecord(sampleRecord(k))));
        await queryRows(old.db, sql`select keyward_audit_append(${JSON.stringify(leaves)}::jsonb, '[]'::jsonb)`);
        // Record 5 is not UTF-8 any more; records 12 and 13 were deleted.
        await old.db.execute(sql`update audit_records set leaf = '\\x7bff7d'::bytea where idx = 5`);
        await old.db.execute(sql`delete from audit_records where idx in (12, 13)`);
        store = await old.reopen();
        const rows = await readAuditRecords(store.db, 0, 100);
        assert.deepEqual(
          rows.map((r) => r.idx),
          [...Array.from({ length: 12 }, (_, k) => k), ...Array.from({ length: 6 }, (_, k) => 14 + k)],
        );
        assert.match(text(rows[5]!.leaf), /record 5 of the per-record log was not UTF-8: 7bff7d/);
        const failure = async (list: typeof rows) => {
          const v = new LogVerifier({ workers: 0 });
          try {
            await v.add(list.map((r) => ({ index: r.idx, leaf: r.leaf, chain: r.chain })));
            await v.finish();
            return undefined;
          } catch (err) {
            return err as Error & { code: string };
          } finally {
            await v.close();
          }
        };
        const first = await failure(rows);
        assert.equal(first?.code, 'AUDIT_RECORD_INVALID');
        assert.match(first!.message, /^record 5: /);
        // With record 5 put back, the gap is next.
        rows[5] = { ...rows[5]!, leaf: Buffer.from(leaves[5]!) };
        const second = await failure(rows);
        assert.equal(second?.code, 'AUDIT_LOG_CORRUPT');
        assert.match(second!.message, /^record 12: missing, the next stored record is 14/);
      } finally {
        await store?.close();
        await old.drop();
      }
    });
  });
}
