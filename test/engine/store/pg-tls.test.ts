/**
 * PostgreSQL over TLS (engine/store/pg-tls.ts; docs/operations.md, "TLS"): a throwaway cluster
 * (test/faults/pg-cluster.ts) started with `ssl=on` and a server certificate the `openssl` CLI made
 * for the name `localhost` only. verify-full succeeds with the right CA and the right name, and
 * fails with a wrong CA or a name the certificate lacks; verify-ca checks the chain only; require
 * encrypts without checking; disable does not encrypt; a bad sslmode or CA file is a clear error.
 *
 * PostgreSQL only: it runs in the PostgreSQL pass (KEYWARD_TEST_DRIVER=postgres) where the server
 * binaries are found, and is skipped otherwise. What the client sends as SNI is read on both drivers,
 * by a server that speaks PostgreSQL's TLS negotiation and answers with the name it received.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { TLSSocket, createSecureContext } from 'node:tls';
import { sql } from 'drizzle-orm';
import { openStore } from '../../../engine/store/index.js';
import { PgCluster, findPgBin } from '../../faults/pg-cluster.js';
import { defaultTestDriver } from '../../helpers/store.js';
import { TestPki } from '../../helpers/tls.js';
import type { Pair } from '../../helpers/tls.js';

const bin = findPgBin();
const skip =
  defaultTestDriver() !== 'postgres'
    ? 'PostgreSQL pass only (KEYWARD_TEST_DRIVER=postgres)'
    : bin === undefined
      ? 'no PostgreSQL server binaries (KEYWARD_PG_BIN)'
      : false;

// A skipped describe is not counted in the summary: one skipped test is (as describePostgres does).
if (skip) describe('PostgreSQL over TLS (sslmode, sslrootcert)', () => it('runs on PostgreSQL', { skip }, () => {}));
else
  describe('PostgreSQL over TLS (sslmode, sslrootcert)', { timeout: 120_000 }, () => {
    const pki = new TestPki();
    let ca: Pair;
    let wrongCa: Pair;
    let cluster: PgCluster;

    before(async () => {
      ca = pki.ca('db-ca');
      wrongCa = pki.ca('wrong-ca');
      const server = pki.issue(ca, 'db', { san: 'DNS:localhost' });
      cluster = await PgCluster.create(bin!, { ssl: server });
    });
    after(() => {
      cluster?.destroy();
      pki.destroy();
    });

    const url = (host: string, params: string) => `postgres://postgres@${host}:${cluster.port}/postgres?${params}`;

    /** Opens the store at `u` and says whether its connection is encrypted (pg_stat_ssl). */
    async function encrypted(u: string): Promise<boolean> {
      const store = await openStore({ databaseUrl: u });
      try {
        const rows = (await store.db.execute(
          sql`select ssl from pg_stat_ssl where pid = pg_backend_pid()`,
        )) as unknown as {
          ssl: boolean;
        }[];
        return rows[0]!.ssl;
      } finally {
        await store.close();
      }
    }

    it('verify-full succeeds with the right CA and the name in the certificate', async () => {
      assert.equal(await encrypted(url('localhost', `sslmode=verify-full&sslrootcert=${ca.cert}`)), true);
      // sslrootcert alone means verify-full.
      assert.equal(await encrypted(url('localhost', `sslrootcert=${ca.cert}`)), true);
      assert.equal(await encrypted(url('localhost', `hostaddr=127.0.0.1&sslrootcert=${ca.cert}`)), true);
    });

    it("connects to hostaddr over Keyward's socket, named by the host (SNI), on every connection", async () => {
      // A forwarder to the server that notes whether each connection's first bytes (the SSLRequest,
      // then the TLS ClientHello, the only plaintext holding the SNI) name "localhost". In require
      // and prefer the driver's own socket sent none: it was named by the address.
      const seen: boolean[] = [];
      const forwarder = createServer((client) => {
        const i = seen.push(false) - 1;
        let head = Buffer.alloc(0);
        const upstream = connect(cluster.port, '127.0.0.1');
        client.on('data', (d: Buffer) => {
          if (head.length < 4096) seen[i] = (head = Buffer.concat([head, d])).includes('localhost');
        });
        client.pipe(upstream).pipe(client);
        client.on('error', () => upstream.destroy());
        upstream.on('error', () => client.destroy());
      });
      await new Promise<void>((r) => forwarder.listen(0, '127.0.0.1', r));
      const port = (forwarder.address() as { port: number }).port;
      try {
        for (const mode of ['require', 'prefer']) {
          seen.length = 0;
          const u = `postgres://postgres@localhost:${port}/postgres?hostaddr=127.0.0.1&sslmode=${mode}`;
          assert.equal(await encrypted(u), true, mode);
          // The store's lock and its pool, at least.
          assert.ok(seen.length >= 2, `${mode}: ${seen.length} connections`);
          assert.deepEqual(
            seen,
            seen.map(() => true),
            mode,
          );
        }
      } finally {
        await new Promise<void>((r) => forwarder.close(() => r()));
      }
    });

    it('verify-full fails with a wrong CA, and with a name the certificate lacks', async () => {
      await assert.rejects(
        openStore({ databaseUrl: url('localhost', `sslmode=verify-full&sslrootcert=${wrongCa.cert}`) }),
        (err: Error & { code?: string }) => {
          assert.equal(err.code, 'STORAGE_UNAVAILABLE');
          assert.match(err.message, /cannot open PostgreSQL at .*: .*(self-signed|unable to verify|certificate)/i);
          return true;
        },
      );
      await assert.rejects(
        openStore({ databaseUrl: url('127.0.0.1', `sslmode=verify-full&sslrootcert=${ca.cert}`) }),
        (err: Error) => {
          assert.match(err.message, /IP: 127\.0\.0\.1 is not in the cert's list/);
          return true;
        },
      );
    });

    it('verify-ca checks the chain but not the name; require encrypts unchecked; disable does not encrypt', async () => {
      assert.equal(await encrypted(url('127.0.0.1', `sslmode=verify-ca&sslrootcert=${ca.cert}`)), true);
      await assert.rejects(
        openStore({ databaseUrl: url('127.0.0.1', `sslmode=verify-ca&sslrootcert=${wrongCa.cert}`) }),
        /(self-signed|unable to verify)/i,
      );
      assert.equal(await encrypted(url('127.0.0.1', 'sslmode=require')), true);
      assert.equal(await encrypted(url('127.0.0.1', 'sslmode=disable')), false);
    });

    it('a bad sslmode or an unreadable CA file is a clear error', async () => {
      await assert.rejects(
        openStore({ databaseUrl: url('127.0.0.1', 'sslmode=verify-all') }),
        /expected sslmode disable, allow, prefer, require, verify-ca or verify-full in the database URL$/,
      );
      await assert.rejects(
        openStore({ databaseUrl: url('127.0.0.1', `sslrootcert=${pki.dir}/none.pem`) }),
        /cannot read the CA file the database URL's sslrootcert names: ENOENT/,
      );
    });
  });

