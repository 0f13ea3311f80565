/**
 * KeyService's catalog against a real store (PGlite, or PostgreSQL with KEYWARD_TEST_DRIVER):
 * create, info, list, rotate and the minimum decryption version, configure, scheduled deletion,
 * and the per-node row cache. Signatures are checked with node:crypto, independently of the engine.
 */
import assert from 'node:assert/strict';
import { createHmac, createPublicKey, generateKeyPairSync, verify as nodeVerify } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { fromBase64 } from '../../../lib/bytes.js';
import { DELETION_RETENTION_DAYS, KEY_ID_RE, KEY_ROW_CACHE_TTL_MS, KeyService } from '../../../engine/keys/service.js';
import { getEntry, getKey, listEntries } from '../../../engine/store/index.js';
import { KeywardError } from '../../../lib/errors.js';
import { CryptoExecutor } from '../../../engine/crypto/index.js';
import { KeyCatalog } from '../../../engine/keys/catalog.js';
import { KeyMaterial } from '../../../engine/keys/material.js';
import { countedDb, type CountedDb } from '../../helpers/counted-db.js';
import type { KeyDeps } from '../../../engine/keys/rules.js';
import { bytes, code, openUnsealed, type Unsealed } from './helpers.js';

const DAY = 86_400_000;

