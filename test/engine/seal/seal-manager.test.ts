import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fromBase64 } from '../../../lib/bytes.js';
import { openShard, sealSubmission } from '../../../ceremony/index.js';
import type { HolderKey, ShardFile } from '../../../ceremony/index.js';
import { Barrier, SealManager, SecretStore } from '../../../engine/seal/index.js';
import { makeHolders, submissionFor } from '../../helpers/ceremony.js';
import { openTestStore } from '../../helpers/store.js';

type TestStore = Awaited<ReturnType<typeof openTestStore>>;

const code = (c: string) => (err: unknown) => (err as { code?: string }).code === c;

async function unsealWith(m: SealManager, holders: HolderKey[], shards: ShardFile[], idx: number[]) {
  let last;
  for (const i of idx) last = await m.submitUnseal(await submissionFor(holders[i]!, shards[i]!, m.status()));
  return last!;
}

describe('SealManager', () => {
  let store: TestStore;
  let holders: HolderKey[];
  let m: SealManager;
  let shards: ShardFile[];

  before(async () => {
    store = await openTestStore();
    holders = await makeHolders(['alice', 'bob', 'carol']);
    m = await SealManager.open(store.db);
  });
  after(async () => {
    m.close();
    await store.close();
  });

  it('starts uninitialized and refuses to unseal', async () => {
    assert.equal(m.status().initialized, false);
    assert.equal(m.status().nonce, null);
    await assert.rejects(m.seal(), code('NOT_INITIALIZED'));
    assert.throws(() => m.keyring(), code('SEALED'));
  });

  it('rejects bad ceremony parameters', async () => {
    await assert.rejects(m.init(holders, 0), code('CEREMONY_PARAMS_INVALID'));
    await assert.rejects(m.init(holders, 4), code('CEREMONY_PARAMS_INVALID'));
    await assert.rejects(m.init([], 1), code('CEREMONY_PARAMS_INVALID'));
    await assert.rejects(m.init([holders[0]!, holders[0]!], 1), code('CEREMONY_PARAMS_INVALID'));
    await assert.rejects(m.init([holders[0]!, { ...holders[0]!, name: 'alias' }], 1), /same key/);
    assert.equal(m.status().initialized, false);
  });

  it('initializes 2-of-3, stays sealed, publishes a session and commitments', async () => {
    const res = await m.init(holders, 2);
    shards = res.shardFiles;
    assert.equal(shards.length, 3);
    assert.deepEqual(
      shards.map((s) => s.holder),
      ['alice', 'bob', 'carol'],
    );
    const s = m.status();
    assert.equal(s.initialized, true);
    assert.equal(s.sealed, true);
    assert.equal(s.threshold, 2);
    assert.equal(s.shares, 3);
    assert.equal(s.progress, 0);
    assert.match(s.nonce!, /^[0-9a-f]{32}$/);
    assert.equal(fromBase64(s.sessionPublicKey!, 'pk').length, 1216);
    assert.equal(s.holders.length, 3);
    for (const h of s.holders) assert.match(h.commitment, /^[0-9a-f]{64}$/);
    await assert.rejects(m.init(holders, 2), code('ALREADY_INITIALIZED'));
  });

  it('T-1 shards report progress and never unseal', async () => {
    const r = await unsealWith(m, holders, shards, [1]);
    assert.equal(r.sealed, true);
    assert.equal(r.progress, 1);
    assert.equal(r.holder, 'bob');
    assert.equal(m.sealed, true);
    await m.resetUnseal();
    assert.equal(m.status().progress, 0);
  });

  it('rejects a duplicate shard without moving progress', async () => {
    await unsealWith(m, holders, shards, [0]);
    await assert.rejects(
      unsealWith(m, holders, shards, [0]),
      (e: Error & { code?: string }) => e.code === 'SHARD_DUPLICATE' && /alice/.test(e.message),
    );
    assert.equal(m.status().progress, 1);
    await m.resetUnseal();
  });

  it('rejects a forged share (valid envelope, wrong bytes) before combining', async () => {
    const share = await openShard(shards[2]!, holders[2]!);
    share[5]! ^= 0x01;
    const s = m.status();
    const forged = await sealSubmission({
      purpose: 'unseal',
      sessionPublicKey: fromBase64(s.sessionPublicKey!, 'pk'),
      nonce: s.nonce!,
      ceremonyId: shards[2]!.ceremonyId,
      index: 2,
      holder: 'carol',
      share,
    });
    await assert.rejects(
      m.submitUnseal(forged),
      (e: Error & { code?: string }) => e.code === 'SHARD_FORGED' && /commitment/.test(e.message),
    );
    // a real share presented under another holder's index is forged too
    const bobShare = await openShard(shards[1]!, holders[1]!);
    const swapped = await sealSubmission({
      purpose: 'unseal',
      sessionPublicKey: fromBase64(s.sessionPublicKey!, 'pk'),
      nonce: s.nonce!,
      ceremonyId: shards[1]!.ceremonyId,
      index: 0,
      holder: 'bob',
      share: bobShare,
    });
    await assert.rejects(m.submitUnseal(swapped), code('SHARD_FORGED'));
    const outOfRange = await sealSubmission({
      purpose: 'unseal',
      sessionPublicKey: fromBase64(s.sessionPublicKey!, 'pk'),
      nonce: s.nonce!,
      ceremonyId: shards[1]!.ceremonyId,
      index: 9,
      holder: 'bob',
      share: bobShare,
    });
    await assert.rejects(m.submitUnseal(outOfRange), /indexes 0 to 2/);
    assert.equal(m.status().progress, 0);
  });

  it('rejects a submission for another session (stale nonce) and a rekey-purpose submission', async () => {
    const stale = await submissionFor(holders[0]!, shards[0]!, m.status());
    await m.resetUnseal();
    await assert.rejects(m.submitUnseal(stale), code('UNSEAL_NONCE_MISMATCH'));
    const rekeyPurpose = await submissionFor(holders[0]!, shards[0]!, m.status(), 'rekey');
    await assert.rejects(m.submitUnseal(rekeyPurpose), code('SUBMISSION_INVALID'));
    await assert.rejects(
      m.submitUnseal({ nonce: m.status().nonce!, enc: 'AAAA', ciphertext: 'AAAA' }),
      code('SUBMISSION_INVALID'),
    );
    assert.equal(m.status().progress, 0);
  });

  it('rejects a foreign shard (another ceremony) by name', async () => {
    const other = await openTestStore();
    try {
      const om = await SealManager.open(other.db);
      const foreign = (await om.init(holders, 2)).shardFiles;
      om.close();
      await assert.rejects(
        unsealWith(m, holders, foreign, [0]),
        (e: Error & { code?: string }) => e.code === 'SHARD_FOREIGN' && e.message.includes(foreign[0]!.ceremonyId),
      );
      assert.equal(m.status().progress, 0);
    } finally {
      await other.close();
    }
  });

  for (const pair of [
    [0, 1],
    [1, 2],
    [2, 0],
  ] as const) {
    it(`unseals with holders ${pair.join('+')} and seals again`, async () => {
      const before = m.status();
      const r = await unsealWith(m, holders, shards, [...pair]);
      assert.equal(r.sealed, false);
      assert.equal(m.sealed, false);
      assert.equal(m.status().nonce, null, 'no session is published while unsealed');
      await assert.rejects(
        m.submitUnseal(await submissionFor(holders[0]!, shards[0]!, before)),
        code('ALREADY_UNSEALED'),
      );
      await m.seal();
      assert.equal(m.sealed, true);
      assert.throws(() => m.keyring(), code('SEALED'));
    });
  }

  it('keeps secrets under the barrier; seal makes them unreadable; rotation keeps old data readable', async () => {
    await unsealWith(m, holders, shards, [0, 1]);
    const secrets = new SecretStore(store.db, m.barrier);
    await secrets.put('test/before', new TextEncoder().encode('written before rotation'));
    const rot = await m.rotate();
    assert.equal(rot.term, 2);
    assert.deepEqual(rot.terms, [1, 2]);
    await secrets.put('test/after', new TextEncoder().encode('written after rotation'));
    const { getEntry } = await import('../../../engine/store/index.js');
    assert.equal(Barrier.termOf((await getEntry(store.db, 'test/before'))!), 1);
    assert.equal(Barrier.termOf((await getEntry(store.db, 'test/after'))!), 2);
    assert.equal(new TextDecoder().decode(await secrets.get('test/before')), 'written before rotation');
    await m.seal();
    await assert.rejects(secrets.get('test/before'), code('SEALED'));
    await assert.rejects(secrets.put('test/x', new Uint8Array(1)), code('SEALED'));
    await assert.rejects(m.rotate(), code('SEALED'));
  });

  it('a restart is sealed; after unseal old and new terms both read', async () => {
    m.close();
    m = await SealManager.open(store.db);
    assert.equal(m.sealed, true);
    assert.equal(m.status().initialized, true);
    await unsealWith(m, holders, shards, [2, 1]);
    const secrets = new SecretStore(store.db, m.barrier);
    assert.equal(new TextDecoder().decode(await secrets.get('test/before')), 'written before rotation');
    assert.equal(new TextDecoder().decode(await secrets.get('test/after')), 'written after rotation');
    assert.equal(m.keyring().activeTerm, 2);
  });

  it('a blob moved to another path does not decrypt', async () => {
    const { getEntry, putEntry } = await import('../../../engine/store/index.js');
    await putEntry(store.db, 'test/moved', (await getEntry(store.db, 'test/before'))!);
    const secrets = new SecretStore(store.db, m.barrier);
    await assert.rejects(secrets.get('test/moved'), code('STORAGE_CORRUPT'));
  });

  it('rekeys to a new 2-of-2 set: old shards stop working, new ones unseal, data stays', async () => {
    const fresh = await makeHolders(['dave', 'erin']);
    await assert.rejects(
      m.submitRekey({ nonce: '0'.repeat(32), enc: 'AAAA', ciphertext: 'AAAA' }),
      code('REKEY_NOT_STARTED'),
    );
    const st = await m.startRekey(fresh, 2);
    assert.equal(st.started, true);
    assert.equal(st.required, 2);
    await assert.rejects(m.startRekey(fresh, 2), code('REKEY_IN_PROGRESS'));
    const session = { nonce: st.nonce, sessionPublicKey: st.sessionPublicKey };
    // an unseal-purpose submission can't be replayed into the rekey session
    await assert.rejects(
      m.submitRekey(await submissionFor(holders[0]!, shards[0]!, session, 'unseal')),
      code('SUBMISSION_INVALID'),
    );
    const r1 = await m.submitRekey(await submissionFor(holders[0]!, shards[0]!, session, 'rekey'));
    assert.equal(r1.complete, false);
    await assert.rejects(
      m.submitRekey(await submissionFor(holders[0]!, shards[0]!, session, 'rekey')),
      code('SHARD_DUPLICATE'),
    );
    const r2 = await m.submitRekey(await submissionFor(holders[2]!, shards[2]!, session, 'rekey'));
    assert.equal(r2.complete, true);
    if (!r2.complete) return;
    assert.equal(r2.generation, 2);
    assert.deepEqual(
      r2.shardFiles.map((s) => s.holder),
      ['dave', 'erin'],
    );
    assert.equal(m.sealed, false, 'rekey does not seal');
    await m.seal();
    await assert.rejects(
      unsealWith(m, holders, shards, [0]),
      (e: Error & { code?: string }) => e.code === 'SHARD_FOREIGN' && /before a rekey/.test(e.message),
    );
    assert.equal(m.status().progress, 0);
    const r = await unsealWith(m, fresh, r2.shardFiles, [1, 0]);
    assert.equal(r.sealed, false);
    const secrets = new SecretStore(store.db, m.barrier);
    assert.equal(new TextDecoder().decode(await secrets.get('test/before')), 'written before rotation');
  });

  it('cancels a rekey; sealing ends one; rekey needs the server unsealed', async () => {
    const fresh = await makeHolders(['x1']);
    await m.startRekey(fresh, 1);
    assert.equal((await m.cancelRekey()).started, false);
    await assert.rejects(m.cancelRekey(), code('REKEY_NOT_STARTED'));
    await m.startRekey(fresh, 1);
    await m.seal();
    assert.equal(m.rekeyStatus().started, false);
    await assert.rejects(m.startRekey(fresh, 1), code('SEALED'));
  });
});