/**
 * A server that negotiates TLS as PostgreSQL does (an SSLRequest answered "S", or "N" when `tls` is
 * off) and answers the startup message with an error naming the SNI it received (`sni=<name>`,
 * `sni=none`; `plain` without TLS): the client's error says what it sent, and that the certificate
 * passed its checks.
 */
async function sniServer(pair: Pair, host: string, tls = true): Promise<{ port: number; close(): Promise<void> }> {
  const context = createSecureContext({ cert: readFileSync(pair.cert), key: readFileSync(pair.key) });
  const open = new Set<Socket>();
  const answer = (s: Socket, message: string) => {
    const fields = Buffer.from(`SFATAL\0C28000\0M${message}\0\0`);
    const head = Buffer.alloc(5);
    head.write('E');
    head.writeInt32BE(4 + fields.length, 1);
    s.end(Buffer.concat([head, fields]));
  };
  const server: Server = createServer((raw) => {
    open.add(raw);
    raw.on('close', () => open.delete(raw));
    raw.on('error', () => {});
    raw.once('data', (first) => {
      // An SSLRequest: length 8, code 80877103.
      if (first.length !== 8 || first.readInt32BE(4) !== 80877103) return answer(raw, 'plain');
      if (!tls) {
        raw.write('N');
        return raw.once('data', () => answer(raw, 'plain'));
      }
      raw.write('S');
      let sni = 'none';
      const secure = new TLSSocket(raw, {
        isServer: true,
        secureContext: context,
        SNICallback: (name, done) => {
          sni = name;
          done(null, context);
        },
      });
      secure.on('error', () => {});
      secure.once('data', () => answer(secure, `sni=${sni}`));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, resolve);
  });
  return {
    port: (server.address() as { port: number }).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of open) s.destroy();
        server.close(() => resolve());
      }),
  };
}

