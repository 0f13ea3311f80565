/**
 * The snapshot a backup reads (engine/store/backup.ts) on PGlite, whose one connection a
 * transaction holds: requests must be answered while a backup runs, and what it reads must still be
 * one instant. Audit batches are written straight into the tables (the snapshot does not read them
 * as records), 4,000 of them, about 2 MB of row JSON; appends keep committing during the snapshot.
 */
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import { openStore, queryRows } from '../../../engine/store/index.js';
import type { Store } from '../../../engine/store/index.js';
import { snapshotTables } from '../../../engine/store/backup.js';
import { pgliteTestImage } from '../../helpers/store.js';

const BATCHES = 4_000;

describe('backup snapshot on PGlite', { timeout: 60_000 }, () => {
  let store: Store;

  before(async () => {
    store = await openStore({ memory: true, image: await pgliteTestImage() });
    await store.db.execute(sql`insert into audit_head (id, size, chain, prev_chain)
      values (1, 0, '\\x00'::bytea, '\\x00'::bytea) on conflict (id) do nothing`);
    await store.db.execute(sql`insert into audit_batches (first, n, leaves, chains)
      select g, 1, repeat('r', 400), '\\x00'::bytea from generate_series(0, ${BATCHES - 1}) g`);
    await store.db.execute(sql`update audit_head set size = ${BATCHES}`);
  });

  after(async () => {
    await store?.close();
  });

  /** One append as the log commits it: the batch and the head's advance in one transaction. */
  const append = () =>
    store.db.transaction(async (tx) => {
      const [h] = await queryRows<{ size: string }>(tx, sql`select size::text as size from audit_head for update`);
      await tx.execute(sql`insert into audit_batches (first, n, leaves, chains)
        values (${Number(h!.size)}, 1, 'late', '\\x00'::bytea)`);
      await tx.execute(sql`update audit_head set size = size + 1`);
    });

  it('answers requests during the snapshot, which stays one instant', async () => {
    let stop = false;
    let during = 0;
    let worst = 0;
    let snapshotting = false;
    const writer = (async () => {
      while (!stop) {
        // A request arrives from a socket: through the event loop, not a microtask.
        await new Promise<void>((resolve) => setImmediate(resolve));
        const a = performance.now();
        await append();
        const ms = performance.now() - a;
        if (snapshotting) {
          during++;
          worst = Math.max(worst, ms);
        }
      }
    })();
    await new Promise((r) => setTimeout(r, 20));
    let bytes = 0;
    snapshotting = true;
    const a = performance.now();
    const snap = await snapshotTables(store.db, {
      header: async (tx) =>
        Number((await queryRows<{ size: string }>(tx, sql`select size::text as size from audit_head`))[0]!.size),
      table: () => undefined,
      // As the backup's file: an await per row.
      row: async (json) => {
        bytes += json.length;
        await Promise.resolve();
      },
    });
    const took = performance.now() - a;
    snapshotting = false;
    stop = true;
    await writer;
    const rows = Object.fromEntries(snap.tables.map((t) => [t.name, t.rows]));
    // One instant: the batches are exactly those below the head the snapshot read, not the later ones.
    assert.ok(snap.header >= BATCHES);
    assert.equal(rows.audit_batches, snap.header);
    assert.ok(bytes > 1_500_000, `${bytes}`);
    // Appends committed while it read, and none waited for the whole snapshot.
    assert.ok(during >= 3, `only ${during} appends committed during a ${took.toFixed(0)} ms snapshot`);
    assert.ok(worst < took / 2, `an append waited ${worst.toFixed(0)} ms of a ${took.toFixed(0)} ms snapshot`);
  });

  it("the late pages read bytea as the transaction does, whatever the session's bytea_output", async () => {
    const read = async (oneTransaction: boolean) => {
      const rows: string[] = [];
      let table = '';
      await snapshotTables(
        store.db,
        { header: async () => undefined, table: (name) => void (table = name), row: (j) => void rows.push(table + j) },
        { oneTransaction },
      );
      return rows;
    };
    await store.db.execute(sql`set bytea_output = 'escape'`); // the session's (one connection's) own setting
    try {
      const sliced = await read(false);
      const whole = await read(true); // everything inside the transaction, which sets hex
      assert.ok(sliced.some((r) => r.startsWith('audit_batches') && r.includes('"chains":"\\\\x00"')));
      assert.equal(sliced.length, whole.length);
      // The same rows (the sliced snapshot writes the append-only table last), byte for byte.
      assert.deepEqual([...sliced].sort(), [...whole].sort());
    } finally {
      await store.db.execute(sql`reset bytea_output`);
    }
  });
});
