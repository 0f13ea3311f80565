import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { TokenAuthenticator, issueToken } from '../../../engine/auth/tokens.js';
import { KeywardError } from '../../../lib/errors.js';
import { countedDb, type CountedDb } from '../../helpers/counted-db.js';
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

  it('serves only the exact bearer it read: another spelling is looked up, a malformed one refused unread', async () => {
    const now = new Date();
    const t = await issueToken(store.db, { principal: 'svc', roles: ['app'], now });
    const auth = new TokenAuthenticator(store.db, { ttlMs: 60_000 });
    await auth.authenticate(t.token, now);
    assert.equal(auth.cached(t.token, now)?.principal, 'svc');
    for (const near of [t.token.toUpperCase(), t.token.slice(0, -1), t.token + 'A']) {
      assert.equal(auth.cached(near, now), undefined);
      await assert.rejects(auth.authenticate(near, now), unauthenticated);
    }
    for (const bad of [` ${t.token}`, `${t.token} `, `${t.token}\n`]) {
      assert.equal(auth.cached(bad, now), undefined);
      await assert.rejects(
        auth.authenticate(bad, now),
        (err: any) => unauthenticated(err) && /malformed/.test(err.message),
      );
    }
    await auth.revoke(t.tokenId, now);
    assert.equal(auth.cached(t.token, now), undefined);
  });

  it('drops the tokens past their TTL at the next lookup from the database', async () => {
    const now = new Date();
    const a = await issueToken(store.db, { principal: 'a', roles: ['app'], now });
    const b = await issueToken(store.db, { principal: 'b', roles: ['app'], now });
    const auth = new TokenAuthenticator(store.db, { ttlMs: 50 });
    await auth.authenticate(a.token, now);
    await sleep(80);
    await auth.authenticate(b.token, now);
    assert.equal(auth.size, 1);
    assert.equal(auth.cached(b.token, now)?.principal, 'b');
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

  it('does not cache a lookup that was in flight across a seal (clear)', async () => {
    const now = new Date();
    const t = await issueToken(store.db, { principal: 'svc', roles: ['app'], now });
    const auth = new TokenAuthenticator(store.db, { ttlMs: 60_000 });
    const sealed = auth.authenticate(t.token, now);
    auth.clear(); // the seal lands while the lookup awaits the database
    assert.equal((await sealed).principal, 'svc'); // it was valid when read...
    assert.equal(auth.size, 0); // ...but the bearer is not put back after the seal cleared the cache
    assert.equal((await auth.authenticate(t.token, now)).principal, 'svc'); // a lookup after it caches
    assert.equal(auth.size, 1);
  });

  it('drops a bearer about one TTL after its lookup on a node that looks nothing else up (idle)', async () => {
    const now = new Date();
    const t = await issueToken(store.db, { principal: 'svc', roles: ['app'], now });
    const auth = new TokenAuthenticator(store.db, { ttlMs: 40 });
    await auth.authenticate(t.token, now);
    assert.equal(auth.size, 1);
    await sleep(150); // no lookup meanwhile: only the sweeper can drop it
    assert.equal(auth.size, 0);
  });
  // A timeout, so a request that wrongly waits on a held lookup fails the test rather than hanging it.
  describe('one lookup in flight per bearer (single flight)', { timeout: 5000 }, () => {
    let counted: CountedDb;
    const reads = () => counted.reads('tokens');
    before(() => {
      counted = countedDb(store.db);
    });
    /** A new token (principal `svc`) and an authenticator over the counted Db with an empty cache. */
    const fresh = async (opts: { ttlMs?: number; deadlineMs?: number; max?: number } = {}) => {
      const now = new Date();
      const t = await issueToken(store.db, { principal: 'svc', roles: ['app'], now });
      return { now, t, auth: new TokenAuthenticator(counted.db, { ttlMs: 60_000, ...opts }) };
    };
    /** `fresh()`, and a lookup of its token (`early`) that has run but lands only on `release()`. */
    const held = async () => {
      const f = await fresh();
      const { release, ran } = counted.holdNext();
      const early = f.auth.authenticate(f.t.token, f.now);
      await ran; // the lookup has run: what the test does next lands after it
      return { ...f, early, release };
    };

    it('N concurrent misses send one lookup, and all get its principal', async () => {
      const { now, t, auth } = await fresh();
      const before = reads();
      const got = await Promise.all(Array.from({ length: 20 }, () => auth.authenticate(t.token, now)));
      assert.equal(reads() - before, 1);
      assert.ok(got.every((p) => p.principal === 'svc'));
      assert.equal(auth.size, 1);
      assert.equal(auth.inFlight, 0, 'no bearer is held once the lookup settled');
    });

    it("a revocation during a lookup is seen by a later request, and the lookup doesn't re-populate", async () => {
      const { now, t, auth, early, release } = await held();
      await auth.revoke(t.tokenId, now);
      const later = auth.authenticate(t.token, now);
      release(); // had `later` joined the early lookup, it would now get that lookup's principal
      await assert.rejects(later, unauthenticated); // did not join the early lookup
      assert.equal((await early).principal, 'svc'); // it read the row before the revocation
      assert.equal(auth.size, 0);
      assert.equal(auth.inFlight, 0);
    });

    it('a failed lookup reaches all who joined it, is not kept, and the next request looks up again', async () => {
      const now = new Date();
      const unknown = `kwt_${'B'.repeat(43)}`;
      const auth = new TokenAuthenticator(counted.db, { ttlMs: 60_000 });
      const before = reads();
      const bearerFree = (err: any) => unauthenticated(err) && !String(err.message).includes(unknown);
      await Promise.all(Array.from({ length: 5 }, () => assert.rejects(auth.authenticate(unknown, now), bearerFree)));
      assert.equal(reads() - before, 1);
      await assert.rejects(auth.authenticate(unknown, now), unauthenticated);
      assert.equal(reads() - before, 2);

      const t = await issueToken(store.db, { principal: 'svc', roles: ['app'], now });
      counted.failNext(new KeywardError('STORAGE_UNAVAILABLE', 'storage down (injected)'));
      await Promise.all(
        Array.from({ length: 5 }, () =>
          assert.rejects(auth.authenticate(t.token, now), (e: any) => e.code === 'STORAGE_UNAVAILABLE'),
        ),
      );
      assert.equal(reads() - before, 3);
      assert.equal(auth.size, 0);
      assert.equal((await auth.authenticate(t.token, now)).principal, 'svc');
      assert.equal(reads() - before, 4);
      assert.equal(auth.inFlight, 0);
    });

    it('a lookup landing after seal (clear) caches nothing', async () => {
      const { auth, early, release } = await held();
      auth.clear();
      release();
      assert.equal((await early).principal, 'svc', 'the early request gets what it read');
      assert.equal(auth.size, 0, 'the lookup from before the seal cached nothing');
      assert.equal(auth.inFlight, 0);
    });

    it('a request after seal (clear) does not join the lookup from before it', async () => {
      const { now, t, auth, early, release } = await held();
      auth.clear();
      const before = reads();
      const later = auth.authenticate(t.token, now);
      release();
      await Promise.all([early, later]);
      assert.equal(reads() - before, 1, 'a new lookup');
      assert.equal(auth.size, 1); // only the lookup after the seal cached
    });

    it("a joiner checks expiry at its own time: a token expired since the lookup's is refused", async () => {
      const issued = new Date();
      const t = await issueToken(store.db, { principal: 'svc', roles: ['app'], ttlSeconds: 60, now: issued });
      const auth = new TokenAuthenticator(counted.db, { ttlMs: 60_000 });
      const { release } = counted.holdNext();
      const before = reads();
      const leader = auth.authenticate(t.token, issued);
      const joiner = auth.authenticate(t.token, t.expiresAt!); // expired at its own time
      release();
      await assert.rejects(joiner, (e: any) => unauthenticated(e) && e.message === 'token expired');
      assert.equal((await leader).principal, 'svc');
      assert.equal(reads() - before, 1, 'the joiner shared the lookup');
    });

    it('a lookup that never settles fails its joiners at the storage deadline, and the next request looks up again', async () => {
      const { now, t, auth } = await fresh({ deadlineMs: 100 });
      counted.holdNext(); // never released: a database that stopped answering
      const before = reads();
      const start = performance.now();
      await Promise.all(
        Array.from({ length: 5 }, () =>
          assert.rejects(auth.authenticate(t.token, now), (e: any) => e.code === 'STORAGE_UNAVAILABLE'),
        ),
      );
      assert.ok(performance.now() - start < 1000, 'answered at about the deadline');
      assert.equal(reads() - before, 1, 'they shared the one lookup');
      assert.equal(auth.inFlight, 0);
      assert.equal((await auth.authenticate(t.token, now)).principal, 'svc', 'a new lookup, not the stuck one');
      assert.equal(reads() - before, 2);
    });

    it('with no cache (ttlMs 0), a lookup that never settles is still cut at the storage deadline', async () => {
      const { now, t, auth } = await fresh({ ttlMs: 0, deadlineMs: 100 });
      counted.holdNext(); // never released
      const start = performance.now();
      await assert.rejects(auth.authenticate(t.token, now), (e: any) => e.code === 'STORAGE_UNAVAILABLE');
      assert.ok(performance.now() - start < 1000, 'answered at about the deadline');
      assert.equal((await auth.authenticate(t.token, now)).principal, 'svc');
      assert.equal(auth.size, 0, 'nothing cached');
    });

    it('past `max` lookups in flight, a lookup is not shared: it caches when it lands, unless a seal (clear) came first', async () => {
      const { now, t, auth } = await fresh({ max: 1 });
      const other = await issueToken(store.db, { principal: 'other', roles: ['app'], now });
      /** A held lookup of `other` (the one `max` lets others join), then a held one of `t`. */
      const lookupsHeld = async () => {
        const first = counted.holdNext();
        const shared = auth.authenticate(other.token, now);
        await first.ran;
        const second = counted.holdNext();
        const own = auth.authenticate(t.token, now);
        await second.ran;
        assert.equal(auth.inFlight, 1, 'the second lookup is not there to join');
        return { shared, own, first, second };
      };

      let l = await lookupsHeld();
      l.first.release();
      await l.shared;
      l.second.release();
      assert.equal((await l.own).principal, 'svc');
      assert.equal(auth.cached(t.token, now)?.principal, 'svc', 'the lookup no one could join cached');

      auth.clear();
      l = await lookupsHeld();
      auth.clear();
      l.first.release();
      l.second.release();
      await Promise.all([l.shared, l.own]);
      assert.equal(auth.size, 0, 'neither lookup from before the seal cached');
    });
  });
});
