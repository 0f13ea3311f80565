/**
 * Dev mode takes the root token a user types, as `vault server -dev -dev-root-token-id=root` does
 * (issue 11, defect 3), and `POST /v1/auth/tokens` defaults the TTL (DEFAULT_TOKEN_TTL_SECONDS).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_TOKEN_TTL_SECONDS, hashToken } from '../../engine/auth/tokens.js';
import { devBootstrap } from '../../engine/dev.js';
import { findTokenByHash } from '../../engine/store/index.js';
import { startTestServer } from '../helpers/server.js';
import type { TestServer } from '../helpers/server.js';

describe('dev root token of the user’s choosing; token TTL default', () => {
  let s: TestServer;

  before(async () => {
    s = await startTestServer();
    const dev = await devBootstrap(s.hsm, { rootToken: 'root' });
    assert.equal(dev.rootToken, 'root');
  });
  after(() => s.close());

  it('Authorization: Bearer root authenticates the dev root token (stored as a hash)', async () => {
    for (let i = 0; i < 2; i++) {
      // Twice: the first read fills the token cache, the second is served from it.
      const who = await s.call('GET', '/v1/auth/whoami', { token: 'root' });
      assert.equal(who.status, 200, JSON.stringify(who.body));
      assert.equal(who.body.principal, 'root');
      assert.deepEqual(who.body.roles, ['admin']);
    }
    const row = await findTokenByHash(s.hsm.store.db, hashToken('root'));
    assert.equal(row?.principal, 'root', 'found by its hash, as every other token');
    const key = await s.call('POST', '/v1/keys', { token: 'root', body: { name: 'k', type: 'aes256-gcm' } });
    assert.equal(key.status, 201, 'the root token does admin work');
    for (const wrong of ['roo', 'rootx', 'Root', 'kwt_' + 'A'.repeat(43)]) {
      const r = await s.call('GET', '/v1/auth/whoami', { headers: { authorization: `Bearer ${wrong}` } });
      assert.deepEqual([r.status, r.body?.error?.code], [401, 'UNAUTHENTICATED'], wrong);
    }
  });

  it('devBootstrap refuses a token that cannot travel in an Authorization header', async () => {
    const other = await startTestServer();
    try {
      for (const bad of ['', 'has space', 'tab\there', 'ünïcode', 'x'.repeat(1025)]) {
        await assert.rejects(
          devBootstrap(other.hsm, { rootToken: bad }),
          (e: any) => e.code === 'TOKEN_INVALID',
          JSON.stringify(bad),
        );
      }
    } finally {
      await other.close();
    }
  });

  it('POST /v1/auth/tokens without ttl succeeds and reports the default expiry', async () => {
    const before = Date.now();
    const r = await s.call('POST', '/v1/auth/tokens', { token: 'root', body: { principal: 'svc', roles: ['app'] } });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(DEFAULT_TOKEN_TTL_SECONDS, 24 * 3600);
    const exp = Date.parse(r.body.expiresAt);
    assert.ok(
      exp >= before + DEFAULT_TOKEN_TTL_SECONDS * 1000 - 1000 &&
        exp <= Date.now() + DEFAULT_TOKEN_TTL_SECONDS * 1000 + 1000,
      r.body.expiresAt,
    );
    assert.equal((await s.call('GET', '/v1/auth/whoami', { token: r.body.token })).body.principal, 'svc');
  });
});
