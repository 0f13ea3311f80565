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

  /**
   * Watches the event loop while `work` runs: a 5 ms timer re-armed as soon as it fires. Returns the
   * gaps between firings and the time the work took. A loop that the work blocks sees one gap as long
   * as the work; a free one sees many short ones. A loaded machine stretches every gap (the timer
   * fires late whenever this process is not scheduled) but not their count relative to the work's
   * length, so the verdict compares the gaps with the work's own duration, not with wall-clock limits.
   */
  async function watchLoop<T>(work: () => Promise<T>): Promise<{ value: T; gaps: number[]; elapsed: number }> {
    const started = performance.now();
    const running = work();
    let done = false;
    void running.then(
      () => (done = true),
      () => (done = true),
    );
    const gaps: number[] = [];
    while (!done) {
      const t0 = performance.now();
      await new Promise((r) => setTimeout(r, 5));
      gaps.push(performance.now() - t0);
    }
    const value = await running;
    return { value, gaps, elapsed: performance.now() - started };
  }

  /** Free: the timer fired at least 10 times, and its median gap is under a tenth of the work. */
  function responsive(w: { gaps: number[]; elapsed: number }): string | undefined {
    const sorted = [...w.gaps].sort((x, y) => x - y);
    const median = sorted[Math.floor(sorted.length / 2)] ?? w.elapsed;
    const summary = `${w.gaps.length} timer firings in ${w.elapsed.toFixed(0)} ms, median gap ${median.toFixed(1)} ms, longest ${(sorted[sorted.length - 1] ?? 0).toFixed(1)} ms`;
    if (w.gaps.length < 10 || median > w.elapsed / 10) return `blocked: ${summary}`;
    console.log(`# ${summary}`);
    return undefined;
  }

  it('the loop watch tells a blocked event loop from a free one', async () => {
    // 300 ms of synchronous work on this thread: the watch must call it blocked.
    const blocked = await watchLoop(
      () =>
        new Promise<void>((resolve) =>
          setImmediate(() => {
            const until = performance.now() + 300;
            while (performance.now() < until);
            resolve();
          }),
        ),
    );
    assert.match(responsive(blocked) ?? 'free', /^blocked/);
    // A second of waiting: free (a tenth of it, 100 ms, is far above any gap a loaded machine makes).
    assert.equal(responsive(await watchLoop(() => new Promise((r) => setTimeout(r, 1000)))), undefined);
  });

  it('an SLH-DSA-SHA2-128s signature in the pool leaves the event loop responsive', async () => {
    const pool = new CryptoPool({ size: 1 });
    try {
      const k = await pool.generateKey('slh-dsa-sha2-128s');
      const w = await watchLoop(() => pool.sign('slh-dsa-sha2-128s', k.private, msg));
      console.log(`# slh-dsa-sha2-128s sign in pool: ${w.elapsed.toFixed(0)} ms`);
      assert.equal(responsive(w), undefined);
      assert.equal(verify('slh-dsa-sha2-128s', k.public!, msg, w.value), true);
    } finally {
      await pool.close();
    }
  });
});
