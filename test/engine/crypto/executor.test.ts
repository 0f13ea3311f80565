/**
 * The crypto executor's decision (engine/crypto/executor.ts): inline without a pool; with one, the
 * capability table's measured slow calls and every key expansion go to the pool, the rest stay
 * inline (and ML-KEM decapsulation on the native post-quantum backend). A pool that counts its calls
 * shows where each call ran; results match the in-thread functions either way.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { isKeywardError } from '../../../lib/errors.js';
import { CryptoExecutor } from '../../../engine/crypto/executor.js';
import { CountingPool } from './counting-pool.js';
import { generateKey } from '../../../engine/crypto/material.js';
import { sign, verify } from '../../../engine/crypto/sign.js';
import { KEY_TYPES, KEY_TYPE_INFO, type SlowCall } from '../../../engine/crypto/types.js';
import type { CallName } from '../../../engine/crypto/calls.js';
import { selectPqBackend } from '../../../engine/crypto/pq.js';

const msg = new TextEncoder().encode('executor');
const nativeAvailable = (() => {
  try {
    return selectPqBackend({ choice: 'pqclean' }).name === 'pqclean';
  } catch {
    return false;
  } finally {
    selectPqBackend();
  }
})();

describe('CryptoExecutor', () => {
  const pool = new CountingPool({ size: 1 });
  after(() => pool.close());

  it('without a pool, nothing is offloaded', () => {
    const inline = new CryptoExecutor();
    for (const t of KEY_TYPES)
      for (const c of [
        'generateKey',
        'sign',
        'verify',
        'encapsulate',
        'decapsulate',
        'decrypt',
        'expand',
      ] as CallName[])
        assert.equal(inline.offloads(c, t), false);
  });

  it('with a pool: the measured slow calls and expansion go to it, fast ones stay inline', () => {
    const ex = new CryptoExecutor(pool);
    const cases: Array<[CallName, (typeof KEY_TYPES)[number], boolean]> = [
      ['sign', 'ed25519', false],
      ['verify', 'ecdsa-p256', false],
      ['generateKey', 'aes256-gcm', false],
      ['generateKey', 'ed25519', false],
      ['verify', 'rsa-3072', false], // a public-key RSA operation is ~0.1 ms
      ['sign', 'rsa-3072', true],
      ['decrypt', 'rsa-4096', true],
      ['generateKey', 'rsa-4096', true],
      ['sign', 'ml-dsa-65', true],
      ['verify', 'ml-dsa-65', true],
      ['sign', 'slh-dsa-sha2-128s', true],
      ['encapsulate', 'x-wing', true],
      ['decapsulate', 'x-wing', true],
      ['expand', 'ml-dsa-65', true],
      ['expand', 'ml-kem-768', true],
    ];
    for (const [c, t, want] of cases) assert.equal(ex.offloads(c, t), want, `${c} ${t}`);
    // Every (type, call) follows the capability table's slow lists, the one measured rule, except
    // ML-KEM decapsulation on the native backend (under 0.1 ms: inline).
    for (const backend of ['noble', 'pqclean'] as const) {
      if (backend === 'pqclean' && !nativeAvailable) continue;
      selectPqBackend({ choice: backend });
      for (const t of KEY_TYPES)
        for (const c of ['generateKey', 'sign', 'verify', 'encapsulate', 'decapsulate', 'decrypt'] as SlowCall[]) {
          const nativeFast = backend === 'pqclean' && c === 'decapsulate' && t.startsWith('ml-kem-');
          assert.equal(ex.offloads(c, t), KEY_TYPE_INFO[t].slow.includes(c) && !nativeFast, `${c} ${t} on ${backend}`);
        }
    }
    selectPqBackend();
  });

  it('runs each call where it decided, with the same results as in-thread', async () => {
    const ex = new CryptoExecutor(pool);
    pool.calls.length = 0;
    const ed = generateKey('ed25519');
    const edSig = await ex.run('sign', 'ed25519', ed.private, msg);
    assert.deepEqual(edSig, sign('ed25519', ed.private, msg)); // deterministic
    assert.equal(await ex.run('verify', 'ed25519', ed.public!, msg, edSig), true);
    assert.deepEqual(pool.calls, [], 'Ed25519 stays inline');

    const ml = await ex.run('generateKey', 'ml-dsa-44');
    const expanded = await ex.run('expand', 'ml-dsa-44', ml.private);
    const mlSig = await ex.run('sign', 'ml-dsa-44', expanded, msg);
    assert.equal(verify('ml-dsa-44', ml.public!, msg, mlSig), true);
    assert.equal(await ex.run('verify', 'ml-dsa-44', ml.public!, msg, mlSig), true);
    assert.deepEqual(pool.calls, ['generateKey:ml-dsa-44', 'expand:ml-dsa-44', 'sign:ml-dsa-44', 'verify:ml-dsa-44']);
    assert.ok(
      ml.private.some((b) => b !== 0),
      'caller buffers left alone',
    );
  });

  it('an inline failure is a rejection, as a pool failure is', async () => {
    const ex = new CryptoExecutor();
    const p = ex.run('decapsulate', 'ml-kem-768', generateKey('ml-kem-768').private, new Uint8Array(3));
    assert.ok(p instanceof Promise);
    await assert.rejects(p, (e: unknown) => isKeywardError(e, 'CIPHERTEXT_INVALID'));
    await assert.rejects(
      new CryptoExecutor(pool).run('decapsulate', 'ml-kem-768', generateKey('ml-kem-768').private, new Uint8Array(3)),
      (e: unknown) => isKeywardError(e, 'CIPHERTEXT_INVALID'),
    );
  });
});
