/**
 * PostgreSQL over a Unix-domain socket, in libpq's URL forms (engine/store/pg-socket.ts;
 * docs/operations.md, "PostgreSQL over a Unix socket"). How each form is read needs no server; in
 * the PostgreSQL pass a store is opened over the test server's own socket (it listens on one beside
 * TCP: .ci/run starts it with -k) in each form, appends to the audit log and reads it back over
 * connections that are all Unix-socket ones, and a missing, refused or silent socket fails as
 * STORAGE_UNAVAILABLE naming the socket, never hangs.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import {
  CONNECT_TIMEOUT_S,
  directAuditAppender,
  ensureAuditRows,
  openStore,
  postgresConnection,
  postgresTarget,
  queryRows,
  readAuditHead,
  readAuditRecords,
  redactDatabaseUrl,
} from '../../../engine/store/index.js';
import { adminDatabaseUrl, createTestDatabaseUrl, describePostgres, testServerSocket } from '../../helpers/store.js';

describe('database URLs naming a Unix socket, as libpq reads them', () => {
  it('takes the socket directory from ?host= or a percent-encoded host, and the port from ?port= or the URL', async () => {
    for (const [url, path, rest] of [
      ['postgres://u@/db?host=/var/run/postgresql', '/var/run/postgresql/.s.PGSQL.5432', 'postgres://u@localhost/db'],
      ['postgres://u@/db?host=/tmp/pg/&port=5433', '/tmp/pg/.s.PGSQL.5433', 'postgres://u@localhost/db'],
      [
        'postgresql://u@%2Fvar%2Frun%2Fpostgresql/db',
        '/var/run/postgresql/.s.PGSQL.5432',
        'postgresql://u@localhost/db',
      ],
      [
        'postgresql://%2Ftmp%2Fpg:6000/db?application_name=x',
        '/tmp/pg/.s.PGSQL.6000',
        'postgresql://localhost/db?application_name=x',
      ],
      [
        'postgres:///db?host=%2Ftmp%2Fpg&port=6001&options=-c%20a%3Db',
        '/tmp/pg/.s.PGSQL.6001',
        'postgres://localhost/db?options=-c%20a%3Db',
      ],
      ['postgres://u@db.internal:5432/db?host=/tmp/pg', '/tmp/pg/.s.PGSQL.5432', 'postgres://u@localhost/db'],
    ] as const) {
      const c = await postgresConnection(url);
      assert.equal(c.path, path, url);
      assert.equal(c.url, rest, url);
      assert.equal(c.target, `Unix socket ${path}`, url);
    }
  });

  it('moves a TCP ?host= and ?port= into the URL (the driver would send them to the server as settings)', async () => {
    const c = await postgresConnection('postgres://u@localhost/db?host=10.0.0.5&port=5433&sslmode=disable');
    assert.deepEqual(c, { url: 'postgres://u@10.0.0.5:5433/db', ssl: false, target: '10.0.0.5:5433' });
    const plain = 'postgres://u:p@127.0.0.1:55432/db?application_name=x';
    assert.deepEqual(await postgresConnection(plain), { url: plain, target: '127.0.0.1:55432' });
  });

  it('ignores TLS over a socket as libpq does, but still refuses an unknown sslmode', async () => {
    const c = await postgresConnection('postgres://u@/db?host=/tmp/pg&sslmode=verify-full&sslrootcert=/no/such/ca.pem');
    assert.equal(c.ssl, false);
    assert.equal(c.url, 'postgres://u@localhost/db');
    await assert.rejects(postgresConnection('postgres://u@/db?host=/tmp/pg&sslmode=verify-all'), /expected sslmode/);
  });

  it('refuses what it cannot reach, saying what it expected', async () => {
    for (const [url, message] of [
      [
        'postgres://u@/db?host=@pg&port=5432',
        /expected a socket directory \(\/dir\) or a TCP host .* abstract socket "@pg"/,
      ],
      ['postgres://u@/db?host=/a,/b', /expected one host in the database URL, got a list/],
      // The driver tries a list of hosts in turn, for ever when none answers: refused, not a hang.
      ['postgres://u@127.0.0.1:1,127.0.0.1:2/db', /expected one host in the database URL, got a list/],
      ['postgresql://u@%2Ftmp%2Fa,%2Fb:5432/db', /expected one host in the database URL, got a list/],
      ['postgres://u@/db?host=/tmp/pg&port=99999', /expected a port 1-65535 .* "99999"/],
      ['postgres://u@/db?host=/tmp/pg&port=x', /expected a port 1-65535 .* "x"/],
      [`postgres://u@/db?host=/${'d'.repeat(100)}`, /expected a socket path of at most 10[37] bytes/],
    ] as const)
      await assert.rejects(postgresConnection(url), message, url);
  });

  it('never shows a password the URL grammar misreads (an unencoded "/", "?" or "#" in it) as a bad port', async () => {
    for (const url of [
      'postgres://postgres:s3cr3t/x@127.0.0.1:55432/postgres',
      'postgres://postgres:s3cr3t?x@127.0.0.1:55432/postgres',
      'postgres://postgres:s3cr3t#x@127.0.0.1:55432/postgres',
    ])
      await assert.rejects(postgresConnection(url), (e: Error) => {
        assert.match(e.message, /expected a port 1-65535 after the host .* must be percent-encoded/);
        assert.ok(!e.message.includes('s3cr3t'), e.message);
        return true;
      });
  });

  it('takes no host (or an empty ?host=) as PGHOST, else localhost, with ?port= applied', () => {
    const was = process.env.PGHOST;
    try {
      delete process.env.PGHOST;
      assert.deepEqual(postgresTarget('postgres:///postgres?port=55432'), {
        url: 'postgres://localhost:55432/postgres',
        target: 'localhost:55432',
      });
      assert.equal(postgresTarget('postgres://u@/db?host=').url, 'postgres://u@localhost/db');
      process.env.PGHOST = '/tmp/pg';
      assert.deepEqual(postgresTarget('postgres:///postgres?port=55432'), {
        url: 'postgres://localhost/postgres',
        path: '/tmp/pg/.s.PGSQL.55432',
        target: 'Unix socket /tmp/pg/.s.PGSQL.55432',
      });
      // A socket directory in PGHOST is a socket like any other: TLS settings ignored.
      assert.equal(postgresTarget('postgres:///postgres?sslmode=require').path, '/tmp/pg/.s.PGSQL.5432');
    } finally {
      if (was === undefined) delete process.env.PGHOST;
      else process.env.PGHOST = was;
    }
  });

  it('redacts the password of every form', () => {
    assert.equal(redactDatabaseUrl('postgres://u:s3cret@/db?host=/tmp/pg'), 'postgres://u:***@/db?host=/tmp/pg');
    assert.equal(
      redactDatabaseUrl('postgresql://u:s3cret@%2Ftmp%2Fpg:5433/db'),
      'postgresql://u:***@%2Ftmp%2Fpg:5433/db',
    );
    assert.equal(
      redactDatabaseUrl('postgres:///db?host=/tmp/pg&password=s3cret'),
      'postgres:///db?host=/tmp/pg&password=***',
    );
    // The last "@" ends the password; a parameter is the password when its decoded name is.
    assert.equal(
      redactDatabaseUrl('postgres://postgres:hun@ter2@/postgres?host=/tmp/pg&pass%77ord=zz9'),
      'postgres://postgres:***@/postgres?host=/tmp/pg&pass%77ord=***',
    );
    for (const [url, redacted] of [
      // Passwords the URL grammar misreads, and query values holding an "@" (review of the fixes).
      ['postgres://postgres:s3cr3t/x@127.0.0.1:55432/postgres', 'postgres://postgres:***@127.0.0.1:55432/postgres'],
      ['postgres://postgres:s3cr3t?x@127.0.0.1:55432/postgres', 'postgres://postgres:***@127.0.0.1:55432/postgres'],
      [
        'postgres://127.0.0.1:1/keyward?application_name=kw@eu&password=s3cret',
        'postgres://127.0.0.1:1/keyward?application_name=kw@eu&password=***',
      ],
      [
        'postgres://u:pw@h/d?application_name=a@b&password=s3cret',
        'postgres://u:***@h/d?application_name=a@b&password=***',
      ],
      [
        'postgres://[::1]/d?sslrootcert=/etc/ca@2.pem&password=s3cret',
        'postgres://[::1]/d?sslrootcert=/etc/ca@2.pem&password=***',
      ],
      ['postgres://h:5432/d?password=p@ss', 'postgres://h:5432/d?password=***'],
      [' postgres://keyward:s3cret@127.0.0.1:1/keyward', ' postgres://keyward:***@127.0.0.1:1/keyward'],
      [
        'postgres://db.example:5432/keyward?application_name=kw@eu',
        'postgres://db.example:5432/keyward?application_name=kw@eu',
      ],
      ['host=/tmp/pg user=kw password=s3cret', 'host=/tmp/pg user=kw password=***'],
    ] as const)
      assert.equal(redactDatabaseUrl(url), redacted, url);
  });
});

describePostgres('PostgreSQL over its Unix socket', { timeout: 60_000 }, () => {
  let dir: string | undefined;
  let port = '';
  let db: { url: string; drop(): Promise<void> } | undefined;
  let name = '';
  const tmp = mkdtempSync('/tmp/kw-sock-');

  before(async () => {
    ({ dir, port } = await testServerSocket());
    db = await createTestDatabaseUrl({ migrated: true });
    name = new URL(db.url).pathname.slice(1);
  });
  after(async () => {
    await db?.drop();
    rmSync(tmp, { recursive: true, force: true });
  });

  const user = () => decodeURIComponent(new URL(adminDatabaseUrl()!).username) || 'postgres';

  it('opens a store in each form, appends to the audit log and reads it back, all over the socket', async (t) => {
    if (dir === undefined) return t.skip('the test server has no Unix socket this process can reach');
    const forms = [
      `postgres://${user()}@/${name}?host=${dir}&port=${port}`,
      `postgresql://${user()}@${encodeURIComponent(dir)}:${port}/${name}`,
      `postgres://${user()}@/${name}?host=${encodeURIComponent(dir)}&port=${port}&sslmode=require`,
    ];
    for (const url of forms) {
      const store = await openStore({ databaseUrl: url });
      try {
        await ensureAuditRows(store.db);
        const head = await readAuditHead(store.db);
        const chain = createHash('sha256').update(head.chain).update(`leaf ${head.size}`).digest();
        const leaf = `{"over":"socket","n":${head.size}}`;
        const append = directAuditAppender(store.db)!;
        assert.equal(await append(head, { n: 1, leaves: leaf, chains: chain, inputs: null }), true, url);
        const [rec] = await readAuditRecords(store.db, head.size, head.size + 1);
        assert.equal(new TextDecoder().decode(rec!.leaf), leaf);
        assert.deepEqual(Buffer.from((await readAuditHead(store.db)).chain), chain);
        // Every connection of this store (the pool's and the append connection) is a Unix-socket
        // one: PostgreSQL shows those without a client address.
        const rows = await queryRows<{ tcp: number; unix: number }>(
          store.db,
          sql`select count(*) filter (where client_addr is not null)::int as tcp,
                     count(*) filter (where client_addr is null)::int as unix
                from pg_stat_activity where datname = current_database() and application_name = 'keyward'`,
        );
        assert.equal(rows[0]!.tcp, 0, url);
        assert.ok(rows[0]!.unix >= 2, `the pool and the append connection, got ${rows[0]!.unix}`);
      } finally {
        await store.close();
      }
    }
  });

  /** Opening `url` fails with STORAGE_UNAVAILABLE naming `socket` within `withinMs`. */
  async function failsNaming(url: string, socket: string, cause: RegExp, withinMs: number) {
    const t0 = performance.now();
    await assert.rejects(openStore({ databaseUrl: url }), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'STORAGE_UNAVAILABLE');
      assert.ok(err.message.includes(`(Unix socket ${socket})`), err.message);
      assert.match(err.message, cause);
      assert.ok(!err.message.includes('s3cret'), err.message);
      return true;
    });
    assert.ok(performance.now() - t0 < withinMs, `failed within ${withinMs} ms`);
  }

  it('fails at once on a missing socket, and on a socket file nothing listens on', async () => {
    await failsNaming(
      `postgres://u:s3cret@/db?host=${tmp}/none&port=5432`,
      `${tmp}/none/.s.PGSQL.5432`,
      /ENOENT/,
      1000,
    );
    // A socket file left behind by a server that is gone (exiting without closing leaves the file).
    const made = spawnSync(process.execPath, [
      '-e',
      `require('node:net').createServer().listen(${JSON.stringify(join(tmp, '.s.PGSQL.7'))}, () => process.exit(0))`,
    ]);
    assert.equal(made.status, 0);
    assert.ok(existsSync(join(tmp, '.s.PGSQL.7')));
    await failsNaming(`postgres://u:s3cret@/db?host=${tmp}&port=7`, `${tmp}/.s.PGSQL.7`, /ENOENT|ECONNREFUSED/, 1000);
  });

  it('gives up on a socket that accepts and never answers after the connect timeout', async () => {
    const held: Socket[] = [];
    const silent: Server = createServer((s) => void held.push(s));
    await new Promise<void>((r) => silent.listen(join(tmp, '.s.PGSQL.8'), r));
    try {
      await failsNaming(
        `postgres://u@/db?host=${tmp}&port=8`,
        `${tmp}/.s.PGSQL.8`,
        /CONNECT_TIMEOUT/,
        CONNECT_TIMEOUT_S * 1000 + 1500,
      );
    } finally {
      for (const s of held) s.destroy();
      await new Promise<void>((r) => silent.close(() => r()));
    }
  });
});
