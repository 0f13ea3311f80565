/**
 * A missing partial tile (note18: "a missing tile stops integration for good"): tiles are derived
 * from the records, so the integrator rebuilds the tree's partial tiles once (level 0 from the
 * stored records, every chain value checked; level L from the full tiles of level L − 1) and runs
 * the round again. The tiles and root it ends with are checked against @noble's leaf hashes and
 * RFC 9162 roots computed here (merkle.ts). A partial tile whose full tile below is missing too
 * cannot be rebuilt: AUDIT_LOG_CORRUPT names the operator's way out, and signing stays stopped.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import { AuditIntegrator } from '../../../../engine/audit/log/integrator.js';
import { leafHash, rootOf } from '../../../../engine/audit/math/merkle.js';
import { casAppendAuditBatch, getAuditTiles, queryRows, readAuditHead } from '../../../../engine/store/index.js';
import type { Db } from '../../../../engine/store/index.js';
import { auditStoreHooks } from '../../../helpers/store.js';
import type { TestStore } from '../../../helpers/store.js';
import { testCheckpointSigner } from '../helpers.js';

const leafText = (i: number) => `leaf ${i} ü€ ${'x'.repeat(i % 5)}`;
const hashOf = (i: number) => Buffer.from(leafHash(Buffer.from(leafText(i), 'utf8')));
const range = (a: number, b: number) => Array.from({ length: b - a }, (_, k) => a + k);

/** Appends records [from, to) as batches of 50, chain values computed here. */
async function append(db: Db, from: number, to: number): Promise<void> {
  for (let a = from; a < to; a += 50) {
    const idx = range(a, Math.min(to, a + 50));
    const base = await readAuditHead(db);
    assert.equal(base.size, a);
    const chains = Buffer.alloc(32 * idx.length);
    let prev: Uint8Array = base.chain;
    idx.forEach((i, k) => {
      prev = createHash('sha256').update(prev).update(hashOf(i)).digest();
      chains.set(prev, 32 * k);
    });
    const leaves = idx.map(leafText).join('\n');
    assert.equal(await casAppendAuditBatch(db, base, { n: idx.length, leaves, chains, inputs: null }), true);
  }
}

const deleteTiles = (db: Db, tiles: [number, number][]) =>
  Promise.all(
    tiles.map(([level, idx]) => queryRows(db, sql`delete from audit_tiles where level = ${level} and idx = ${idx}`)),
  );

describe('the integrator and a missing partial tile', { timeout: 60_000 }, () => {
  let store: TestStore;
  auditStoreHooks((s) => (store = s));
  const signer = testCheckpointSigner();

  it('rebuilds them (level 0 from the records, level 1 from the full tile below) and integrates on', async () => {
    const db = store.db;
    const integrator = new AuditIntegrator(db, { signer: async () => signer });
    await append(db, 0, 300);
    assert.equal((await integrator.integrate())?.size, 300);
    // The partial tiles at size 300: (0, 1) with 44 leaf hashes and (1, 0) with one node.
    await deleteTiles(db, [
      [0, 1],
      [1, 0],
    ]);
    await append(db, 300, 520); // the round extends both
    const cp = await integrator.integrate();
    assert.equal(cp?.size, 520);
    assert.equal(integrator.halted, undefined);
    assert.deepEqual(Buffer.from(cp!.root), Buffer.from(rootOf(range(0, 520).map(hashOf))));
    const tiles = await getAuditTiles(db, [
      { level: 0, index: 1 },
      { level: 0, index: 2 },
      { level: 1, index: 0 },
    ]);
    assert.deepEqual(tiles.get('0:1'), new Uint8Array(Buffer.concat(range(256, 512).map(hashOf))));
    assert.deepEqual(tiles.get('0:2'), new Uint8Array(Buffer.concat(range(512, 520).map(hashOf))));
    const mth = (a: number, b: number) => Buffer.from(rootOf(range(a, b).map(hashOf)));
    assert.deepEqual(tiles.get('1:0'), new Uint8Array(Buffer.concat([mth(0, 256), mth(256, 512)])));
  });

  it('stops signing with the operator action when the tile below is missing too', async () => {
    const db = store.db;
    const integrator = new AuditIntegrator(db, { signer: async () => signer });
    await append(db, 0, 300);
    assert.equal((await integrator.integrate())?.size, 300);
    await deleteTiles(db, [
      [0, 0],
      [1, 0],
    ]);
    await append(db, 300, 520);
    await assert.rejects(integrator.integrate(), (err: { code?: string; message: string }) => {
      assert.equal(err.code, 'AUDIT_LOG_CORRUPT');
      assert.match(err.message, /tile \(1, 0\) is missing or wrong and cannot be rebuilt: tile \(0, 0\)/);
      assert.match(err.message, /restore the database from a backup/);
      return true;
    });
    assert.equal(integrator.halted?.code, 'AUDIT_LOG_CORRUPT');
  });
});
