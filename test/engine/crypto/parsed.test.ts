/**
 * Parsed private keys (engine/crypto/sign.ts `parsePrivateKey`): a node:crypto KeyObject signs
 * exactly as the PKCS#8 bytes do (Ed25519 and RSA PKCS#1 v1.5 are deterministic: the same bytes),
 * and the ECDSA glue that now works on OpenSSL's own DER (low S made on the bytes, DER re-encoded
 * by hand) gives strict DER that @noble/curves encodes the same way and node:crypto verifies, across
 * the short-r, short-s and high-bit cases.
 */
import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync, KeyObject, verify as nodeVerify } from 'node:crypto';
import { describe, it } from 'node:test';
import { p256, p384 } from '@noble/curves/nist.js';
import { CryptoPool, generateKey, parsePrivateKey, sign, verify } from '../../../engine/crypto/index.js';
import { fixedRsaMaterial } from '../../helpers/rsa.js';

const msg = new TextEncoder().encode('parsed keys');

describe('parsed private keys (KeyObject)', () => {
  it('Ed25519 and RSA PKCS#1 v1.5: the same signature from the KeyObject as from the PKCS#8 bytes', () => {
    const ed = generateKey('ed25519');
    const k = parsePrivateKey('ed25519', ed.private);
    assert.ok(k instanceof KeyObject);
    assert.deepEqual(sign('ed25519', k, msg), sign('ed25519', ed.private, msg));
    const rsa = fixedRsaMaterial(3072); // made by OpenSSL (test/fixtures/rsa)
    const rk = parsePrivateKey('rsa-3072', rsa.private);
    const opts = { rsaPadding: 'pkcs1v15' } as const;
    assert.deepEqual(sign('rsa-3072', rk, msg, opts), sign('rsa-3072', rsa.private, msg, opts));
    assert.equal(verify('rsa-3072', rsa.public!, msg, sign('rsa-3072', rk, msg)), true, 'PSS');
  });

  for (const [type, curve, fieldLen, hash] of [
    ['ecdsa-p256', p256, 32, 'sha256'],
    ['ecdsa-p384', p384, 48, 'sha384'],
  ] as const) {
    it(`${type}: strict DER (= noble's encoding), low S, verifies in node:crypto; short r, short s and high-bit r all seen`, () => {
      const pair = generateKey(type);
      const key = parsePrivateKey(type, pair.private);
      const pub = createPublicKey({ key: Buffer.from(pair.public!), format: 'der', type: 'spki' });
      const seen = { shortR: 0, shortS: 0, highBitR: 0 };
      let n = 0;
      for (; n < 20_000 && (n < 200 || Object.values(seen).some((v) => v === 0)); n++) {
        const der = sign(type, key, msg);
        const sig = curve.Signature.fromBytes(der, 'der');
        assert.deepEqual(sig.toBytes('der'), der, 'strict DER');
        assert.equal(sig.hasHighS(), false, 'low S');
        assert.equal(nodeVerify(hash, msg, pub, der), true);
        const rLen = der[3]!;
        const sLen = der[4 + rLen + 1]!;
        if (rLen < fieldLen) seen.shortR++;
        if (rLen > fieldLen) seen.highBitR++;
        if (sLen < fieldLen) seen.shortS++;
        if (n % 16 === 0) {
          const p1363 = sign(type, key, msg, { encoding: 'p1363' });
          assert.equal(p1363.length, 2 * fieldLen);
          assert.equal(curve.Signature.fromBytes(p1363, 'compact').hasHighS(), false);
          assert.equal(verify(type, pair.public!, msg, p1363, { encoding: 'p1363', requireLowS: true }), true);
        }
      }
      assert.ok(
        Object.values(seen).every((v) => v > 0),
        `after ${n} signatures: ${JSON.stringify(seen)}`,
      );
    });
  }

  it('refuses a KeyObject of another type, a public one, and types without a parsed form', () => {
    const ed = parsePrivateKey('ed25519', generateKey('ed25519').private);
    assert.throws(() => sign('ecdsa-p256', ed, msg), RangeError);
    const { publicKey } = generateKeyPairSync('ed25519');
    assert.throws(() => sign('ed25519', publicKey, msg), RangeError);
    assert.throws(() => parsePrivateKey('ml-dsa-44', new Uint8Array(32)), RangeError);
    assert.throws(() => parsePrivateKey('ecdsa-p256', generateKey('ed25519').private), RangeError);
  });

  it('the worker pool takes a KeyObject (postMessage clones it) and signs with it', async () => {
    const pool = new CryptoPool({ size: 1 });
    try {
      const pair = generateKey('ecdsa-p256');
      const key = parsePrivateKey('ecdsa-p256', pair.private);
      const sig = await pool.sign('ecdsa-p256', key, msg);
      assert.equal(verify('ecdsa-p256', pair.public!, msg, sig, { requireLowS: true }), true);
      assert.equal(key.type, 'private', "the caller's KeyObject is untouched");
    } finally {
      await pool.close();
    }
  });
});
