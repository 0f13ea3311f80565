/**
 * The integrator's reading of stored batches (engine/audit/log/integrator.ts): it hashes each batch's
 * leaves in place (leafHashesInto, engine/audit/log/digest.ts) and checks every record's chain value, in index order, across
 * batch boundaries and from a round that starts inside a batch (INTEGRATE_MAX cuts one). The tree it
 * signs must have the root that @noble's leaf hashes give (merkle.ts, computed here independently);
 * an edited leaf, a batch whose leaves do not number its n, a missing batch and a batch that
 * overlaps the one before it are each AUDIT_LOG_CORRUPT naming the record, with nothing signed.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import { AuditIntegrator, INTEGRATE_MAX } from '../../../../engine/audit/log/integrator.js';
import {
  casAppendAuditBatch,
  getAuditTree,
  latestAuditCheckpoint,
  queryRows,
  readAuditHead,
} from '../../../../engine/store/index.js';
import type { Db } from '../../../../engine/store/index.js';
import { auditStoreHooks } from '../../../helpers/store.js';
import type { TestStore } from '../../../helpers/store.js';
import { mth, refLeafHash, testCheckpointSigner } from '../helpers.js';

/** Short leaves with multi-byte UTF-8 (the integrator does not decode records, only hashes leaves). */
const leafText = (i: number) => `leaf ${i} ü€𝄞 ${'x'.repeat(i % 7)}`;

/** Appends one batch of the given leaves on the head, its chain values computed here with node:crypto. */
async function writeBatch(db: Db, leaves: string[]): Promise<void> {
  const base = await readAuditHead(db);
  const chains = Buffer.alloc(32 * leaves.length);
  let prev: Uint8Array = base.chain;
  leaves.forEach((leaf, k) => {
    const lh = createHash('sha256')
      .update(Buffer.from([0]))
      .update(leaf, 'utf8')
      .digest();
    prev = createHash('sha256').update(prev).update(lh).digest();
    chains.set(prev, 32 * k);
  });
  const ok = await casAppendAuditBatch(db, base, { n: leaves.length, leaves: leaves.join('\n'), chains, inputs: null });
  assert.equal(ok, true);
}

async function writeBatches(db: Db, sizes: number[]): Promise<string[]> {
  const all: string[] = [];
  for (const n of sizes) {
    const leaves = Array.from({ length: n }, (_, k) => leafText(all.length + k));
    await writeBatch(db, leaves);
    all.push(...leaves);
  }
  return all;
}

const expectedRoot = (leaves: string[]) => Buffer.from(mth(leaves.map((l) => refLeafHash(Buffer.from(l, 'utf8')))));

describe('the integrator over stored batches', { timeout: 60_000 }, () => {
  let store: TestStore;
  auditStoreHooks((s) => (store = s));
  const signer = testCheckpointSigner();

  it('integrates across batch boundaries and from inside a batch, to the independently computed root', async () => {
    const db = store.db;
    const integrator = new AuditIntegrator(db, { signer: async () => signer });
    // Batches of 100: INTEGRATE_MAX (4,096) ends the first round inside one, so the next starts there.
    const sizes = Array.from({ length: Math.ceil((INTEGRATE_MAX + 150) / 100) }, () => 100);
    assert.notEqual(INTEGRATE_MAX % 100, 0);
    let leaves = await writeBatches(db, [3, 1, ...sizes]);
    const cp = await integrator.integrate();
    assert.equal(cp?.size, leaves.length);
    assert.deepEqual(Buffer.from(cp!.root), expectedRoot(leaves));
    // More batches on top: the next round starts at the previous tree's size.
    for (const n of [5, 2]) {
      const more = Array.from({ length: n }, (_, k) => leafText(leaves.length + k));
      await writeBatch(db, more);
      leaves = leaves.concat(more);
    }
    const cp2 = await integrator.integrate();
    assert.equal(cp2?.size, leaves.length);
    assert.deepEqual(Buffer.from(cp2!.root), expectedRoot(leaves));
    assert.deepEqual(signer.verify(cp2!.note).size, leaves.length);
  });

  const corrupt = async (edit: (db: Db) => Promise<void>, message: RegExp) => {
    const db = store.db;
    await writeBatches(db, [3, 4, 2]);
    await edit(db);
    const integrator = new AuditIntegrator(db, { signer: async () => signer });
    await assert.rejects(integrator.integrate(), (err: any) => {
      assert.equal(err.code, 'AUDIT_LOG_CORRUPT');
      assert.match(err.message, message);
      return true;
    });
    assert.equal((await getAuditTree(db)).size, 0, 'nothing integrated');
    assert.equal(await latestAuditCheckpoint(db), undefined, 'nothing signed');
  };

  it('refuses an edited leaf inside a batch, naming its record', async () => {
    await corrupt(async (db) => {
      const leaves = [4, 5, 6].map(leafText);
      leaves[1] = leaves[1]!.replace('ü', 'u');
      await db.execute(sql`update audit_batches set leaves = ${[leafText(3), ...leaves].join('\n')} where first = 3`);
    }, /record 5: its chain value does not follow/);
  });

  it('refuses a batch whose leaves do not number its n', async () => {
    await corrupt(async (db) => {
      await db.execute(sql`update audit_batches set leaves = leaves || ${'\nextra'} where first = 3`);
    }, /record 3: its batch holds 5 leaves where 4 were written/);
  });

  it('refuses a missing batch', async () => {
    await corrupt(async (db) => {
      await db.execute(sql`delete from audit_batches where first = 3`);
    }, /record 3 is missing/);
  });

  it('refuses a batch that overlaps the one before it', async () => {
    await corrupt(async (db) => {
      // The batch at 3 moved to 2 (records 2..5): record 2 would be stored twice.
      const [got] = await queryRows<{ leaves: string; chains: string }>(
        db,
        sql`select leaves, encode(chains, 'hex') as chains from audit_batches where first = 3`,
      );
      await db.execute(sql`delete from audit_batches where first = 3`);
      await db.execute(
        sql`insert into audit_batches (first, n, leaves, chains) values (2, 4, ${got!.leaves}, decode(${got!.chains}, 'hex'))`,
      );
    }, /record 2: its batch overlaps the one before it/);
  });
});
