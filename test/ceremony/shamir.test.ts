import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { MAX_SHARES, combineShares, shareX, splitSecret } from '../../ceremony/index.js';
import { counting, rejectsWithCode } from './helpers.js';

/** N, T with 1 ≤ T ≤ N ≤ maxN. */
const sharesAndThreshold = (maxN: number) =>
  fc.integer({ min: 1, max: maxN }).chain((n) => fc.tuple(fc.constant(n), fc.integer({ min: 1, max: n })));

/** Secrets of 16..48 bytes: long enough that T−1 shares hitting the secret by chance (2^-128) never happens. */
const secretArb = fc.uint8Array({ minLength: 16, maxLength: 48 });

const equalBytes = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

describe('splitSecret / combineShares properties', () => {
  test('any T of N shares combine to the secret (1 ≤ T ≤ N ≤ 20)', async () => {
    await fc.assert(
      fc.asyncProperty(
        secretArb,
        sharesAndThreshold(20),
        fc.infiniteStream(fc.nat()),
        async (secret, [n, t], picks) => {
          const shares = await splitSecret(secret, n, t);
          assert.equal(shares.length, n);
          for (const s of shares) assert.equal(s.length, secret.length + 1);
          assert.equal(new Set(shares.map(shareX)).size, n, 'x-coordinates are distinct');
          assert.ok(
            shares.every((s) => shareX(s) !== 0),
            'x-coordinates are nonzero',
          );
          // A random subset of exactly T shares, in random order.
          const pool = [...shares];
          const subset: Uint8Array[] = [];
          const it = picks[Symbol.iterator]();
          while (subset.length < t) subset.push(pool.splice(it.next().value % pool.length, 1)[0]!);
          assert.ok(equalBytes(await combineShares(subset), secret));
          // More than T works too.
          assert.ok(equalBytes(await combineShares(shares), secret));
        },
      ),
      { numRuns: 200 },
    );
  });

  test('T−1 shares never combine to the secret (2 ≤ T ≤ N ≤ 20)', async () => {
    await fc.assert(
      fc.asyncProperty(
        secretArb,
        sharesAndThreshold(20).filter(([, t]) => t >= 2),
        fc.infiniteStream(fc.nat()),
        async (secret, [n, t], picks) => {
          const shares = await splitSecret(secret, n, t);
          const pool = [...shares];
          const subset: Uint8Array[] = [];
          const it = picks[Symbol.iterator]();
          while (subset.length < t - 1) subset.push(pool.splice(it.next().value % pool.length, 1)[0]!);
          assert.ok(!equalBytes(await combineShares(subset), secret));
        },
      ),
      { numRuns: 200 },
    );
  });

  test('N = 255: all shares, 128 of a 128-of-255 split, and 254 of a 255-of-255 split', async () => {
    const secret = counting(32, 100);
    const all = await splitSecret(secret, MAX_SHARES, MAX_SHARES);
    assert.equal(all.length, 255);
    assert.deepEqual(
      all.map(shareX).sort((a, b) => a - b),
      Array.from({ length: 255 }, (_, i) => i + 1),
    );
    assert.deepEqual(await combineShares(all), secret);
    assert.notDeepEqual(await combineShares(all.slice(1)), secret);

    const half = await splitSecret(secret, MAX_SHARES, 128);
    const subset = half.filter((_, i) => i % 2 === 0).reverse(); // 128 shares, out of order
    assert.equal(subset.length, 128);
    assert.deepEqual(await combineShares(subset), secret);
  });
});

