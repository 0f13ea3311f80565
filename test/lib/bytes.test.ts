/**
 * lib/bytes.ts against an outside implementation: node:buffer's base64, base64url and hex codecs
 * (lib/ itself uses btoa/atob and its own loops, so a browser can load it).
 */
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import {
  abytes,
  constantTimeEqual,
  equalBytes,
  fromBase64,
  fromBase64Url,
  fromHex,
  isObjectRecord,
  isPlainObject,
  toBase64,
  toBase64Url,
  toHex,
} from '../../lib/bytes.js';

const samples = [
  ...Array.from({ length: 70 }, (_, n) => new Uint8Array(randomBytes(n))),
  new Uint8Array(randomBytes(1 << 20)),
];

describe('codecs agree with node:buffer', () => {
  test('base64 (padded, standard) both ways, up to 1 MiB', () => {
    for (const b of samples) {
      const text = Buffer.from(b).toString('base64');
      assert.equal(toBase64(b), text);
      assert.deepEqual(fromBase64(text, 'x'), b);
    }
  });

  test('base64url (unpadded) both ways; padding, standard characters and non-canonical bits are refused', () => {
    for (const b of samples) {
      const text = Buffer.from(b).toString('base64url');
      assert.equal(toBase64Url(b), text);
      assert.deepEqual(fromBase64Url(text, 'x'), b);
    }
    assert.throws(() => fromBase64Url('AA==', 'x'), /x: expected unpadded base64url/);
    assert.throws(() => fromBase64Url('A+8', 'x'), RangeError);
    assert.throws(() => fromBase64Url('A', 'x'), RangeError);
    assert.throws(() => fromBase64Url('AB', 'x'), /non-canonical/); // 'AB' has non-zero unused bits; 'AA' is the canonical one byte
    assert.deepEqual(fromBase64Url('AA', 'x'), new Uint8Array(1));
  });

  test('hex both ways; odd length and non-hex are refused', () => {
    for (const b of samples.slice(0, 70)) {
      const text = Buffer.from(b).toString('hex');
      assert.equal(toHex(b), text);
      assert.deepEqual(fromHex(text, 'x'), b);
      assert.deepEqual(fromHex(text.toUpperCase(), 'x'), b);
    }
    assert.throws(() => fromHex('abc', 'x'), /x: expected an even number of hex digits/);
    assert.throws(() => fromHex('zz', 'x'), RangeError);
  });
});

describe('equality', () => {
  test('equalBytes and constantTimeEqual agree with Buffer.equals', () => {
    const a = new Uint8Array(randomBytes(33));
    const cases: Array<[Uint8Array, Uint8Array]> = [
      [a, a.slice()],
      [a, a.subarray(1)],
      [new Uint8Array(0), new Uint8Array(0)],
      ...Array.from({ length: 33 }, (_, i): [Uint8Array, Uint8Array] => {
        const b = a.slice();
        b[i]! ^= 1 << (i % 8);
        return [a, b];
      }),
    ];
    for (const [x, y] of cases) {
      const want = Buffer.from(x).equals(Buffer.from(y));
      assert.equal(equalBytes(x, y), want);
      assert.equal(constantTimeEqual(x, y), want);
    }
    assert.throws(() => constantTimeEqual(a, [1] as unknown as Uint8Array), TypeError);
  });
});

describe('asserts and object checks', () => {
  test('abytes names the parameter and says what was expected', () => {
    assert.throws(() => abytes('x', 'key'), { name: 'TypeError', message: '"key" expected Uint8Array, got string' });
    assert.throws(() => abytes([1], 'key'), { name: 'TypeError', message: '"key" expected Uint8Array, got array' });
    assert.throws(() => abytes(null, 'key'), { name: 'TypeError', message: '"key" expected Uint8Array, got null' });
    assert.throws(() => abytes(new Uint8Array(31), 'key', 32), {
      name: 'RangeError',
      message: '"key" expected Uint8Array of length 32, got length=31',
    });
    abytes(new Uint8Array(32), 'key', 32);
  });

  test('isPlainObject takes only {}/JSON objects; isObjectRecord any non-array, non-bytes object', () => {
    const inherited = Object.create({ a: 1 }) as object;
    const cases: Array<[unknown, boolean, boolean]> = [
      [{}, true, true],
      [JSON.parse('{"a":1}'), true, true],
      [Object.create(null), true, true],
      [inherited, false, true],
      [new Date(0), false, true],
      [new Uint8Array(1), false, false],
      [[], false, false],
      [null, false, false],
      ['{}', false, false],
    ];
    cases.forEach(([v, plain, record], i) => {
      assert.equal(isPlainObject(v), plain, `isPlainObject, case ${i}`);
      assert.equal(isObjectRecord(v), record, `isObjectRecord, case ${i}`);
    });
  });
});
