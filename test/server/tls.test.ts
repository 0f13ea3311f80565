/**
 * TLS on the listener (server/tls.ts, server/main.ts; docs/operations.md, "TLS"), with certificates
 * the `openssl` CLI makes (test/helpers/tls.ts): the right CA verifies and the wrong one does not,
 * an expired certificate fails, TLS 1.1 is refused and 1.2 accepted (`openssl s_client`), HSTS and
 * nosniff on every answer, SIGHUP swaps the served certificate without closing the listener (and a
 * broken pair keeps the old one), client certificates are required with --tls-client-ca and their
 * subject reaches the policies, plain HTTP off loopback is refused, and a whole ceremony (init,
 * unseal) and an encrypt run over HTTPS from the CLI with --ca-cert.
 *
 * One store and one Hsm; each listener is a second socket on it.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { request } from 'node:https';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TLSSocket } from 'node:tls';
import { KeywardClient } from '@keyward/client';
import { Agent } from 'undici';
import { Hsm } from '../../engine/hsm.js';
import { statusFor } from '../../server/errors.js';
import { createLogger } from '../../server/log.js';
import { listen } from '../../server/main.js';
import type { RunningServer } from '../../server/main.js';
import { compileFixture } from '../engine/policy/helpers.js';
import { makeHolders, writeHolderFiles } from '../helpers/ceremony.js';
import { fails, ok, runCli } from '../helpers/cli.js';
import { openTestStore } from '../helpers/store.js';
import type { TestStore } from '../helpers/store.js';
import { TestPki, fingerprintOf } from '../helpers/tls.js';
import type { Pair } from '../helpers/tls.js';
import { assertError } from '../helpers/wire.js';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: any;
  /** SHA-256 fingerprint of the certificate this (new) connection was served. */
  peer: string | undefined;
}

/** One HTTPS request on a new connection, trusting `ca` only; `client` presents a certificate. */
function get(url: string, path: string, o: { ca: string; client?: Pair; token?: string }): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      url + path,
      {
        agent: false,
        ca: readFileSync(o.ca),
        ...(o.client ? { cert: readFileSync(o.client.cert), key: readFileSync(o.client.key) } : {}),
        headers: o.token ? { authorization: `Bearer ${o.token}` } : {},
      },
      (res) => {
        const peer = (res.socket as TLSSocket).getPeerX509Certificate()?.fingerprint256;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = text;
          try {
            body = JSON.parse(text);
          } catch {
            /* not JSON */
          }
          resolve({ status: res.statusCode!, headers: res.headers, body, peer });
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** The error a request fails with (its code, e.g. UNABLE_TO_VERIFY_LEAF_SIGNATURE). */
async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return String((err as NodeJS.ErrnoException).code ?? (err as Error).message);
  }
  assert.fail('expected the connection to be refused');
}

