import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  isPgliteRawClient,
  PglitePreparedStatement,
  PgliteStatementError,
  syncToFsIsNoop,
} from '../../../engine/store/pglite-wire.js';
import type { PgliteRawClient } from '../../../engine/store/pglite-wire.js';
import { types as pgliteTypes } from '@electric-sql/pglite';
import { PGLITE_OPTIONS } from '../../../engine/store/driver.js';
import { openTestStore } from '../../helpers/store.js';

/** Runs `fn` on the PGlite client of a test store (these tests are PGlite's own whatever the default driver). */
async function withClient(fn: (client: PgliteRawClient & { query: PgliteQuery; exec: PgliteExec }) => Promise<void>) {
  const store = await openTestStore('pglite');
  try {
    const client = (store.db as unknown as { $client: unknown }).$client;
    assert.ok(isPgliteRawClient(client), 'a PGlite store offers the raw protocol entry points');
    await fn(client as PgliteRawClient & { query: PgliteQuery; exec: PgliteExec });
  } finally {
    await store.close();
  }
}
type PgliteQuery = (q: string, p?: unknown[]) => Promise<{ rows: Record<string, unknown>[] }>;
type PgliteExec = (q: string) => Promise<unknown>;

const BYTES = Uint8Array.from({ length: 256 }, (_, i) => i);
const TEXT = 'héllo ✓ 𝄞 "quoted" \\ back';
/**
 * Two rows when every parameter arrived as the value it stands for, none otherwise. The expected
 * values ($4..$6) are text, computed in Node: a decimal, the bytes' hex and the MD5 of the text's UTF-8.
 */
const CHECK_SQL =
  'select 1 from generate_series(1, 2) where $1::int8 = $4::text::int8 and $2::bytea = decode($5::text, $$hex$$)' +
  ' and md5($3::text) = $6::text and ($7::bytea is null)';
const CHECK_TYPES = ['int8', 'bytea', 'text', 'text', 'text', 'text', 'bytea'] as const;
const md5 = (s: string) => createHash('md5').update(s, 'utf8').digest('hex');

