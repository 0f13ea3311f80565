import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { hashToken, issueToken } from '../../engine/auth/tokens.js';
import { devBootstrap } from '../../engine/dev.js';
import { getToken } from '../../engine/store/index.js';
import { runCli } from '../helpers/cli.js';
import { startTestServer } from '../helpers/server.js';
import type { TestServer } from '../helpers/server.js';
import { assertError } from '../helpers/wire.js';

describe('/v1/auth/tokens', () => {
  let s: TestServer;
  let root: string;

  before(async () => {
    s = await startTestServer();
    root = (await devBootstrap(s.hsm)).rootToken;
  });
  after(() => s.close());

  it('creates a token shown once and stored only as a hash; revoking it ends it', async () => {
    const before = Date.now();
    const r = await s.call('POST', '/v1/auth/tokens', {
      token: root,
      body: { principal: 'billing-svc', roles: ['app', 'app'], ttl: '2h' },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.match(r.body.token, /^kwt_[A-Za-z0-9_-]{43}$/);
    assert.match(r.body.tokenId, /^tok_[0-9a-f]{16}$/);
    assert.deepEqual(r.body.roles, ['app']);
    const exp = Date.parse(r.body.expiresAt);
    assert.ok(exp >= before + 7_200_000 - 1000 && exp <= Date.now() + 7_200_000 + 1000);
    const row = (await getToken(s.hsm.store.db, r.body.tokenId))!;
    assert.deepEqual(row.tokenHash, hashToken(r.body.token));
    assert.equal(JSON.stringify(row).includes(r.body.token.slice(4)), false, 'the token itself is not stored');
    const who = await s.call('GET', '/v1/auth/whoami', { token: r.body.token });
    assert.equal(who.body.principal, 'billing-svc');
    assertError(await s.call('POST', '/v1/sys/rotate', { token: r.body.token }), 403, 'POLICY_DENIED');
    const del = await s.call('DELETE', `/v1/auth/tokens/${r.body.tokenId}`, { token: root });
    assert.equal(del.status, 200);
    assertError(await s.call('GET', '/v1/auth/whoami', { token: r.body.token }), 401, 'UNAUTHENTICATED');
  });

  it('a token revoked while cached is refused at once on the data plane, and no near spelling of it is served', async () => {
    assert.equal(
      (await s.call('POST', '/v1/keys', { token: root, body: { name: 'tok-cache', type: 'aes256-gcm' } })).status,
      201,
    );
    const t = await s.call('POST', '/v1/auth/tokens', { token: root, body: { principal: 'cached', roles: ['app'] } });
    const token: string = t.body.token;
    const enc = (bearer: string, path = '/v1/keys/tok-cache/encrypt') =>
      s.call('POST', path, { token: bearer, body: { plaintext: 'AAAA' } });
    assert.equal((await enc(token)).status, 200);
    assert.equal((await enc(token, '/v1/transit/encrypt/tok-cache')).status, 200); // now cached
    // The cache is keyed by the exact bearer: another spelling is looked up (and unknown).
    for (const near of [token.toUpperCase(), token.slice(0, -1), token + 'A', ` ${token}x`])
      assertError(await enc(near), 401, 'UNAUTHENTICATED');
    assert.equal((await s.call('DELETE', `/v1/auth/tokens/${t.body.tokenId}`, { token: root })).status, 200);
    assertError(await enc(token), 401, 'UNAUTHENTICATED');
    const vault = await enc(token, '/v1/transit/encrypt/tok-cache');
    assert.equal(vault.status, 403, JSON.stringify(vault.body)); // Vault's answer to a bad token
    assert.equal(s.logs.join('').includes(token.slice(4)), false, 'the token is never logged');
  });

  it('only admins manage tokens (default policy)', async () => {
    const op = (await issueToken(s.hsm.store.db, { principal: 'op', roles: ['operator'], now: new Date() })).token;
    assertError(
      await s.call('POST', '/v1/auth/tokens', { token: op, body: { principal: 'x', roles: ['admin'], ttl: 60 } }),
      403,
      'POLICY_DENIED',
    );
    assertError(await s.call('DELETE', '/v1/auth/tokens/tok_0123456789abcdef', { token: op }), 403, 'POLICY_DENIED');
  });

  it('an expired token is 401', async () => {
    const t = await issueToken(s.hsm.store.db, {
      principal: 'old',
      roles: ['app'],
      ttlSeconds: 1,
      now: new Date(Date.now() - 60_000),
    });
    const r = await s.call('GET', '/v1/auth/whoami', { token: t.token });
    assertError(r, 401, 'UNAUTHENTICATED');
    assert.match(r.body.error.message, /expired/);
  });

  const bad: Array<[string, unknown, string]> = [
    ['missing principal', { roles: ['app'], ttl: 60 }, 'VALIDATION_FAILED'],
    ['no roles', { principal: 'a', roles: [], ttl: 60 }, 'VALIDATION_FAILED'],
    ['roles not an array', { principal: 'a', roles: 'app', ttl: 60 }, 'VALIDATION_FAILED'],
    ['uppercase role', { principal: 'a', roles: ['Admin'], ttl: 60 }, 'VALIDATION_FAILED'],
    ['ttl zero', { principal: 'a', roles: ['app'], ttl: 0 }, 'VALIDATION_FAILED'],
    ['ttl in years', { principal: 'a', roles: ['app'], ttl: '2y' }, 'VALIDATION_FAILED'],
    ['ttl over a year', { principal: 'a', roles: ['app'], ttl: '400d' }, 'VALIDATION_FAILED'],
    ['ttl fractional', { principal: 'a', roles: ['app'], ttl: 1.5 }, 'VALIDATION_FAILED'],
    ['principal with spaces', { principal: 'a b', roles: ['app'], ttl: 60 }, 'VALIDATION_FAILED'],
    ['unknown field', { principal: 'a', roles: ['app'], ttl: 60, admin: true }, 'VALIDATION_FAILED'],
  ];
  for (const [name, body, code] of bad) {
    it(`create rejects ${name}`, async () => {
      assertError(await s.call('POST', '/v1/auth/tokens', { token: root, body }), 400, code);
    });
  }

  it('revoke rejects malformed and unknown ids', async () => {
    assertError(await s.call('DELETE', '/v1/auth/tokens/not-an-id', { token: root }), 400, 'VALIDATION_FAILED');
    assertError(
      await s.call('DELETE', '/v1/auth/tokens/tok_0123456789abcdef', { token: root }),
      404,
      'TOKEN_NOT_FOUND',
    );
  });

  it('the CLI creates and revokes tokens', async () => {
    const env = { KEYWARD_ADDR: s.url, KEYWARD_TOKEN: root };
    const c = await runCli(
      ['token', 'create', '--principal', 'cli-svc', '--role', 'app', '--role', 'auditor', '--ttl', '15m', '--json'],
      env,
    );
    assert.equal(c.code, 0, c.stderr);
    const t = c.json();
    assert.deepEqual(t.roles, ['app', 'auditor']);
    const w = await runCli(['token', 'whoami', '--json'], { KEYWARD_ADDR: s.url, KEYWARD_TOKEN: t.token });
    assert.equal(w.json().principal, 'cli-svc');
    assert.equal((await runCli(['token', 'revoke', t.tokenId], env)).code, 0);
    const gone = await runCli(['token', 'whoami'], { KEYWARD_ADDR: s.url, KEYWARD_TOKEN: t.token });
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /UNAUTHENTICATED/);
  });
});
