/**
 * The approvals repositories (engine/store/approval-repos.ts): every change out of 'pending' is
 * conditional, so a second deny, claim or grant after the approval moved on changes nothing, and of
 * two racing claims one wins; pages come in commit order, filtered by state and visibility, and a
 * cursor never passes over an approval that commits later (PostgreSQL: two nodes creating, a third
 * paging).
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import {
  addApprovalGrant,
  claimApproval,
  countApprovalGrants,
  denyApproval,
  expireApprovals,
  getApproval,
  getApprovalTarget,
  insertApproval,
  listApprovalGrants,
  listApprovals,
  openStore,
  settleApproval,
} from '../../../engine/store/index.js';
import type { NewApprovalRow } from '../../../engine/store/index.js';
import { availableDrivers, describePostgres, openTestStore, resetTestStore } from '../../helpers/store.js';
import { newApprovalId } from '../../../engine/approvals/rules.js';
import type { TestStore } from '../../helpers/store.js';

const T0 = new Date('2026-03-01T12:00:00.000Z');
const at = (s: number) => new Date(T0.getTime() + s * 1000);
/** A claim's lease (what the service stores; these tests only check the state change). */
const lease = { deadline: at(600), auditFrom: 0 };

function approval(id: string, over: Partial<NewApprovalRow> = {}): Omit<NewApprovalRow, 'seq'> {
  return {
    id,
    requester: 'alice',
    operation: 'key.delete',
    key: 'orders',
    method: 'DELETE',
    path: '/v1/keys/orders',
    requestDigest: 'hmac-sha256:1:AAAA',
    policies: ['a'.repeat(64)],
    required: 2,
    approverGroup: 'security',
    reason: 'two approvals',
    expiresAt: at(60),
    createdAt: T0,
    ...over,
  };
}

