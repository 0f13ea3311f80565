import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, beforeEach, describe, it } from 'node:test';
import { isKeywardError } from '../../../lib/errors.js';
import {
  deleteEntry,
  escapeLike,
  findTokenByHash,
  getCommitments,
  getEntry,
  getKeyring,
  getSealConfig,
  getToken,
  initCeremony,
  insertEntryIfAbsent,
  insertToken,
  listEntries,
  listTokens,
  lockKeyring,
  openStore,
  putEntry,
  putKeyring,
  putSealConfig,
  replaceCeremony,
  revokeToken,
  sealConfig,
  shardCommitments,
  withTransaction,
} from '../../../engine/store/index.js';
import type { CeremonyWrite, NewSealConfigRow, NewShardCommitmentRow, Store } from '../../../engine/store/index.js';
import { availableDrivers, createTestDatabaseUrl, openTestStore, resetTestStore } from '../../helpers/store.js';
import type { TestStore } from '../../helpers/store.js';

const SAMPLES: Record<string, Uint8Array> = {
  empty: new Uint8Array(0),
  'one zero': new Uint8Array([0x00]),
  'one 0xff': new Uint8Array([0xff]),
  'zeros around 0xff': new Uint8Array([0x00, 0x00, 0xff, 0x00]),
  'every byte value': Uint8Array.from({ length: 256 }, (_, i) => i),
  'random 64 KiB': new Uint8Array(randomBytes(64 * 1024)),
  // Views whose byteOffset is not 0: only the viewed bytes may be stored.
  'Buffer slice': Buffer.from('--\x00\xffkeyward--', 'latin1').subarray(2, 11),
  'Uint8Array subarray': Uint8Array.from([9, 9, 0, 1, 0xff, 9]).subarray(2, 5),
};

function assertPlainBytes(actual: Uint8Array | undefined, expected: Uint8Array, what: string): void {
  assert.ok(actual instanceof Uint8Array, `${what}: expected Uint8Array, got ${typeof actual}`);
  assert.equal(actual.constructor, Uint8Array, `${what}: expected a plain Uint8Array, got ${actual.constructor.name}`);
  assert.deepEqual(actual, new Uint8Array(expected), what);
}

function config(ceremonyId: string, generation: number, holders: string[], threshold: number): NewSealConfigRow {
  return {
    ceremonyId,
    generation,
    threshold,
    shares: holders.length,
    holders: holders.map((name, index) => ({ name, fingerprint: `fp-${name}`, index })),
    rootKeyBlob: new Uint8Array([generation, 0x00, 0xff]),
  };
}

function commitments(ceremonyId: string, holders: string[]): NewShardCommitmentRow[] {
  return holders.map((holder, idx) => ({
    ceremonyId,
    idx,
    holder,
    fingerprint: `fp-${holder}`,
    commitment: new Uint8Array([idx, 0x00, 0xff, ...ceremonyId.split('').map((c) => c.charCodeAt(0))]),
  }));
}

function ceremony(id: string, generation: number, holders: string[], threshold: number): Required<CeremonyWrite> {
  return {
    config: config(id, generation, holders, threshold),
    // Out of order on purpose: getCommitments sorts by index.
    commitments: commitments(id, holders).reverse(),
    keyring: { blob: new Uint8Array([0xaa, 0x00, generation]), activeTerm: 1 },
  };
}

async function rejects(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => assert.fail('expected a rejection'),
    (e: unknown) => e,
  );
}

