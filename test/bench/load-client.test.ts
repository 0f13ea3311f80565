/**
 * The benches' load generator (bench/helpers/load-client.ts) against real node:http and node:net
 * servers: what it sends, the answers it reads (by length, chunked, in pieces, empty), the connections
 * it keeps and replaces, and the errors it gives instead of hanging.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { IncomingMessage, RequestListener, Server } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import type { AddressInfo, Server as NetServer } from 'node:net';
import { afterEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { LoadClient, loadClient, parseAnswer } from '../../bench/helpers/load-client.js';
import type { Answer } from '../../bench/helpers/load-client.js';
import { Client } from '../../bench/helpers/http.js';

const servers: Array<Server | NetServer> = [];
const clients: Array<{ close(): void }> = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const s of servers.splice(0)) {
    (s as Server).closeAllConnections?.();
    await new Promise((r) => s.close(r));
  }
});

async function serve(handler: RequestListener): Promise<{ url: URL; server: Server; connections: () => number }> {
  const server = createServer(handler);
  let connections = 0;
  server.on('connection', () => connections++);
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
    server,
    connections: () => connections,
  };
}

async function body(req: IncomingMessage): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of req) parts.push(c as Buffer);
  return Buffer.concat(parts).toString('utf8');
}

function client(url: URL, sockets: number, token?: string, timeoutMs?: number): LoadClient {
  const c = new LoadClient(url, sockets, token, timeoutMs);
  clients.push(c);
  return c;
}

// A defect in the client tends to hang a request rather than fail it: bound each test.
describe('LoadClient', { timeout: 10_000 }, () => {
  it('sends method, path, token and body as node:http would; reads each answer; keeps to its sockets', async () => {
    const seen: string[] = [];
    const { url, connections } = await serve(async (req, res) => {
      const text = await body(req);
      seen.push(`${req.method} ${req.url} ${req.headers.authorization} ${req.headers['content-type']} ${text}`);
      await sleep(Math.random() * 5);
      const answer = JSON.stringify({ echo: text, n: seen.length });
      res.writeHead(text === '"shed"' ? 503 : 200, { 'content-type': 'application/json' }).end(answer);
    });
    const c = client(url, 2, 'kwt_abc');
    const payload = Buffer.from('{"plaintext":"aGk="}');
    const answers = await Promise.all(Array.from({ length: 12 }, () => c.send('POST', '/v1/x', payload)));
    for (const a of answers) {
      assert.equal(a.status, 200);
      assert.equal(JSON.parse(a.body.toString('utf8')).echo, '{"plaintext":"aGk="}');
    }
    assert.equal(connections(), 2, 'twelve requests, two at a time, on two keep-alive connections');
    assert.deepEqual(new Set(seen), new Set(['POST /v1/x Bearer kwt_abc application/json {"plaintext":"aGk="}']));
    // Another request on the same client: its own bytes, not the last request's.
    const get = await c.send('GET', '/v1/y', undefined, 'kwt_other');
    assert.equal(get.status, 200);
    assert.equal(seen.at(-1), 'GET /v1/y Bearer kwt_other undefined ');
    await c.send('POST', '/v1/x', payload, 'kwt_third');
    assert.equal(
      seen.at(-1),
      'POST /v1/x Bearer kwt_third application/json {"plaintext":"aGk="}',
      'only the token changed',
    );
    const shed = await c.send('POST', '/v1/x', Buffer.from('"shed"'));
    assert.equal(shed.status, 503, 'a 503 is an answer, not an error');
  });

  it('reads chunked answers, answers that arrive in pieces, and empty ones', async () => {
    const { url } = await serve(async (req, res) => {
      await body(req);
      if (req.url === '/chunked') {
        res.write('{"a":');
        await sleep(10);
        res.write('"' + 'x'.repeat(70_000) + '"');
        await sleep(10);
        res.end('}');
      } else if (req.url === '/empty') res.writeHead(204).end();
      else {
        res.writeHead(200, { 'content-length': 11 });
        res.write('hello ');
        await sleep(10);
        res.end('world');
      }
    });
    const c = client(url, 1);
    const chunked = await c.send('GET', '/chunked');
    assert.equal(JSON.parse(chunked.body.toString('utf8')).a.length, 70_000);
    assert.equal((await c.send('GET', '/pieces')).body.toString('utf8'), 'hello world');
    const empty = await c.send('GET', '/empty');
    assert.equal(empty.status, 204);
    assert.equal(empty.body.length, 0);
    assert.equal((await c.send('GET', '/pieces')).body.toString('utf8'), 'hello world', 'the connection still reads');
  });

  it('replaces a connection the server closed: an idle one (its keep-alive timeout), or by Connection: close', async () => {
    const { url, server, connections } = await serve((req, res) => {
      res.setHeader('content-type', 'text/plain');
      if (req.url === '/close') res.setHeader('connection', 'close');
      res.end('ok');
    });
    const c = client(url, 1);
    assert.equal((await c.send('GET', '/')).status, 200);
    server.closeIdleConnections(); // what its keep-alive timeout does, without waiting for it
    await sleep(50);
    assert.equal((await c.send('GET', '/')).status, 200, 'after the server closed the idle connection');
    assert.equal(connections(), 2);
    assert.equal((await c.send('GET', '/close')).status, 200);
    assert.equal((await c.send('GET', '/')).status, 200, 'after Connection: close');
    assert.equal(connections(), 3);
  });

  it("does not reuse an idle connection within a second of the server's Keep-Alive timeout", async () => {
    const { url, server, connections } = await serve((_req, res) => res.end('ok'));
    server.keepAliveTimeout = 1500; // announced as Keep-Alive: timeout=1
    const c = client(url, 1);
    for (let i = 0; i < 3; i++) assert.equal((await c.send('GET', '/')).status, 200);
    assert.equal(connections(), 3, 'each connection was past its last safe second when the next request came');
  });

  it('reads an answer that ends with the connection (no Content-Length), as the server answers a bad request', async () => {
    const raw = createNetServer((s) =>
      s.once('data', () => s.end('HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\nslow')),
    );
    servers.push(raw);
    raw.listen(0, '127.0.0.1');
    await once(raw, 'listening');
    const c = client(new URL(`http://127.0.0.1:${(raw.address() as AddressInfo).port}`), 1);
    const a = await c.send('GET', '/');
    assert.deepEqual([a.status, a.body.toString()], [408, 'slow']);
    assert.equal((await c.send('GET', '/')).status, 408, 'on a new connection');
  });

  it('sends the next request after a failed one to the server, not into the failed connection', async () => {
    let requests = 0;
    const { url } = await serve(() => void requests++);
    const c = client(url, 1, undefined, 100);
    for (let i = 0; i < 3; i++) await assert.rejects(c.send('GET', '/'), /no answer within 100 ms/);
    assert.equal(requests, 3);
  });

  it('fails a request the server does not answer in time, or answers beyond what was asked', async () => {
    const { url } = await serve(() => {
      /* never answers */
    });
    await assert.rejects(client(url, 1, undefined, 150).send('GET', '/'), /no answer within 150 ms/);

    const raw = createNetServer((s) =>
      s.once('data', () => s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n')),
    );
    servers.push(raw);
    raw.listen(0, '127.0.0.1');
    await once(raw, 'listening');
    const rawUrl = new URL(`http://127.0.0.1:${(raw.address() as AddressInfo).port}`);
    await assert.rejects(client(rawUrl, 1).send('GET', '/'), /bytes beyond the answer/);
  });

  it('rejects what is waiting for a connection when closed', async () => {
    const { url } = await serve(() => {
      /* never answers */
    });
    const c = new LoadClient(url, 1, undefined, 5000);
    const first = c.send('GET', '/a');
    const second = c.send('GET', '/b');
    await sleep(20);
    const failed = [
      assert.rejects(first, /connection closed before its answer/),
      assert.rejects(second, /load client was closed/),
    ];
    c.close();
    await Promise.all(failed);
  });
});

