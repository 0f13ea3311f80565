import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isKeywardError } from '../../../lib/errors.js';
import { CryptoPool } from '../../../engine/crypto/pool.js';
import { decapsulate } from '../../../engine/crypto/kem.js';
import { generateKey } from '../../../engine/crypto/material.js';
import { sign, verify } from '../../../engine/crypto/sign.js';

const msg = new TextEncoder().encode('pool');

describe('crypto pool', () => {
  it('results equal the in-thread functions; inputs are not detached', async () => {
    const pool = new CryptoPool({ size: 2 });
    try {
      const ed = generateKey('ed25519');
      const sig = await pool.sign('ed25519', ed.private, msg);
      assert.deepEqual(sig, sign('ed25519', ed.private, msg)); // Ed25519 is deterministic
      assert.equal(ed.private.length > 0, true, 'caller buffer still attached');
      assert.equal(await pool.verify('ed25519', ed.public!, msg, sig), true);
      assert.equal(await pool.verify('ed25519', ed.public!, msg, sig.subarray(1)), false);

      const ml = await pool.generateKey('ml-dsa-44');
      const mlSig = await pool.sign('ml-dsa-44', ml.private, msg, { context: new Uint8Array([1]) });
      assert.equal(verify('ml-dsa-44', ml.public!, msg, mlSig, { context: new Uint8Array([1]) }), true);

      const kem = generateKey('ml-kem-768');
      const e = await pool.encapsulate('ml-kem-768', kem.public!);
      assert.deepEqual(
        await pool.decapsulate('ml-kem-768', kem.private, e.ciphertext),
        decapsulate('ml-kem-768', kem.private, e.ciphertext),
      );

      await assert.rejects(pool.decapsulate('ml-kem-768', kem.private, new Uint8Array(3)), (err: unknown) =>
        isKeywardError(err, 'CIPHERTEXT_INVALID'),
      );
      await assert.rejects(pool.sign('ed25519', new Uint8Array(3), msg), (err: unknown) => err instanceof Error);
    } finally {
      await pool.close();
    }
  });

  it('bounded queue: CRYPTO_BUSY when full; close() refuses the rest', async () => {
    const pool = new CryptoPool({ size: 1, maxQueue: 1 });
    const k = generateKey('ml-dsa-87');
    const a = pool.sign('ml-dsa-87', k.private, msg);
    const b = pool.sign('ml-dsa-87', k.private, msg);
    await assert.rejects(pool.sign('ml-dsa-87', k.private, msg), (err: unknown) => isKeywardError(err, 'CRYPTO_BUSY'));
    await Promise.all([a, b]);
    await pool.close();
    await assert.rejects(pool.verify('ed25519', new Uint8Array(44), msg, new Uint8Array(64)), (err: unknown) =>
      isKeywardError(err, 'CRYPTO_POOL_CLOSED'),
    );
  });

  it('an SLH-DSA-SHA2-128s signature in the pool leaves the event loop responsive', async () => {
    const pool = new CryptoPool({ size: 1 });
    try {
      const k = await pool.generateKey('slh-dsa-sha2-128s');
      const started = performance.now();
      const signing = pool.sign('slh-dsa-sha2-128s', k.private, msg);
      const delays: number[] = [];
      let done = false;
      void signing.finally(() => (done = true));
      while (!done) {
        const t0 = performance.now();
        await new Promise((r) => setTimeout(r, 5));
        delays.push(performance.now() - t0 - 5);
      }
      const sig = await signing;
      const elapsed = performance.now() - started;
      delays.sort((x, y) => x - y);
      const p99 = delays[Math.min(delays.length - 1, Math.floor(delays.length * 0.99))] ?? 0;
      console.log(
        `# slh-dsa-sha2-128s sign in pool: ${elapsed.toFixed(0)} ms, ${delays.length} timer ticks, timer delay p99 ${p99.toFixed(1)} ms`,
      );
      assert.ok(delays.length > 10, 'the timer kept firing while the signature ran');
      assert.ok(p99 < 50, `timer delay p99 ${p99.toFixed(1)} ms`);
      assert.equal(verify('slh-dsa-sha2-128s', k.public!, msg, sig), true);
    } finally {
      await pool.close();
    }
  });
});
