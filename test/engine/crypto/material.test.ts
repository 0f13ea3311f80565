import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { isKeywardError, type KeywardCode } from '../../../lib/errors.js';
import { fixedRsaKeyPair } from '../../helpers/rsa.js';
import {
  KEY_TYPES,
  KEY_TYPE_INFO,
  assertKeyType,
  isSlow,
  supports,
  type KeyType,
} from '../../../engine/crypto/types.js';
import {
  exportPublicKey,
  generateKey,
  importPrivateKey,
  importPublicKey,
  publicKeyOf,
} from '../../../engine/crypto/material.js';

const code = (c: KeywardCode) => (e: unknown) => isKeywardError(e, c);
// RSA-4096 and SLH-DSA-*s keygen take seconds: covered by the pool test / one RSA-3072 here.
const QUICK: KeyType[] = KEY_TYPES.filter(
  (t) => t !== 'rsa-4096' && t !== 'slh-dsa-sha2-128s' && t !== 'slh-dsa-sha2-256s',
);

describe('types', () => {
  it('capability table covers every type with a unique algorithm id', () => {
    const ids = new Set(KEY_TYPES.map((t) => KEY_TYPE_INFO[t].algId));
    assert.equal(ids.size, KEY_TYPES.length);
    assert.equal(supports('aes256-gcm', 'datakey'), true);
    assert.equal(supports('ed25519', 'encrypt'), false);
    assert.equal(supports('x-wing', 'decapsulate'), true);
    assert.equal(isSlow('slh-dsa-sha2-128s', 'sign'), true);
    assert.equal(isSlow('ed25519', 'sign'), false);
    assert.equal(KEY_TYPE_INFO['hmac-sha256'].asymmetric, false);
  });

  it('assertKeyType lists the valid types', () => {
    assert.throws(
      () => assertKeyType('aes-128'),
      (e: unknown) => isKeywardError(e, 'KEY_TYPE_INVALID') && (e as Error).message.includes('ml-dsa-65-ed25519'),
    );
    assert.throws(() => assertKeyType(undefined), code('KEY_TYPE_INVALID'));
  });
});

