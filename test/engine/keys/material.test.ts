/**
 * Key material on a node: cached on first use, shared between calls, wiped on seal (the buffers
 * handed out read as zeros afterwards), dropped when a key is scheduled for deletion or purged
 * elsewhere; the row cache emptied on seal too. The parts are built as KeyService builds them.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sign, verify } from '../../../engine/crypto/sign.js';
import { CryptoExecutor, isExpandedKey } from '../../../engine/crypto/index.js';
import { KeyCatalog } from '../../../engine/keys/catalog.js';
import { KeyMaterial } from '../../../engine/keys/material.js';
import type { KeyDeps } from '../../../engine/keys/rules.js';
import { KeyService } from '../../../engine/keys/service.js';
import { bytes, code, openUnsealed, type Unsealed } from './helpers.js';

const allZero = (b: Uint8Array) => b.every((x) => x === 0);
const tick = () => new Promise((r) => setImmediate(r));

describe('key material and caches', () => {
  let u: Unsealed;
  let deps: KeyDeps;
  let material: KeyMaterial;
  let catalog: KeyCatalog;

  before(async () => {
    u = await openUnsealed();
    deps = { db: u.store.db, seal: u.seal, exec: new CryptoExecutor(), now: () => new Date() };
    material = new KeyMaterial(deps);
    catalog = new KeyCatalog(deps, material);
    await catalog.create({ name: 'aes', type: 'aes256-gcm', by: 'test' });
    await catalog.create({ name: 'pq', type: 'ml-dsa-44', by: 'test' });
  });
  after(() => u.close());

  it('caches a version once and hands out the same buffer; seal wipes it, the expanded key and the rows', async () => {
    const row = await catalog.usable('aes');
    const a = await material.private(row, 1);
    const b = await material.private(row, 1);
    assert.equal(a, b, 'one cached copy');
    assert.equal(a.length, 32);
    assert.equal(allZero(a), false);
    const pq = await catalog.usable('pq');
    const expanded = await material.working(pq, 1);
    assert.ok(isExpandedKey(expanded));
    assert.equal(await material.working(pq, 1), expanded, 'expanded once');
    // The expanded key signs what the public key verifies (engine/crypto/sign.ts's own vectors test it against the standard).
    const sig = sign('ml-dsa-44', expanded, bytes('m'));
    assert.equal(verify('ml-dsa-44', await material.public(pq, 1), bytes('m'), sig), true);
    assert.equal(material.size, 3); // aes v1, pq seed v1, pq expanded v1
    assert.equal(catalog.cachedRows, 2);

    await u.seal.seal();
    assert.equal(allZero(a), true, 'material wiped at once');
    assert.ok(expanded.parts.every(allZero), 'expanded key wiped at once');
    assert.equal(material.size, 0);
    assert.equal(catalog.cachedRows, 0);
    await assert.rejects(material.private(row, 1), code('SEALED'));
    await assert.rejects(material.working(pq, 1), code('SEALED'));
    await u.unseal();
    const c = await material.private(row, 1);
    assert.notEqual(c, a);
    assert.equal(allZero(c), false);
  });

  it('KeyService: operations fail SEALED after seal even with a row in hand, and work again after unseal', async () => {
    const keys = new KeyService(u.store.db, u.seal);
    await keys.create({ name: 'svc', type: 'chacha20-poly1305', by: 'test' });
    const row = await keys.usable('svc');
    const ct = await keys.encrypt(row, bytes('hello'));
    await u.seal.seal();
    await assert.rejects(keys.encrypt(row, bytes('hello')), code('SEALED'));
    await assert.rejects(keys.decrypt(row, ct.ciphertext), code('SEALED'));
    await u.unseal();
    assert.deepEqual(await keys.decrypt(row, ct.ciphertext), bytes('hello'));
  });

  it('drop() and dropStale(): a key scheduled for deletion (here or on another node) leaves the cache', async () => {
    await catalog.create({ name: 'mine', type: 'aes256-gcm', by: 'test' });
    await catalog.configure('mine', { deletionAllowed: true });
    const mine = await catalog.usable('mine');
    const m = await material.private(mine, 1);
    await catalog.scheduleDeletion('mine'); // this node: dropped at once, wiped a macrotask later
    await tick();
    assert.equal(allZero(m), true);

    const row = await catalog.usable('aes');
    const a = await material.private(row, 1);
    const before = material.size;
    // Another node schedules deletion of 'aes': this node learns at its next dropStale (the purger's sweep).
    const other = new KeyService(u.store.db, u.seal);
    await other.configure('aes', { deletionAllowed: true });
    await other.scheduleDeletion('aes');
    await material.dropStale();
    await tick();
    assert.equal(allZero(a), true);
    assert.equal(material.size, before - 1);
  });

  it('verify-only keys have no material; a missing version is KEY_VERSION_NOT_FOUND', async () => {
    const row = await catalog.usable('pq');
    await assert.rejects(material.private({ ...row, verifyOnly: true }, 1), code('KEY_VERIFY_ONLY'));
    await assert.rejects(material.private(row, 9), code('KEY_VERSION_NOT_FOUND'));
    await assert.rejects(material.public(row, 9), code('KEY_VERSION_NOT_FOUND'));
  });
});
