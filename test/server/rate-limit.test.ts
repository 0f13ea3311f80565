/**
 * The per-client token buckets (server/rate-limit.ts) on an injected clock: burst, refill and
 * Retry-After, and the hard bound: many distinct addresses whose buckets never refill keep the map
 * at its bound, at a flat cost per request (the old sweep scanned the whole map for every new
 * address once it was full, and the map grew past its bound when nothing had refilled).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TokenBuckets } from '../../server/rate-limit.js';

describe('TokenBuckets', () => {
  it('gives a burst, then refills at the rate, with the seconds until the next token', () => {
    let t = 1_000_000;
    const b = new TokenBuckets({ burst: 3, perMinute: 60 }, () => t);
    assert.equal(b.take('a'), undefined);
    assert.equal(b.take('a'), undefined);
    assert.equal(b.take('a'), undefined);
    assert.equal(b.take('a'), 1, 'empty: one token a second');
    assert.equal(b.peek('a'), 1);
    assert.equal(b.take('b'), undefined, 'another client has its own bucket');
    t += 999;
    assert.equal(b.take('a'), 1);
    t += 1;
    assert.equal(b.peek('a'), undefined, 'peek does not take');
    assert.equal(b.take('a'), undefined);
    assert.equal(b.take('a'), 1);
    t += 60_000;
    for (let i = 0; i < 3; i++) assert.equal(b.take('a'), undefined, 'refilled to the burst, no more');
    assert.equal(b.take('a'), 1);
    const slow = new TokenBuckets({ burst: 1, perMinute: 6 }, () => t);
    slow.take('x');
    assert.equal(slow.take('x'), 10, 'Retry-After rounds up to whole seconds');
    assert.equal(slow.peek('unknown'), undefined, 'an unknown client has a full bucket');
  });

  it('rejects a bucket that could never admit a request', () => {
    assert.throws(() => new TokenBuckets({ burst: 0, perMinute: 60 }), RangeError);
    assert.throws(() => new TokenBuckets({ burst: 1, perMinute: 0 }), RangeError);
    assert.throws(() => new TokenBuckets({ burst: 1, perMinute: 1 }, Date.now, 0), RangeError);
  });

  it('keeps at most its bound of clients, evicting the least recently used, at a flat cost', () => {
    const t = 0; // a clock that never moves: no bucket ever refills
    const bound = 20_000;
    const b = new TokenBuckets({ burst: 2, perMinute: 1 }, () => t, bound);
    const batch = bound;
    const costs: number[] = [];
    let n = 0;
    for (let round = 0; round < 4; round++) {
      // CPU time, not wall time: a test process preempted on a busy machine is not a slow round.
      const start = process.cpuUsage();
      for (let i = 0; i < batch; i++) b.take(`10.${n >> 16}.${(n >> 8) & 255}.${n++ & 255}`);
      const used = process.cpuUsage(start);
      costs.push((used.user + used.system) / 1e3);
      assert.ok(b.size <= bound, `size ${b.size} within the bound ${bound}`);
    }
    assert.equal(b.size, bound);
    // The first round fills the map; each later one is 20,000 new addresses past a full map, for
    // which the old sweep scanned all 20,000 entries each time (4·10⁸ steps a round, seconds) and
    // still grew the map. Eviction is O(1): a later round costs about what the first did (generous
    // bounds: the machine may be busy).
    for (const [i, c] of costs.entries())
      assert.ok(c < Math.max(costs[0]! * 8, 250), `round ${i}: ${costs.map((x) => x.toFixed(1)).join(', ')} ms`);
    // The least recently used went first; a client seen recently keeps its (empty) bucket.
    const c = new TokenBuckets({ burst: 1, perMinute: 1 }, () => t, 3);
    for (const k of ['a', 'b', 'c']) c.take(k);
    assert.equal(c.take('a'), 60, 'a is empty and now the most recent');
    c.take('d'); // evicts b, the least recently used
    assert.equal(c.size, 3);
    assert.equal(c.peek('a'), 60, 'a kept');
    assert.equal(c.peek('b'), undefined, 'b evicted: a full bucket again');
    assert.equal(c.peek('c'), 60, 'c kept');
  });
});