for (const driver of availableDrivers()) {
  describe(`approval repositories (${driver})`, () => {
    let store: TestStore;
    // One store for the suite, emptied before each test (resetTestStore), as a new one would be.
    before(async () => {
      store = await openTestStore(driver);
    });
    beforeEach(async () => {
      await resetTestStore(store);
    });
    after(async () => {
      await store.close();
    });

    it('stores an approval and reads it and its target back', async () => {
      await insertApproval(store.db, approval('apr_1'));
      const row = await getApproval(store.db, 'apr_1');
      assert.equal(row?.state, 'pending');
      assert.deepEqual(row?.policies, ['a'.repeat(64)]);
      assert.equal(row?.expiresAt.toISOString(), at(60).toISOString());
      assert.deepEqual(await getApprovalTarget(store.db, 'apr_1'), {
        method: 'DELETE',
        path: '/v1/keys/orders',
        requester: 'alice',
      });
      assert.equal(await getApproval(store.db, 'apr_2'), undefined);
      assert.equal(await getApprovalTarget(store.db, 'apr_2'), undefined);
    });

    it('expires only pending approvals that are due, once', async () => {
      await insertApproval(store.db, approval('apr_due', { expiresAt: at(10) }));
      await insertApproval(store.db, approval('apr_edge', { expiresAt: at(20) }));
      await insertApproval(store.db, approval('apr_later', { expiresAt: at(30) }));
      await insertApproval(store.db, approval('apr_denied', { expiresAt: at(10), state: 'denied' }));
      const expired = await expireApprovals(store.db, at(20));
      assert.deepEqual(expired.map((r) => r.id).sort(), ['apr_due', 'apr_edge']);
      assert.ok(expired.every((r) => r.state === 'expired' && r.finishedAt?.getTime() === at(20).getTime()));
      assert.deepEqual(await expireApprovals(store.db, at(20)), []);
      assert.equal((await getApproval(store.db, 'apr_later'))?.state, 'pending');
      assert.equal((await getApproval(store.db, 'apr_denied'))?.state, 'denied');
    });

    it('counts each principal once, and only while pending and unexpired', async () => {
      await insertApproval(store.db, approval('apr_1'));
      assert.equal(await addApprovalGrant(store.db, 'apr_1', 'bob', at(1)), true);
      assert.equal(await addApprovalGrant(store.db, 'apr_1', 'bob', at(2)), false, 'a second grant by bob');
      assert.equal(await addApprovalGrant(store.db, 'apr_1', 'carol', at(2)), true);
      assert.equal(await addApprovalGrant(store.db, 'apr_1', 'dave', at(60)), false, 'at the expiry');
      assert.equal(await addApprovalGrant(store.db, 'apr_none', 'dave', at(1)), false, 'no such approval');
      assert.equal(await countApprovalGrants(store.db, 'apr_1'), 2);
      assert.deepEqual(await listApprovalGrants(store.db, ['apr_1', 'apr_none']), [
        { approvalId: 'apr_1', principal: 'bob' },
        { approvalId: 'apr_1', principal: 'carol' },
      ]);
      assert.deepEqual(await listApprovalGrants(store.db, []), []);
      assert.ok(await claimApproval(store.db, 'apr_1', at(3), lease));
      assert.equal(await addApprovalGrant(store.db, 'apr_1', 'erin', at(4)), false, 'after the claim');
    });

    it('denies a pending approval once; a denied one can be neither claimed nor granted', async () => {
      await insertApproval(store.db, approval('apr_1'));
      const denied = await denyApproval(store.db, 'apr_1', { by: 'bob', reason: 'no', now: at(5) });
      assert.equal(denied?.state, 'denied');
      assert.equal(denied?.deniedBy, 'bob');
      assert.equal(denied?.denyReason, 'no');
      assert.equal(await denyApproval(store.db, 'apr_1', { by: 'carol', reason: null, now: at(6) }), undefined);
      assert.equal(await claimApproval(store.db, 'apr_1', at(6), lease), false);
      assert.equal(await addApprovalGrant(store.db, 'apr_1', 'carol', at(6)), false);
      await insertApproval(store.db, approval('apr_2', { expiresAt: at(5) }));
      assert.equal(
        await denyApproval(store.db, 'apr_2', { by: 'bob', reason: null, now: at(5) }),
        undefined,
        'expired by time',
      );
    });

    it('of two racing claims exactly one wins; settle ends only an executing approval', async () => {
      await insertApproval(store.db, approval('apr_1'));
      const wins = await Promise.all([
        claimApproval(store.db, 'apr_1', at(1), lease),
        claimApproval(store.db, 'apr_1', at(1), lease),
      ]);
      assert.deepEqual(wins.sort(), [false, true]);
      await settleApproval(store.db, 'apr_1', { status: 500, code: 'CRYPTO_FAILED', now: at(2) });
      let row = await getApproval(store.db, 'apr_1');
      assert.deepEqual([row?.state, row?.resultStatus, row?.resultCode], ['failed', 500, 'CRYPTO_FAILED']);
      await settleApproval(store.db, 'apr_1', { status: 200, code: null, now: at(3) });
      row = await getApproval(store.db, 'apr_1');
      assert.equal(row?.state, 'failed', 'a settled approval stays settled');
      await insertApproval(store.db, approval('apr_2'));
      await settleApproval(store.db, 'apr_2', { status: 200, code: null, now: at(3) });
      assert.equal((await getApproval(store.db, 'apr_2'))?.state, 'pending', 'settle needs a claim first');
      assert.equal(await claimApproval(store.db, 'apr_2', at(60), lease), false, 'no claim at the expiry');
      assert.ok(await claimApproval(store.db, 'apr_2', at(59), lease));
      await settleApproval(store.db, 'apr_2', { status: 200, code: null, now: at(60) });
      assert.equal((await getApproval(store.db, 'apr_2'))?.state, 'executed');
    });

    it('pages in commit order, not id order, by state and by visibility', async () => {
      const ids = ['apr_a', 'apr_B', 'apr__', 'apr_b'];
      for (const [i, id] of ids.entries()) {
        await insertApproval(
          store.db,
          approval(id, { requester: i % 2 ? 'alice' : 'bob', approverGroup: i < 2 ? 'security' : 'ops' }),
        );
      }
      await denyApproval(store.db, 'apr_b', { by: 'x', reason: null, now: at(1) });
      const page = async (q: Parameters<typeof listApprovals>[1]) =>
        (await listApprovals(store.db, q)).map((r) => r.id);
      assert.deepEqual(await page({ limit: 10 }), ['apr_a', 'apr_B', 'apr__', 'apr_b']);
      assert.deepEqual(await page({ limit: 2 }), ['apr_a', 'apr_B']);
      assert.deepEqual(await page({ limit: 10, after: 'apr_B' }), ['apr__', 'apr_b']);
      // A cursor naming no approval: from the earliest committed of those whose id sorts after it in
      // bytes ('Z' < '_' < 'a'), nothing passed over.
      assert.deepEqual(await page({ limit: 10, after: 'apr_Z' }), ['apr_a', 'apr_B', 'apr__', 'apr_b']);
      assert.deepEqual(await page({ limit: 10, after: 'apr_c' }), []);
      assert.deepEqual(await page({ limit: 10, state: 'denied' }), ['apr_b']);
      // alice requested apr_B and apr_b; 'ops' approves apr__ and apr_b.
      assert.deepEqual(await page({ limit: 10, visibleTo: { principal: 'alice', roles: [] } }), ['apr_B', 'apr_b']);
      assert.deepEqual(await page({ limit: 10, visibleTo: { principal: 'carol', roles: ['ops'] } }), [
        'apr__',
        'apr_b',
      ]);
      assert.deepEqual(await page({ limit: 10, visibleTo: { principal: 'alice', roles: ['ops'] } }), [
        'apr_B',
        'apr__',
        'apr_b',
      ]);
      assert.deepEqual(await page({ limit: 10, visibleTo: { principal: 'zed', roles: ['other'] } }), []);
    });
  });
}

