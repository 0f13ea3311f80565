/**
 * A database that goes away answers 503 with Retry-After, never 500, on every API (issue 13, item 2;
 * docs/architecture.md, "A request, step by step"), health says why (docs/operations.md), and on
 * PostgreSQL a pool whose connections were all killed serves the next requests (item 5).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { sql } from 'drizzle-orm';
import postgres from 'postgres';
import { KeywardError } from '../../lib/errors.js';
import { decodeRecord } from '../../engine/audit/math/record.js';
import { devBootstrap } from '../../engine/dev.js';
import { Hsm } from '../../engine/hsm.js';
import { openStore, readAuditRecords } from '../../engine/store/index.js';
import { errorMiddleware, statusFor } from '../../server/errors.js';
import { createLogger } from '../../server/log.js';
import { listen } from '../../server/main.js';
import { sendThrown } from '../../server/transit/envelope.js';
import { countedHsm } from '../helpers/counted-db.js';
import { failingProxy } from '../helpers/pg-peer.js';
import { startTestServer } from '../helpers/server.js';
import { createTestDatabaseUrl, defaultTestDriver, openTestStore } from '../helpers/store.js';
import type { TestStore } from '../helpers/store.js';

const UNAVAILABLE = new Set(['STORAGE_UNAVAILABLE', 'AUDIT_UNAVAILABLE']);
const unknownToken = () => 'kwt_' + randomBytes(32).toString('base64url');

/** A real driver failure as a route meets it: drizzle's wrapper around a closed PGlite's error. */
async function driverFailure(): Promise<unknown> {
  const store = await openTestStore('pglite');
  await store.close();
  return store.db.execute(sql`select 1`).then(
    () => assert.fail('a closed store answered'),
    (e: unknown) => e,
  );
}

describe('a database failure that reaches the server is 503, not 500', () => {
  it('the error middleware and the transit envelope answer it 503 STORAGE_UNAVAILABLE with Retry-After', async () => {
    const err = await driverFailure();
    assert.ok(!(err instanceof KeywardError));
    const logs: string[] = [];
    const log = createLogger({ write: (l) => logs.push(l), level: 'debug' });
    const app = new Koa();
    app.silent = true;
    app.use(errorMiddleware(log));
    app.use(async (ctx) => {
      if (ctx.path === '/transit') return sendThrown(ctx, err, log);
      throw err;
    });
    const srv = createServer(app.callback());
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    try {
      const base = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
      const native = await fetch(base + '/native');
      assert.equal(native.status, 503);
      assert.equal(native.headers.get('retry-after'), '1');
      assert.equal(((await native.json()) as { error: { code: string } }).error.code, 'STORAGE_UNAVAILABLE');
      const transit = await fetch(base + '/transit');
      assert.equal(transit.status, 503);
      assert.equal(transit.headers.get('retry-after'), '1');
      assert.match(((await transit.json()) as { errors: string[] }).errors[0]!, /database is unavailable/);
      assert.ok(!logs.some((l) => l.includes('unhandled error')));
    } finally {
      srv.close();
    }
  });

  it('the pipeline records it as STORAGE_UNAVAILABLE 503 when the audit log still works', async () => {
    const hsm = await Hsm.open({ store: await openTestStore(), statusOf: statusFor });
    try {
      const { rootToken } = await devBootstrap(hsm);
      const err = await driverFailure();
      await assert.rejects(
        hsm.request({ bearer: rootToken, operation: 'key.list', requestId: 'req-db-down' }, async () =>
          Promise.reject(err),
        ),
        (e: unknown) => e instanceof KeywardError && e.code === 'STORAGE_UNAVAILABLE',
      );
      const recs = (await readAuditRecords(hsm.store.db, 0, 1_000_000)).map((r) => decodeRecord(r.leaf));
      const rec = recs.find((r) => r.requestId === 'req-db-down');
      assert.equal(rec?.code, 'STORAGE_UNAVAILABLE');
      assert.equal(rec?.status, 503);
    } finally {
      await hsm.close();
    }
  });

  it('a token lookup that does not answer is cut at the storage deadline, answered 503 and recorded', async () => {
    const hsm = await Hsm.open({ store: await openTestStore(), statusOf: statusFor, storageDeadlineMs: 300 });
    try {
      await devBootstrap(hsm);
      // The tokens table is locked for 1.2 s: the lookup of a token not in the cache waits behind it.
      let locked!: () => void;
      const isLocked = new Promise<void>((r) => (locked = r));
      const holder = hsm.store.db.transaction(async (tx) => {
        await tx.execute(sql`lock table tokens in access exclusive mode`);
        locked();
        await new Promise((r) => setTimeout(r, 1200));
      });
      await isLocked;
      const t0 = performance.now();
      const err = await hsm
        .request({ bearer: unknownToken(), operation: 'key.list', requestId: 'req-slow' }, async () => [])
        .then(
          () => assert.fail('answered'),
          (e: unknown) => e,
        );
      const ms = performance.now() - t0;
      await holder;
      assert.ok(err instanceof KeywardError && err.code === 'STORAGE_UNAVAILABLE', String(err));
      assert.equal(err.details?.reason, 'DEADLINE');
      assert.ok(ms < 3000, `answered in ${ms} ms`);
      const recs = (await readAuditRecords(hsm.store.db, 0, 1_000_000)).map((r) => decodeRecord(r.leaf));
      assert.equal(recs.find((r) => r.requestId === 'req-slow')?.code, 'STORAGE_UNAVAILABLE');
    } finally {
      await hsm.close();
    }
  });
});

