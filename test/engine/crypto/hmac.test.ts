import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { hmac, verifyHmac } from '../../../engine/crypto/hmac.js';
import { acvp, hex, report, toHex } from './vectors.js';

describe('hmac-sha256', () => {
  it('ACVP HMAC-SHA2-256 (all groups; truncated MACs compared on their prefix)', () => {
    let ran = 0;
    for (const g of acvp('HMAC-SHA2-256-2.0')) {
      for (const t of g.tests) {
        const mac = hmac(hex(t.key), hex(t.msg));
        const want = String(t.mac).toLowerCase();
        assert.equal(toHex(mac).slice(0, want.length), want, `tcId ${String(t.tcId)}`);
        if (want.length === 64) assert.equal(verifyHmac(hex(t.key), hex(t.msg), hex(t.mac)), true);
        ran++;
      }
    }
    report('ACVP HMAC-SHA2-256', ran, {});
  });

  it('RFC 4231 test case 2', () => {
    const mac = hmac(new TextEncoder().encode('Jefe'), new TextEncoder().encode('what do ya want for nothing?'));
    assert.equal(toHex(mac), '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843');
  });

  it('verifyHmac: wrong, truncated, empty or non-bytes MACs are false', () => {
    const key = new Uint8Array(32).fill(7);
    const m = new Uint8Array([1, 2, 3]);
    const mac = hmac(key, m);
    assert.equal(verifyHmac(key, m, mac), true);
    const flipped = new Uint8Array(mac);
    flipped[31]! ^= 1;
    for (const bad of [
      flipped,
      mac.subarray(0, 16),
      new Uint8Array(0),
      new Uint8Array([...mac, 0]),
      'x' as unknown as Uint8Array,
    ]) {
      assert.equal(verifyHmac(key, m, bad), false);
    }
    assert.throws(() => hmac(new Uint8Array(0), m), RangeError);
    assert.throws(() => hmac('k' as unknown as Uint8Array, m), TypeError);
  });
});
