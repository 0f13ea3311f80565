/**
 * engine/store/storage-errors.ts and deadline.ts (docs/architecture.md, engine/store; issue 13,
 * items 1 and 2): real driver failures, as drizzle wraps them, are classified as STORAGE_UNAVAILABLE
 * and other database errors are not; a storage call that does not answer is cut at its deadline;
 * a write transaction still running at its deadline rolls back with its audit record.
 */
// keyward-test: own-process (watches the process's unhandledRejection events)
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { isKeywardError } from '../../../lib/errors.js';
import { CommitScope, queryRows, writeTransaction } from '../../../engine/store/index.js';
import { asStorageUnavailable, storageFailureReason } from '../../../engine/store/storage-errors.js';
import { withDeadline } from '../../../engine/store/deadline.js';
import { adminDatabaseUrl, openTestStore } from '../../helpers/store.js';

async function failureOf(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => assert.fail('expected a failure'),
    (e: unknown) => e,
  );
}

async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

describe('storage failures are classified through the cause chain', () => {
  it('a closed PGlite, through drizzle: PGLITE_UNAVAILABLE', async () => {
    const store = await openTestStore('pglite');
    await store.close();
    const err = await failureOf(store.db.execute(sql`select 1`));
    assert.equal(storageFailureReason(err), 'PGLITE_UNAVAILABLE');
    const k = asStorageUnavailable(err);
    assert.ok(k && isKeywardError(k, 'STORAGE_UNAVAILABLE'));
    assert.equal(k.details?.retryAfter, 1);
    assert.doesNotMatch(k.message, /select/i, 'no query text in the message');
  });

  it('PostgreSQL refusing connections, through drizzle: ECONNREFUSED', async () => {
    const client = postgres(`postgres://postgres@127.0.0.1:${await closedPort()}/postgres`, {
      max: 1,
      connect_timeout: 2,
      onnotice: () => {},
    });
    try {
      const err = await failureOf(drizzle(client).execute(sql`select 1`));
      assert.equal(storageFailureReason(err), 'ECONNREFUSED');
      assert.equal(asStorageUnavailable(err)?.code, 'STORAGE_UNAVAILABLE');
    } finally {
      await client.end({ timeout: 0 });
    }
  });

  it('a KeywardError and an unrelated error are left alone', () => {
    assert.equal(asStorageUnavailable(new TypeError('x')), undefined);
    assert.equal(asStorageUnavailable(Object.assign(new Error('dup'), { code: '23505' })), undefined);
    assert.equal(asStorageUnavailable(null), undefined);
    const cyclic: { cause?: unknown } & Error = new Error('a');
    cyclic.cause = cyclic;
    assert.equal(storageFailureReason(cyclic), undefined);
  });

  it(
    'on PostgreSQL: statement_timeout is 57014 (unavailable); NUL and unique violations are not',
    { skip: adminDatabaseUrl() === undefined ? 'needs KEYWARD_TEST_DATABASE_URL' : false },
    async () => {
      const store = await openTestStore('postgres');
      try {
        const slow = await failureOf(
          store.db.transaction(async (tx) => {
            await tx.execute(sql`set local statement_timeout = 100`);
            await tx.execute(sql`select pg_sleep(2)`);
          }),
        );
        assert.equal(storageFailureReason(slow), '57014');
        const nul = await failureOf(store.db.execute(sql`select ${'a\u0000b'}::text`));
        assert.equal(storageFailureReason(nul), undefined, String(nul));
        await store.db.execute(sql`create temporary table t (id int primary key)`);
        const dup = await failureOf(store.db.execute(sql`insert into t values (1), (1)`));
        assert.equal(storageFailureReason(dup), undefined);
      } finally {
        await store.close();
      }
    },
  );
});

describe('deadlines', () => {
  it('a call that never answers is STORAGE_UNAVAILABLE (DEADLINE) at its deadline; a late failure is not unhandled', async () => {
    let rejectLate!: (e: unknown) => void;
    const never = new Promise((_, reject) => (rejectLate = reject));
    const t0 = performance.now();
    const err = await failureOf(withDeadline(never, 150, 'the test lookup'));
    const ms = performance.now() - t0;
    assert.ok(ms >= 140 && ms < 1000, `${ms} ms`);
    assert.ok(isKeywardError(err, 'STORAGE_UNAVAILABLE'));
    assert.equal(err.details?.reason, 'DEADLINE');
    assert.match(err.message, /the test lookup within 150 ms/);
    let unhandled = false;
    const onUnhandled = () => (unhandled = true);
    process.once('unhandledRejection', onUnhandled);
    rejectLate(new Error('late'));
    await new Promise((r) => setTimeout(r, 50));
    process.off('unhandledRejection', onUnhandled);
    assert.equal(unhandled, false);
  });

  it('a failure before the deadline is classified', async () => {
    const err = await failureOf(
      withDeadline(Promise.reject(Object.assign(new Error('gone'), { code: 'CONNECTION_CLOSED' })), 1000, 'x'),
    );
    assert.ok(isKeywardError(err, 'STORAGE_UNAVAILABLE'));
  });

  it('a write transaction still running at its deadline rolls back, record included', async () => {
    const store = await openTestStore();
    try {
      await store.db.execute(sql`create table deadline_t (id int primary key)`);
      let recorded = 0;
      const scope = new CommitScope(async (tx) => {
        await tx.execute(sql`insert into deadline_t values (2)`); // stands for the audit record
        recorded++;
      }, 200);
      const t0 = performance.now();
      const err = await failureOf(
        writeTransaction(store.db, scope, async (tx) => {
          await tx.execute(sql`insert into deadline_t values (1)`);
          await new Promise((r) => setTimeout(r, 600)); // the database "hangs" past the deadline
        }),
      );
      assert.ok(performance.now() - t0 < 550, 'answered at the deadline, not when the work ended');
      assert.ok(isKeywardError(err, 'STORAGE_UNAVAILABLE'));
      await new Promise((r) => setTimeout(r, 700)); // the late transaction finishes (and must roll back)
      const rows = await store.db.execute(sql`select count(*)::int as n from deadline_t`);
      const n = (Array.isArray(rows) ? rows[0] : (rows as { rows: Array<{ n: number }> }).rows[0]) as { n: number };
      assert.equal(n.n, 0, 'neither the change nor its record committed');
      assert.equal(recorded, 0);
      assert.equal(scope.committed, false);
    } finally {
      await store.close();
    }
    // A closed PGlite test store goes back to the process's pool, and the next store of the process
    // takes it reset (test/helpers/store.ts): without the table this test made, as a new store.
    const next = await openTestStore();
    try {
      const [row] = await queryRows<{ t: string | null }>(next.db, sql`select to_regclass('deadline_t')::text as t`);
      assert.equal(row?.t, null, 'the next test store has no deadline_t');
    } finally {
      await next.close();
    }
  });
});