// The pipeline adds no deadline to the token and key lookups: the reads the caches' misses share
// carry it (engine/store/shared-reads.ts). A timeout, so a request that waits on a held read fails the
// test rather than hanging it.
describe('a shared cache read that never answers', { timeout: 5000 }, () => {
  it('a held token lookup and a held key row read answer 503 with Retry-After at the storage deadline, to all who joined them', async () => {
    const { hsm, counted } = await countedHsm(100); // its fixed clock keeps the bindings cached
    const running = await listen({
      hsm,
      log: createLogger({ write: () => {}, level: 'error' }),
      listen: '127.0.0.1:0',
    });
    const post = (path: string, token: string, body: unknown) =>
      fetch(running.url + path, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    /** Three requests at once while the next SELECT never answers: each is 503 within the bound. */
    const heldThrice = async (send: () => Promise<Response>, table: string) => {
      counted.holdNext(); // never released: a database that stopped answering
      const before = counted.reads(table);
      const t0 = performance.now();
      const answers = await Promise.all([send(), send(), send()]);
      const ms = performance.now() - t0;
      for (const r of answers) {
        assert.equal(r.status, 503);
        assert.equal(r.headers.get('retry-after'), '1');
        assert.equal(((await r.json()) as { error: { code: string } }).error.code, 'STORAGE_UNAVAILABLE');
      }
      assert.ok(ms < 1000, `answered in ${ms} ms, at about the 100 ms deadline`);
      assert.equal(counted.reads(table) - before, 1, `the held read was the ${table} one, and they shared it`);
    };
    try {
      const { rootToken } = await devBootstrap(hsm);
      // Creating the key caches the root token and the bindings; its row is read at its first use.
      assert.equal((await post('/v1/keys', rootToken, { name: 'held', type: 'aes256-gcm' })).status, 201);
      await heldThrice(() => post('/v1/keys/held/encrypt', rootToken, { plaintext: 'eA==' }), 'keys');
      const bearer = unknownToken();
      await heldThrice(() => post('/v1/keys/held/encrypt', bearer, { plaintext: 'eA==' }), 'tokens');
    } finally {
      await running.close();
      await hsm.close();
    }
  });
});

describe('storage unavailable', () => {
  it('every request is 503 with Retry-After (native and transit API), health is 503 with a reason', async () => {
    const s = await startTestServer();
    try {
      const { rootToken } = await devBootstrap(s.hsm);
      const made = await s.call('POST', '/v1/keys', { token: rootToken, body: { name: 'k1', type: 'aes256-gcm' } });
      assert.equal(made.status, 201, JSON.stringify(made.body));
      const ok = await s.call('GET', '/v1/sys/health');
      assert.equal(ok.status, 200);
      assert.deepEqual(ok.body.storage, { driver: s.hsm.store.driver, ok: true });

      await s.hsm.store.close(); // the database is gone for good

      const cases: Array<[string, string, { token?: string; body?: unknown }]> = [
        ['GET', '/v1/keys', { token: unknownToken() }], // the token lookup fails
        ['GET', '/v1/keys', { token: rootToken }], // cached token: the listing fails
        ['POST', '/v1/keys/k1/encrypt', { token: rootToken, body: { plaintext: Buffer.from('x').toString('base64') } }], // the key lookup
        ['POST', '/v1/keys', { token: rootToken, body: { name: 'k2', type: 'aes256-gcm' } }], // a write transaction
      ];
      for (const [method, path, opts] of cases) {
        const r = await s.call(method, path, opts);
        assert.equal(r.status, 503, `${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
        assert.ok(UNAVAILABLE.has(r.body.error.code), r.body.error.code);
        assert.equal(r.headers.get('retry-after'), '1');
      }
      const transit = await s.call('POST', '/v1/transit/encrypt/k1', {
        token: unknownToken(),
        body: { plaintext: 'eA==' },
      });
      assert.equal(transit.status, 503, JSON.stringify(transit.body));
      assert.equal(transit.headers.get('retry-after'), '1');
      assert.ok(Array.isArray(transit.body.errors));

      const h = await new Promise((r) => setTimeout(r, 1100)).then(() => s.call('GET', '/v1/sys/health'));
      assert.equal(h.status, 503);
      assert.equal(h.headers.get('retry-after'), '1');
      assert.equal(h.body.sealed, false);
      assert.equal(h.body.storage.ok, false);
      assert.match(h.body.storage.reason, /^[A-Z0-9_]+$/);
      assert.ok(!s.logs.some((l) => l.includes('unhandled error')), 'no request was an unclassified 500');
    } finally {
      await s.close();
    }
  });

  it(
    'PostgreSQL: a database that turns into a peer closing every connection answers 503 and is not stormed',
    { skip: defaultTestDriver() === 'postgres' ? false : 'needs KEYWARD_TEST_DRIVER=postgres' },
    async () => {
      // A TCP balancer whose backend died: it accepts and closes at once. The driver reconnected at
      // once, forever, for every query waiting (hundreds to thousands of connections a second);
      // now each failed connect fails its query and the pool backs off (at most 0.5 s).
      const db = await createTestDatabaseUrl({ migrated: true });
      const target = new URL(db.url);
      const proxy = await failingProxy({ host: target.hostname, port: Number(target.port || 5432) });
      target.host = `127.0.0.1:${proxy.port}`;
      const store = await openStore({ databaseUrl: target.toString() });
      const hsm = await Hsm.open({ store, statusOf: statusFor });
      const running = await listen({
        hsm,
        log: createLogger({ write: () => {}, level: 'error' }),
        listen: '127.0.0.1:0',
      });
      try {
        await devBootstrap(hsm);
        const call = () => fetch(running.url + '/v1/keys', { headers: { authorization: `Bearer ${unknownToken()}` } });
        assert.equal((await call()).status, 401);
        proxy.fail();
        proxy.accepted = 0;
        const t0 = performance.now();
        while (performance.now() - t0 < 1000) {
          await Promise.all(
            Array.from({ length: 10 }, async () => {
              const sent = performance.now();
              const r = await call();
              const body = (await r.json()) as { error: { code: string } };
              assert.equal(r.status, 503, JSON.stringify(body));
              assert.ok(UNAVAILABLE.has(body.error.code), body.error.code);
              assert.equal(r.headers.get('retry-after'), '1');
              assert.ok(performance.now() - sent < 2500, 'answered within the storage deadline');
            }),
          );
        }
        const perSecond = proxy.accepted / ((performance.now() - t0) / 1000);
        // 11 connections (the pool's 10 and the audit append's), each retrying at most every 0.5 s.
        assert.ok(perSecond < 30, `${proxy.accepted} connections in ${performance.now() - t0} ms`);
      } finally {
        await running.close();
        await store.close();
        await proxy.close();
        await db.drop();
      }
    },
  );

  it(
    'PostgreSQL: after every pooled connection is killed, 30 concurrent database-bound requests succeed',
    { skip: defaultTestDriver() === 'postgres' ? false : 'needs KEYWARD_TEST_DRIVER=postgres' },
    async () => {
      const s = await startTestServer();
      const url = (s.hsm.store as TestStore).url!;
      const admin = postgres(url, { max: 1, onnotice: () => {} });
      try {
        await devBootstrap(s.hsm);
        const round = () =>
          Promise.all(Array.from({ length: 30 }, () => s.call('GET', '/v1/keys', { token: unknownToken() })));
        assert.deepEqual(new Set((await round()).map((r) => r.status)), new Set([401]));
        const db = new URL(url).pathname.slice(1);
        const killed =
          await admin`select pg_terminate_backend(pid) as ok from pg_stat_activity where datname = ${db} and application_name = 'keyward' and pid <> pg_backend_pid()`;
        assert.ok(killed.length > 0, 'the pool had connections to kill');
        const t0 = performance.now();
        let statuses: number[] = [];
        while (performance.now() - t0 < 5000) {
          statuses = (await round()).map((r) => r.status);
          if (statuses.every((st) => st === 401)) break;
          assert.ok(
            statuses.every((st) => st === 401 || st === 503),
            `only 401 or 503: ${statuses.join(',')}`,
          );
        }
        assert.ok(
          statuses.every((st) => st === 401),
          `recovered within 5 s: ${statuses.join(',')}`,
        );
        assert.ok(!s.logs.some((l) => l.includes('unhandled error')));
      } finally {
        await admin.end({ timeout: 1 });
        await s.close();
      }
    },
  );
});