describe('threshold 1 (the library needs T ≥ 2; Keyward does degree 0 itself)', () => {
  test('1-of-1: the single share is secret ‖ x and combines alone', async () => {
    const secret = counting(32);
    const [share, ...rest] = await splitSecret(secret, 1, 1);
    assert.equal(rest.length, 0);
    assert.deepEqual(share!.subarray(0, 32), secret);
    assert.notEqual(shareX(share!), 0);
    assert.deepEqual(await combineShares([share!]), secret);
  });

  test('1-of-N: each share alone, and any several, combine', async () => {
    const secret = counting(32, 5);
    const shares = await splitSecret(secret, 5, 1);
    assert.equal(new Set(shares.map(shareX)).size, 5);
    for (const s of shares) assert.deepEqual(await combineShares([s]), secret);
    assert.deepEqual(await combineShares([shares[3]!, shares[1]!]), secret);
    assert.deepEqual(await combineShares(shares), secret);
  });
});

describe('parameters', () => {
  const invalid: Array<[number, number, RegExp]> = [
    [0, 0, /shares: expected an integer from 1 to 255, got 0/],
    [0, 1, /shares: expected an integer from 1 to 255/],
    [256, 2, /shares: expected an integer from 1 to 255, got 256/],
    [2.5, 1, /shares: expected an integer/],
    [Number.NaN, 1, /shares: expected an integer/],
    [3, 0, /threshold: expected an integer of at least 1, got 0/],
    [3, -1, /threshold: expected an integer of at least 1/],
    [3, 1.5, /threshold: expected an integer/],
    [3, 4, /threshold: expected at most the number of shares \(3\), got 4/],
    [1, 2, /threshold: expected at most the number of shares \(1\), got 2/],
    [255, 256, /threshold: expected at most the number of shares/],
  ];
  for (const [n, t, message] of invalid) {
    test(`split N=${n} T=${t} is CEREMONY_PARAMS_INVALID`, async () => {
      await rejectsWithCode(splitSecret(counting(32), n, t), 'CEREMONY_PARAMS_INVALID', message);
    });
  }

  test('wrong argument types are programmer errors', async () => {
    await assert.rejects(splitSecret('secret' as unknown as Uint8Array, 2, 2), TypeError);
    await assert.rejects(splitSecret(new Uint8Array(0), 2, 2), RangeError);
    await assert.rejects(splitSecret(counting(4), '3' as unknown as number, 2), TypeError);
    await assert.rejects(combineShares('x' as unknown as Uint8Array[]), TypeError);
    await assert.rejects(combineShares(['x' as unknown as Uint8Array]), TypeError);
  });

  test('a Buffer secret and Buffer shares work (the library wants plain Uint8Array)', async () => {
    const secret = Buffer.from(counting(32));
    const shares = await splitSecret(secret, 3, 2);
    assert.deepEqual(Buffer.from(await combineShares([Buffer.from(shares[0]!), Buffer.from(shares[2]!)])), secret);
  });

  const badShares: Array<[string, () => Uint8Array[], RegExp]> = [
    ['no shares', () => [], /expected 1 to 255 shares to combine, got 0/],
    [
      '256 shares',
      () => Array.from({ length: 256 }, (_, i) => Uint8Array.of(1, (i % 255) + 1)),
      /expected 1 to 255 shares/,
    ],
    [
      'a duplicate x',
      () => [Uint8Array.of(1, 2, 7), Uint8Array.of(3, 4, 7)],
      /share 1: expected distinct x-coordinates, got 7 twice/,
    ],
    ['x = 0', () => [Uint8Array.of(1, 2, 0), Uint8Array.of(3, 4, 7)], /share 0: expected a nonzero x-coordinate/],
    [
      'lengths that differ',
      () => [Uint8Array.of(1, 2, 3), Uint8Array.of(3, 4)],
      /share 1: expected 3 bytes like the first share, got 2/,
    ],
    ['a 1-byte share', () => [Uint8Array.of(5)], /share 0: expected 2 bytes/],
  ];
  for (const [what, make, message] of badShares) {
    test(`combining ${what} is SHARES_INVALID`, async () => {
      await rejectsWithCode(combineShares(make()), 'SHARES_INVALID', message);
    });
  }

  test('shareX reads the last byte', () => {
    assert.equal(shareX(Uint8Array.of(9, 9, 42)), 42);
    assert.throws(() => shareX(Uint8Array.of(1)), RangeError);
  });
});
