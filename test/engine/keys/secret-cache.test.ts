/**
 * The secret cache (engine/keys/secret-cache.ts): least recently used first out, against a model
 * (an array in recency order) over random gets, sets, drops and clears; evicted, replaced and
 * dropped values are wiped one macrotask later, cleared ones at once, and each exactly once.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SecretCache } from '../../../engine/keys/secret-cache.js';

const tick = () => new Promise((r) => setImmediate(r));

describe('SecretCache', () => {
  it('evicts the least recently used, as a model does, over 5,000 random operations', async () => {
    const wiped: number[] = [];
    const cache = new SecretCache<{ id: number }>(8, (v) => wiped.push(v.id));
    let model: Array<[string, number]> = []; // least recently used first
    let next = 0;
    let seed = 7;
    const rand = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
    const expectedWipes: number[] = [];
    for (let op = 0; op < 5000; op++) {
      const path = `keys/k${rand(14)}/v1`;
      const r = rand(100);
      const at = model.findIndex(([p]) => p === path);
      if (r < 55) {
        const got = cache.get(path);
        if (at < 0) assert.equal(got, undefined);
        else {
          assert.equal(got?.id, model[at]![1]);
          model.push(model.splice(at, 1)[0]!);
        }
      } else if (r < 90) {
        const id = next++;
        cache.set(path, { id });
        if (at >= 0) expectedWipes.push(model.splice(at, 1)[0]![1]);
        model.push([path, id]);
        while (model.length > 8) expectedWipes.push(model.shift()![1]);
      } else if (r < 98) {
        const prefix = path.slice(0, path.indexOf('/', 5) + 1);
        const n = cache.dropWhere((p) => p.startsWith(prefix));
        const dropped = model.filter(([p]) => p.startsWith(prefix));
        assert.equal(n, dropped.length);
        expectedWipes.push(...dropped.map(([, id]) => id));
        model = model.filter(([p]) => !p.startsWith(prefix));
      } else {
        const before = wiped.length;
        cache.clear();
        assert.deepEqual(wiped.slice(before).sort(), model.map(([, id]) => id).sort(), 'cleared: wiped at once');
        model = [];
      }
      assert.deepEqual(
        cache.paths(),
        model.map(([p]) => p),
        `recency order after operation ${op}`,
      );
      assert.equal(cache.size, model.length);
      if (op % 50 === 0) await tick();
    }
    await tick();
    const all = [...wiped].sort((a, b) => a - b);
    assert.equal(new Set(all).size, all.length, 'each value wiped once');
    const live = new Set(model.map(([, id]) => id));
    for (const id of expectedWipes) assert.ok(all.includes(id), `value ${id} wiped`);
    for (const id of live) assert.ok(!all.includes(id), `live value ${id} not wiped`);
  });

  it('a value handed out by get survives its eviction until the next macrotask; a replaced one too', async () => {
    const wiped: string[] = [];
    const cache = new SecretCache<string>(2, (v) => wiped.push(v));
    cache.set('a', 'A');
    cache.set('b', 'B');
    assert.equal(cache.get('a'), 'A'); // b is now the least recently used
    cache.set('c', 'C');
    assert.deepEqual(cache.paths(), ['a', 'c']);
    cache.set('a', 'A2');
    assert.deepEqual(cache.paths(), ['c', 'a']);
    assert.deepEqual(wiped, [], 'not yet');
    await tick();
    assert.deepEqual(wiped.sort(), ['A', 'B']);
    cache.set('a', 'A2'); // the same value again: nothing to wipe
    await tick();
    assert.deepEqual(wiped.sort(), ['A', 'B']);
  });
});
