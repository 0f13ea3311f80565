/**
 * server/metrics.ts TallyCounter and TallyHistogram: the request path's five series are counted by
 * hand, and the registry must write exactly the text prom-client's own Counter and Histogram write
 * for the same events (same families for every scraper). Both are fed the same random events,
 * values on and between the bucket bounds, beyond the last, and zero; the expositions are compared
 * byte for byte, then again after more events and after a reset.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Counter, Histogram, Registry } from 'prom-client';
import { TallyCounter, TallyHistogram } from '../../server/metrics.js';

const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** A small deterministic generator (xorshift32), so a failure reproduces. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x1_0000_0000;
  };
}

describe('tally metrics', () => {
  it('write the same exposition text as prom-client for the same events', async () => {
    const theirs = new Registry();
    const ours = new Registry();
    const h = { name: 'x_seconds', help: 'Time of x, by operation' };
    const c2 = { name: 'x_total', help: 'Xs by operation and status' };
    const c1 = { name: 'y_total', help: 'Ys by status' };
    const ph = new Histogram({ ...h, labelNames: ['operation'], buckets: BUCKETS, registers: [theirs] });
    const pc2 = new Counter({ ...c2, labelNames: ['operation', 'status'], registers: [theirs] });
    const pc1 = new Counter({ ...c1, labelNames: ['status'], registers: [theirs] });
    const th = new TallyHistogram({ ...h, labelName: 'operation', buckets: BUCKETS }, ours);
    const tc2 = new TallyCounter({ ...c2, labelNames: ['operation', 'status'] }, ours);
    const tc1 = new TallyCounter({ ...c1, labelNames: ['status'] }, ours);
    const ops = ['encrypt', 'decrypt', 'key.create', 'sign'];
    const statuses = [200, 202, 400, 403, 503];
    const r = rng(20261205);
    const feed = (n: number) => {
      for (let i = 0; i < n; i++) {
        const op = ops[Math.floor(r() * ops.length)]!;
        const status = statuses[Math.floor(r() * statuses.length)]!;
        const pick = r();
        const v =
          pick < 0.2
            ? BUCKETS[Math.floor(r() * BUCKETS.length)]!
            : pick < 0.25
              ? 0
              : pick < 0.3
                ? 7 + r()
                : r() * r() * 0.3;
        ph.observe({ operation: op }, v);
        th.observe(op, v);
        pc2.inc({ operation: op, status });
        tc2.inc2(op, status);
        pc1.inc({ status });
        tc1.inc1(status);
      }
    };
    feed(5000);
    const a = await theirs.metrics();
    assert.equal(await ours.metrics(), a);
    assert.match(a, /x_seconds_bucket\{le="\+Inf",operation="encrypt"\} \d+/);
    feed(777);
    assert.equal(await ours.metrics(), await theirs.metrics());
    theirs.resetMetrics();
    ours.resetMetrics();
    feed(50);
    assert.equal(await ours.metrics(), await theirs.metrics());
  });

  it('write the same text as prom-client for an unlabelled histogram and counts added n at a time, from the start', async () => {
    const theirs = new Registry();
    const ours = new Registry();
    const BATCH = [1, 2, 4, 8, 16, 32, 64, 128, 256];
    const h = { name: 'b_records', help: 'Records per batch', buckets: BATCH };
    const c = { name: 'r_total', help: 'Records by path' };
    const ph = new Histogram({ ...h, registers: [theirs] });
    const pc = new Counter({ ...c, labelNames: ['path'], registers: [theirs] });
    const th = new TallyHistogram(h, ours);
    const tc = new TallyCounter({ ...c, labelNames: ['path'] }, ours);
    // Before any event: the unlabelled histogram's one series at zero, the counter's none.
    assert.equal(await ours.metrics(), await theirs.metrics());
    assert.match(await ours.metrics(), /^b_records_bucket\{le="1"\} 0$/m);
    const r = rng(20261206);
    const feed = (n: number) => {
      for (let i = 0; i < n; i++) {
        const records = r() < 0.1 ? BATCH[Math.floor(r() * BATCH.length)]! : 1 + Math.floor(r() * r() * 300);
        const path = r() < 0.9 ? 'queue' : 'transaction';
        ph.observe(records);
        th.observe('', records);
        pc.inc({ path }, records);
        tc.add1(path, records);
      }
    };
    feed(3000);
    assert.equal(await ours.metrics(), await theirs.metrics());
    assert.match(await ours.metrics(), /^b_records_count 3000$/m);
    theirs.resetMetrics();
    ours.resetMetrics();
    feed(40);
    assert.equal(await ours.metrics(), await theirs.metrics());
  });

  it('an observation that is not finite is dropped rather than thrown on the request path', async () => {
    const reg = new Registry();
    const th = new TallyHistogram({ name: 'z_seconds', help: 'z', labelName: 'operation', buckets: [1] }, reg);
    th.observe('a', NaN);
    th.observe('a', Infinity);
    th.observe('a', 0.5);
    assert.match(await reg.metrics(), /z_seconds_count\{operation="a"\} 1\n/);
  });
});
