/**
 * lib/bytes.ts against an outside implementation: node:buffer's base64, base64url and hex codecs
 * (lib/ itself uses btoa/atob and its own loops, so a browser can load it).
 */
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  abytes,
  constantTimeEqual,
  decodeBase64,
  equalBytes,
  fromBase64,
  fromBase64Url,
  fromHex,
  isCanonicalBase64,
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

describe('strict base64 decided by decoding (issue 14: the regex only words the error)', () => {
  // The grammar, and the canonical last group, written out independently of lib/bytes.ts.
  const GRAMMAR = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
  const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const strict = (s: string): boolean => {
    if (!GRAMMAR.test(s)) return false;
    if (s.endsWith('==')) return (ALPHABET.indexOf(s[s.length - 3]!) & 0x0f) === 0;
    if (s.endsWith('=')) return (ALPHABET.indexOf(s[s.length - 2]!) & 0x03) === 0;
    return true;
  };
  const accepts = (s: string) => typeof decodeBase64(s) !== 'string';

  test('accepts exactly the strict grammar with unused bits zero (fuzzed, near-base64 text)', () => {
    // Mostly base64 characters, with what lenient decoders skip or read: padding anywhere,
    // base64url characters, whitespace, other ASCII, non-ASCII, lone surrogates.
    const char = fc.oneof(
      { weight: 20, arbitrary: fc.constantFrom(...ALPHABET) },
      { weight: 3, arbitrary: fc.constant('=') },
      { weight: 1, arbitrary: fc.constantFrom('-', '_', ' ', '\n', '\t', '.', '%', '\0', 'é', '\ud800', '＋', 'Ａ') },
    );
    fc.assert(
      fc.property(fc.array(char, { maxLength: 24 }), (chars) => {
        const s = chars.join('');
        assert.equal(accepts(s), strict(s), JSON.stringify(s));
        assert.equal(isCanonicalBase64(s), strict(s), JSON.stringify(s));
      }),
      { numRuns: 20_000 },
    );
    // Valid encodings with one character changed, dropped or added.
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 40 }),
        fc.nat(),
        fc.constantFrom(...ALPHABET, '=', '-', ' '),
        (b, at, c) => {
          const text = Buffer.from(b).toString('base64');
          assert.ok(accepts(text));
          const i = text.length ? at % text.length : 0;
          for (const s of [
            text.slice(0, i) + c + text.slice(i + 1),
            text.slice(0, i) + text.slice(i + 1),
            text.slice(0, i) + c + text.slice(i),
          ])
            assert.equal(accepts(s), strict(s), JSON.stringify(s));
        },
      ),
      { numRuns: 5_000 },
    );
  });

  test('errors say what was wrong, as before', () => {
    assert.throws(
      () => fromBase64('%%%', 'x'),
      /^RangeError: x: expected standard padded base64, got 3 characters that are not$/,
    );
    assert.throws(() => fromBase64('QQ', 'x'), /x: expected standard padded base64/); // missing padding
    assert.throws(() => fromBase64('QQ==\n', 'x'), /x: expected standard padded base64/);
    assert.throws(() => fromBase64('-_8=', 'x'), /x: expected standard padded base64/); // base64url
    assert.throws(() => fromBase64('AB==', 'x'), /x: expected canonical base64 \(unused bits zero\)/);
    assert.throws(() => fromBase64('AAAA', 'x', 4), /x: expected 4 bytes, got 3/);
    assert.equal(decodeBase64(7), 'expected base64 string, got number 7');
  });
});