describe('TLS listener', { timeout: 180_000 }, () => {
  const pki = new TestPki();
  const SAN = 'IP:127.0.0.1,DNS:localhost';
  let ca: Pair;
  let otherCa: Pair;
  let clientCa: Pair;
  let srv: Pair;
  let srv2: Pair;
  let live: Pair;
  let store: TestStore;
  let hsm: Hsm;
  let main: RunningServer;
  const logs: string[] = [];
  const log = createLogger({ write: (l) => logs.push(l), level: 'debug' });
  let reloaded: ((err: Error | undefined) => void) | undefined;
  let rootToken = '';

  before(async () => {
    ca = pki.ca('ca');
    otherCa = pki.ca('other-ca');
    clientCa = pki.ca('client-ca');
    srv = pki.issue(ca, 'srv', { san: SAN });
    srv2 = pki.issue(ca, 'srv2', { san: SAN });
    // The files the main listener serves (and reloads on SIGHUP).
    live = { cert: join(pki.dir, 'live.pem'), key: join(pki.dir, 'live.key') };
    copyFileSync(srv.cert, live.cert);
    copyFileSync(srv.key, live.key);
    store = await openTestStore();
    hsm = await Hsm.open({ store, statusOf: statusFor });
    main = await listen({
      hsm,
      log,
      listen: '127.0.0.1:0',
      tls: live,
      onTlsReload: (err) => reloaded?.(err),
    });
  });
  after(async () => {
    await main?.close();
    await hsm?.close();
    pki.destroy();
  });

  it('refuses plain HTTP off loopback unless told, naming the flags; loopback stays plain', async () => {
    await assert.rejects(listen({ hsm, log, listen: '0.0.0.0:0' }), (err: Error) => {
      assert.match(err.message, /refusing to listen on 0\.0\.0\.0 without TLS/);
      assert.match(err.message, /--tls-cert FILE --tls-key FILE/);
      assert.match(err.message, /--insecure-no-tls/);
      return true;
    });
    const open = await listen({ hsm, log, listen: '0.0.0.0:0', insecureNoTls: true });
    try {
      const port = new URL(open.url).port;
      const res = await fetch(`http://127.0.0.1:${port}/v1/sys/health`);
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
      assert.equal(res.headers.get('strict-transport-security'), null, 'no HSTS over plain HTTP');
    } finally {
      await open.close();
    }
    // The CLI says so before it opens any storage.
    const r = await runCli(['server', '--listen', '0.0.0.0:8420']);
    assert.equal(r.code, 1);
    assert.match(
      r.stdout + r.stderr,
      /refusing to listen on 0\.0\.0\.0 without TLS.*--tls-cert FILE --tls-key FILE.*--insecure-no-tls/s,
    );
    const half = await runCli(['server', '--tls-cert', srv.cert]);
    assert.match(half.stdout + half.stderr, /--tls-cert and --tls-key go together/);
    fails(
      await runCli(['server', '--tls-cert', join(pki.dir, 'missing.pem'), '--tls-key', srv.key]),
      'FILE_INVALID',
      /cannot read the TLS certificate \(--tls-cert\) .*missing\.pem: ENOENT/,
    );
    fails(await runCli(['server', '--tls-cert', srv.cert, '--tls-key', srv2.key]), 'FILE_INVALID', /usable pair/);
  });

  it('serves HTTPS that the right CA verifies, with HSTS and nosniff; the wrong CA and no CA fail', async () => {
    assert.match(main.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const res = await get(main.url, '/v1/sys/health', { ca: ca.cert });
    assert.equal(res.status, 501); // not initialized yet
    assert.equal(res.headers['strict-transport-security'], 'max-age=31536000');
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
    assert.equal(res.peer, fingerprintOf(srv.cert));
    // @keyward/client on Node: an undici Agent that trusts the CA, as its `dispatcher`.
    const agent = new Agent({ connect: { ca: readFileSync(ca.cert) } });
    try {
      const health = await new KeywardClient({ baseUrl: main.url, dispatcher: agent }).health();
      assert.equal(health.initialized, false);
      await assert.rejects(new KeywardClient({ baseUrl: main.url }).health(), { code: 'SERVER_UNREACHABLE' });
    } finally {
      await agent.destroy();
    }
    assert.equal(
      await refusal(get(main.url, '/v1/sys/health', { ca: otherCa.cert })),
      'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    );
    // The CLI: no --ca-cert (the system's CAs) and a wrong one both fail, with the hint.
    for (const extra of [[], ['--ca-cert', otherCa.cert]]) {
      fails(
        await runCli(['status', '--addr', main.url, ...extra]),
        'SERVER_UNREACHABLE',
        /UNABLE_TO_VERIFY_LEAF_SIGNATURE.*give its CA with --ca-cert or KEYWARD_CACERT/,
      );
    }
    fails(await runCli(['status', '--addr', main.url, '--ca-cert', join(pki.dir, 'nope.pem')]), 'FILE_UNREADABLE');
    fails(await runCli(['status', '--addr', main.url, '--ca-cert', srv.key]), 'FILE_INVALID', /PEM CA certificate/);
  });

  it('refuses TLS 1.1 and accepts TLS 1.2 (openssl s_client)', async () => {
    const { port } = new URL(main.url);
    // Asynchronously: the server answering the handshake is in this process.
    const s = (args: string[]) =>
      new Promise<{ status: number | null; out: string }>((resolve) => {
        const child = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, ...args]);
        let out = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.stderr.on('data', (d: Buffer) => (out += d.toString()));
        child.on('close', (status) => resolve({ status, out }));
        child.stdin.end();
      });
    // SECLEVEL=0 so the client itself may offer TLS 1.1: the refusal is the server's alert.
    const v11 = await s(['-tls1_1', '-cipher', 'DEFAULT@SECLEVEL=0']);
    assert.notEqual(v11.status, 0);
    assert.match(v11.out, /alert protocol version/);
    const v12 = await s(['-tls1_2', '-CAfile', ca.cert]);
    assert.equal(v12.status, 0, v12.out);
    assert.match(v12.out, /Protocol\s*: TLSv1\.2/);
    assert.match(v12.out, /Verify return code: 0 \(ok\)/);
  });

  it('fails on an expired server certificate', async () => {
    const old = pki.issue(ca, 'expired', { san: SAN, expired: true });
    const expired = await listen({ hsm, log, listen: '127.0.0.1:0', tls: old });
    assert.ok(logs.some((l) => l.includes('the TLS certificate has expired')));
    try {
      assert.equal(await refusal(get(expired.url, '/v1/sys/health', { ca: ca.cert })), 'CERT_HAS_EXPIRED');
      fails(
        await runCli(['status', '--addr', expired.url, '--ca-cert', ca.cert]),
        'SERVER_UNREACHABLE',
        /CERT_HAS_EXPIRED/,
      );
    } finally {
      await expired.close();
    }
  });

  it('runs a whole ceremony (init, unseal) and an encrypt over HTTPS from the CLI with --ca-cert', async () => {
    const files = await writeHolderFiles(join(pki.dir, 'holders'), await makeHolders(['alice']));
    const shards = join(pki.dir, 'shards');
    const init = ok(
      await runCli([
        'ceremony',
        'init',
        '--addr',
        main.url,
        '--ca-cert',
        ca.cert,
        '--holders',
        files.pub('alice'),
        '--threshold',
        '1',
        '--out-dir',
        shards,
        '--root-token-out',
        join(pki.dir, 'root-token'),
        '--json',
      ]),
    );
    assert.equal(init.json().shardFiles.length, 1);
    rootToken = (await readFile(join(pki.dir, 'root-token'), 'utf8')).trim();
    // From here the CA comes from the environment.
    const env = { KEYWARD_ADDR: main.url, KEYWARD_CACERT: ca.cert };
    const unseal = ok(
      await runCli(
        [
          'ceremony',
          'unseal',
          '--key',
          files.key('alice'),
          '--shard',
          join(shards, 'alice.shard'),
          '--passphrase-file',
          files.passFile,
          '--json',
        ],
        env,
      ),
    );
    assert.equal(unseal.json().sealed, false);
    const authed = { ...env, KEYWARD_TOKEN: rootToken };
    ok(await runCli(['key', 'create', 'orders', '--type', 'aes256-gcm'], authed));
    const ct = ok(
      await runCli(['encrypt', '--key', 'orders', '--in', '-'], authed, { stdin: 'card 4111' }),
    ).stdout.trim();
    assert.match(ct, /^kw:v1:/);
    assert.equal(ok(await runCli(['decrypt', '--key', 'orders', '--text', ct], authed)).stdout, 'card 4111');
  });

  it('requires a client certificate from --tls-client-ca, and its subject reaches the policies', async () => {
    assert.ok(rootToken, 'needs the ceremony above');
    const alice = pki.issue(clientCa, 'alice', { client: true, subject: '/O=Example/CN=alice' });
    const bob = pki.issue(clientCa, 'bob', { client: true, subject: '/O=Example/CN=bob' });
    const stranger = pki.issue(otherCa, 'stranger', { client: true, subject: '/CN=alice' });
    // A policy that lets auth.whoami through only for CN=alice's certificate.
    const wasm = await compileFixture('tls-client');
    const { sha256 } = await hsm.policies.push(wasm, 'tls-client', 'test');
    await hsm.policies.activate(sha256, 'global', undefined, 'test');
    const mtls = await listen({ hsm, log, listen: '127.0.0.1:0', tls: { ...srv, clientCa: clientCa.cert } });
    try {
      const mine = await get(mtls.url, '/v1/auth/whoami', { ca: ca.cert, client: alice, token: rootToken });
      assert.equal(mine.status, 200, JSON.stringify(mine.body));
      const theirs = await get(mtls.url, '/v1/auth/whoami', { ca: ca.cert, client: bob, token: rootToken });
      assertError(theirs, 403, 'POLICY_DENIED', /saw O=Example, CN=bob/);
      // The main listener asks for no certificate: the policy sees none.
      const none = await get(main.url, '/v1/auth/whoami', { ca: ca.cert, token: rootToken });
      assertError(none, 403, 'POLICY_DENIED', /saw none/);
      // No certificate, or one another CA signed: the handshake fails, nothing reaches a route.
      assert.match(
        await refusal(get(mtls.url, '/v1/sys/health', { ca: ca.cert })),
        /CERTIFICATE_REQUIRED|ECONNRESET|EPIPE/,
      );
      assert.match(
        await refusal(get(mtls.url, '/v1/sys/health', { ca: ca.cert, client: stranger })),
        /UNKNOWN_CA|ECONNRESET|EPIPE/,
      );
      // A request's own attributes cannot pose as the connection's.
      await assert.rejects(
        hsm.request(
          { bearer: rootToken, operation: 'auth.whoami', attributes: { 'tls.client.cn': 'alice' }, transport: {} },
          async () => 1,
        ),
        /saw none/,
      );
    } finally {
      await mtls.close();
      await hsm.policies.deactivate(sha256, 'global', undefined);
    }
  });

  it('reloads the certificate on SIGHUP without closing the listener; a broken pair keeps the old one', async () => {
    const next = () => new Promise<Error | undefined>((resolve) => (reloaded = resolve));
    assert.equal((await get(main.url, '/v1/sys/health', { ca: ca.cert })).peer, fingerprintOf(srv.cert));
    copyFileSync(srv2.cert, live.cert);
    copyFileSync(srv2.key, live.key);
    let done = next();
    process.kill(process.pid, 'SIGHUP');
    assert.equal(await done, undefined);
    assert.equal((await get(main.url, '/v1/sys/health', { ca: ca.cert })).peer, fingerprintOf(srv2.cert));
    // A key that is not the certificate's: refused, logged, and srv2 goes on serving.
    copyFileSync(srv.cert, live.cert);
    done = next();
    process.kill(process.pid, 'SIGHUP');
    assert.match(String(await done), /usable pair/);
    assert.ok(logs.some((l) => l.includes('TLS reload failed; the previous certificate stays in use')));
    assert.equal((await get(main.url, '/v1/sys/health', { ca: ca.cert })).peer, fingerprintOf(srv2.cert));
  });
});
