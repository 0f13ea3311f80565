import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ByteReader } from '../../ceremony/bytes.js';
import { concatBytes, constantTimeEqual, fromBase64, fromUtf8, toBase64, utf8, wipe } from '../../lib/bytes.js';
import { lp, u32be, u8 } from '../../ceremony/index.js';
import { rejectsWithCode } from './helpers.js';

describe('base64', () => {
  test('round trips every length 0..40', () => {
    for (let n = 0; n <= 40; n++) {
      const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 37 + n) & 0xff);
      const text = toBase64(bytes);
      assert.deepEqual(fromBase64(text, 'x', n), bytes);
    }
  });

  test('returns a plain Uint8Array that owns its buffer', () => {
    const out = fromBase64('AAECAw==', 'x');
    assert.equal(out.constructor, Uint8Array);
    assert.equal(out.byteOffset, 0);
    assert.equal(out.buffer.byteLength, 4);
  });

  const bad: Array<[string, string]> = [
    ['missing padding', 'AAE'],
    ['whitespace', 'AAEC\nAw=='],
    ['leading space', ' AAECAw=='],
    ['url-safe alphabet', '-_8='],
    ['non-zero unused bits', 'AB=='],
    ['non-zero unused bits (one pad)', 'AAB='],
    ['padding in the middle', 'AA==AAAA'],
    ['garbage', 'not base64!'],
    ['too much padding', 'A==='],
  ];
  for (const [what, text] of bad) {
    test(`rejects ${what} with RangeError, or the caller's code`, async () => {
      assert.throws(() => fromBase64(text, 'field'), RangeError);
      await rejectsWithCode(
        () => fromBase64(text, 'field', undefined, 'SHARD_MALFORMED'),
        'SHARD_MALFORMED',
        /^field: expected/,
      );
    });
  }

  test('checks the decoded length, exact or as a range', async () => {
    assert.throws(() => fromBase64(toBase64(new Uint8Array(3)), 'k', 4), /k: expected 4 bytes, got 3/);
    await rejectsWithCode(
      () => fromBase64(toBase64(new Uint8Array(3)), 'k', { min: 4, max: 8 }, 'SHARES_INVALID'),
      'SHARES_INVALID',
      /expected 4 to 8 bytes, got 3/,
    );
    await rejectsWithCode(
      () => fromBase64(toBase64(new Uint8Array(9)), 'k', { max: 8 }, 'SHARES_INVALID'),
      'SHARES_INVALID',
      /expected 0 to 8 bytes, got 9/,
    );
    await rejectsWithCode(
      () => fromBase64(toBase64(new Uint8Array(3)), 'k', { min: 4 }, 'SHARES_INVALID'),
      'SHARES_INVALID',
      /expected at least 4 bytes, got 3/,
    );
    assert.equal(fromBase64(toBase64(new Uint8Array(9)), 'k', { min: 4 }).length, 9);
  });

  test('rejects a non-string with TypeError, or the code', async () => {
    assert.throws(() => fromBase64(42 as unknown as string, 'x'), TypeError);
    await rejectsWithCode(
      () => fromBase64(42 as unknown as string, 'x', undefined, 'SHARES_INVALID'),
      'SHARES_INVALID',
      /expected base64 string, got number 42/,
    );
  });
});

describe('lp, u8, u32be, concatBytes, utf8', () => {
  test('lp prefixes a u16 big-endian length', () => {
    assert.deepEqual(lp(new Uint8Array(0)), Uint8Array.of(0, 0));
    assert.deepEqual(lp(Uint8Array.of(7, 8, 9)), Uint8Array.of(0, 3, 7, 8, 9));
    assert.deepEqual(lp(new Uint8Array(0x1234)).subarray(0, 2), Uint8Array.of(0x12, 0x34));
    assert.equal(lp(new Uint8Array(0xffff)).length, 0x10001);
    assert.throws(() => lp(new Uint8Array(0x10000)), RangeError);
  });

  test('lp makes concatenations unambiguous', () => {
    const a = concatBytes(lp(utf8('ab')), lp(utf8('c')));
    const b = concatBytes(lp(utf8('a')), lp(utf8('bc')));
    assert.notDeepEqual(a, b);
  });

  test('u8 and u32be range checks', () => {
    assert.deepEqual(u8(255), Uint8Array.of(255));
    assert.throws(() => u8(256), RangeError);
    assert.throws(() => u8(-1), RangeError);
    assert.throws(() => u8(1.5), RangeError);
    assert.deepEqual(u32be(0x01020304), Uint8Array.of(1, 2, 3, 4));
    assert.throws(() => u32be(2 ** 32), RangeError);
  });

  test('utf8 and strict fromUtf8', () => {
    assert.deepEqual(utf8('é'), Uint8Array.of(0xc3, 0xa9));
    assert.equal(fromUtf8(Uint8Array.of(0xc3, 0xa9)), 'é');
    assert.equal(fromUtf8(Uint8Array.of(0xc3)), undefined);
    assert.equal(fromUtf8(Uint8Array.of(0xff)), undefined);
  });
});

describe('constantTimeEqual and wipe', () => {
  test('compares contents and lengths', () => {
    assert.equal(constantTimeEqual(Uint8Array.of(1, 2), Uint8Array.of(1, 2)), true);
    assert.equal(constantTimeEqual(Uint8Array.of(1, 2), Uint8Array.of(1, 3)), false);
    assert.equal(constantTimeEqual(Uint8Array.of(1, 2), Uint8Array.of(1, 2, 3)), false);
    assert.equal(constantTimeEqual(new Uint8Array(0), new Uint8Array(0)), true);
    assert.throws(() => constantTimeEqual('ab' as unknown as Uint8Array, Uint8Array.of(1)), TypeError);
  });

  test('wipe zeroes every array and skips missing ones', () => {
    const a = Uint8Array.of(1, 2, 3);
    const b = Uint8Array.of(4);
    wipe(a, undefined, b, null);
    assert.deepEqual(a, new Uint8Array(3));
    assert.deepEqual(b, new Uint8Array(1));
  });
});

describe('ByteReader', () => {
  test('reads u8, lp and rest, and refuses to read past the end', async () => {
    const r = new ByteReader(concatBytes(u8(1), lp(utf8('hi')), Uint8Array.of(9, 9)), 'SUBMISSION_INVALID', 'thing');
    assert.equal(r.u8('version'), 1);
    assert.equal(fromUtf8(r.lp('name')), 'hi');
    assert.deepEqual(r.rest(), Uint8Array.of(9, 9));
    assert.equal(r.remaining, 0);
    await rejectsWithCode(() => r.u8('more'), 'SUBMISSION_INVALID', /thing: expected 1 more bytes for more, got 0/);
    const short = new ByteReader(Uint8Array.of(0, 5, 1, 2), 'SUBMISSION_INVALID', 'thing');
    await rejectsWithCode(() => short.lp('name'), 'SUBMISSION_INVALID', /expected 5 more bytes for name, got 2/);
  });
});
