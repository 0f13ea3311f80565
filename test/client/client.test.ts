/**
 * @keyward/client against a real server: the byte helpers round-trip (and interoperate with
 * node:crypto), server errors keep their status and code, transport failures and timeouts have
 * their own codes, a parked request is a value that approval polling and execution complete, and
 * audit records page to the same leaves the database holds.
 */
import assert from 'node:assert/strict';
import { createPublicKey, randomBytes, verify as nodeVerify } from 'node:crypto';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { KeywardApiError, KeywardClient, fromBase64, isParked, toBase64 } from '@keyward/client';
import type { Parked } from '@keyward/client';
import { issueToken } from '../../engine/auth/tokens.js';
import { devBootstrap } from '../../engine/dev.js';
import { compileFixture } from '../engine/policy/helpers.js';
import { approverTokens, completeApproval } from '../helpers/approvals.js';
import { startTestServer } from '../helpers/server.js';
import type { TestServer } from '../helpers/server.js';

async function rejectsWith(p: Promise<unknown>, status: number, code: string): Promise<KeywardApiError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof KeywardApiError, `expected a KeywardApiError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.equal(err.status, status, err.message);
    return err;
  }
  assert.fail(`expected ${code}, got a result`);
}

function assertParked(r: unknown): asserts r is Parked {
  assert.ok(isParked(r), `expected a parked request, got ${JSON.stringify(r)}`);
}

function notParked<T>(r: T | Parked): T {
  assert.ok(!isParked(r), `expected a result, got parked ${JSON.stringify(r)}`);
  return r as T;
}

/** A loopback HTTP server answering every request with `handler` (for what Keyward never does). */
async function fakeServer(
  handler: Parameters<typeof createServer>[1],
): Promise<{ url: string; close(): Promise<void> }> {
  const srv: Server = createServer(handler);
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => (srv.closeAllConnections(), srv.close(() => resolve()))),
  };
}

describe('@keyward/client', { timeout: 120_000 }, () => {
  let s: TestServer;
  let root: KeywardClient;
  let app: KeywardClient;
  let operator: KeywardClient;
  const tokens = new Map<KeywardClient, string>();
  const tokenOf = (c: KeywardClient) => tokens.get(c)!;

  before(async () => {
    s = await startTestServer();
    const { rootToken } = await devBootstrap(s.hsm);
    const now = new Date();
    root = new KeywardClient({ baseUrl: s.url, token: rootToken });
    app = new KeywardClient({
      baseUrl: s.url,
      token: (await issueToken(s.hsm.store.db, { principal: 'svc', roles: ['app'], now })).token,
    });
    const opToken = (await issueToken(s.hsm.store.db, { principal: 'op-1', roles: ['operator'], now })).token;
    operator = new KeywardClient({ baseUrl: s.url, token: opToken });
    tokens.set(operator, opToken);
  });
  after(() => s.close());

  describe('bytes in, bytes out', () => {
    it('creates a key, encrypts and decrypts arbitrary bytes with associated data', async () => {
      const key = notParked(await root.createKey('orders', 'aes256-gcm', { labels: { team: 'payments' } }));
      assert.equal(key.type, 'aes256-gcm');
      assert.equal(key.latestVersion, 1);
      // Every byte value, an empty message and one that isn't a multiple of 3 (base64 padding).
      for (const plaintext of [
        Uint8Array.from({ length: 256 }, (_, i) => i),
        new Uint8Array(0),
        randomBytes(100_001),
      ]) {
        const aad = new TextEncoder().encode('order-42');
        const { ciphertext, keyVersion } = notParked(await app.encrypt('orders', plaintext, { aad }));
        assert.match(ciphertext, /^kw:v1:/);
        assert.equal(keyVersion, 1);
        const { plaintext: back } = notParked(await app.decrypt('orders', ciphertext, { aad }));
        assert.ok(back instanceof Uint8Array);
        assert.deepEqual(Buffer.from(back), Buffer.from(plaintext));
        await rejectsWith(
          app.decrypt('orders', ciphertext, { aad: new TextEncoder().encode('order-43') }),
          400,
          'DECRYPTION_FAILED',
        );
      }
    });

    it('signs bytes with a signature node:crypto verifies, and verifies valid and altered messages', async () => {
      notParked(await root.createKey('release', 'ed25519'));
      const message = new TextEncoder().encode('release v1.2.3');
      const { signature, keyVersion } = notParked(await app.sign('release', message));
      assert.equal(keyVersion, 1);
      const pub = notParked(
        await app.get('/v1/keys/{name}/public', { params: { path: { name: 'release' }, query: { format: 'pem' } } }),
      );
      assert.equal(pub.format, 'pem');
      const raw = fromBase64(signature.replace(/^kw:v1:/, ''), 'signature');
      assert.ok(
        nodeVerify(null, message, createPublicKey(pub.publicKey as string), raw),
        'node:crypto rejects the signature',
      );
      assert.deepEqual(notParked(await app.verify('release', message, signature)), { valid: true });
      assert.deepEqual(notParked(await app.verify('release', new TextEncoder().encode('release v1.2.4'), signature)), {
        valid: false,
      });
    });

    it('passes ECDSA encoding and a prehashed digest through', async () => {
      notParked(await root.createKey('p256', 'ecdsa-p256'));
      const digest = new Uint8Array(32).fill(7);
      const { signature } = notParked(await app.sign('p256', digest, { prehashed: true, encoding: 'p1363' }));
      // P1363: r || s, 64 bytes for P-256 (a DER signature would be 70-72 bytes and start with 0x30).
      assert.equal(fromBase64(signature.replace(/^kw:v1:/, '')).length, 64);
      assert.deepEqual(notParked(await app.verify('p256', digest, signature, { prehashed: true, encoding: 'p1363' })), {
        valid: true,
      });
    });

    it('base64 helpers are strict', () => {
      assert.equal(toBase64(new Uint8Array([0xfb, 0xff])), '+/8=');
      assert.deepEqual(fromBase64('+/8='), new Uint8Array([0xfb, 0xff]));
      for (const bad of ['+/8', '-_8=', ' +/8=', '+/8=\n']) assert.throws(() => fromBase64(bad), TypeError);
    });
  });

  describe('errors', () => {
    it('401 without a valid token, with the server code', async () => {
      const anonymous = new KeywardClient({ baseUrl: s.url });
      await rejectsWith(anonymous.encrypt('orders', new Uint8Array(1)), 401, 'UNAUTHENTICATED');
      const forged = new KeywardClient({ baseUrl: s.url, token: `kwt_${'A'.repeat(43)}` });
      await rejectsWith(forged.get('/v1/auth/whoami'), 401, 'UNAUTHENTICATED');
    });

    it('403 when the policies deny, 404 for a missing key, 400 for a bad body', async () => {
      const denied = await rejectsWith(app.createKey('not-mine', 'aes256-gcm'), 403, 'POLICY_DENIED');
      assert.match(denied.message, /key\.create/);
      await rejectsWith(app.encrypt('no-such-key', new Uint8Array(1)), 404, 'KEY_NOT_FOUND');
      await rejectsWith(root.get('/v1/keys', { params: { query: { limit: 0 } } }), 400, 'VALIDATION_FAILED');
    });

    it('a connection refused is SERVER_UNREACHABLE (status 0)', async () => {
      const gone = await fakeServer(() => {});
      await gone.close();
      const err = await rejectsWith(
        new KeywardClient({ baseUrl: gone.url }).get('/v1/sys/seal-status'),
        0,
        'SERVER_UNREACHABLE',
      );
      assert.match(err.message, /ECONNREFUSED/);
    });

    it('a server that does not answer within timeoutMs is TIMEOUT, and a caller abort stays theirs', async () => {
      const silent = await fakeServer(() => {}); // never responds
      try {
        const started = Date.now();
        const err = await rejectsWith(
          new KeywardClient({ baseUrl: silent.url, timeoutMs: 150 }).get('/v1/sys/seal-status'),
          0,
          'TIMEOUT',
        );
        assert.match(err.message, /150 ms/);
        assert.ok(Date.now() - started < 5000);
        const ctl = new AbortController();
        const p = new KeywardClient({ baseUrl: silent.url, timeoutMs: 10_000 }).get('/v1/sys/seal-status', {
          signal: ctl.signal,
        });
        setTimeout(() => ctl.abort(), 50);
        await assert.rejects(p, (e: Error) => e.name === 'AbortError');
      } finally {
        await silent.close();
      }
    });

    it('a body that is not the API JSON: BAD_RESPONSE on success, HTTP_<status> on error', async () => {
      const proxy = await fakeServer((req, res) => {
        if (req.url === '/v1/sys/seal-status')
          res.writeHead(200, { 'content-type': 'text/html' }).end('<html>hi</html>');
        else res.writeHead(502, { 'content-type': 'text/html' }).end('<html>bad gateway</html>');
      });
      try {
        const kw = new KeywardClient({ baseUrl: proxy.url });
        await rejectsWith(kw.get('/v1/sys/seal-status'), 200, 'BAD_RESPONSE');
        await rejectsWith(kw.get('/v1/sys/rekey'), 502, 'HTTP_502');
      } finally {
        await proxy.close();
      }
    });

    it('health() answers for an unsealed and an uninitialized server alike (200, 501), where get() throws on 501', async () => {
      const up = await root.health();
      assert.deepEqual([up.initialized, up.sealed], [true, false]);
      const fresh = await startTestServer();
      try {
        const kw = new KeywardClient({ baseUrl: fresh.url });
        const h = await kw.health();
        assert.deepEqual([h.initialized, h.sealed], [false, true]);
        await rejectsWith(kw.get('/v1/sys/health'), 501, 'HTTP_501');
      } finally {
        await fresh.close();
      }
    });

    it('rejects a base URL that is not http(s) and a negative timeout as programmer errors', () => {
      assert.throws(() => new KeywardClient({ baseUrl: 'not a url' }), TypeError);
      assert.throws(() => new KeywardClient({ baseUrl: 'ftp://example.com' }), TypeError);
      assert.throws(() => new KeywardClient({ baseUrl: s.url, timeoutMs: -1 }), TypeError);
    });

    it('keeps a base URL path prefix', async () => {
      const seen: string[] = [];
      const proxy = await fakeServer((req, res) => {
        seen.push(req.url!);
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"started":false}');
      });
      try {
        await new KeywardClient({ baseUrl: `${proxy.url}/keyward/` }).get('/v1/sys/rekey');
        assert.deepEqual(seen, ['/keyward/v1/sys/rekey']);
      } finally {
        await proxy.close();
      }
    });
  });

  describe('a parked request is a value', () => {
    it('key deletion parks; two approvals, waitForApproval resolves, executeApproval runs it with the same body', async () => {
      notParked(await root.createKey('retired', 'aes256-gcm'));
      notParked(
        await root.post('/v1/keys/{name}/config', {
          params: { path: { name: 'retired' } },
          body: { deletionAllowed: true },
        }),
      );
      const r = await operator.delete('/v1/keys/{name}', { params: { path: { name: 'retired' } } });
      assertParked(r);
      assert.match(r.parked.approvalId, /^apr_[0-9a-f]{32}$/);
      assert.equal(r.parked.required, 2);
      assert.equal(r.parked.group, 'operator');
      assert.ok(Date.parse(r.parked.expiresAt) > Date.now());
      assert.equal('body' in r.parked, false, 'the parked value holds no copy of the request');

      // Nobody approved yet: the wait gives up with its own code.
      await rejectsWith(
        operator.waitForApproval(r.parked.approvalId, { interval: 20, timeout: 100 }),
        0,
        'APPROVAL_WAIT_TIMEOUT',
      );

      const waiting = operator.waitForApproval(r.parked.approvalId, { interval: 20, timeout: 20_000 });
      for (const token of await approverTokens(s.hsm.store.db)) {
        await new KeywardClient({ baseUrl: s.url, token }).post('/v1/approvals/{id}/approve', {
          params: { path: { id: r.parked.approvalId } },
          body: {},
        });
      }
      const ready = await waiting;
      assert.equal(ready.state, 'pending');
      assert.equal(ready.approvals, 2);
      assert.deepEqual(ready.approvedBy.length, 2);

      const done = await operator.executeApproval(r);
      assert.equal(done.name, 'retired');
      assert.equal(typeof done.deleteAfter, 'string');
      const final = await operator.waitForApproval(r.parked.approvalId, { interval: 20, timeout: 5000 });
      assert.equal(final.state, 'executed');
    });

    it('execution runs the body the server kept; another body is refused (policy activation)', async () => {
      const { policies } = notParked(await root.get('/v1/policies'));
      const hash = policies[0]!.sha256;
      notParked(await root.createKey('bound', 'aes256-gcm'));
      const r = await operator.post('/v1/policies/{hash}/activate', {
        params: { path: { hash } },
        body: { scope: 'key', key: 'bound' },
      });
      assertParked(r);
      // Executing with another body is refused, and doesn't use the approval up.
      for (const token of await approverTokens(s.hsm.store.db)) {
        await new KeywardClient({ baseUrl: s.url, token }).post('/v1/approvals/{id}/approve', {
          params: { path: { id: r.parked.approvalId } },
          body: {},
        });
      }
      await rejectsWith(
        operator.executeApproval(r.parked.approvalId, { scope: 'global' }),
        409,
        'APPROVAL_DIGEST_MISMATCH',
      );
      const done = await operator.executeApproval(r);
      assert.equal(done.scope, 'key');
      assert.equal(done.key, 'bound');
    });

    it('a denied approval ends the wait with state denied', async () => {
      notParked(await root.createKey('kept', 'aes256-gcm'));
      notParked(
        await root.post('/v1/keys/{name}/config', {
          params: { path: { name: 'kept' } },
          body: { deletionAllowed: true },
        }),
      );
      const r = await operator.delete('/v1/keys/{name}', { params: { path: { name: 'kept' } } });
      assertParked(r);
      const [denier] = await approverTokens(s.hsm.store.db, 1);
      await new KeywardClient({ baseUrl: s.url, token: denier }).post('/v1/approvals/{id}/deny', {
        params: { path: { id: r.parked.approvalId } },
        body: { reason: 'still in use' },
      });
      const final = await operator.waitForApproval(r.parked.approvalId, { interval: 20, timeout: 5000 });
      assert.equal(final.state, 'denied');
      assert.equal(final.denyReason, 'still in use');
    });
  });

  describe('audit', () => {
    it('auditRecords pages through every record in order, and matches an export of the same range', async () => {
      const checkpoint = notParked(await root.get('/v1/audit/checkpoint'));
      const records = [];
      for await (const r of root.auditRecords({ pageSize: 7, to: checkpoint.size })) records.push(r);
      assert.equal(records.length, checkpoint.size);
      records.forEach((r, i) => assert.equal(r.index, i));
      const all = [];
      for await (const r of root.auditRecords({ from: 3, pageSize: 5 })) all.push(r);
      assert.ok(all.length >= checkpoint.size - 3);
      assert.equal(all[0]!.index, 3);

      const bundle = await root.exportAudit({ from: 2, to: 9 });
      assert.equal(bundle.format, 'keyward.audit.attestation/v1');
      assert.deepEqual(bundle.range, { from: 2, to: 9 });
      assert.deepEqual(
        bundle.records,
        records.slice(2, 9).map((r) => r.leaf),
      );
    });

    it('a principal the policies keep out of the audit log gets POLICY_DENIED from the iterator', async () => {
      await rejectsWith(app.auditRecords().next(), 403, 'POLICY_DENIED');
    });
  });

  describe('every helper when a policy parks everything a principal asks (test/fixtures/policies/park-principal.ts)', () => {
    let parker: KeywardClient;

    before(async () => {
      const policy = { wasm: await compileFixture('park-principal') };
      const pushed = notParked(
        await root.post('/v1/policies', { body: { name: 'park-principal', wasm: toBase64(policy.wasm) } }),
      );
      const activation = await s.call('POST', `/v1/policies/${pushed.sha256}/activate`, {
        token: tokenOf(operator),
        body: { scope: 'global' },
      });
      assert.equal((await completeApproval(s, activation, tokenOf(operator), { scope: 'global' })).status, 200);
      notParked(await root.createKey('parked-aes', 'aes256-gcm'));
      notParked(await root.createKey('parked-ed', 'ed25519'));
      parker = new KeywardClient({
        baseUrl: s.url,
        token: (await issueToken(s.hsm.store.db, { principal: 'parker', roles: ['admin'], now: new Date() })).token,
      });
    });

    it('byte helpers resolve to {parked}; executing the parked encrypt gives its ciphertext, which decrypts', async () => {
      const enc = await parker.encrypt('parked-aes', new TextEncoder().encode('hello'), { aad: new Uint8Array([1]) });
      assertParked(enc);
      assert.equal(enc.parked.required, 1);
      assert.equal(
        JSON.stringify(enc).includes(toBase64(new TextEncoder().encode('hello'))),
        false,
        'no plaintext in the parked value',
      );
      assertParked(await parker.decrypt('parked-aes', 'kw:v1:AAAA'));
      assertParked(await parker.sign('parked-ed', new Uint8Array(1)));
      assertParked(await parker.verify('parked-ed', new Uint8Array(1), 'kw:v1:AAAA'));
      assertParked(await parker.createKey('parked-new', 'aes256-gcm'));

      const [approver] = await approverTokens(s.hsm.store.db, 1);
      await new KeywardClient({ baseUrl: s.url, token: approver }).post('/v1/approvals/{id}/approve', {
        params: { path: { id: enc.parked.approvalId } },
        body: {},
      });
      // The policy parks parker's reads of the approval too; an operator may read it.
      assert.equal(
        (await operator.waitForApproval(enc.parked.approvalId, { interval: 20, timeout: 5000 })).approvals,
        1,
      );
      const out = await parker.executeApproval(enc);
      assert.match(String(out.ciphertext), /^kw:v1:/);
      const back = notParked(await root.decrypt('parked-aes', String(out.ciphertext), { aad: new Uint8Array([1]) }));
      assert.equal(new TextDecoder().decode(back.plaintext), 'hello');
    });

    it('the audit helpers, which cannot return a page that did not run, throw APPROVAL_PENDING (202)', async () => {
      const err = await rejectsWith(parker.auditRecords().next(), 202, 'APPROVAL_PENDING');
      assert.match(err.message, /apr_[0-9a-f]{32}/);
      await rejectsWith(parker.exportAudit({ from: 0, to: 1 }), 202, 'APPROVAL_PENDING');
    });
  });
});
