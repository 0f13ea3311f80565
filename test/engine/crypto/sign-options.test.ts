/**
 * Signature options that Vault transit clients ask for (engine/crypto/sign.ts): the digest for
 * ECDSA and RSA, RSASSA-PKCS1-v1_5, and PSS salt lengths; each result checked by node:crypto, and
 * PKCS#1 v1.5 (deterministic) compared byte for byte.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  constants,
  createHash,
  createPrivateKey,
  createPublicKey,
  sign as nodeSign,
  verify as nodeVerify,
} from 'node:crypto';
import { isKeywardError } from '../../../lib/errors.js';
import { SIGNATURE_HASHES, sign, verify } from '../../../engine/crypto/sign.js';
import { generateKey } from '../../../engine/crypto/material.js';
import { fixedRsaMaterial } from '../../helpers/rsa.js';

const msg = Buffer.from('keyward signs this, as Vault transit would');
const der = (k: Uint8Array, type: 'spki' | 'pkcs8') =>
  type === 'spki'
    ? createPublicKey({ key: Buffer.from(k), format: 'der', type })
    : createPrivateKey({ key: Buffer.from(k), format: 'der', type });

describe('sign options: hash, rsaPadding, pssSaltLength', () => {
  const ec = generateKey('ecdsa-p384');
  const rsa = fixedRsaMaterial(3072); // an RSA-3072 key made by OpenSSL (test/fixtures/rsa)

  it("ECDSA signs over every offered digest; prehashed takes that digest's length", () => {
    for (const hash of SIGNATURE_HASHES) {
      const sig = sign('ecdsa-p384', ec.private, msg, { hash });
      assert.ok(nodeVerify(hash, msg, der(ec.public!, 'spki'), sig), hash);
      assert.ok(verify('ecdsa-p384', ec.public!, msg, sig, { hash }), hash);
      assert.equal(
        verify('ecdsa-p384', ec.public!, msg, sig, { hash: hash === 'sha256' ? 'sha512' : 'sha256' }),
        false,
        hash,
      );
      const digest = createHash(hash).update(msg).digest();
      const pre = sign('ecdsa-p384', ec.private, digest, { hash, prehashed: true });
      assert.ok(nodeVerify(hash, msg, der(ec.public!, 'spki'), pre), `prehashed ${hash}`);
    }
    assert.throws(
      () => sign('ecdsa-p384', ec.private, Buffer.alloc(48), { hash: 'sha256', prehashed: true }),
      (e) => isKeywardError(e) && e.code === 'OPTION_INVALID' && /32-byte SHA256/.test(e.message),
    );
  });

  it('RSA: PKCS#1 v1.5 equals node:crypto byte for byte; PSS salt lengths auto, hash and n', () => {
    const priv = der(rsa.private, 'pkcs8');
    const pub = der(rsa.public!, 'spki');
    const v15 = sign('rsa-3072', rsa.private, msg, { rsaPadding: 'pkcs1v15', hash: 'sha384' });
    assert.deepEqual(Buffer.from(v15), nodeSign('sha384', msg, { key: priv, padding: constants.RSA_PKCS1_PADDING }));
    assert.ok(verify('rsa-3072', rsa.public!, msg, v15, { rsaPadding: 'pkcs1v15', hash: 'sha384' }));
    assert.equal(verify('rsa-3072', rsa.public!, msg, v15, { hash: 'sha384' }), false);
    const max = 384 - 32 - 2;
    const auto = sign('rsa-3072', rsa.private, msg, { pssSaltLength: 'auto' });
    assert.ok(nodeVerify('sha256', msg, { key: pub, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: max }, auto));
    const byHash = sign('rsa-3072', rsa.private, msg, { pssSaltLength: 'hash', hash: 'sha512' });
    assert.ok(
      nodeVerify('sha512', msg, { key: pub, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 64 }, byHash),
    );
    // 'auto' verifies any salt length, a number only its own.
    for (const sig of [auto, sign('rsa-3072', rsa.private, msg, {})])
      assert.ok(verify('rsa-3072', rsa.public!, msg, sig, { pssSaltLength: 'auto' }));
    assert.equal(verify('rsa-3072', rsa.public!, msg, auto, { pssSaltLength: 32 }), false);
    // The default is unchanged: PSS, SHA-256, 32-byte salt.
    assert.ok(
      nodeVerify(
        'sha256',
        msg,
        { key: pub, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 },
        sign('rsa-3072', rsa.private, msg),
      ),
    );
  });

  it('refuses options a key type cannot honour', () => {
    const ed = generateKey('ed25519');
    const code = (fn: () => unknown, c: string, re: RegExp) =>
      assert.throws(fn, (e) => isKeywardError(e) && e.code === c && re.test(e.message));
    code(() => sign('ed25519', ed.private, msg, { hash: 'sha512' }), 'OPTION_UNSUPPORTED', /digest/);
    code(() => sign('ecdsa-p384', ec.private, msg, { rsaPadding: 'pkcs1v15' }), 'OPTION_UNSUPPORTED', /RSA only/);
    code(
      () => sign('rsa-3072', rsa.private, msg, { rsaPadding: 'pkcs1v15', pssSaltLength: 20 }),
      'OPTION_UNSUPPORTED',
      /PSS only/,
    );
    code(() => sign('rsa-3072', rsa.private, msg, { pssSaltLength: 400 }), 'OPTION_INVALID', /0 to 350/);
    code(
      () => sign('rsa-3072', rsa.private, msg, { hash: 'md5' as never }),
      'OPTION_INVALID',
      /expected one of sha224/,
    );
  });
});