describe('material', () => {
  for (const type of QUICK) {
    it(`${type}: generate, publicKeyOf, importPrivateKey round trip`, () => {
      const k = generateKey(type);
      assert.equal(k.public === null, !KEY_TYPE_INFO[type].asymmetric);
      assert.deepEqual(publicKeyOf(type, k.private), k.public);
      const again = importPrivateKey(type, k.private);
      assert.deepEqual(again.public, k.public);
      assert.throws(() => importPrivateKey(type, k.private.subarray(1)), code('PRIVATE_KEY_INVALID'));
      if (type.startsWith('rsa-') && k.public) {
        assert.throws(() => exportPublicKey(type, k.public!, 'raw'), code('FORMAT_UNSUPPORTED'));
      } else if (k.public) {
        const raw = exportPublicKey(type, k.public, 'raw');
        assert.equal(raw.format, 'raw');
        if (!['ed25519', 'ecdsa-p256', 'ecdsa-p384', 'rsa-3072'].includes(type))
          assert.deepEqual(importPublicKey(type, raw.publicKey as string), k.public);
      }
    });
  }

  it('classical public keys: PEM, base64 SPKI and DER import; wrong algorithm/curve/size rejected', () => {
    const k = generateKey('ecdsa-p256');
    const pem = exportPublicKey('ecdsa-p256', k.public!, 'pem').publicKey as string;
    assert.deepEqual(importPublicKey('ecdsa-p256', pem), k.public);
    assert.deepEqual(importPublicKey('ecdsa-p256', Buffer.from(k.public!).toString('base64')), k.public);
    assert.deepEqual(importPublicKey('ecdsa-p256', k.public!), k.public);
    assert.throws(() => importPublicKey('ecdsa-p384', pem), code('PUBLIC_KEY_INVALID'));
    assert.throws(() => importPublicKey('ed25519', pem), code('PUBLIC_KEY_INVALID'));
    assert.throws(() => importPublicKey('rsa-3072', pem), code('PUBLIC_KEY_INVALID'));
    const rsa2048 = fixedRsaKeyPair(2048).publicKey.export({
      type: 'spki',
      format: 'pem',
    }) as string;
    assert.throws(() => importPublicKey('rsa-3072', rsa2048), code('PUBLIC_KEY_INVALID'));
    assert.throws(
      () => importPublicKey('ecdsa-p256', '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----'),
      code('PUBLIC_KEY_INVALID'),
    );
    assert.throws(() => importPublicKey('ecdsa-p256', new Uint8Array([1, 2, 3])), code('PUBLIC_KEY_INVALID'));
    assert.throws(() => importPublicKey('aes256-gcm', pem), code('PUBLIC_KEY_INVALID'));
    assert.throws(() => importPublicKey('ecdsa-p256', 42 as unknown as string), code('PUBLIC_KEY_INVALID'));
    // A P-256 point off the curve, in an otherwise valid SPKI.
    const bad = new Uint8Array(k.public!);
    bad[bad.length - 1]! ^= 1;
    assert.throws(() => importPublicKey('ecdsa-p256', bad), code('PUBLIC_KEY_INVALID'));
  });

  it('export formats: JWKs for classical and ML-DSA/SLH-DSA; FORMAT_UNSUPPORTED otherwise', () => {
    const ed = generateKey('ed25519');
    const jwk = exportPublicKey('ed25519', ed.public!, 'jwk').publicKey as { kty: string; crv: string };
    assert.equal(jwk.kty, 'OKP');
    assert.equal(jwk.crv, 'Ed25519');
    const kem = generateKey('ml-kem-768');
    assert.throws(() => exportPublicKey('ml-kem-768', kem.public!, 'jwk'), code('FORMAT_UNSUPPORTED'));
    assert.throws(() => exportPublicKey('ml-kem-768', kem.public!, 'pem'), code('FORMAT_UNSUPPORTED'));
    const ml = generateKey('ml-dsa-44');
    assert.equal((exportPublicKey('ml-dsa-44', ml.public!, 'jwk').publicKey as { alg: string }).alg, 'ML-DSA-44');
    assert.throws(() => exportPublicKey('ml-dsa-44', ml.public!, 'xml' as 'pem'), RangeError);
  });

  it('private key import rejects wrong algorithms', () => {
    const ec = generateKey('ecdsa-p256');
    assert.throws(() => importPrivateKey('ecdsa-p384', ec.private), code('PRIVATE_KEY_INVALID'));
    assert.throws(() => importPrivateKey('ed25519', ec.private), code('PRIVATE_KEY_INVALID'));
    assert.throws(() => importPrivateKey('ed25519', new Uint8Array(10)), code('PRIVATE_KEY_INVALID'));
  });

  it("private key import runs a pairwise consistency test: a PKCS#8 carrying another key's public point is refused", () => {
    // OpenSSL trusts the public key embedded in an ECPrivateKey; without the test this key would be
    // stored with a public key its signatures never verify under.
    const a = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const b = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const { x, y } = b.publicKey.export({ format: 'jwk' });
    const mixed = createPrivateKey({ key: { ...a.privateKey.export({ format: 'jwk' }), x, y }, format: 'jwk' }).export({
      format: 'der',
      type: 'pkcs8',
    });
    assert.throws(
      () => importPrivateKey('ecdsa-p256', new Uint8Array(mixed)),
      (e: unknown) => isKeywardError(e, 'PRIVATE_KEY_INVALID') && /pairwise consistency/.test((e as Error).message),
    );
    assert.ok(importPrivateKey('ecdsa-p256', new Uint8Array(a.privateKey.export({ format: 'der', type: 'pkcs8' }))));
  });
});
