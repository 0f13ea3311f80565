/**
 * PostgreSQL over a Unix-domain socket, in libpq's URL forms (engine/store/pg-socket.ts;
 * docs/operations.md, "PostgreSQL over a Unix socket"). How each form is read needs no server; in
 * the PostgreSQL pass a store is opened over the test server's own socket (it listens on one beside
 * TCP: .ci/run starts it with -k) in each form, appends to the audit log and reads it back over
 * connections that are all Unix-socket ones, and a missing, refused or silent socket fails as
 * STORAGE_UNAVAILABLE naming the socket, never hangs.
 */
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { extname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import postgres from 'postgres';
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
import { storageLine } from '../../../cli/commands/server.js';
import {
  adminDatabaseUrl,
  createTestDatabaseUrl,
  databaseUrlOn,
  describePostgres,
  testServerSocket,
} from '../../helpers/store.js';

/** Environment variables `names` as they are now, and a function that puts them back so. */
function savedEnv(...names: string[]): () => void {
  const was = names.map((n) => [n, process.env[n]] as const);
  return () => {
    for (const [n, v] of was)
      if (v === undefined) delete process.env[n];
      else process.env[n] = v;
  };
}

describe('database URLs naming a Unix socket, as libpq reads them', () => {
  it('takes the socket directory from ?host= or a percent-encoded host, and the port from ?port= or the URL', async () => {
    for (const [url, path, rest] of [
      ['postgres://u@/db?host=/var/run/postgresql', '/var/run/postgresql/.s.PGSQL.5432', 'postgres://localhost'],
      ['postgres://u@/db?host=/tmp/pg/&port=5433', '/tmp/pg/.s.PGSQL.5433', 'postgres://localhost'],
      ['postgresql://u@%2Fvar%2Frun%2Fpostgresql/db', '/var/run/postgresql/.s.PGSQL.5432', 'postgresql://localhost'],
      [
        'postgresql://%2Ftmp%2Fpg:6000/db?application_name=x',
        '/tmp/pg/.s.PGSQL.6000',
        'postgresql://localhost?application_name=x',
      ],
      [
        'postgres:///db?host=%2Ftmp%2Fpg&port=6001&options=-c%20a%3Db',
        '/tmp/pg/.s.PGSQL.6001',
        'postgres://localhost?options=-c%20a%3Db',
      ],
      ['postgres://u@db.internal:5432/db?host=/tmp/pg', '/tmp/pg/.s.PGSQL.5432', 'postgres://localhost'],
    ] as const) {
      const c = await postgresConnection(url);
      assert.equal(c.path, path, url);
      assert.equal(c.url, rest, url);
      assert.equal(c.target, `Unix socket ${path}`, url);
    }
  });

  it('moves a TCP ?host= and ?port= into the URL (the driver would send them to the server as settings)', async () => {
    const c = await postgresConnection('postgres://u@localhost/db?host=10.0.0.5&port=5433&sslmode=disable');
    assert.deepEqual(c, {
      url: 'postgres://10.0.0.5:5433',
      host: ['10.0.0.5'],
      port: [5433],
      database: 'db',
      user: 'u',
      ssl: false,
      target: '10.0.0.5:5433',
    });
    // The user, password and database go to the driver as options only, never in its URL.
    assert.deepEqual(await postgresConnection('postgres://u:p@127.0.0.1:55432/db?application_name=x'), {
      url: 'postgres://127.0.0.1:55432?application_name=x',
      host: ['127.0.0.1'],
      port: [55432],
      database: 'db',
      user: 'u',
      pass: 'p',
      target: '127.0.0.1:55432',
    });
  });

  it('ignores TLS over a socket as libpq does, but still refuses an unknown sslmode', async () => {
    const c = await postgresConnection('postgres://u@/db?host=/tmp/pg&sslmode=verify-full&sslrootcert=/no/such/ca.pem');
    assert.equal(c.ssl, false);
    assert.equal(c.url, 'postgres://localhost');
    await assert.rejects(postgresConnection('postgres://u@/db?host=/tmp/pg&sslmode=verify-all'), /expected sslmode/);
  });

  it('refuses what it cannot reach, saying what it expected', async () => {
    for (const [url, message] of [
      [
        'postgres://u@/db?host=%40pg&port=5432',
        /expected a socket directory \(\/dir\) or a TCP host .* abstract socket "@pg"/,
      ],
      ['postgres://u@/db?host=/a,/b', /expected one host in the database URL, got a list/],
      // The driver tries a list of hosts in turn, for ever when none answers: refused, not a hang.
      ['postgres://u@127.0.0.1:1,127.0.0.1:2/db', /expected one host in the database URL, got a list/],
      ['postgresql://u@%2Ftmp%2Fa,%2Fb:5432/db', /expected one host in the database URL, got a list/],
      ['postgres://u@/db?host=/tmp/pg&port=99999', /expected a port 1-65535 .* "99999"/],
      ['postgres://u@/db?host=/tmp/pg&port=x', /expected a port 1-65535 in the database URL's port parameter$/],
      // An unclosed "[" was read as the host "[" and the port ":1" (review of the IPv6 URLs).
      ['postgres://u@[::1/db', /^RangeError: expected a "\]" closing the IPv6 address in the database URL \(postgres:/],
      ['postgres://u@[::1', /expected a "\]" closing the IPv6 address/],
      ['postgres://u@[::1]5432/db', /expected ":port" or nothing after the IPv6 address's "\]"/],
      [`postgres://u@/db?host=/${'d'.repeat(100)}`, /expected a socket path of at most 10[37] bytes/],
    ] as const)
      await assert.rejects(postgresConnection(url), message, url);
  });

  it('never shows a password the URL grammar misreads (an unencoded "/", "?" or "#" in it), digits first or not', async () => {
    for (const [url, secret] of [
      ['postgres://postgres:s3cr3t/x@127.0.0.1:55432/postgres', 's3cr3t'],
      ['postgres://postgres:s3cr3t?x@127.0.0.1:55432/postgres', 's3cr3t'],
      ['postgres://postgres:s3cr3t#x@127.0.0.1:55432/postgres', 's3cr3t'],
      // Digits first pass as a port: the rest of the password was read as the database name, a
      // parameter or a fragment, and the digits shown as the port (review of the socket URLs).
      ['postgres://postgres:4711/s3cr3t@127.0.0.1:55432/postgres', '4711'],
      ['postgres://postgres:4711?s3cr3t@127.0.0.1:55432/postgres', '4711'],
      ['postgres://postgres:4711#s3cr3t@127.0.0.1:55432/postgres', '4711'],
      ['postgres://postgres:47119999/s3cr3t@127.0.0.1:55432/postgres', '4711'],
    ] as const) {
      await assert.rejects(postgresConnection(url), (e: Error) => {
        assert.match(e.message, /must be percent-encoded/, url);
        assert.ok(!e.message.includes(secret) && !e.message.includes('s3cr3t'), e.message);
        return true;
      });
      // With a "?" before the "@" too: no parameter's value holds that "@" (none has a "=" before it),
      // so it ends the password and the host is shown.
      assert.equal(redactDatabaseUrl(url), 'postgres://postgres:***@127.0.0.1:55432/postgres', url);
      // What the server's start-up line and an open's error show.
      await assert.rejects(openStore({ databaseUrl: url }), (e: Error & { code?: string }) => {
        assert.equal(e.code, 'STORAGE_UNAVAILABLE');
        assert.ok(!e.message.includes(secret) && !e.message.includes('s3cr3t'), e.message);
        return true;
      });
    }
  });

  it('connects to an IPv6 host bracketed in the URL, with or without a port, or bare in ?host= or ?hostaddr=', () => {
    const restore = savedEnv('PGPORT');
    try {
      delete process.env.PGPORT;
      for (const [url, driverUrl, port, target] of [
        ['postgres://u@[::1]:5433/db', 'postgres://[::1]:5433', 5433, '[::1]:5433'],
        ['postgres://u@[::1]/db', 'postgres://[::1]', 5432, '[::1]:5432'],
        ['postgres://u@/db?host=::1&port=5433', 'postgres://[::1]:5433', 5433, '[::1]:5433'],
        ['postgres://u@localhost/db?host=%3A%3A1', 'postgres://[::1]', 5432, '[::1]:5432'],
        ['postgres://u@/db?hostaddr=::1&port=5433', 'postgres://[::1]:5433', 5433, '[::1]:5433'],
      ] as const) {
        // The driver cuts a host string at its first ":" ("[::1]" became "["): an array it takes as it is.
        assert.deepEqual(
          postgresTarget(url),
          { url: driverUrl, host: ['::1'], port: [port], database: 'db', user: 'u', target },
          url,
        );
      }
      process.env.PGPORT = '6543';
      assert.equal(postgresTarget('postgres://u@[2001:db8::7]/db').target, '[2001:db8::7]:6543');
      assert.deepEqual(postgresTarget('postgres://u@[2001:db8::7]/db').port, [6543]);
    } finally {
      restore();
    }
  });

  it('connects to hostaddr and checks the certificate against host, as libpq does', async () => {
    const c = await postgresConnection('postgres://u@db.internal/db?hostaddr=10.0.0.5&sslmode=verify-full');
    assert.deepEqual(c.host, ['10.0.0.5']);
    assert.equal(c.url, 'postgres://db.internal');
    assert.equal(c.target, '10.0.0.5:5432 (db.internal)');
    assert.deepEqual(c.ssl, { rejectUnauthorized: true, host: 'db.internal', servername: 'db.internal' });
    await assert.rejects(
      postgresConnection('postgres://u@/db?hostaddr=db.internal'),
      /expected a numeric IP address in the database URL's hostaddr parameter$/,
    );
    await assert.rejects(postgresConnection('postgres://u@/db?hostaddr=10.0.0.5,10.0.0.6'), /expected one host/);
  });

  it('checks a certificate against a host with an IPv6 zone id as libpq does: never (verify-full refused)', async () => {
    // libpq compares the host, zone and all, with the certificate's names; its inet_pton takes no
    // zone id, so no certificate's address matches. Node's check dropped the zone and matched.
    for (const url of [
      'postgres://u@[fe80::1%25eth0]:5432/db?sslmode=verify-full',
      'postgres://u@/db?host=fe80::1%25eth0&sslrootcert=/no/such/ca.pem',
    ])
      await assert.rejects(
        postgresConnection(url),
        /^RangeError: expected a host name, or an address without an IPv6 zone id, for sslmode=verify-full .*hostaddr=fe80::1%25eth0/,
        url,
      );
    // With hostaddr and no host there is no name to check, as in libpq ("host name must be
    // specified for a verified SSL connection"): it was checked against the address.
    for (const url of [
      'postgres://u@/db?hostaddr=fe80::1%25eth0&sslmode=verify-full',
      'postgres://u@/db?hostaddr=10.0.0.5&sslmode=verify-full',
      'postgres://u@/db?host=/tmp&hostaddr=10.0.0.5&sslmode=verify-full',
    ])
      await assert.rejects(
        postgresConnection(url),
        /^RangeError: expected a host with hostaddr for sslmode=verify-full/,
        url,
      );
    assert.equal(
      (await postgresConnection('postgres://u@/db?hostaddr=10.0.0.5&sslmode=verify-ca')).target,
      '10.0.0.5:5432',
    );
    // The zone on hostaddr, the certificate's name in the host: checked against the name.
    const c = await postgresConnection('postgres://u@db.internal/db?hostaddr=fe80::1%25eth0&sslmode=verify-full');
    assert.deepEqual(c.ssl, { rejectUnauthorized: true, host: 'db.internal', servername: 'db.internal' });
    assert.deepEqual(c.host, ['fe80::1%eth0']);
    // Modes that check no name take a zone id as they take any address.
    for (const mode of ['require', 'verify-ca'])
      assert.equal(
        typeof (await postgresConnection(`postgres://u@[fe80::1%25eth0]/db?sslmode=${mode}`)).ssl,
        'object',
        mode,
      );
  });

  it('names a bad sslmode or sslrootcert by its parameter, never quoting its value', async () => {
    // A value may be a secret pasted in the wrong place.
    await assert.rejects(postgresConnection('postgres://h/db?sslmode=Hu7Tr9xQ'), (e: Error) => {
      assert.match(
        e.message,
        /^expected sslmode disable, allow, prefer, require, verify-ca or verify-full in the database URL$/,
      );
      return true;
    });
    await assert.rejects(postgresConnection('postgres://h/db?sslrootcert=/tmp/Hu7Tr9xQ/ca.pem'), (e: Error) => {
      assert.equal(e.message, "cannot read the CA file the database URL's sslrootcert names: ENOENT");
      return true;
    });
  });

  it('hands the driver a connection to hostaddr named by the host, for SNI, only when TLS may be used', async () => {
    const named = await postgresConnection('postgres://u@db.example:6432/x?hostaddr=127.0.0.1&sslmode=require');
    assert.equal(typeof named.socket, 'function');
    const socket = named.socket!() as unknown as { host: string; port: number; connecting: boolean; destroy(): void };
    // It connects once the driver listens for its errors: not yet (no connection to that port is tried).
    assert.equal(socket.connecting, false);
    socket.destroy();
    assert.deepEqual([socket.host, socket.port], ['db.example', 6432]);
    for (const url of [
      'postgres://u@db.example/x?hostaddr=127.0.0.1&sslmode=disable',
      'postgres://u@db.example/x?hostaddr=127.0.0.1',
      'postgres://u@db.example/x?sslmode=require',
      'postgres://u@10.0.0.6/x?hostaddr=127.0.0.1&sslmode=require',
      'postgres://u@/x?hostaddr=127.0.0.1&sslmode=require',
    ])
      assert.equal((await postgresConnection(url)).socket, undefined, url);
  });

  it('fails as STORAGE_UNAVAILABLE, not a crash, when the connection to hostaddr fails at once', () => {
    // connect(2) refuses these at once on Linux: an address with no zone id that needs one (EINVAL),
    // the broadcast address (ENETUNREACH). The socket's error came before the driver listened for
    // it: "Unhandled 'error' event", and the process ended (so a child process opens the stores).
    // index.ts beside the sources (KEYWARD_TEST_HOOK=1), index.js in the compiled mirror.
    const store = new URL(`../../../engine/store/index${extname(import.meta.url)}`, import.meta.url).href;
    const script = `
      const { openStore } = await import(${JSON.stringify(store)});
      for (const addr of ['fe80::1', '255.255.255.255'])
        await openStore({ databaseUrl: 'postgres://u@db.example:5432/x?hostaddr=' + addr + '&sslmode=prefer' }).then(
          () => console.log('opened'),
          (e) => console.log(e.code, e.message.replace(/^.*: (connect E[A-Z]+) .*$/s, '$1')),
        );`;
    const child = spawnSync(process.execPath, [...process.execArgv, '--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 10_000,
    });
    assert.equal(child.status, 0, child.stderr);
    const lines = child.stdout.trim().split('\n');
    assert.equal(lines.length, 2, child.stdout);
    for (const line of lines) assert.match(line, /^STORAGE_UNAVAILABLE connect E[A-Z]+$/);
  });

  it("reads libpq's connection parameters as connection parameters, never as server settings", () => {
    const c = postgresTarget(
      'postgres://u:p@h/url_db?dbname=my%40db&user=kw&password=pa%2Bss%2F&connect_timeout=10&options=-c%20a%3Db' +
        '&application_name=kw1&statement_timeout=5000&target_session_attrs=any&client_encoding=UTF8&fallback_application_name=x',
    );
    assert.deepEqual(c, {
      // What the driver reads itself, as libpq does: options and application_name in the startup
      // packet; any other parameter is a server setting, as before.
      url: 'postgres://h?options=-c%20a%3Db&application_name=kw1&statement_timeout=5000',
      host: ['h'],
      port: [5432],
      database: 'my@db',
      user: 'kw',
      pass: 'pa+ss/',
      connect_timeout: 10,
      target: 'h:5432',
    });
    // The path's database name is decoded (the driver takes it as it is); libpq's least timeout is 2 s.
    assert.equal(postgresTarget('postgres://h/my%20db').database, 'my db');
    assert.equal(postgresTarget('postgres://h/db?connect_timeout=1').connect_timeout, 2);
    assert.equal(
      postgresTarget('postgres://h/db?target_session_attrs=read-write').url,
      'postgres://h?target_session_attrs=read-write',
    );
  });

  it('lets an empty ?user=, ?password=, ?dbname= or ?port= win over the URL, meaning the default, as in libpq', () => {
    const restore = savedEnv('PGPORT');
    try {
      delete process.env.PGPORT;
      // Nothing of the URL's user, password, database or port reaches the driver: it takes its
      // defaults (PGUSER, PGPASSWORD, PGDATABASE else the user name; PGPORT else 5432).
      assert.deepEqual(postgresTarget('postgres://u:p@h:6000/db?user=&password=&dbname=&port='), {
        url: 'postgres://h',
        host: ['h'],
        port: [5432],
        target: 'h:5432',
      });
      process.env.PGPORT = '6543';
      assert.deepEqual(postgresTarget('postgres://h:6000/db?port=').port, [6543]);
    } finally {
      restore();
    }
  });

  it('hands the driver an IPv6 zone id in its host only: no URL parser takes one', () => {
    for (const [url, host, target] of [
      ['postgres://u@[fe80::1%25eth0]:5432/db', 'fe80::1%eth0', '[fe80::1%eth0]:5432'],
      ['postgres://u@/db?host=fe80::1%25eth0&port=5432', 'fe80::1%eth0', '[fe80::1%eth0]:5432'],
      ['postgres://u@db.internal/db?hostaddr=fe80::1%25lo&port=5432', 'fe80::1%lo', '[fe80::1%lo]:5432 (db.internal)'],
    ] as const) {
      const c = postgresTarget(url);
      assert.deepEqual(c.host, [host], url);
      assert.equal(c.target, target, url);
      assert.ok(!c.url.includes('%'), c.url);
      // What the driver makes of it (its URL parser threw "URI malformed" on the decoded "%").
      const sql = postgres(c.url, { host: c.host as unknown as string, port: c.port as unknown as number });
      assert.deepEqual(sql.options.host, [host], url);
    }
  });

  it("refuses libpq's parameters it does not support by name, and values it cannot honour", () => {
    for (const name of [
      'passfile',
      'sslcert',
      'sslkey',
      'service',
      'keepalives',
      'channel_binding',
      'require_auth',
      'replication',
    ])
      assert.throws(
        () => postgresTarget(`postgres://u:s3cret@h/db?${name}=x&password=s3cret`),
        (e: Error) => {
          assert.ok(e instanceof RangeError);
          assert.match(e.message, new RegExp(`got libpq's "${name}", which is not supported`));
          assert.match(e.message, /\(host, hostaddr, port, dbname, user, password, connect_timeout/);
          assert.ok(!e.message.includes('s3cret'));
          return true;
        },
        name,
      );
    for (const [url, message] of [
      // libpq waits for ever on 0: nothing in Keyward does.
      ['postgres://h/db?connect_timeout=0', /expected connect_timeout in whole seconds, 1 or more, .* got "0"/],
      [
        'postgres://h/db?connect_timeout=2s',
        /expected connect_timeout in whole seconds, 1 or more, in the database URL$/,
      ],
      ['postgres://h/db?client_encoding=LATIN1', /expected client_encoding UTF8 in the database URL$/],
      ['postgres://h/db?password', /expected name=value parameters after "\?"/],
      ['postgres://h/db?password=%zz', /expected a percent-encoded password parameter in the database URL$/],
      // The server takes settings' names in any case: `Password=` would reach it as one, with the password.
      ['postgres://h/db?Password=s3cret', /expected libpq's parameter names in lower case .*got "Password"$/],
      ['postgres://h/db?DBNAME=x', /got "DBNAME"$/],
      ['postgres://h/db?SslMode=disable', /got "SslMode"$/],
    ] as const)
      assert.throws(() => postgresTarget(url), message, url);
  });

  it('takes no host (or an empty ?host=) as PGHOST, else localhost, with ?port= applied', () => {
    const restore = savedEnv('PGHOST');
    try {
      delete process.env.PGHOST;
      assert.deepEqual(postgresTarget('postgres:///postgres?port=55432'), {
        url: 'postgres://localhost:55432',
        host: ['localhost'],
        port: [55432],
        database: 'postgres',
        target: 'localhost:55432',
      });
      assert.equal(postgresTarget('postgres://u@/db?host=').url, 'postgres://localhost');
      process.env.PGHOST = '/tmp/pg';
      assert.deepEqual(postgresTarget('postgres:///postgres?port=55432'), {
        url: 'postgres://localhost',
        path: '/tmp/pg/.s.PGSQL.55432',
        database: 'postgres',
        target: 'Unix socket /tmp/pg/.s.PGSQL.55432',
      });
      // A socket directory in PGHOST is a socket like any other: TLS settings ignored.
      assert.equal(postgresTarget('postgres:///postgres?sslmode=require').path, '/tmp/pg/.s.PGSQL.5432');
    } finally {
      restore();
    }
  });

  it('shows no fragment of a password in any report of a hostile URL: redacted, refused, failed or started', async () => {
    // A port nothing listens on: a URL that is not refused fails at once, with the driver's error.
    // Not one in which a fragment of the passwords "7351…" below can be read (":38551/" shows "51/"):
    // a report shows the port.
    const overlaps = (port: number) =>
      ['7351/x=Qv', '7351?4=dQr'].some((pw) =>
        Array.from({ length: pw.length - 2 }, (_, i) => pw.slice(i, i + 3)).some((bit) => `:${port}/`.includes(bit)),
      );
    const closedPort = () =>
      new Promise<number>((resolve) => {
        const s = createServer().listen(0, '127.0.0.1', () => {
          const { port } = s.address() as { port: number };
          s.close(() => resolve(port));
        });
      });
    let dead = await closedPort();
    while (overlaps(dead)) dead = await closedPort();
    const h = `127.0.0.1:${dead}`;
    // [URL, the password as written, and decoded when it differs].
    const cases: [string, ...string[]][] = [
      [`postgres://u:8/Kx9aQ==@${h}/db`, '8/Kx9aQ=='],
      [`postgres://u:7351/x=Qv@${h}/db`, '7351/x=Qv'],
      [`postgres://u:Zq9/wx@Yk8@${h}/db`, 'Zq9/wx@Yk8'],
      [`postgres://u:Zq9@wx/Yk8@${h}/db`, 'Zq9@wx/Yk8'],
      [`postgres://u:7351?4=dQr@${h}/db`, '7351?4=dQr'],
      [`postgres://u:Jq?port=Wz7@${h}/db`, 'Jq?port=Wz7'],
      [`postgres://u:Jq?port=9Wz&x=/Vm3@${h}/db`, 'Jq?port=9Wz&x=/Vm3'],
      [`postgres://u:Jq?hostaddr=Wz7@${h}/db`, 'Jq?hostaddr=Wz7'],
      [`postgres://u:Jq?connect_timeout=Wz7@${h}/db`, 'Jq?connect_timeout=Wz7'],
      [`postgres://u:Jq?client_encoding=Wz7&x=/1@${h}/db`, 'Jq?client_encoding=Wz7&x=/1'],
      [`postgres://u:Jq?dbname=%zzWz7&x=/1@${h}/db`, 'Jq?dbname=%zzWz7&x=/1'],
      [`postgres://u:Jq#Wz7@${h}/db`, 'Jq#Wz7'],
      [`postgres://u:Hm9/8?x=Wk#Lp@${h}/db`, 'Hm9/8?x=Wk#Lp'],
      [`postgres://u:Kx+9/aQ=@${h}/db?sslmode=disable`, 'Kx+9/aQ='],
      [`postgres://u:Jq:Wz7@${h}/db`, 'Jq:Wz7'],
      [`postgres://u:Vb@Nm8@${h}/db`, 'Vb@Nm8'],
      [`postgres://u:Kx%2B9%2FaQ%3D%3D@${h}/db`, 'Kx%2B9%2FaQ%3D%3D', 'Kx+9/aQ=='],
      [`postgres://u:Zq9%40wx%3FYk8%23Lp@${h}/db`, 'Zq9%40wx%3FYk8%23Lp', 'Zq9@wx?Yk8#Lp'],
      [`postgres://${h}/db?password=Jq%2FWz7%3F`, 'Jq%2FWz7%3F', 'Jq/Wz7?'],
      [`postgres://${h}/db?password=Jq@Wz7`, 'Jq@Wz7'],
      [`postgres://${h}/db?user=u&password=Jq/Wz7&sslmode=require`, 'Jq/Wz7'],
      [`postgres://u:Jq/Wz7@/db?host=/tmp/kw-none&port=5432`, 'Jq/Wz7'],
      [`postgres://u:Jq?Wz7@[::1]:${dead}/db`, 'Jq?Wz7'],
      // Third review: the host shown after an "@" that ends a password holding a "?"; never when a
      // password parameter, or a value, could hold that "@" (each reading's password listed, far
      // enough to take in the host: refused before connecting, these name a host of no digits).
      [`postgres://kw:Xk@9?mPq2@${h}/db?password=Hu7Tr9&sslmode=require`, 'Xk@9?mPq2', 'Hu7Tr9&ssl'],
      [`postgres://u:Pw9?x@Zk8?password=Jq@Wz7@Hx4.Example/db`, 'Pw9?x@Zk8?password=Jq@Wz7', 'Jq@Wz7@Hx4.Ex'],
      [`postgres://u:Pw9@Hx4.Example/db?application_name=Kq@Vx7`, 'Pw9@Hx4.Ex'],
      [`postgres://u:Pw9@Hx4.Example/db?Pass%77ord=Kq@Vx7`, 'Pw9@Hx4.Ex', 'Kq@Vx7'],
      // A ":" in a password parameter was taken for the userinfo's, and what came before it shown.
      [`postgres://Hx4.Example/db?password=Jq9:Wz7@Vb8`, 'Jq9:Wz7@Vb8'],
      // A value Keyward refuses, or of a parameter it does not know (a secret in the wrong place).
      [`postgres://u@${h}/db?sslmode=Hu7Tr9xQ`, 'Hu7Tr9xQ'],
      [`postgres://u@${h}/db?sslpassword=Hu7Tr9xQ`, 'Hu7Tr9xQ'],
      [`postgres://u@${h}/db?lock_timeout=Hu7Tr9xQ`, 'Hu7Tr9xQ'],
      [`postgres://u@${h}/db?connect_timeout=Hu7Tr9xQ`, 'Hu7Tr9xQ'],
      // Third review: a value the driver quoted in its refusal, a lower-case word the check took.
      [`postgres://u@${h}/db?target_session_attrs=Hu7Tr9xQ`, 'Hu7Tr9xQ'],
      [`postgres://u@${h}/db?target_session_attrs=hu7trq`, 'hu7trq'],
      [`postgres://u@${h}/db?options=-c%20app.key%3DHu7Tr9xQ`, 'Hu7Tr9xQ'],
      [`postgres://u:p@Hx.Example/db?lock_timeout=Sq7?x@Hu7`, 'Sq7?x@Hu7'],
      // A "[" in the user name: its brackets were taken for an IPv6 address's, hiding the ":".
      [`postgres://u[:Sq7rEt]@${h}/db?x@y`, 'Sq7rEt]'],
      [`postgres://kw[:Sq7]rEt?x@${h}/db`, 'Sq7]rEt?x'],
      [`postgres://u[x:Sq7rEt]z@${h}/db?k@v`, 'Sq7rEt]z'],
      // Second review: an "@" and then a "?" in the password; "#" and "&" in a password parameter.
      [`postgres://kw:Xk@9?mPq2@${h}/keyward`, 'Xk@9?mPq2'],
      [`postgres://${h}/db?password=Hu#2Sec`, 'Hu#2Sec'],
      [`postgres://${h}/db?password=Hu&2Sec`, 'Hu&2Sec'],
      // libpq's key=value form, which no URL parser takes (Node's keeps its input on the error).
      [`host=127.0.0.1 port=${dead} password=Jq9Wz7x`, 'Jq9Wz7x'],
    ];
    const message = (e: unknown) => `${(e as Error).message} ${(e as { cause?: Error }).cause?.message ?? ''}`;
    for (const [url, ...secrets] of cases) {
      const reports = [redactDatabaseUrl(url)];
      try {
        reports.push(postgresTarget(url).target);
      } catch (e) {
        reports.push(message(e));
      }
      reports.push(await postgresConnection(url).then((c) => c.target, message));
      try {
        reports.push(storageLine({ databaseUrl: url }, postgresTarget));
      } catch (e) {
        reports.push(message(e));
      }
      await assert.rejects(openStore({ databaseUrl: url }), (e: Error & { code?: string }) => {
        assert.equal(e.code, 'STORAGE_UNAVAILABLE', url);
        reports.push(message(e), inspect(e, { depth: 6 }));
        return true;
      });
      for (const secret of secrets)
        for (let i = 0; i + 3 <= secret.length; i++) {
          const bit = secret.slice(i, i + 3);
          // Lower-case words are a message's own too ("host", "port"): every password here mixes cases.
          if (/^[a-z_]+$/.test(bit)) continue;
          for (const r of reports) assert.ok(!r.includes(bit), `${url}: "${bit}" shown in: ${r}`);
        }
    }
  });

  it("points a test's URL at its own database, whatever dbname the admin URL holds", () => {
    // A dbname parameter wins over the path, as in libpq: the tests' stores opened the admin's database.
    for (const [admin, url] of [
      ['postgres://postgres@127.0.0.1:55432/postgres', 'postgres://postgres@127.0.0.1:55432/kw_t'],
      [
        'postgres://postgres@127.0.0.1:55432/postgres?dbname=postgres&options=-c%20a%3Db&d%62name=x',
        'postgres://postgres@127.0.0.1:55432/kw_t?options=-c%20a%3Db',
      ],
      ['postgres://postgres@127.0.0.1:55432?dbname=postgres', 'postgres://postgres@127.0.0.1:55432/kw_t'],
    ] as const) {
      assert.equal(databaseUrlOn(admin, 'kw_t'), url, admin);
      assert.equal(postgresTarget(databaseUrlOn(admin, 'kw_t')).database, 'kw_t', admin);
    }
    // A name that is no percent-encoding is no dbname: kept, and refused when the store is opened (it threw).
    const bad = databaseUrlOn('postgres://postgres@127.0.0.1:55432/postgres?%zz=1', 'kw_t');
    assert.equal(bad, 'postgres://postgres@127.0.0.1:55432/kw_t?%zz=1');
    assert.throws(() => postgresTarget(bad), /expected a percent-encoded parameter name/);
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
      // An "@" after the "?" with a ":" before it may end a password holding a "?": all hidden.
      ['postgres://127.0.0.1:1/keyward?application_name=kw@eu&password=s3cret', 'postgres://127.0.0.1:***'],
      ['postgres://u:pw@h/d?application_name=a@b&password=s3cret', 'postgres://u:***'],
      // With no ":" before it (outside an IPv6 address's brackets), all past the host part.
      ['postgres://[::1]/d?sslrootcert=/etc/ca@2.pem&password=s3cret', 'postgres://[::1]/***'],
      // An "@" that no parameter's value holds (no "=" before it in its parameter) ends a password:
      // the host after it is shown, up to an "&" or "#", which may begin a parameter of any reading.
      ['postgres://kw:Xk@9?mPq2@127.0.0.1:1/keyward', 'postgres://kw:***@127.0.0.1:1/keyward'],
      [
        'postgres://kw:Xk@9?mPq2@h:1/kw?sslmode=require&password=s3cret',
        'postgres://kw:***@h:1/kw?sslmode=require&***',
      ],
      ['postgres://kw:Xk@9?mPq2@h/kw?password=s3cret&x=1', 'postgres://kw:***@h/kw?password=***'],
      ['postgres://kw:Xk@9?mPq2@h/kw#x', 'postgres://kw:***@h/kw#***'],
      // Nor when a value holds it in some reading, a "?" before it or not: "Hu7" was shown.
      ['postgres://u:p@h/db?lock_timeout=Sq7?x@Hu7', 'postgres://u:***'],
      // Unless a password parameter comes before it, whose value may hold it.
      ['postgres://u:x?password@h/db', 'postgres://u:***'],
      ['postgres://u:Pw9?x@Zk8?password=Jq@h/db', 'postgres://u:***'],
      ['postgres://u:Pw9?x@Zk8&PASSWORD=Jq@h/db', 'postgres://u:***'],
      ['postgres://h/db?password=Jq9:Wz7@Vb8', 'postgres://h/***'],
      ['postgres://h:5432/d?password=p@ss', 'postgres://h:***'],
      ['postgres://h/d?password=p@ss', 'postgres://h/***'],
      // From a password parameter on, the rest: an unencoded "&" or "#" may be the password's.
      ['postgres://h/db?password=hunter#2secret', 'postgres://h/db?password=***'],
      ['postgres://h/db?password=hunter&2secret', 'postgres://h/db?password=***'],
      [
        'postgres://h/db?sslmode=require&password=hunter&lock_timeout=9',
        'postgres://h/db?sslmode=require&password=***',
      ],
      ['postgres://u:4711/s3/cret@h/d?password=s3cret', 'postgres://u:***@h/d?password=***'],
      ['postgres://u@[::1]:5432/d?password=s3cret', 'postgres://u@[::1]:5432/d?password=***'],
      ['postgres://u:s3cret@[::1]/d', 'postgres://u:***@[::1]/d'],
      ['postgres:///d?host=::1&password=s3cret', 'postgres:///d?host=::1&password=***'],
      [' postgres://keyward:s3cret@127.0.0.1:1/keyward', ' postgres://keyward:***@127.0.0.1:1/keyward'],
      ['postgres://db.example/keyward?application_name=kw@eu', 'postgres://db.example/***'],
      ['host=/tmp/pg user=kw password=s3cret', 'host=/tmp/pg user=kw password=***'],
      ["host=h password='ab\\'cdefg' dbname=x", 'host=h password=*** dbname=x'],
      ["host=h password='ab cdefg", 'host=h password=***'],
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

describePostgres('PostgreSQL database URLs in libpq forms, connected for real', { timeout: 60_000 }, () => {
  let db: { url: string; drop(): Promise<void> } | undefined;
  let name = '';
  let server = { host: '', port: 0 };
  /** Connections made to [::1], forwarded to the test server (it listens on 127.0.0.1 only). */
  let v6: Server | undefined;
  const fromV6: string[] = [];
  const piped = new Set<Socket>();

  before(async () => {
    db = await createTestDatabaseUrl({ migrated: true });
    const u = new URL(db.url);
    name = u.pathname.slice(1);
    server = { host: u.hostname.replace(/^\[(.*)\]$/, '$1'), port: Number(u.port || 5432) };
    const proxy = createServer((client) => {
      fromV6.push(client.remoteAddress ?? '');
      const upstream = connect(server.port, server.host);
      for (const s of [client, upstream]) {
        piped.add(s);
        s.on('error', () => {});
        s.on('close', () => piped.delete(s));
      }
      client.pipe(upstream).pipe(client);
    });
    v6 = await new Promise<Server | undefined>((resolve) => {
      proxy.once('error', () => resolve(undefined)); // no IPv6 loopback here
      proxy.listen(0, '::1', () => resolve(proxy));
    });
  });
  after(async () => {
    for (const s of piped) s.destroy();
    if (v6) await new Promise<void>((r) => v6!.close(() => r()));
    await db?.drop();
  });

  const user = () => decodeURIComponent(new URL(adminDatabaseUrl()!).username) || 'postgres';

  /** Opens a store at `url`, and says what its session is: database, user, a setting, and where from. */
  async function session(url: string) {
    const store = await openStore({ databaseUrl: url });
    try {
      const [row] = await queryRows<{ db: string; usr: string; lock_timeout: string; app: string }>(
        store.db,
        sql`select current_database() as db, current_user as usr, current_setting('lock_timeout') as lock_timeout,
                   current_setting('application_name') as app`,
      );
      return row!;
    } finally {
      await store.close();
    }
  }

  it('reaches a server on [::1] in every IPv6 form', async (t) => {
    if (!v6) return t.skip('no IPv6 loopback on this machine');
    const port = (v6.address() as { port: number }).port;
    const restore = savedEnv('PGPORT');
    try {
      process.env.PGPORT = String(port); // the form without a port takes PGPORT's
      for (const url of [
        `postgres://${user()}@[::1]:${port}/${name}`,
        `postgres://${user()}@[::1]/${name}`,
        `postgres://${user()}@/${name}?host=::1&port=${port}`,
        `postgres://${user()}@localhost:1/${name}?hostaddr=::1&port=${port}`,
        // A zone id (the loopback's, here) reaches the driver's connect as it is.
        `postgres://${user()}@[::1%25lo]:${port}/${name}`,
        `postgres://${user()}@/${name}?hostaddr=::1%25lo&port=${port}`,
      ]) {
        fromV6.length = 0;
        assert.equal((await session(url)).db, name, url);
        // The lock connection, the pool and the append connection all went through [::1].
        assert.ok(fromV6.length >= 2 && fromV6.every((a) => a === '::1'), `${url}: ${fromV6.join(', ')}`);
      }
    } finally {
      restore();
    }
  });

  it('takes dbname, user, password and connect_timeout as connection parameters, and server settings as settings', async () => {
    const hostport = `${server.host.includes(':') ? `[${server.host}]` : server.host}:${server.port}`;
    // The test server trusts its clients: the password is not asked for, but it must not be sent
    // as a setting either (the server refused "password" as an unknown one).
    const s = await session(
      `postgres://nobody@${hostport}/postgres?dbname=${name}&user=${encodeURIComponent(user())}&password=unused` +
        `&connect_timeout=5&options=-c%20lock_timeout%3D1234&application_name=kw-url`,
    );
    assert.deepEqual(s, { db: name, usr: user(), lock_timeout: '1234ms', app: 'kw-url' });
    // An empty ?user= or ?dbname= is the default (PGUSER, PGDATABASE here), not the URL's own.
    const restore = savedEnv('PGUSER', 'PGDATABASE');
    try {
      process.env.PGUSER = user();
      process.env.PGDATABASE = name;
      const e = await session(`postgres://nobody@${hostport}/postgres?user=&dbname=`);
      assert.deepEqual([e.db, e.usr], [name, user()]);
    } finally {
      restore();
    }
    // A server setting in the URL is still one (the pool's connections take it too).
    const t = await session(`postgres://${user()}@${hostport}/${name}?lock_timeout=4321`);
    assert.equal(t.lock_timeout, '4321ms');
  });

  it('refuses a libpq parameter it does not support as STORAGE_UNAVAILABLE naming it, without connecting', async () => {
    await assert.rejects(
      openStore({ databaseUrl: `postgres://${user()}:s3cret@127.0.0.1:1/${name}?passfile=/nonexistent` }),
      (e: Error & { code?: string }) => {
        assert.equal(e.code, 'STORAGE_UNAVAILABLE');
        assert.match(e.message, /got libpq's "passfile", which is not supported/);
        assert.ok(!e.message.includes('s3cret'), e.message);
        return true;
      },
    );
  });
});