describe('parseAnswer', () => {
  const b = (s: string) => Buffer.from(s, 'latin1');
  it('waits for a whole answer and says how many bytes it used', () => {
    assert.equal(parseAnswer(b('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n')), undefined);
    const head = 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nKeep-Alive: timeout=5\r\n\r\n';
    assert.deepEqual(parseAnswer(b(head + 'abc')), { need: head.length + 5 }, 'how many bytes it needs');
    assert.equal((parseAnswer(b(head + 'abcde')) as Answer).keepAliveMs, 5000);
    const unbounded = 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\nabc';
    assert.equal(parseAnswer(b(unbounded)), undefined, 'no length: complete only when the server has closed');
    const u = parseAnswer(b(unbounded), true) as Answer;
    assert.deepEqual([u.status, u.body.toString(), u.used, u.close], [400, 'abc', unbounded.length, true]);
    const whole = 'HTTP/1.1 201 Created\r\ncontent-length:5\r\nConnection: close\r\n\r\nabcde';
    const a = parseAnswer(b(whole + 'HTTP/1.1')) as Answer;
    assert.deepEqual([a.status, a.body.toString(), a.used, a.close], [201, 'abcde', whole.length, true]);
    const chunked =
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-T: 1\r\n\r\n';
    for (let i = 0; i < chunked.length; i++) assert.equal(parseAnswer(b(chunked.slice(0, i))), undefined, `at ${i}`);
    const c = parseAnswer(b(chunked)) as Answer;
    assert.deepEqual([c.body.toString(), c.used, c.close], ['abcde', chunked.length, false]);
  });

  it('refuses what it does not read, saying what it expected', () => {
    assert.throws(() => parseAnswer(b('SPDY/3 200\r\n\r\n')), /expected an HTTP\/1.x status line/);
    assert.throws(() => parseAnswer(b('HTTP/1.1 100 Continue\r\n\r\n')), /informational answer \(100\)/);
    assert.throws(
      () => parseAnswer(b('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n')),
      /expected a chunk size in hex/,
    );
    assert.throws(() => parseAnswer(b('HTTP/1.1 200 OK\r\n' + 'x'.repeat(70_000))), /exceeded 65536 bytes/);
  });
});

describe('loadClient', () => {
  it('is the raw client, or node:http with --node-http', () => {
    const url = new URL('http://127.0.0.1:1');
    assert.ok(loadClient([], url, 1) instanceof LoadClient);
    assert.ok(loadClient(['--json', '--node-http'], url, 1) instanceof Client);
  });
});
