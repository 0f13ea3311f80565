/**
 * engine/crypto/nonces.ts: nonces cut from a pooled CSPRNG buffer are 12 bytes, never repeat across
 * many refills, and the AEAD bodies that carry them still open with node:crypto used directly.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createDecipheriv } from 'node:crypto';
import { NONCE_LEN, fillNonce, randomNonce } from '../../../engine/crypto/nonces.js';
import { associatedData, encrypt, parseCiphertext, AEAD_FORMAT_V1 } from '../../../engine/crypto/aead.js';

describe('pooled nonces', () => {
  it('20,000 nonces (about 59 refills of the pool) are 12 bytes each and all distinct', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 20_000; i++) {
      const n = randomNonce();
      assert.equal(n.length, NONCE_LEN);
      seen.add(Buffer.from(n).toString('hex'));
    }
    assert.equal(seen.size, 20_000);
  });

  it('fillNonce writes 12 bytes at the offset and nothing else; the next call gives other bytes', () => {
    const out = new Uint8Array(40);
    fillNonce(out, 10);
    assert.ok(out.subarray(0, 10).every((b) => b === 0));
    assert.ok(out.subarray(22).every((b) => b === 0));
    const a = Buffer.from(out.subarray(10, 22)).toString('hex');
    fillNonce(out, 10);
    assert.notEqual(Buffer.from(out.subarray(10, 22)).toString('hex'), a);
  });

  it('nonces are not zero-filled or patterned: byte values spread over 0..255', () => {
    const counts = new Array<number>(256).fill(0);
    for (let i = 0; i < 2000; i++) for (const b of randomNonce()) counts[b]!++;
    // 24,000 bytes: each value is expected ~94 times; a stuck or unfilled pool fails by far.
    assert.ok(
      Math.min(...counts) > 30 && Math.max(...counts) < 200,
      `byte counts ${Math.min(...counts)}..${Math.max(...counts)}`,
    );
  });

  it('1,000 encrypts in a row (crossing refills): distinct nonces, each body opens with node:crypto directly', () => {
    const key = new Uint8Array(32).fill(7);
    const plaintext = new TextEncoder().encode('pooled nonce');
    const nonces = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const { body } = parseCiphertext(encrypt({ type: 'aes256-gcm', key, keyId: 'k', version: 1, plaintext }));
      const nonce = body.subarray(2, 14);
      nonces.add(Buffer.from(nonce).toString('hex'));
      const d = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: 16 });
      d.setAAD(associatedData(AEAD_FORMAT_V1, body[1]!, 1, 'k', new Uint8Array(0)));
      d.setAuthTag(body.subarray(body.length - 16));
      const out = Buffer.concat([d.update(body.subarray(14, body.length - 16)), d.final()]);
      assert.equal(out.toString(), 'pooled nonce');
    }
    assert.equal(nonces.size, 1000);
  });
});