describe('KeyService catalog', () => {
  let u: Unsealed;
  let keys: KeyService;
  let clock = Date.parse('2026-01-01T00:00:00Z');

  before(async () => {
    u = await openUnsealed();
    keys = new KeyService(u.store.db, u.seal, { now: () => new Date(clock) });
  });
  after(() => u.close());

  it('creates a generated key: row, version 1, material under the barrier at keys/<id>/v1 (encrypted)', async () => {
    const info = await keys.create({ name: 'orders', type: 'aes256-gcm', labels: { team: 'pay' }, by: 'test' });
    assert.equal(info.name, 'orders');
    assert.equal(info.type, 'aes256-gcm');
    assert.equal(info.latestVersion, 1);
    assert.equal(info.minDecryptionVersion, 1);
    assert.equal(info.verifyOnly, false);
    assert.equal(info.exportable, false);
    assert.deepEqual(info.labels, { team: 'pay' });
    assert.deepEqual(
      info.versions.map((v) => [v.version, v.publicKey]),
      [[1, null]],
    );
    const row = await getKey(u.store.db, 'orders');
    assert.match(row!.id, KEY_ID_RE);
    const blob = await getEntry(u.store.db, `keys/${row!.id}/v1`);
    assert.ok(blob && blob.length > 32, 'material stored');
    // The stored blob is the barrier's ciphertext, not the 32-byte key.
    const material = await keys.exportMaterial({ ...row!, exportable: true }, 1);
    assert.equal(material.length, 32);
    assert.equal(Buffer.from(blob).includes(Buffer.from(material)), false);
  });

  it('refuses a taken name, a bad name, an unknown type and requireLowS on a non-ECDSA type', async () => {
    await assert.rejects(keys.create({ name: 'orders', type: 'aes256-gcm', by: 'test' }), code('KEY_EXISTS'));
    await assert.rejects(keys.create({ name: '-bad', type: 'aes256-gcm', by: 'test' }), code('VALIDATION_FAILED'));
    await assert.rejects(
      keys.create({ name: 'x'.repeat(129), type: 'aes256-gcm', by: 'test' }),
      code('VALIDATION_FAILED'),
    );
    await assert.rejects(
      keys.create({ name: 'k', type: 'aes128-gcm', by: 'test' }),
      (e: unknown) => e instanceof Error && /aes128-gcm/.test(e.message),
    );
    await assert.rejects(
      keys.create({ name: 'k', type: 'ed25519', requireLowS: true, by: 'test' }),
      code('OPTION_UNSUPPORTED'),
    );
    await assert.rejects(keys.row('nope'), code('KEY_NOT_FOUND'));
    await assert.rejects(keys.info('nope'), code('KEY_NOT_FOUND'));
  });

  it('creates a verify-only key from a public key, which cannot sign or rotate', async () => {
    const pair = generateKeyPairSync('ed25519');
    const pem = pair.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const info = await keys.create({ name: 'partner', type: 'ed25519', publicKey: pem, by: 'test' });
    assert.equal(info.verifyOnly, true);
    assert.deepEqual(
      fromBase64(info.versions[0]!.publicKey!, 'pk'),
      new Uint8Array(pair.publicKey.export({ type: 'spki', format: 'der' })),
    );
    const row = await keys.usable('partner');
    const msg = bytes('signed elsewhere');
    const { sign } = await import('node:crypto');
    const sig = sign(null, msg, pair.privateKey);
    assert.equal(await keys.verify(row, msg, sig.toString('base64'), {}), true);
    await assert.rejects(keys.sign(row, msg, {}), code('KEY_VERIFY_ONLY'));
    await assert.rejects(keys.rotate('partner'), code('KEY_VERIFY_ONLY'));
    await assert.rejects(
      keys.create({ name: 'sym', type: 'aes256-gcm', publicKey: pem, by: 'test' }),
      code('KEY_TYPE_MISMATCH'),
    );
  });

  it('lists keys by name with keyset pagination', async () => {
    for (const n of ['list-a', 'list-b', 'list-c']) await keys.create({ name: n, type: 'hmac-sha256', by: 'test' });
    const all: string[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await keys.list({ limit: 2, after });
      assert.ok(page.keys.length <= 2);
      all.push(...page.keys.map((k) => k.name));
      if (page.next === null) break;
      after = page.next;
    }
    assert.deepEqual(all, [...all].sort());
    assert.deepEqual(all, ['list-a', 'list-b', 'list-c', 'orders', 'partner']);
    const first = await keys.list({ limit: 1 });
    assert.deepEqual(first.keys, [
      { name: 'list-a', type: 'hmac-sha256', latestVersion: 1, labels: {}, deleteAfter: null },
    ]);
    assert.equal(first.next, 'list-a');
  });

  it('rotate adds a version; the minimum decryption version bounds what decrypts, and the latest encrypts', async () => {
    const row1 = await keys.usable('orders');
    const c1 = await keys.encrypt(row1, bytes('one'));
    assert.equal(c1.keyVersion, 1);
    assert.match(c1.ciphertext, /^kw:v1:/);
    const r2 = await keys.rotate('orders');
    assert.equal(r2.latestVersion, 2);
    assert.deepEqual(
      r2.versions.map((v) => v.version),
      [1, 2],
    );
    await keys.rotate('orders');
    const row3 = await keys.usable('orders'); // this node's rotation dropped the cached row
    assert.equal(row3.latestVersion, 3);
    const c3 = await keys.encrypt(row3, bytes('three'));
    assert.equal(c3.keyVersion, 3);
    assert.deepEqual(await keys.decrypt(row3, c1.ciphertext), bytes('one'));

    await assert.rejects(keys.configure('orders', { minDecryptionVersion: 4 }), code('VALIDATION_FAILED'));
    await assert.rejects(keys.configure('orders', { minDecryptionVersion: 0 }), code('VALIDATION_FAILED'));
    const cfg = await keys.configure('orders', { minDecryptionVersion: 2 });
    assert.equal(cfg.minDecryptionVersion, 2);
    const row = await keys.usable('orders');
    await assert.rejects(keys.decrypt(row, c1.ciphertext), code('KEY_VERSION_DISABLED'));
    assert.deepEqual(await keys.decrypt(row, c3.ciphertext), bytes('three'));
    // Rotations are stored as new material paths, each its own ciphertext.
    const paths = await listEntries(u.store.db, `keys/${row.id}/`);
    assert.deepEqual(
      paths.sort(),
      [1, 2, 3].map((v) => `keys/${row.id}/v${v}`),
    );
  });

  it('HMAC under an older version follows the same window; values match node:crypto', async () => {
    await keys.create({ name: 'mac', type: 'hmac-sha256', exportable: true, by: 'test' });
    await keys.rotate('mac');
    let row = await keys.usable('mac');
    const m = bytes('message');
    for (const v of [1, 2]) {
      const out = await keys.hmac(row, m, v);
      const key = await keys.exportMaterial(row, v);
      assert.equal(out.hmac, `kw:v${v}:` + createHmac('sha256', key).update(m).digest('base64'));
    }
    assert.equal((await keys.hmac(row, m)).keyVersion, 2);
    await keys.configure('mac', { minDecryptionVersion: 2 });
    row = await keys.usable('mac');
    await assert.rejects(keys.hmac(row, m, 1), code('KEY_VERSION_DISABLED'));
    await assert.rejects(keys.exportMaterial(row, 1), code('KEY_VERSION_DISABLED'));
    await assert.rejects(keys.hmac(row, m, 3), code('KEY_VERSION_DISABLED'));
  });

  it('rotating an asymmetric key keeps old signatures verifiable, checked by node:crypto', async () => {
    await keys.create({ name: 'signer', type: 'ed25519', by: 'test' });
    const msg = bytes('release 1.0');
    const s1 = await keys.sign(await keys.usable('signer'), msg, {});
    await keys.rotate('signer');
    const row = await keys.usable('signer');
    const s2 = await keys.sign(row, msg, {});
    assert.match(s1.signature, /^kw:v1:/);
    assert.match(s2.signature, /^kw:v2:/);
    for (const [s, v] of [
      [s1, 1],
      [s2, 2],
    ] as const) {
      assert.equal(await keys.verify(row, msg, s.signature, {}), true);
      const pem = await keys.publicKey(row, 'pem', v);
      assert.equal(pem.keyVersion, v);
      const sig = Buffer.from(s.signature.split(':')[2]!, 'base64');
      assert.equal(nodeVerify(null, msg, createPublicKey(pem.publicKey as string), sig), true);
    }
    await keys.configure('signer', { minDecryptionVersion: 2 });
    assert.equal(await keys.verify(await keys.usable('signer'), msg, s1.signature, {}), false);
  });

  it('configure sets deletionAllowed and requireLowS (ECDSA only), and changes nothing else', async () => {
    await keys.create({ name: 'ec', type: 'ecdsa-p256', by: 'test' });
    const info = await keys.configure('ec', { requireLowS: true, deletionAllowed: true });
    assert.equal(info.requireLowS, true);
    assert.equal(info.deletionAllowed, true);
    assert.equal(info.minDecryptionVersion, 1);
    await assert.rejects(keys.configure('signer', { requireLowS: true }), code('OPTION_UNSUPPORTED'));
  });

  it('scheduleDeletion needs deletionAllowed, sets deleteAfter, and the key refuses operations', async () => {
    await assert.rejects(keys.scheduleDeletion('orders'), code('KEY_DELETION_NOT_ALLOWED'));
    assert.throws(
      () => KeyService.assertDeletionAllowed({ name: 'x', deletionAllowed: false }),
      code('KEY_DELETION_NOT_ALLOWED'),
    );
    const row = await keys.usable('ec');
    const info = await keys.scheduleDeletion('ec');
    assert.equal(info.deleteAfter, new Date(clock + DELETION_RETENTION_DAYS * DAY).toISOString());
    await assert.rejects(keys.usable('ec'), code('KEY_PENDING_DELETION'));
    // A second schedule keeps the first date.
    clock += DAY;
    assert.equal((await keys.scheduleDeletion('ec')).deleteAfter, info.deleteAfter);
    // The row handed out before still names the key; the catalog is what refuses.
    assert.equal(row.name, 'ec');
    const listed = (await keys.list({ limit: 100 })).keys.find((k) => k.name === 'ec');
    assert.equal(listed?.deleteAfter, info.deleteAfter);
  });

  it('caches usable rows for KEY_ROW_CACHE_TTL_MS: another writer is seen after the TTL, this node at once', async () => {
    await keys.create({ name: 'cached', type: 'aes256-gcm', by: 'test' });
    assert.equal((await keys.usable('cached')).latestVersion, 1);
    // Another node (another KeyService on the same database) rotates.
    const other = new KeyService(u.store.db, u.seal);
    await other.rotate('cached');
    assert.equal((await keys.usable('cached')).latestVersion, 1, 'still the cached row');
    await new Promise((r) => setTimeout(r, KEY_ROW_CACHE_TTL_MS + 50));
    assert.equal((await keys.usable('cached')).latestVersion, 2);
    // This node's own change is seen at once.
    await keys.rotate('cached');
    assert.equal((await keys.usable('cached')).latestVersion, 3);
  });
});

