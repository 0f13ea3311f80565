/**
 * PolicyService's bindings cache against a real store (PGlite, or PostgreSQL with
 * KEYWARD_TEST_DRIVER): one read of the bindings in flight at a time, this node's activations seen at
 * once by later requests, a failed read not kept, a read that never answers failed at the storage
 * deadline, and seal dropping the cache (engine/hsm.ts). Reads are counted at the Db it is given.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { KeywardError } from '../../../../lib/errors.js';
import { PolicyService } from '../../../../engine/policy/bindings/service.js';
import { devBootstrap } from '../../../../engine/dev.js';
import { Hsm } from '../../../../engine/hsm.js';
import { statusFor } from '../../../../server/errors.js';
import { countedDb, type CountedDb } from '../../../helpers/counted-db.js';
import { openTestStore, type TestStore } from '../../../helpers/store.js';
import { abiModule, fixedEvaluate, wat } from '../helpers.js';

/**
 * The number of policies `p` resolves with, or 'still waiting' after a second: a request that joined
 * a read the test holds would otherwise wait until the describe's timeout.
 */
async function settledWithin(p: Promise<readonly unknown[]>): Promise<number | 'still waiting'> {
  let timer: NodeJS.Timeout | undefined;
  const waiting = new Promise<'still waiting'>((r) => (timer = setTimeout(() => r('still waiting'), 1000)));
  try {
    return await Promise.race([p.then((s) => s.length), waiting]);
  } finally {
    clearTimeout(timer);
  }
}

// A timeout, so a request that wrongly waits on a held read fails the test rather than hanging it.
describe('PolicyService bindings: one read in flight (single flight)', { timeout: 5000 }, () => {
  let store: TestStore;
  let counted: CountedDb;
  let allow: string;
  let deny: string;
  const reads = () => counted.reads('policy_bindings');
  /** A service with an empty cache (policies `allow`, bound globally, and `deny` are stored). */
  const fresh = () => new PolicyService(counted.db);

  before(async () => {
    store = await openTestStore();
    counted = countedDb(store.db);
    const setup = fresh();
    allow = (await setup.push(await wat(abiModule({ evaluate: fixedEvaluate(1) })), 'allow', 'test')).sha256;
    deny = (await setup.push(await wat(abiModule({ evaluate: fixedEvaluate(2) })), 'deny', 'test')).sha256;
    await setup.activate(allow, 'global', undefined, 'test');
  });
  after(() => store.close());

  it('N concurrent misses send one read, and all get its policies', async () => {
    const svc = fresh();
    const before = reads();
    const sets = await Promise.all(Array.from({ length: 20 }, () => svc.applicable(undefined)));
    assert.equal(reads() - before, 1);
    assert.ok(sets.every((s) => s.length === 1));
  });

  it("an activation during a read is seen by a later request, and the stale read doesn't re-populate", async () => {
    const svc = fresh();
    const { release, ran } = counted.holdNext();
    const early = svc.applicable(undefined);
    await ran; // the read has run: the activation below lands after it
    await svc.activate(deny, 'global', undefined, 'test');
    try {
      // `later` is answered while the early read is still held, and that read lands last: had it
      // cached what it read, it would overwrite the later read's bindings (landing first, it would not).
      assert.equal(await settledWithin(svc.applicable(undefined)), 2, 'did not join the read from before');
      release();
      assert.equal((await early).length, 1, 'the early request gets what it read');
      assert.equal(svc.applicableNow(undefined)?.length, 2, 'the stale read cached nothing');
    } finally {
      await svc.deactivate(deny, 'global', undefined);
    }
  });

  it("a deactivation during a read is seen by a later request, and the stale read doesn't re-populate", async () => {
    await fresh().activate(deny, 'global', undefined, 'test');
    const svc = fresh();
    const { release, ran } = counted.holdNext();
    const early = svc.applicable(undefined);
    await ran; // the read has run: the deactivation below lands after it
    await svc.deactivate(deny, 'global', undefined);
    // As above: `later` answered first, the stale read landing last.
    assert.equal(await settledWithin(svc.applicable(undefined)), 1, 'did not join the read from before');
    release();
    assert.equal((await early).length, 2, 'the early request gets what it read');
    assert.equal(svc.applicableNow(undefined)?.length, 1, 'the stale read cached nothing');
  });

  it('a read that never settles fails its joiners at the storage deadline, and the next miss reads again', async () => {
    const svc = new PolicyService(counted.db, { deadlineMs: 100 });
    counted.holdNext(); // never released: a database that stopped answering
    const before = reads();
    const start = performance.now();
    await Promise.all(
      Array.from({ length: 5 }, () =>
        assert.rejects(svc.applicable(undefined), (e: any) => e.code === 'STORAGE_UNAVAILABLE'),
      ),
    );
    assert.ok(performance.now() - start < 1000, 'answered at about the deadline');
    assert.equal(reads() - before, 1, 'they shared the one read');
    assert.equal((await svc.applicable(undefined)).length, 1, 'a new read, not the stuck one');
    assert.equal(reads() - before, 2);
  });

  it('forgetBindings (seal) drops the cache and the read in flight: a later request reads again', async () => {
    const svc = fresh();
    await svc.applicable(undefined);
    svc.forgetBindings();
    assert.equal(svc.applicableNow(undefined), undefined, 'the cached bindings are gone');
    const { release, ran } = counted.holdNext();
    const early = svc.applicable(undefined);
    await ran;
    svc.forgetBindings();
    const before = reads();
    const later = svc.applicable(undefined);
    release();
    await Promise.all([early, later]);
    assert.equal(reads() - before, 1, 'the later request read again');
  });

  it('a failed read reaches all who joined it, is not kept, and the next request reads again', async () => {
    const svc = fresh();
    const before = reads();
    counted.failNext(new KeywardError('STORAGE_UNAVAILABLE', 'storage down (injected)'));
    await Promise.all(
      Array.from({ length: 5 }, () =>
        assert.rejects(svc.applicable(undefined), (e: any) => e.code === 'STORAGE_UNAVAILABLE'),
      ),
    );
    assert.equal(reads() - before, 1);
    assert.equal(svc.applicableNow(undefined), undefined);
    assert.equal((await svc.applicable(undefined)).length, 1);
    assert.equal(reads() - before, 2);
  });
});

describe('the bindings on seal (engine/hsm.ts)', () => {
  it('seal drops the cached bindings: nothing read before it serves a request after it', async () => {
    const at = Date.now(); // a fixed clock: the cache would hold for its whole TTL
    const hsm = await Hsm.open({ store: await openTestStore(), statusOf: statusFor, now: () => new Date(at) });
    try {
      await devBootstrap(hsm);
      await hsm.policies.applicable(undefined);
      assert.ok(hsm.policies.applicableNow(undefined), 'cached before the seal');
      await hsm.seal.seal();
      assert.equal(hsm.policies.applicableNow(undefined), undefined);
    } finally {
      await hsm.close();
    }
  });
});
