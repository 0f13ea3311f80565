/**
 * Hostile request text (issue 13 item 6): the four inputs a seeded fuzzer turned into 500s, and
 * their neighbours, are refused at the body reader (server/body.ts, lib/json.ts) with a 400 that
 * names the field, on every route: a NUL in a key label or a deny reason (PostgreSQL text cannot
 * store it), arrays nested 2,000 and 10,000 deep in an approval's execute body (stack overflow),
 * a lone surrogate in the audit hash value (not Unicode), bytes that are not UTF-8, and the same in
 * query strings. Nothing of a refused request is stored.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { issueToken } from '../../engine/auth/tokens.js';
import { devBootstrap } from '../../engine/dev.js';
import { startTestServer } from '../helpers/server.js';
import type { TestServer } from '../helpers/server.js';
import { assertError } from '../helpers/wire.js';
import { sendRaw } from '../fuzz/raw-http.js';

const nested = (n: number) => '['.repeat(n) + ']'.repeat(n);

describe('hostile input is refused at the body reader', { timeout: 120_000 }, () => {
  let s: TestServer;
  let root: string;
  let op1: string;
  let op2: string;
  let approvalId: string;

  before(async () => {
    s = await startTestServer();
    root = (await devBootstrap(s.hsm)).rootToken;
    const issue = async (principal: string) =>
      (await issueToken(s.hsm.store.db, { principal, roles: ['operator'], now: new Date() })).token;
    op1 = await issue('op-1');
    op2 = await issue('op-2');
    // A pending approval: op-1 asks to delete a key that allows deletion (dual control parks it).
    assert.equal(
      (await s.call('POST', '/v1/keys', { token: root, body: { name: 'k', type: 'aes256-gcm' } })).status,
      201,
    );
    const cfg = await s.call('POST', '/v1/keys/k/config', { token: root, body: { deletionAllowed: true } });
    assert.equal(cfg.status, 200, JSON.stringify(cfg.body));
    const parked = await s.call('DELETE', '/v1/keys/k', { token: op1 });
    assert.equal(parked.status, 202, JSON.stringify(parked.body));
    approvalId = parked.body.approvalId;
  });
  after(() => s.close());

  it('a NUL in a key label (value or name) is 400 naming the label, and no key is made', async () => {
    assertError(
      await s.call('POST', '/v1/keys', {
        token: root,
        body: { name: 'n1', type: 'aes256-gcm', labels: { a: 'x\u0000y' } },
      }),
      400,
      'VALIDATION_FAILED',
      /^labels\.a: expected text without NUL/,
    );
    assertError(
      await s.call('POST', '/v1/keys', {
        token: root,
        body: { name: 'n1', type: 'aes256-gcm', labels: { 'a\u0000': 'y' } },
      }),
      400,
      'VALIDATION_FAILED',
      /^labels: field name "a\\u0000": expected text without NUL/,
    );
    assertError(await s.call('GET', '/v1/keys/n1', { token: root }), 404, 'KEY_NOT_FOUND');
  });

  it("a NUL in an approval's deny reason is 400 naming `reason`; the approval stays pending", async () => {
    assertError(
      await s.call('POST', `/v1/approvals/${approvalId}/deny`, { token: op2, body: { reason: 'no\u0000pe' } }),
      400,
      'VALIDATION_FAILED',
      /^reason: expected text without NUL/,
    );
    const read = await s.call('GET', `/v1/approvals/${approvalId}`, { token: op2 });
    assert.equal(read.body.state, 'pending', JSON.stringify(read.body));
  });

  for (const depth of [2_000, 10_000]) {
    it(`arrays nested ${depth} deep in an execute body are 400 INVALID_JSON (before parsing)`, async () => {
      assertError(
        await s.call('POST', `/v1/approvals/${approvalId}/execute`, {
          token: op1,
          raw: nested(depth),
          headers: { 'content-type': 'application/json' },
        }),
        400,
        'INVALID_JSON',
        /nested at most 64 levels/,
      );
    });
  }

  it('64 levels are accepted as JSON (the route then judges the shape)', async () => {
    const r = await s.call('POST', '/v1/audit/hash', {
      token: root,
      raw: '{"value":"x","d":' + nested(63) + '}',
      headers: { 'content-type': 'application/json' },
    });
    assertError(r, 400, 'VALIDATION_FAILED', /unknown field "d"/);
  });

  it('a lone surrogate in /v1/audit/hash is 400 naming `value`; a surrogate pair is fine', async () => {
    assertError(
      await s.call('POST', '/v1/audit/hash', {
        token: root,
        raw: '{"value":"\\ud800"}',
        headers: { 'content-type': 'application/json' },
      }),
      400,
      'VALIDATION_FAILED',
      /^value: expected well-formed Unicode/,
    );
    const ok = await s.call('POST', '/v1/audit/hash', { token: root, body: { value: '\ud83d\ude00' } });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
  });

  it('bytes that are not UTF-8 are 400 INVALID_JSON, not silently U+FFFD', async () => {
    assertError(
      await s.call('POST', '/v1/audit/hash', {
        token: root,
        raw: Buffer.concat([Buffer.from('{"value":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]),
        headers: { 'content-type': 'application/json' },
      }),
      400,
      'INVALID_JSON',
      /UTF-8/,
    );
  });

  it('the transit API refuses the same (Vault envelope)', async () => {
    const r = await s.call('POST', '/v1/transit/encrypt/k', {
      token: root,
      raw: '{"plaintext":"aGk=","context":"\\u0000"}',
    });
    assert.equal(r.status, 400, JSON.stringify(r.body));
    assert.match(r.body.errors[0], /^context: expected text without NUL/);
  });

  it('query values with NUL, a lone surrogate or non-UTF-8 percent-encoding are 400 naming the parameter', async () => {
    for (const q of ['after=a%00b', 'after=%ED%A0%80', 'after=%ff']) {
      assertError(await s.call('GET', `/v1/keys?${q}`, { token: root }), 400, 'VALIDATION_FAILED', /after/);
    }
    assert.equal((await s.call('GET', '/v1/keys?after=a', { token: root })).status, 200);
  });

  // Found by the fuzzer (test/fuzz/http.fuzz.ts), each a 500 before its fix.
  it('a method no router knows (TRACE) is 405 METHOD_NOT_ALLOWED, also under /v1/transit (was 501)', async () => {
    // fetch refuses to send TRACE: written on the wire instead.
    const port = Number(new URL(s.url).port);
    const auth: Array<[string, string]> = [['Authorization', `Bearer ${root}`]];
    const ours = await sendRaw(port, { method: 'TRACE', target: '/v1/sys/rotate', headers: auth });
    assert.equal(ours.status, 405, ours.body);
    assert.equal(JSON.parse(ours.body).error.code, 'METHOD_NOT_ALLOWED');
    const vault = await sendRaw(port, { method: 'TRACE', target: '/v1/transit', headers: auth });
    assert.equal(vault.status, 405, vault.body);
  });

  it('a transit batch item whose input is a number is a per-item error, not a 500 (the audit size was NaN)', async () => {
    for (const [path, field] of [
      ['/v1/transit/encrypt/k', 'plaintext'],
      ['/v1/transit/hmac/k', 'input'],
    ]) {
      const r = await s.call('POST', path!, { token: root, body: { batch_input: [{ [field!]: -1e96 }] } });
      assert.ok(r.status < 500, `${path}: ${r.status} ${JSON.stringify(r.body)}`);
    }
  });

  it('transit encrypt to a missing key without a plaintext is 400 and creates no key (Vault checks before its upsert)', async () => {
    const r = await s.call('POST', '/v1/transit/encrypt/fz-upsert', { token: root, body: {} });
    assert.equal(r.status, 400, JSON.stringify(r.body));
    assertError(await s.call('GET', '/v1/keys/fz-upsert', { token: root }), 404, 'KEY_NOT_FOUND');
    const bad = await s.call('POST', '/v1/transit/encrypt/fz-upsert', {
      token: root,
      body: { plaintext: 'not base64!' },
    });
    assert.equal(bad.status, 400, JSON.stringify(bad.body));
    assertError(await s.call('GET', '/v1/keys/fz-upsert', { token: root }), 404, 'KEY_NOT_FOUND');
    const aad = await s.call('POST', '/v1/transit/encrypt/fz-upsert', {
      token: root,
      body: { plaintext: 'aGk=', associated_data: 'not base64!' },
    });
    assert.equal(aad.status, 400, JSON.stringify(aad.body));
    assertError(await s.call('GET', '/v1/keys/fz-upsert', { token: root }), 404, 'KEY_NOT_FOUND');
    const ok = await s.call('POST', '/v1/transit/encrypt/fz-upsert', { token: root, body: { plaintext: 'aGk=' } });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
  });

  it('a transit key name too long for an audit record is 400, not 500', async () => {
    const r = await s.call('POST', `/v1/transit/keys/${'x'.repeat(300)}`, {
      token: root,
      body: { type: 'aes256-gcm96' },
    });
    assert.equal(r.status, 400, JSON.stringify(r.body));
    assert.match(r.body.errors[0], /expected a key name/);
  });

  it('path parameters with traversal, NUL or bad percent-encoding are 4xx, never 5xx', async () => {
    for (const path of [
      '/v1/keys/..%2fsys%2fseal',
      '/v1/keys/a%00b/encrypt',
      '/v1/keys/%ff',
      '/v1/approvals/apr_%00',
      '/v1/policies/..%2f..%2fx/activate',
      '/v1/transit/keys/a%00b',
    ]) {
      const method = path.endsWith('encrypt') || path.endsWith('activate') ? 'POST' : 'GET';
      const r = await s.call(method, path, { token: root, ...(method === 'POST' ? { body: {} } : {}) });
      assert.ok(r.status >= 400 && r.status < 500, `${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
    }
    const del = await s.call('DELETE', '/v1/auth/tokens/a%00b', { token: root });
    assert.ok(del.status >= 400 && del.status < 500, `${del.status} ${JSON.stringify(del.body)}`);
  });
  it('a client that leaves mid-body is logged as 400 REQUEST_ABORTED, not as a storage outage (503), on both request paths', async () => {
    const { hostname, port } = new URL(s.url);
    // The direct path's hot route, then one only Koa serves.
    for (const path of ['/v1/keys/k/encrypt', '/v1/keys']) {
      const seen = s.logs.length;
      const sock = connect(Number(port), hostname);
      await new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject));
      sock.write(
        `POST ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${root}\r\nContent-Type: application/json\r\n` +
          'Content-Length: 500\r\n\r\n{"plaintext":"',
      );
      await sleep(50);
      sock.resetAndDestroy();
      let line: Record<string, unknown> | undefined;
      for (let i = 0; i < 200 && !line; i++) {
        line = s.logs
          .slice(seen)
          .map((l) => JSON.parse(l) as Record<string, unknown>)
          .find(
            (l) =>
              l.msg === 'request' && l.path === path && l.method === 'POST' && l.status !== 200 && l.status !== 201,
          );
        if (!line) await sleep(25);
      }
      assert.ok(line, `no request line for ${path}`);
      assert.equal(line.code, 'REQUEST_ABORTED', JSON.stringify(line));
      assert.equal(line.status, 400);
    }
    assert.equal((await s.call('GET', '/v1/sys/health')).status, 200);
  });
});
