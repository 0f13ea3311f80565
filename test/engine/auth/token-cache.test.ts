import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { TokenAuthenticator, issueToken } from '../../../engine/auth/tokens.js';
import { openTestStore } from '../../helpers/store.js';
import type { TestStore } from '../../helpers/store.js';

describe('TokenAuthenticator (per-node token cache)', () => {
  let store: TestStore;
  before(async () => {
    store = await openTestStore();
  });
  after(() => store.close());

  const unauthenticated = (err: any) => err.code === 'UNAUTHENTICATED';

  it('serves a valid token, and this node revoking it takes effect at once', async () => {
    const now = new Date();
    const t = await issueToken(store.db, { principal: 'svc', roles: ['app'], now });
    const auth = new TokenAuthenticator(store.db, { ttlMs: 60_000 });
    assert.equal((await auth.authenticate(t.token, now)).principal, 'svc');
    assert.equal((await auth.authenticate(t.token, now)).principal, 'svc'); // cached
    await auth.revoke(t.tokenId, now);
    await assert.rejects(auth.authenticate(t.token, now), unauthenticated);
  });

  it("another node's revocation takes effect within the TTL", async () => {
    const now = new Date();
    const t = await issueToken(store.db, { principal: 'svc', roles: ['app'], now });
    const nodeA = new TokenAuthenticator(store.db, { ttlMs: 100 });
    const nodeB = new TokenAuthenticator(store.db, { ttlMs: 100 });
    await nodeA.authenticate(t.token, now);
    await nodeB.revoke(t.tokenId, now);
    await sleep(150);
    await assert.rejects(nodeA.authenticate(t.token, now), unauthenticated);
  });

  it('checks expiry on every use of a cached token, and never caches unknown tokens', async () => {
    const now = new Date();
    const t = await issueToken(store.db, { principal: 'svc', roles: ['app'], now, ttlSeconds: 60 });
    const auth = new TokenAuthenticator(store.db, { ttlMs: 60_000 });
    await auth.authenticate(t.token, now);
    await assert.rejects(
      auth.authenticate(t.token, new Date(now.getTime() + 61_000)),
      (err: any) => unauthenticated(err) && /expired/.test(err.message),
    );
    const unknown = `kwt_${'A'.repeat(43)}`;
    await assert.rejects(auth.authenticate(unknown, now), unauthenticated);
    await assert.rejects(auth.authenticate(undefined, now), unauthenticated);
    await assert.rejects(auth.authenticate('garbage', now), unauthenticated);
  });

  it('forgets everything on clear (seal)', async () => {
    const now = new Date();
    const t = await issueToken(store.db, { principal: 'svc', roles: ['app'], now });
    const auth = new TokenAuthenticator(store.db, { ttlMs: 60_000 });
    await auth.authenticate(t.token, now);
    await new TokenAuthenticator(store.db).revoke(t.tokenId, now);
    assert.equal((await auth.authenticate(t.token, now)).principal, 'svc'); // still cached
    auth.clear();
    await assert.rejects(auth.authenticate(t.token, now), unauthenticated);
  });
});
