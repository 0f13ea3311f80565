/**
 * The CLI's HTTP client settings (cli/http.ts over @keyward/client): --timeout / KEYWARD_TIMEOUT
 * bound each answer, and a bad value is a usage error before anything is sent; PlainGet, audit
 * verify's GETs over node:http, answers only a complete 200 and leaves the rest to the client.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { KeywardApiError } from '@keyward/client';
import { plainGet } from '../../cli/http.js';
import { runCli } from '../helpers/cli.js';

describe('keyward --timeout (CLI)', { timeout: 60_000 }, () => {
  // A server that accepts connections and never answers.
  const silent = createServer(() => {});
  let addr: string;

  before(async () => {
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    addr = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => (silent.closeAllConnections(), silent.close(() => resolve()))));

  it('gives up after --timeout seconds with TIMEOUT, and reads KEYWARD_TIMEOUT', async () => {
    const started = Date.now();
    const r = await runCli(['status', '--addr', addr, '--timeout', '1', '--json']);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(JSON.parse(r.stderr).error.code, 'TIMEOUT');
    const env = await runCli(['status', '--addr', addr], { KEYWARD_TIMEOUT: '1' });
    assert.equal(env.code, 1);
    assert.match(env.stderr, /^error TIMEOUT: .*within 1000 ms/);
    assert.ok(Date.now() - started < 30_000);
  });

  it('refuses a --timeout that is not a whole number of seconds', async () => {
    const r = await runCli(['status', '--addr', addr, '--timeout', '0.5']);
    assert.equal(r.code, 1);
    assert.match(r.stdout + r.stderr, /Invalid value for --timeout: expected to be an integer \(got 0.5\)/);
  });
});

describe('PlainGet (audit verify over node:http)', { timeout: 30_000 }, () => {
  // One server: /ok answers 200 with what it saw, /fail 500, /denied the API's 401, /parked a
  // parked read, /moved a redirect, /gzip a compressed 200, /huge a 200 announcing 1 PB, /short a
  // body cut before its length, /silent nothing.
  const server = createServer((req, res) => {
    const url = req.url!;
    if (url.includes('/silent')) return;
    if (url.includes('/fail')) return void res.writeHead(500).end('<html>proxy error</html>');
    if (url.includes('/denied'))
      return void res
        .writeHead(401, { 'content-type': 'application/json' })
        .end('{"error":{"code":"UNAUTHENTICATED","message":"expected a valid token"}}');
    if (url.includes('/parked'))
      return void res.writeHead(202, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          approvalId: 'apr_1',
          required: 2,
          group: 'auditors',
          reason: 'r',
          expiresAt: '2026-12-06T00:00:00.000Z',
        }),
      );
    if (url.includes('/moved')) return void res.writeHead(302, { location: '/v1/ok' }).end();
    if (url.includes('/gzip'))
      return void res.writeHead(200, { 'content-encoding': 'gzip', 'content-length': '3' }).end('abc');
    if (url.includes('/huge')) {
      res.writeHead(200, { 'content-length': '999999999999999' });
      return void res.socket!.destroy();
    }
    if (url.includes('/short')) {
      res.writeHead(200, { 'content-length': '100' });
      res.write('{"cut":');
      return void res.socket!.destroy();
    }
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ url, accept: req.headers.accept, auth: req.headers.authorization }));
  });
  let base: string;
  before(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))));

  it('answers a 200 (path prefix, query, token, Accept), in shared memory when asked', async () => {
    const get = await plainGet(`${base}/gw/`, 'kwt_x', 30);
    try {
      const a = await get.get('/v1/ok', { from: 3, limit: 2 }, 'application/x', { shared: true });
      assert.ok(a && a.body.buffer instanceof SharedArrayBuffer);
      assert.equal(a.type, 'application/json');
      assert.deepEqual(JSON.parse(a.body.toString('utf8')), {
        url: '/gw/v1/ok?from=3&limit=2',
        accept: 'application/x',
        auth: 'Bearer kwt_x',
      });
    } finally {
      get.close();
    }
  });

  it('words a 4xx, a 5xx and a parked read as the typed client does (asking again would count twice, or park twice)', async () => {
    const get = await plainGet(base, undefined, 30);
    try {
      await assert.rejects(get.get('/v1/denied', {}, 'application/json'), (e: KeywardApiError) => {
        assert.deepEqual([e.status, e.code, e.message], [401, 'UNAUTHENTICATED', 'expected a valid token']);
        return true;
      });
      await assert.rejects(get.get('/v1/fail', {}, 'application/json'), (e: KeywardApiError) => {
        assert.deepEqual([e.status, e.code, e.message], [500, 'HTTP_500', 'server answered 500']);
        return true;
      });
      await assert.rejects(
        get.get('/v1/parked', {}, 'application/json'),
        /APPROVAL_PENDING|parked for approval apr_1: needs 2 approvals from "auditors"/,
      );
    } finally {
      get.close();
    }
  });

  it('leaves a redirect, a compressed or cut body and a refused connection to the typed client; no answer in time is TIMEOUT', async () => {
    const get = await plainGet(base, undefined, 30);
    try {
      for (const path of ['/v1/moved', '/v1/gzip', '/v1/short', '/v1/huge'])
        assert.equal(await get.get(path, {}, 'application/json', { shared: true }), undefined, path);
      const refused = await plainGet('http://127.0.0.1:1', undefined, 30);
      assert.equal(await refused.get('/v1/ok', {}, 'application/json'), undefined);
      refused.close();
    } finally {
      get.close();
    }
    const quick = await plainGet(base, undefined, 1);
    try {
      await assert.rejects(quick.get('/v1/silent', {}, 'application/json'), (e: KeywardApiError) => {
        assert.equal(e.code, 'TIMEOUT');
        assert.equal(e.message, `GET /v1/silent: no answer from ${base} within 1000 ms`);
        return true;
      });
    } finally {
      quick.close();
    }
  });

  it('rejects a request in flight when closed, and any asked after: nothing goes to the typed client once the command has ended', async () => {
    const get = await plainGet(base, undefined, 30);
    const inFlight = get.get('/v1/silent', {}, 'application/json');
    await new Promise((resolve) => setTimeout(resolve, 50));
    get.close();
    await assert.rejects(inFlight, {
      name: 'AbortError',
      message: 'GET /v1/silent: the command ended before the answer',
    });
    await assert.rejects(get.get('/v1/ok', {}, 'application/json'), { name: 'AbortError' });
  });

  it('checks --addr as the client does', async () => {
    await assert.rejects(plainGet('ftp://x', undefined), /ADDR_INVALID|expected an http\(s\) URL for --addr/);
  });
});
