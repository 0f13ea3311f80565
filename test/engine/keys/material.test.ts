/**
 * Key material on a node: cached on first use, shared between calls, wiped on seal (the buffers
 * handed out read as zeros afterwards), dropped when a key is scheduled for deletion or purged
 * elsewhere; the row cache emptied on seal too. The parts are built as KeyService builds them.
 */
import assert from 'node:assert/strict';
import { KeyObject } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { sign, verify } from '../../../engine/crypto/sign.js';
import { CryptoExecutor, isExpandedKey } from '../../../engine/crypto/index.js';
import { KeyCatalog } from '../../../engine/keys/catalog.js';
import { KeyMaterial } from '../../../engine/keys/material.js';
import { KeyOperations } from '../../../engine/keys/operations.js';
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

  it('Ed25519/ECDSA/RSA: the parsed KeyObject is cached beside the material, signs the same, and goes on seal and on drop', async () => {
    await catalog.create({ name: 'ed', type: 'ed25519', by: 'test' });
    await catalog.create({ name: 'p256', type: 'ecdsa-p256', by: 'test' });
    await catalog.configure('p256', { deletionAllowed: true });
    const ed = await catalog.usable('ed');
    const p256 = await catalog.usable('p256');
    const before = material.size;
    const k = await material.working(ed, 1);
    assert.ok(k instanceof KeyObject && k.type === 'private' && k.asymmetricKeyType === 'ed25519');
    assert.equal(await material.working(ed, 1), k, 'parsed once');
    // Ed25519 is deterministic: the KeyObject and the PKCS#8 bytes give the very same signature.
    assert.deepEqual(sign('ed25519', k, bytes('m')), sign('ed25519', await material.private(ed, 1), bytes('m')));
    const e = await material.working(p256, 1);
    assert.ok(e instanceof KeyObject && e.asymmetricKeyType === 'ec');
    assert.equal(
      verify('ecdsa-p256', await material.public(p256, 1), bytes('m'), sign('ecdsa-p256', e, bytes('m'))),
      true,
    );
    assert.equal(material.size, before + 4); // two materials, two parsed keys

    await catalog.scheduleDeletion('p256'); // dropped here: material and parsed key
    assert.equal(material.size, before + 2);
    await u.seal.seal();
    assert.equal(material.size, 0);
    await assert.rejects(material.working(ed, 1), code('SEALED'));
    await u.unseal();
    const again = await material.working(ed, 1);
    assert.notEqual(again, k, 'parsed anew after unseal');
    assert.deepEqual(sign('ed25519', again, bytes('m')), sign('ed25519', k, bytes('m')));
  });

  it('a cached key makes its data key at once: a seal wiping the cache right after the call cannot leave it wrapped under zeros', async () => {
    const row = await catalog.usable('aes');
    const ops = new KeyOperations(deps, material);
    await material.private(row, 1);
    const dk = ops.datakey(row, 32);
    material.wipe(); // as a seal does, before the call's continuation could run
    const { plaintext, ciphertext } = await dk;
    assert.deepEqual(await ops.decrypt(row, ciphertext), plaintext, 'wrapped under the key, not under zeros');
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