describe('PglitePreparedStatement', () => {
  it('binds int8, bytea, text (as a string or UTF-8 bytes) and null in binary, and counts the rows', async () => {
    await withClient(async (client) => {
      const st = new PglitePreparedStatement(client, 'kw_test_check', CHECK_SQL, CHECK_TYPES);
      const hex = Buffer.from(BYTES).toString('hex');
      for (const n of [0, -1, 2 ** 53 - 1, -(2 ** 53 - 1), 4_294_967_297]) {
        assert.equal((await st.run([n, BYTES, TEXT, String(n), hex, md5(TEXT), null])).rows, 2, `int8 ${n}`);
      }
      assert.equal(
        (await st.run([7, BYTES, new TextEncoder().encode(TEXT), '7', hex, md5(TEXT), null])).rows,
        2,
        'text as bytes',
      );
      assert.equal(
        (await st.run([7, BYTES, TEXT, '8', hex, md5(TEXT), null])).rows,
        0,
        'a different int8 is seen as different',
      );
      assert.equal(
        (await st.run([7, BYTES.subarray(1), TEXT, '7', hex, md5(TEXT), null])).rows,
        0,
        'a different bytea',
      );
      assert.equal((await st.run([7, BYTES, TEXT + ' ', '7', hex, md5(TEXT), null])).rows, 0, 'a different text');
      assert.equal(
        (await st.run([7, BYTES, TEXT, '7', hex, md5(TEXT), Uint8Array.of()])).rows,
        0,
        'empty bytes are not null',
      );
      const [row] = (
        await client.query('select count(*)::int as n from pg_prepared_statements where name = $1', ['kw_test_check'])
      ).rows;
      assert.equal(row?.n, 1, 'prepared once, under its name');
      await assert.rejects(st.run([1.5, BYTES, TEXT, '1', hex, md5(TEXT), null]), /parameter 1: expected an integer/);
      await assert.rejects(st.run([1, 'text', TEXT, '1', hex, md5(TEXT), null]), /parameter 2: expected bytes/);
      await assert.rejects(st.run([1, BYTES]), /expected 7 parameters, got 2/);
      await client.exec('deallocate all');
    });
  });

  it('throws what PostgreSQL reports with its SQLSTATE, and runs again after it', async () => {
    await withClient(async (client) => {
      const st = new PglitePreparedStatement(client, 'kw_test_div', 'select 10 / $1::int8', ['int8']);
      await assert.rejects(
        st.run([0]),
        (e: unknown) => e instanceof PgliteStatementError && e.code === '22012' && /division by zero/.test(e.message),
      );
      assert.equal((await st.run([2])).rows, 1, 'the connection is usable (no transaction left aborted)');
      const bad = new PglitePreparedStatement(client, 'kw_test_bad', 'select * from no_such_table where $1::int8 = 1', [
        'int8',
      ]);
      await assert.rejects(bad.run([1]), (e: unknown) => e instanceof PgliteStatementError && e.code === '42P01');
      await assert.rejects(bad.run([1]), (e: unknown) => e instanceof PgliteStatementError && e.code === '42P01');
      assert.equal((await st.run([5])).rows, 1);
      await client.exec('deallocate all');
    });
  });

  it('prepares again when its statement is gone, and replaces one of the same name', async () => {
    await withClient(async (client) => {
      const a = new PglitePreparedStatement(client, 'kw_test_same', 'select 1 where $1::int8 = 1', ['int8']);
      assert.equal((await a.run([1])).rows, 1);
      await client.exec('deallocate kw_test_same');
      assert.equal((await a.run([1])).rows, 1, 'SQLSTATE 26000: prepared again, once');
      // Another statement object under the same name (another appender on this client) takes it over.
      const b = new PglitePreparedStatement(client, 'kw_test_same', 'select 1 where $1::int8 = 2', ['int8']);
      assert.equal((await b.run([2])).rows, 1);
      await client.exec('deallocate all');
    });
  });

  it("reads the row count of the command's tag, with or without rows returned", async () => {
    await withClient(async (client) => {
      await client.exec('create temporary table kw_wire_count (n int8)');
      const insert = new PglitePreparedStatement(
        client,
        'kw_test_count_insert',
        'insert into kw_wire_count select g from generate_series(1, $1::int8) as g',
        ['int8'],
      );
      assert.deepEqual(await insert.run([3]), { rows: 0, count: 3 });
      assert.deepEqual(await insert.run([0]), { rows: 0, count: 0 });
      const update = new PglitePreparedStatement(
        client,
        'kw_test_count_update',
        'update kw_wire_count set n = n + 100 where n >= $1::int8 returning n',
        ['int8'],
      );
      assert.deepEqual(await update.run([2]), { rows: 2, count: 2 });
      assert.deepEqual(await update.run([1000]), { rows: 0, count: 0 });
      const begin = new PglitePreparedStatement(client, 'kw_test_count_do', 'do $$ begin perform 1; end $$', []);
      assert.deepEqual(await begin.run([]), { rows: 0, count: null }, 'a tag without a row count');
      await client.exec('deallocate all');
    });
  });

  it('refuses to run inside a transaction block opened with a bare BEGIN, before sending anything', async () => {
    await withClient(async (client) => {
      await client.exec('create temporary table kw_wire_tx (n int8)');
      const st = new PglitePreparedStatement(client, 'kw_test_tx', 'insert into kw_wire_tx values ($1) returning n', [
        'int8',
      ]);
      await client.exec('begin');
      try {
        await assert.rejects(st.run([1]), /inside an open transaction block/);
      } finally {
        // Committed: had the insert been sent, it would be in the table now.
        await client.exec('commit');
      }
      const rows = await client.query('select n from kw_wire_tx');
      assert.equal(rows.rows.length, 0, 'nothing was executed inside the open block');
      assert.equal((await st.run([1])).rows, 1);
      await client.exec('deallocate all');
    });
  });
});