describePostgres('approval list cursor across nodes (postgres)', { timeout: 60_000 }, () => {
  let stores: TestStore[] = [];
  before(async () => {
    const first = await openTestStore('postgres');
    stores = [first, await openStore({ databaseUrl: first.url! }), await openStore({ databaseUrl: first.url! })];
  });
  after(async () => {
    for (const s of stores.slice(1).reverse()) await s.close();
    await stores[0]?.close();
  });

  /** Every approval a pager sees, paging by cursor (limit 3) until `done()` and a page comes back empty. */
  async function pageAll(db: TestStore['db'], done: () => boolean): Promise<string[]> {
    const seen: string[] = [];
    let after: string | undefined;
    for (;;) {
      const finished = done();
      const page = await listApprovals(db, { limit: 3, after });
      seen.push(...page.map((r) => r.id));
      if (page.length) after = page[page.length - 1]!.id;
      else if (finished) return seen;
      else await new Promise((r) => setTimeout(r, 1));
    }
  }

  it('an approval with an older id committing after a newer one is not passed over', async () => {
    const [a, b, c] = stores as [TestStore, TestStore, TestStore];
    // Node A's clock is a second behind B's: its id sorts first, but it commits last.
    const older = newApprovalId(at(0));
    const newer = newApprovalId(at(1));
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let inserted!: () => void;
    const aInserted = new Promise<void>((r) => (inserted = r));
    const aTx = a.db.transaction(async (tx) => {
      await insertApproval(tx, approval(older));
      inserted();
      await held;
    });
    await aInserted;
    const bDone = insertApproval(b.db, approval(newer));
    // B commits at once, or waits for A's commit (the order lock); the pager pages meanwhile.
    await Promise.race([bDone, new Promise((r) => setTimeout(r, 200))]);
    const early = (await listApprovals(c.db, { limit: 10 })).map((r) => r.id);
    release();
    await aTx;
    await bDone;
    const cursor = early.at(-1);
    const rest = (await listApprovals(c.db, { limit: 10, ...(cursor ? { after: cursor } : {}) })).map((r) => r.id);
    assert.deepEqual([...early, ...rest].sort(), [older, newer].sort(), `pages ${JSON.stringify([early, rest])}`);
  });

  it('two nodes creating at once with skewed clocks, a third paging: it sees every approval', async () => {
    const [a, b, c] = stores as [TestStore, TestStore, TestStore];
    const N = 40;
    const made: string[] = [];
    let writing = 2;
    const writer = async (db: TestStore['db'], skewS: number) => {
      for (let i = 0; i < N; i++) {
        const id = newApprovalId(new Date(Date.now() + skewS * 1000));
        await db.transaction(async (tx) => {
          await insertApproval(tx, approval(id));
          // The commit comes a moment after the id was made, as the pipeline's commit does.
          await new Promise((r) => setTimeout(r, Math.random() * 3));
        });
        made.push(id);
      }
      writing--;
    };
    const [seen] = await Promise.all([pageAll(c.db, () => writing === 0), writer(a.db, -1), writer(b.db, 0)]);
    assert.equal(new Set(seen).size, seen.length, 'no approval twice');
    const before = new Set((await listApprovals(c.db, { limit: 1000 })).map((r) => r.id));
    const missed = made.filter((id) => !seen.includes(id));
    assert.deepEqual(missed, [], `the pager passed over ${missed.length} of ${made.length}`);
    assert.ok([...made].every((id) => before.has(id)));
  });
});
