import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { Barrier, Keyring } from '../../../engine/seal/index.js';
import type { KeyringSource } from '../../../engine/seal/index.js';

const root = () => new Uint8Array(randomBytes(32));

describe('Keyring', () => {
  it('round-trips through its sealed form and rotates', () => {
    const rk = root();
    const k = Keyring.create();
    assert.equal(k.activeTerm, 1);
    assert.equal(k.rotate(), 2);
    const back = Keyring.open(rk, k.seal(rk));
    assert.deepEqual(back.terms, [1, 2]);
    assert.equal(back.activeTerm, 2);
    assert.deepEqual(back.key(1), k.key(1));
  });

  it('refuses another root key or a flipped bit', () => {
    const rk = root();
    const blob = Keyring.create().seal(rk);
    assert.throws(() => Keyring.open(root(), blob), { code: 'STORAGE_CORRUPT' } as object);
    blob[20]! ^= 1;
    assert.throws(() => Keyring.open(rk, blob), { code: 'STORAGE_CORRUPT' } as object);
  });

  it('zeroize wipes the keys', () => {
    const k = Keyring.create();
    const key = k.activeKey();
    k.zeroize();
    assert.ok(key.every((b) => b === 0));
    assert.deepEqual(k.terms, []);
  });
});

describe('Barrier', () => {
  let current = Keyring.create();
  const source: KeyringSource = { keyring: () => current, reloadKeyring: async () => current };
  const b = new Barrier(source);

  it('binds blobs to their path and term', async () => {
    const blob = b.encrypt('keys/a', new TextEncoder().encode('secret'));
    assert.equal(Barrier.termOf(blob), 1);
    assert.equal(new TextDecoder().decode(await b.decrypt('keys/a', blob)), 'secret');
    await assert.rejects(b.decrypt('keys/b', blob), { code: 'STORAGE_CORRUPT' } as object);
    const forgedTerm = blob.slice();
    forgedTerm[3] = 7;
    await assert.rejects(b.decrypt('keys/a', forgedTerm), /term 7/);
    await assert.rejects(b.decrypt('keys/a', blob.subarray(0, 4)), /truncated/);
    for (let i = 0; i < blob.length; i += 7) {
      const t = blob.slice();
      t[i]! ^= 0x80;
      await assert.rejects(b.decrypt('keys/a', t), { code: 'STORAGE_CORRUPT' } as object);
    }
  });

  it('reads data of old terms after rotation and reloads for unknown terms', async () => {
    const old = b.encrypt('p', new Uint8Array([1, 2, 3]));
    current.rotate();
    const newer = b.encrypt('p', new Uint8Array([4]));
    assert.equal(Barrier.termOf(newer), 2);
    assert.deepEqual(await b.decrypt('p', old), new Uint8Array([1, 2, 3]));
    // a node whose keyring is behind reloads once
    const rk = root();
    const sealed = current.seal(rk);
    const behind = Keyring.open(rk, sealed);
    current.rotate();
    const newest = b.encrypt('p', new Uint8Array([9]));
    let reloads = 0;
    const lagging = new Barrier({ keyring: () => behind, reloadKeyring: async () => (reloads++, current) });
    assert.deepEqual(await lagging.decrypt('p', newest), new Uint8Array([9]));
    assert.equal(reloads, 1);
  });
});