describe("PGlite's bytea conversions (driver.ts)", () => {
  it("give exactly PGlite's own text and bytes, and a plain Uint8Array", () => {
    const ours = { serialize: PGLITE_OPTIONS.serializers[17], parse: PGLITE_OPTIONS.parsers[17] };
    const theirs = { serialize: pgliteTypes.serializers[17]!, parse: pgliteTypes.parsers[17]! };
    const pooled = Buffer.from('xxxx' + randomBytes(40).toString('hex'), 'utf8').subarray(4, 24); // a view at an offset
    for (const bytes of [Uint8Array.of(), Uint8Array.of(0, 15, 16, 255), new Uint8Array(randomBytes(1000)), pooled]) {
      const text = ours.serialize(bytes);
      assert.equal(text, theirs.serialize(bytes));
      const back = ours.parse(text);
      assert.equal(Object.getPrototypeOf(back), Uint8Array.prototype);
      assert.deepEqual(back, theirs.parse(text));
      assert.deepEqual(Buffer.from(back), Buffer.from(bytes));
    }
    assert.throws(() => ours.serialize('00' as unknown as Uint8Array), /Invalid input for bytea type/);
  });

  it('are what a PGlite store uses, both ways', async () => {
    await withClient(async (client) => {
      const own = client as unknown as { serializers: Record<number, unknown>; parsers: Record<number, unknown> };
      assert.equal(own.serializers[17], PGLITE_OPTIONS.serializers[17]);
      assert.equal(own.parsers[17], PGLITE_OPTIONS.parsers[17]);
      const bytes = new Uint8Array(randomBytes(64));
      const { rows } = await client.query('select $1::bytea as b, encode($1::bytea, $$hex$$) as h', [bytes]);
      assert.equal(rows[0]!.h, Buffer.from(bytes).toString('hex'));
      assert.deepEqual(rows[0]!.b, bytes);
    });
  });
});

describe('syncToFsIsNoop', () => {
  it("is true for a PGlite store's file system, false for one that syncs or cannot be read", async () => {
    await withClient(async (client) => {
      assert.equal(syncToFsIsNoop(client), true);
      // The statement runs and answers the same without the sync.
      const st = new PglitePreparedStatement(client, 'kw_test_nosync', 'select 1 where $1::int8 = 1', ['int8']);
      assert.equal((await st.run([1])).rows, 1);
      assert.equal((await st.run([2])).rows, 0);
    });
    const fake = (fs: unknown) => ({ fs }) as unknown as PgliteRawClient;
    let synced = 0;
    assert.equal(
      syncToFsIsNoop(
        fake({
          async syncToFs() {
            synced++;
          },
        }),
      ),
      false,
    );
    assert.equal(syncToFsIsNoop(fake({ syncToFs: async (_relaxed: boolean) => {} })), false);
    assert.equal(syncToFsIsNoop(fake(undefined)), false);
    assert.equal(syncToFsIsNoop(fake({})), false);
    assert.equal(synced, 0);
  });

  it('keeps the sync where the file system has one', async () => {
    await withClient(async (client) => {
      const c = client as unknown as { fs: { syncToFs(relaxed?: boolean): Promise<void> } };
      const own = c.fs.syncToFs;
      let synced = 0;
      c.fs.syncToFs = async function (this: unknown, relaxed?: boolean) {
        synced++;
        return own.call(this, relaxed);
      };
      try {
        assert.equal(syncToFsIsNoop(client), false);
        const st = new PglitePreparedStatement(client, 'kw_test_sync', 'select 1', []);
        assert.equal((await st.run([])).rows, 1);
        assert.equal(synced, 1);
      } finally {
        c.fs.syncToFs = own;
      }
    });
  });
});