// A timeout, so a request that wrongly waits on a held read fails the test rather than hanging it.
describe('KeyService catalog: one row read in flight per key (single flight)', { timeout: 5000 }, () => {
  let u: Unsealed;
  let counted: CountedDb;
  let deps: KeyDeps;
  let keys: KeyCatalog;
  const reads = () => counted.reads('keys');
  const storageDown = () => new KeywardError('STORAGE_UNAVAILABLE', 'storage down (injected)');

  before(async () => {
    u = await openUnsealed();
    counted = countedDb(u.store.db);
    deps = { db: counted.db, seal: u.seal, exec: new CryptoExecutor(), now: () => new Date() };
    keys = new KeyCatalog(deps, new KeyMaterial(deps));
    await keys.create({ name: 'herd', type: 'aes256-gcm', by: 'test' });
  });
  after(() => u.close());

  it('N concurrent misses send one read, and all get its row', async () => {
    keys.forget('herd');
    const before = reads();
    const rows = await Promise.all(Array.from({ length: 20 }, () => keys.usable('herd')));
    assert.equal(reads() - before, 1);
    assert.ok(rows.every((r) => r === rows[0] && r.name === 'herd'));
  });

  it("a local change during a read is seen by a later request, and the stale read doesn't re-populate", async () => {
    keys.forget('herd');
    const { release, ran } = counted.holdNext();
    const early = keys.usable('herd');
    await ran; // the read has run: the change below lands after it
    await keys.configure('herd', { deletionAllowed: true });
    const later = keys.usable('herd');
    // `later` must not wait for the held read: had it joined the read from before, it would hang here.
    assert.equal((await later).deletionAllowed, true, 'did not join the read from before');
    release(); // the early read lands last: had it still been the entry, it would cache its stale row
    assert.equal((await early).deletionAllowed, false, 'the early request gets what it read');
    assert.equal(keys.cachedUsable('herd')?.deletionAllowed, true, 'the stale read cached nothing');
  });

  it('a failed read reaches all who joined it, is not kept, and the next request reads again', async () => {
    const { release } = counted.holdNext();
    const before = reads();
    const missing = Array.from({ length: 5 }, () => assert.rejects(keys.usable('nobody'), code('KEY_NOT_FOUND')));
    release();
    await Promise.all(missing);
    assert.equal(reads() - before, 1);
    await assert.rejects(keys.usable('nobody'), code('KEY_NOT_FOUND'));
    assert.equal(reads() - before, 2);

    keys.forget('herd');
    counted.failNext(storageDown());
    await Promise.all(
      Array.from({ length: 5 }, () => assert.rejects(keys.usable('herd'), code('STORAGE_UNAVAILABLE'))),
    );
    assert.equal(reads() - before, 3);
    assert.equal(keys.cachedUsable('herd'), undefined);
    assert.equal((await keys.usable('herd')).name, 'herd');
    assert.equal(reads() - before, 4);
  });

  it('a read that never settles fails its joiners at the storage deadline, and the next miss reads again', async () => {
    const bounded = new KeyCatalog({ ...deps, storageDeadlineMs: 100 }, new KeyMaterial(deps));
    counted.holdNext(); // never released: a database that stopped answering
    const before = reads();
    const start = performance.now();
    await Promise.all(
      Array.from({ length: 5 }, () => assert.rejects(bounded.usable('herd'), code('STORAGE_UNAVAILABLE'))),
    );
    assert.ok(performance.now() - start < 1000, 'answered at about the deadline');
    assert.equal(reads() - before, 1, 'they shared the one read');
    assert.equal((await bounded.usable('herd')).name, 'herd', 'a new read, not the stuck one');
    assert.equal(reads() - before, 2);
  });

  it('a read landing after seal caches nothing', async () => {
    keys.forget('herd');
    const { release, ran } = counted.holdNext();
    const early = keys.usable('herd');
    await ran;
    await u.seal.seal();
    release();
    await early;
    assert.equal(keys.cachedRows, 0);
    await u.unseal();
  });
});
