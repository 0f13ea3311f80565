/**
 * A missing partial tile (note18: "a missing tile stops integration for good"): tiles are derived
 * from the records, so the integrator rebuilds the tree's partial tiles once (level 0 from the
 * stored records, every chain value checked; level L from the full tiles of level L − 1) and runs
 * the round again. The tiles and root it ends with are checked against @noble's leaf hashes and
 * RFC 9162 roots computed here (merkle.ts). A partial tile whose full tile below is missing too
 * cannot be rebuilt: AUDIT_LOG_CORRUPT names the operator's way out, and signing stays stopped. Nor
 * can one whose rebuild does not reproduce the signed root (an altered full tile below it, records
 * edited with their chain values recomputed): refused with nothing written. Only the round's own tile
 * write failing leads to a repair, not an error worded like it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import { AuditIntegrator } from '../../../../engine/audit/log/integrator.js';
import type { CheckpointSigner } from '../../../../engine/audit/log/integrator.js';
import { leafHash, rootOf } from '../../../../engine/audit/math/merkle.js';
import {
  casAppendAuditBatch,
  getAuditTiles,
  getAuditTree,
  queryRows,
  readAuditHead,
} from '../../../../engine/store/index.js';
import type { Db } from '../../../../engine/store/index.js';
import { auditStoreHooks } from '../../../helpers/store.js';
import type { TestStore } from '../../../helpers/store.js';
import { KeywardError } from '../../../../lib/errors.js';
import { chainValues, testCheckpointSigner } from '../helpers.js';

const leafText = (i: number) => `leaf ${i} ü€ ${'x'.repeat(i % 5)}`;
const hashOf = (i: number) => Buffer.from(leafHash(Buffer.from(leafText(i), 'utf8')));
const range = (a: number, b: number) => Array.from({ length: b - a }, (_, k) => a + k);

/** Appends records [from, to) as batches of 50, chain values computed here. */
async function append(db: Db, from: number, to: number): Promise<void> {
  for (let a = from; a < to; a += 50) {
    const idx = range(a, Math.min(to, a + 50));
    const base = await readAuditHead(db);
    assert.equal(base.size, a);
    const texts = idx.map(leafText);
    const chains = chainValues(base.chain, texts);
    const leaves = texts.join('\n');
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

  it('refuses a rebuild that does not reproduce the signed root (a full tile below was altered): nothing written', async () => {
    const db = store.db;
    const integrator = new AuditIntegrator(db, { signer: async () => signer });
    await append(db, 0, 300);
    const signed = await integrator.integrate();
    assert.equal(signed?.size, 300);
    // Full tile (0, 0) altered in place (same width), partial tile (1, 0), its MTH, deleted.
    await queryRows(
      db,
      sql`update audit_tiles set hashes = overlay(hashes placing '\\xff'::bytea from 100 for 1) where level = 0 and idx = 0`,
    );
    await deleteTiles(db, [[1, 0]]);
    await append(db, 300, 520);
    await assert.rejects(integrator.integrate(), (err: { code?: string; message: string }) => {
      assert.equal(err.code, 'AUDIT_LOG_CORRUPT');
      assert.match(err.message, /do not reproduce the signed root at size 300/);
      assert.match(err.message, /restore the database from a backup/);
      return true;
    });
    assert.equal(integrator.halted?.code, 'AUDIT_LOG_CORRUPT');
    assert.equal((await getAuditTiles(db, [{ level: 1, index: 0 }])).size, 0, 'no tile written');
    assert.equal((await getAuditTree(db)).size, 300, 'nothing signed');
  });

  it('refuses a rebuild from records edited after they were signed, chain values recomputed: nothing written', async () => {
    const db = store.db;
    const integrator = new AuditIntegrator(db, { signer: async () => signer });
    await append(db, 0, 300);
    assert.equal((await integrator.integrate())?.size, 300);
    // Record 280 rewritten in its batch [250, 300), every chain value from it on recomputed (head
    // included), so each stored chain still follows from the one before it; its partial tile (0, 1) deleted.
    const texts = range(250, 300).map((i) => (i === 280 ? 'an edited record' : leafText(i)));
    const [row] = await queryRows<{ chain: Uint8Array }>(
      db,
      sql`select substring(chains from 49 * 32 + 1 for 32) as chain from audit_batches where first = 200`,
    );
    const chains = chainValues(Buffer.from(row!.chain), texts);
    await queryRows(
      db,
      sql`update audit_batches set leaves = ${texts.join('\n')}, chains = decode(${chains.toString('hex')}, 'hex') where first = 250`,
    );
    await queryRows(
      db,
      sql`update audit_head set chain = decode(${chains.subarray(32 * 49).toString('hex')}, 'hex') where id = 1`,
    );
    await deleteTiles(db, [[0, 1]]);
    await append(db, 300, 520);
    await assert.rejects(integrator.integrate(), /do not reproduce the signed root at size 300/);
    assert.equal((await getAuditTiles(db, [{ level: 0, index: 1 }])).size, 0, 'no tile written');
    assert.equal((await getAuditTree(db)).size, 300, 'nothing signed');
  });

  it('repairs only on the tile write the round itself reports, not on any error worded like it', async () => {
    const db = store.db;
    await append(db, 0, 40);
    // A signer failing with the words of a tile fault: not a tile the round wrote, so no repair and
    // no second round; the error stops integration as it is.
    let signs = 0;
    const worded: CheckpointSigner = {
      origin: signer.origin,
      sign() {
        signs++;
        throw new KeywardError(
          'AUDIT_LOG_CORRUPT',
          'the audit log failed its integrity check: tile (0, 0) is missing or does not hold exactly the 40 hashes before the new ones',
        );
      },
    };
    const integrator = new AuditIntegrator(db, { signer: async () => worded });
    await assert.rejects(integrator.integrate(), /tile \(0, 0\) is missing/);
    assert.equal(signs, 1);
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
