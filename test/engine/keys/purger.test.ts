/**
 * The purge of deleted keys against a real store: the window, the barrier entries going with the
 * row, the audit hook committing with the purge (and rolling it back when it fails), the timer.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DELETION_RETENTION_DAYS, KeyService, PURGE_BATCH } from '../../../engine/keys/service.js';
import { getKey, listEntries, purgeKey } from '../../../engine/store/index.js';
import { code, openUnsealed, type Unsealed } from './helpers.js';

const DAY = 86_400_000;
const t0 = Date.parse('2026-03-01T00:00:00Z');

async function until(cond: () => Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('KeyService purge', () => {
  let u: Unsealed;
  let keys: KeyService;
  const recorded: Array<{ name: string; id: string }> = [];
  let failRecord = false;

  before(async () => {
    u = await openUnsealed();
    keys = new KeyService(u.store.db, u.seal, {
      now: () => new Date(t0),
      recordPurge: async (_tx, k) => {
        if (failRecord) throw new Error('audit down');
        recorded.push(k);
      },
    });
  });
  after(() => u.close());

  async function doomed(name: string): Promise<string> {
    await keys.create({ name, type: 'aes256-gcm', by: 'test' });
    await keys.configure(name, { deletionAllowed: true });
    await keys.scheduleDeletion(name);
    return (await keys.row(name)).id;
  }

  it('purges only keys whose window has passed: row, versions and material, with one audit call each', async () => {
    const id = await doomed('gone');
    await keys.create({ name: 'kept', type: 'aes256-gcm', by: 'test' });
    assert.equal((await listEntries(u.store.db, `keys/${id}/`)).length, 1);
    assert.deepEqual(await keys.purgeExpired(new Date(t0 + DELETION_RETENTION_DAYS * DAY - 1)), []);
    assert.ok(await getKey(u.store.db, 'gone'));
    assert.deepEqual(await keys.purgeExpired(new Date(t0 + DELETION_RETENTION_DAYS * DAY)), ['gone']);
    assert.deepEqual(recorded, [{ name: 'gone', id }]);
    await assert.rejects(keys.info('gone'), code('KEY_NOT_FOUND'));
    assert.deepEqual(await listEntries(u.store.db, `keys/${id}/`), []);
    assert.ok(await getKey(u.store.db, 'kept'));
    // Nothing left to purge: a second sweep is empty and records nothing.
    assert.deepEqual(await keys.purgeExpired(new Date(t0 + 30 * DAY)), []);
    assert.equal(recorded.length, 1);
    assert.ok(PURGE_BATCH >= 1);
  });

  it('a failing audit record rolls the purge back; the next sweep purges', async () => {
    const id = await doomed('retry');
    failRecord = true;
    await assert.rejects(keys.purgeExpired(new Date(t0 + 30 * DAY)), /audit down/);
    failRecord = false;
    assert.ok(await getKey(u.store.db, 'retry'), 'row still there');
    assert.equal((await listEntries(u.store.db, `keys/${id}/`)).length, 1, 'material still there');
    assert.deepEqual(await keys.purgeExpired(new Date(t0 + 30 * DAY)), ['retry']);
  });

  it('the purge re-checks the id: a key re-created under the same name is never touched', async () => {
    const id = await doomed('reborn');
    assert.equal(
      await purgeKey(u.store.db, {
        name: 'reborn',
        id: 'key_' + '0'.repeat(24),
        now: new Date(t0 + 30 * DAY),
        materialPrefix: `keys/${id}/`,
      }),
      false,
    );
    assert.equal(
      await purgeKey(u.store.db, { name: 'reborn', id, now: new Date(t0), materialPrefix: `keys/${id}/` }),
      false,
      'window not passed',
    );
    assert.ok(await getKey(u.store.db, 'reborn'));
    assert.equal((await listEntries(u.store.db, `keys/${id}/`)).length, 1);
  });

  it('the timer sweeps while unsealed, skips while sealed, and stops', async () => {
    const future = new KeyService(u.store.db, u.seal, { now: () => new Date(t0 + 30 * DAY) });
    assert.throws(() => future.startPurger({ intervalMs: 0 }), RangeError);
    assert.throws(() => future.startPurger({ intervalMs: 1.5 }), RangeError);
    const errors: unknown[] = [];
    await doomed('timed');
    await u.seal.seal();
    await assert.rejects(future.purgeExpired(), code('SEALED'));
    future.startPurger({ intervalMs: 10, onError: (e) => errors.push(e) });
    future.startPurger({ intervalMs: 10, onError: (e) => errors.push(e) }); // idempotent
    await new Promise((r) => setTimeout(r, 80));
    assert.deepEqual(errors, [], 'no sweep while sealed');
    assert.ok(await getKey(u.store.db, 'timed'));
    await u.unseal();
    await until(async () => (await getKey(u.store.db, 'timed')) === undefined);
    await future.stopPurger();
    await future.stopPurger(); // idempotent
    // Stopped: a key due now stays.
    await doomed('after-stop');
    await new Promise((r) => setTimeout(r, 60));
    assert.ok(await getKey(u.store.db, 'after-stop'));
    assert.deepEqual(errors, []);
    // Operations on a scheduled key are refused meanwhile.
    await assert.rejects(keys.usable('after-stop'), code('KEY_PENDING_DELETION'));
  });
});