for (const driver of availableDrivers()) {
  describe(`store repositories (${driver})`, () => {
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

    it('round-trips bytea exactly, as plain Uint8Array', async () => {
      for (const [name, bytes] of Object.entries(SAMPLES)) {
        await putEntry(store.db, `bytes/${name}`, bytes);
        assertPlainBytes(await getEntry(store.db, `bytes/${name}`), bytes, `entry ${name}`);
      }
      // token_hash has a unique btree index, whose entries are limited to ~2.7 kB: no 64 KiB hash here.
      for (const [name, bytes] of Object.entries(SAMPLES).filter(([, b]) => b.length <= 256)) {
        const id = `tok-${name}`;
        await insertToken(store.db, { id, tokenHash: bytes, principal: 'p', roles: [] });
        assertPlainBytes((await findTokenByHash(store.db, bytes))?.tokenHash, bytes, `token hash ${name}`);
        assert.equal((await findTokenByHash(store.db, bytes))?.id, id);
      }
      await putKeyring(store.db, { blob: SAMPLES['every byte value']!, activeTerm: 3 });
      const kr = await getKeyring(store.db);
      assertPlainBytes(kr?.blob, SAMPLES['every byte value']!, 'keyring');
      assert.equal(kr?.activeTerm, 3);
    });

    it('insertEntryIfAbsent keeps the first blob at a path', async () => {
      assert.equal(await insertEntryIfAbsent(store.db, 'a/1', new Uint8Array([1])), true);
      assert.equal(await insertEntryIfAbsent(store.db, 'a/1', new Uint8Array([2])), false);
      assertPlainBytes(await getEntry(store.db, 'a/1'), new Uint8Array([1]), 'first writer');
      const wins = await Promise.all([2, 3, 4].map((b) => insertEntryIfAbsent(store.db, 'a/2', new Uint8Array([b]))));
      assert.equal(wins.filter(Boolean).length, 1);
      const kept = await getEntry(store.db, 'a/2');
      assert.equal(kept?.[0], [2, 3, 4][wins.indexOf(true)]);
    });

    it('overwrites, deletes and misses entries', async () => {
      assert.equal(await getEntry(store.db, 'a'), undefined);
      await putEntry(store.db, 'a', new Uint8Array([1]));
      await putEntry(store.db, 'a', new Uint8Array([2, 0]));
      assertPlainBytes(await getEntry(store.db, 'a'), new Uint8Array([2, 0]), 'overwritten');
      assert.equal(await deleteEntry(store.db, 'a'), true);
      assert.equal(await deleteEntry(store.db, 'a'), false);
      assert.equal(await getEntry(store.db, 'a'), undefined);
    });

    it('lists entries by a literal prefix, wildcards included', async () => {
      const paths = [
        'keys/a%b/1',
        'keys/a%b/2',
        'keys/aXb/3',
        'keys/a_b/4',
        'keys/aab/5',
        'keys/a\\b/6',
        'keys/a\\\\b/7',
        'keys/%',
        'keys/_',
        'keysX',
        'other/keys/a%b/8',
      ];
      for (const p of [...paths].reverse()) await putEntry(store.db, p, new Uint8Array([1]));
      assert.deepEqual(await listEntries(store.db, 'keys/a%b/'), ['keys/a%b/1', 'keys/a%b/2']);
      assert.deepEqual(await listEntries(store.db, 'keys/a_b/'), ['keys/a_b/4']);
      assert.deepEqual(await listEntries(store.db, 'keys/a\\b/'), ['keys/a\\b/6']);
      assert.deepEqual(await listEntries(store.db, 'keys/%'), ['keys/%']);
      assert.deepEqual(await listEntries(store.db, 'keys/_'), ['keys/_']);
      assert.deepEqual(await listEntries(store.db, 'nothing'), []);
      // The empty prefix lists everything, in byte order on both drivers.
      assert.deepEqual(await listEntries(store.db, ''), [...paths].sort());
      assert.equal(escapeLike('a%b_c\\d'), 'a\\%b\\_c\\\\d');
    });

    it('stores the first ceremony and reads it back', async () => {
      assert.equal(await getSealConfig(store.db), undefined);
      const c = ceremony('cer-A', 1, ['alice', 'bob', 'carol'], 2);
      await initCeremony(store.db, c);
      const row = await getSealConfig(store.db);
      assert.ok(row);
      assert.equal(row.id, 1);
      assert.equal(row.ceremonyId, 'cer-A');
      assert.equal(row.generation, 1);
      assert.equal(row.threshold, 2);
      assert.equal(row.shares, 3);
      assert.deepEqual(row.holders, c.config.holders);
      assertPlainBytes(row.rootKeyBlob, c.config.rootKeyBlob, 'root key blob');
      assert.ok(row.createdAt instanceof Date && row.updatedAt instanceof Date);
      const stored = await getCommitments(store.db, 'cer-A');
      assert.deepEqual(
        stored.map((s) => s.idx),
        [0, 1, 2],
      );
      for (const s of stored)
        assertPlainBytes(
          s.commitment,
          commitments('cer-A', ['alice', 'bob', 'carol'])[s.idx]!.commitment,
          'commitment',
        );
      assertPlainBytes((await getKeyring(store.db))?.blob, c.keyring.blob, 'keyring');
    });

    it('a second init is ALREADY_INITIALIZED and changes nothing', async () => {
      await initCeremony(store.db, ceremony('cer-A', 1, ['alice'], 1));
      const err = await rejects(initCeremony(store.db, ceremony('cer-B', 1, ['bob', 'carol'], 2)));
      assert.ok(isKeywardError(err, 'ALREADY_INITIALIZED'), String(err));
      assert.equal((await getSealConfig(store.db))?.ceremonyId, 'cer-A');
      assert.equal((await getCommitments(store.db, 'cer-A')).length, 1);
      assert.equal((await getCommitments(store.db, 'cer-B')).length, 0);
    });

    it('replaces the ceremony: new config and commitments, old commitments gone, keyring kept', async () => {
      const a = ceremony('cer-A', 1, ['alice', 'bob', 'carol'], 2);
      await initCeremony(store.db, a);
      const before = await getSealConfig(store.db);
      await replaceCeremony(store.db, {
        config: config('cer-B', 2, ['dave', 'erin'], 2),
        commitments: commitments('cer-B', ['dave', 'erin']),
      });
      const row = await getSealConfig(store.db);
      assert.equal(row?.ceremonyId, 'cer-B');
      assert.equal(row?.generation, 2);
      assert.equal(row?.shares, 2);
      assert.deepEqual(
        row?.holders.map((h) => h.name),
        ['dave', 'erin'],
      );
      assert.equal(row?.createdAt.getTime(), before?.createdAt.getTime());
      assert.deepEqual(await getCommitments(store.db, 'cer-A'), []);
      assert.deepEqual(
        (await getCommitments(store.db, 'cer-B')).map((c) => c.holder),
        ['dave', 'erin'],
      );
      assertPlainBytes((await getKeyring(store.db))?.blob, a.keyring.blob, 'keyring untouched');
      // With a keyring, it is written in the same transaction.
      await replaceCeremony(store.db, {
        ...ceremony('cer-C', 3, ['frank'], 1),
        keyring: { blob: new Uint8Array([7]), activeTerm: 2 },
      });
      assert.equal((await getKeyring(store.db))?.activeTerm, 2);
    });

    it('a failing replace leaves the previous ceremony whole', async () => {
      await initCeremony(store.db, ceremony('cer-A', 1, ['alice', 'bob'], 2));
      const dup = commitments('cer-B', ['dave', 'erin']);
      dup[1] = { ...dup[1]!, idx: 0 }; // duplicate primary key: the insert fails after the config update
      assert.ok(
        await rejects(replaceCeremony(store.db, { config: config('cer-B', 2, ['dave', 'erin'], 2), commitments: dup })),
      );
      assert.equal((await getSealConfig(store.db))?.ceremonyId, 'cer-A');
      assert.equal((await getCommitments(store.db, 'cer-A')).length, 2);
      // A CHECK violation (threshold above shares) is refused the same way.
      assert.ok(await rejects(replaceCeremony(store.db, { config: config('cer-B', 2, ['dave'], 2), commitments: [] })));
      assert.equal((await getSealConfig(store.db))?.ceremonyId, 'cer-A');
      assert.equal((await getCommitments(store.db, 'cer-A')).length, 2);
    });

    it('enforces the schema checks', async () => {
      // Only row id 1 may exist in the singleton tables.
      assert.ok(await rejects(store.db.insert(sealConfig).values({ ...config('x', 1, ['a'], 1), id: 2 })));
      // Generations start at 1.
      assert.ok(await rejects(putSealConfig(store.db, config('x', 0, ['a'], 1))));
      // A share index is in 0..255.
      assert.ok(await rejects(store.db.insert(shardCommitments).values({ ...commitments('x', ['a'])[0]!, idx: 256 })));
      // Mismatched ceremony ids are a programmer error, caught before any write.
      const bad = ceremony('cer-A', 1, ['alice'], 1);
      await assert.rejects(initCeremony(store.db, { ...bad, commitments: commitments('cer-Z', ['alice']) }), TypeError);
      assert.equal(await getSealConfig(store.db), undefined);
    });

    it('putSealConfig upserts', async () => {
      await putSealConfig(store.db, config('cer-A', 1, ['a'], 1));
      await putSealConfig(store.db, config('cer-A', 5, ['a', 'b'], 2));
      const row = await getSealConfig(store.db);
      assert.equal(row?.generation, 5);
      assert.equal(row?.shares, 2);
    });

    it('withTransaction rolls back on a throw', async () => {
      await assert.rejects(
        withTransaction(store.db, async (tx) => {
          await putEntry(tx, 'tx/a', new Uint8Array([1]));
          throw new Error('boom');
        }),
        /boom/,
      );
      assert.equal(await getEntry(store.db, 'tx/a'), undefined);
      await withTransaction(store.db, (tx) => putEntry(tx, 'tx/b', new Uint8Array([2])));
      assertPlainBytes(await getEntry(store.db, 'tx/b'), new Uint8Array([2]), 'committed');
    });

    it('inserts, finds, revokes and lists tokens', async () => {
      const createdAt = new Date('2030-01-02T03:04:05.678Z');
      const expiresAt = new Date('2031-01-02T03:04:05.678Z');
      const hash = new Uint8Array(randomBytes(32));
      hash[0] = 0x00;
      hash[31] = 0xff;
      const row = await insertToken(store.db, {
        id: 'tok_1',
        tokenHash: hash,
        principal: 'alice',
        roles: ['admin', 'auditor'],
        createdAt,
        expiresAt,
        createdBy: 'root',
      });
      assert.equal(row.id, 'tok_1');
      await insertToken(store.db, {
        id: 'tok_0',
        tokenHash: new Uint8Array([1]),
        principal: 'bob',
        roles: [],
        createdAt: new Date('2029-01-01T00:00:00Z'),
      });

      const found = await findTokenByHash(store.db, hash);
      assert.ok(found);
      assert.equal(found.id, 'tok_1');
      assert.equal(found.principal, 'alice');
      assert.deepEqual(found.roles, ['admin', 'auditor']);
      assert.equal(found.createdAt.getTime(), createdAt.getTime());
      assert.equal(found.expiresAt?.getTime(), expiresAt.getTime());
      assert.equal(found.revokedAt, null);
      assert.equal(found.createdBy, 'root');
      assert.equal(await findTokenByHash(store.db, new Uint8Array(32)), undefined);
      assert.equal((await getToken(store.db, 'tok_0'))?.expiresAt, null);
      assert.equal(await getToken(store.db, 'nope'), undefined);

      // The hash is unique.
      assert.ok(await rejects(insertToken(store.db, { id: 'tok_2', tokenHash: hash, principal: 'x', roles: [] })));

      const at = new Date('2030-06-01T00:00:00.123Z');
      assert.equal(await revokeToken(store.db, 'tok_1', at), true);
      assert.equal((await getToken(store.db, 'tok_1'))?.revokedAt?.getTime(), at.getTime());
      // Idempotent, keeping the first revocation time.
      assert.equal(await revokeToken(store.db, 'tok_1', new Date('2030-07-01T00:00:00Z')), true);
      assert.equal((await getToken(store.db, 'tok_1'))?.revokedAt?.getTime(), at.getTime());
      assert.equal(await revokeToken(store.db, 'nope', at), false);
      // Revoked tokens are still found by hash: the caller decides.
      assert.ok((await findTokenByHash(store.db, hash))?.revokedAt);

      assert.deepEqual(
        (await listTokens(store.db)).map((t) => t.id),
        ['tok_0', 'tok_1'],
      );
    });
  });

  describe(`store repositories, keyring lock (${driver})`, () => {
    it('two read-modify-writes under lockKeyring lose no update', async () => {
      // On PostgreSQL two stores (two nodes) on one database, so the row lock is what orders them.
      let stores: Store[] = [];
      let cleanup = async () => {};
      if (driver === 'postgres') {
        const db = await createTestDatabaseUrl();
        cleanup = () => db.drop();
        stores = await Promise.all([openStore({ databaseUrl: db.url }), openStore({ databaseUrl: db.url })]);
      } else {
        stores = [await openTestStore('pglite')];
      }
      try {
        await putKeyring(stores[0]!.db, { blob: new Uint8Array([0]), activeTerm: 1 });
        const bump = (s: Store) =>
          withTransaction(s.db, async (tx) => {
            const row = await lockKeyring(tx);
            assert.ok(row);
            await new Promise((r) => setTimeout(r, 50)); // both would read term 1 without the lock
            await putKeyring(tx, { blob: new Uint8Array([row.activeTerm + 1]), activeTerm: row.activeTerm + 1 });
          });
        await Promise.all([bump(stores[0]!), bump(stores[stores.length - 1]!), bump(stores[0]!)]);
        const row = await getKeyring(stores[0]!.db);
        assert.equal(row?.activeTerm, 4);
        assertPlainBytes(row?.blob, new Uint8Array([4]), 'keyring blob');
      } finally {
        await Promise.all(stores.map((s) => s.close()));
        await cleanup();
      }
    });
  });

  describe(`store repositories, concurrent inits (${driver})`, () => {
    it('of two concurrent inits exactly one wins, the other is ALREADY_INITIALIZED', async () => {
      // On PostgreSQL two separate stores (two nodes, two pools) on one database; on PGlite one store.
      let stores: Store[] = [];
      let cleanup = async () => {};
      if (driver === 'postgres') {
        const db = await createTestDatabaseUrl();
        cleanup = () => db.drop();
        stores = await Promise.all([openStore({ databaseUrl: db.url }), openStore({ databaseUrl: db.url })]);
      } else {
        stores = [await openTestStore('pglite')];
      }
      try {
        for (let round = 0; round < 3; round++) {
          if (round > 0) {
            await stores[0]!.db.delete(shardCommitments);
            await stores[0]!.db.delete(sealConfig);
          }
          const results = await Promise.allSettled([
            initCeremony(stores[0]!.db, ceremony(`cer-${round}-A`, 1, ['alice', 'bob'], 2)),
            initCeremony(stores[stores.length - 1]!.db, ceremony(`cer-${round}-B`, 1, ['carol', 'dave', 'erin'], 2)),
          ]);
          const won = results.filter((r) => r.status === 'fulfilled');
          const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
          assert.equal(won.length, 1, `round ${round}: ${results.map((r) => r.status).join(', ')}`);
          assert.ok(isKeywardError(lost[0]?.reason, 'ALREADY_INITIALIZED'), String(lost[0]?.reason));
          const winner = results[0]!.status === 'fulfilled' ? `cer-${round}-A` : `cer-${round}-B`;
          const row = await getSealConfig(stores[0]!.db);
          assert.equal(row?.ceremonyId, winner);
          assert.equal((await getCommitments(stores[0]!.db, winner)).length, row?.shares);
        }
      } finally {
        await Promise.all(stores.map((s) => s.close()));
        await cleanup();
      }
    });
  });
}
