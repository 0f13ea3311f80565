/**
 * The verified client certificate's attributes (server/tls.ts `clientCertAttributes`) are worked out
 * once per TLS connection: requests on one kept-alive connection share them (the same object, the
 * certificate not parsed and hashed again), a new connection with another certificate gets its own,
 * and a connection whose identity is fixed refuses a renegotiation (which could present another
 * certificate behind the cached attributes).
 */
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent, createServer, request } from 'node:https';
import type { Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { clientCertAttributes } from '../../server/tls.js';
import { TestPki } from '../helpers/tls.js';
import type { Pair } from '../helpers/tls.js';

describe('client certificate attributes, once per TLS connection', { timeout: 30_000 }, () => {
  const pki = new TestPki();
  let ca: Pair;
  let alice: Pair;
  let bob: Pair;
  let server: Server;
  let port: number;
  /** What each request saw: its connection and the attributes handed to the pipeline. */
  const seen: { socket: object; attrs: Record<string, string> }[] = [];

  before(async () => {
    ca = pki.ca('ca');
    const srv = pki.issue(ca, 'server', { san: 'IP:127.0.0.1' });
    alice = pki.issue(ca, 'alice', { client: true, subject: '/O=Example/CN=alice' });
    bob = pki.issue(ca, 'bob', { client: true, subject: '/O=Example/CN=bob' });
    server = createServer(
      {
        cert: readFileSync(srv.cert),
        key: readFileSync(srv.key),
        ca: readFileSync(ca.cert),
        requestCert: true,
        rejectUnauthorized: true,
      },
      (req, res) => {
        seen.push({ socket: req.socket, attrs: clientCertAttributes(req.socket) });
        res.end('ok');
      },
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    pki.destroy();
  });

  const get = (agent: Agent): Promise<void> =>
    new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/', agent, ca: readFileSync(ca.cert) }, (res) => {
        res.resume();
        res.on('end', resolve);
      });
      req.on('error', reject);
      req.end();
    });
  const agentFor = (p: Pair) =>
    new Agent({ keepAlive: true, maxSockets: 1, cert: readFileSync(p.cert), key: readFileSync(p.key) });
  const fingerprint = (p: Pair) =>
    createHash('sha256')
      .update(new X509Certificate(readFileSync(p.cert)).raw)
      .digest('hex');

  it('gives two requests on one connection the same attributes, and a new connection its own', async () => {
    seen.length = 0;
    const a = agentFor(alice);
    const b = agentFor(bob);
    try {
      await get(a);
      await get(a);
      await get(b);
    } finally {
      a.destroy();
      b.destroy();
    }
    assert.equal(seen.length, 3);
    const [first, second, third] = seen as [(typeof seen)[0], (typeof seen)[0], (typeof seen)[0]];
    assert.equal(first.socket, second.socket, 'the agent kept the connection alive');
    assert.notEqual(third.socket, first.socket);
    assert.deepEqual(first.attrs, {
      'tls.client.subject': 'O=Example, CN=alice',
      'tls.client.cn': 'alice',
      'tls.client.fingerprint': fingerprint(alice),
    });
    assert.equal(second.attrs, first.attrs, 'worked out once for the connection');
    assert.deepEqual(third.attrs, {
      'tls.client.subject': 'O=Example, CN=bob',
      'tls.client.cn': 'bob',
      'tls.client.fingerprint': fingerprint(bob),
    });
    assert.ok(Object.isFrozen(first.attrs), 'shared by every request of the connection: read-only');
  });

  it('closes a connection that renegotiates after its identity was read', async () => {
    seen.length = 0;
    const socket = connect({
      host: '127.0.0.1',
      port,
      ca: readFileSync(ca.cert),
      cert: readFileSync(alice.cert),
      key: readFileSync(alice.key),
      maxVersion: 'TLSv1.2', // TLS 1.3 has no renegotiation
    });
    const closed = new Promise((resolve) => socket.on('close', resolve));
    socket.on('error', () => undefined);
    await new Promise((resolve) => socket.once('secureConnect', resolve));
    const answered = new Promise((resolve) => socket.once('data', resolve));
    socket.write('GET / HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n');
    await answered;
    assert.equal(seen.length, 1);
    socket.renegotiate({ rejectUnauthorized: true }, () => undefined);
    const outcome = await Promise.race([
      closed.then(() => 'closed'),
      new Promise((resolve) => setTimeout(resolve, 2000, 'still open')),
    ]);
    socket.destroy();
    assert.equal(outcome, 'closed');
    assert.equal(seen.length, 1);
  });
});