describe('SNI, as libpq sends it: the host when it is a name, hostaddr or not, in every mode that may encrypt', () => {
  const pki = new TestPki();
  let ca: Pair;
  let servers: { port: number; close(): Promise<void> }[] = [];
  let port = 0;
  let plainPort = 0;
  let v6Port: number | undefined;

  before(async () => {
    ca = pki.ca('sni-ca');
    const pair = pki.issue(ca, 'sni', { san: 'DNS:db.example,DNS:localhost' });
    const tls = await sniServer(pair, '127.0.0.1');
    const plain = await sniServer(pair, '127.0.0.1', false);
    servers = [tls, plain];
    [port, plainPort] = [tls.port, plain.port];
    const v6 = await sniServer(pair, '::1').catch(() => undefined); // no IPv6 loopback here
    if (v6) servers.push(v6);
    v6Port = v6?.port;
  });
  after(async () => {
    await Promise.all(servers.map((s) => s.close()));
    pki.destroy();
  });

  /** What the server answered `url`'s open with: its `sni=`/`plain` word, or the client's own failure. */
  async function answer(url: string): Promise<string> {
    const err = await openStore({ databaseUrl: url }).then(
      async (s) => {
        await s.close();
        return new Error('opened');
      },
      (e: Error) => e,
    );
    return /(sni=\S+|plain)/.exec(err.message)?.[1] ?? err.message;
  }

  it('sends the host with hostaddr in require, prefer, verify-ca and verify-full; none for an address', async () => {
    const at = (host: string, params: string) => `postgres://u@${host}:${port}/x?${params}`;
    for (const [url, sent] of [
      // The driver sent the name of what it connects to: the address, so none (first review of hostaddr).
      [at('db.example', 'hostaddr=127.0.0.1&sslmode=require'), 'sni=db.example'],
      [at('db.example', 'hostaddr=127.0.0.1&sslmode=prefer'), 'sni=db.example'],
      [at('db.example', 'hostaddr=127.0.0.1&sslmode=allow'), 'sni=db.example'],
      [at('db.example', `hostaddr=127.0.0.1&sslmode=verify-ca&sslrootcert=${ca.cert}`), 'sni=db.example'],
      [at('db.example', `hostaddr=127.0.0.1&sslmode=verify-full&sslrootcert=${ca.cert}`), 'sni=db.example'],
      [at('localhost', 'sslmode=require'), 'sni=localhost'],
      // An address is no name (RFC 6066), hostaddr or not.
      [at('127.0.0.1', 'sslmode=require'), 'sni=none'],
      [at('127.0.0.1', 'hostaddr=127.0.0.1&sslmode=require'), 'sni=none'],
      [`postgres://u@/x?hostaddr=127.0.0.1&port=${port}&sslmode=require`, 'sni=none'],
    ] as const)
      assert.equal(await answer(url), sent, url);
  });

  it('falls back to plain with prefer when the server offers no TLS, connecting to hostaddr', async () => {
    assert.equal(await answer(`postgres://u@db.example:${plainPort}/x?hostaddr=127.0.0.1&sslmode=prefer`), 'plain');
    // Nothing listens: the driver's error, at once.
    const gone = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const { port } = s.address() as { port: number };
        s.close(() => resolve(port));
      });
    });
    // Named by the address too: the driver's own errors (a timeout) name the host, its socket's name.
    assert.match(
      await answer(`postgres://u@db.example:${gone}/x?hostaddr=127.0.0.1&sslmode=require`),
      new RegExp(`\\(127\\.0\\.0\\.1:${gone} \\(db\\.example\\)\\): connect ECONNREFUSED`),
    );
  });

  it('verifies an IPv6 zone id on hostaddr against the host, and refuses it as the host for verify-full', async (t) => {
    if (v6Port === undefined) return t.skip('no IPv6 loopback on this machine');
    const full = `sslmode=verify-full&sslrootcert=${ca.cert}`;
    // The certificate names db.example only: the check passed (the server answered), against the name.
    assert.equal(await answer(`postgres://u@db.example:${v6Port}/x?hostaddr=::1%25lo&${full}`), 'sni=db.example');
    assert.match(
      await answer(`postgres://u@[::1%25lo]:${v6Port}/x?${full}`),
      /expected a host name, or an address without an IPv6 zone id, for sslmode=verify-full/,
    );
    assert.equal(await answer(`postgres://u@[::1%25lo]:${v6Port}/x?sslmode=require`), 'sni=none');
  });
});
