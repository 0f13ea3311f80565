import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ml_kem512, ml_kem768, ml_kem1024 } from '@noble/post-quantum/ml-kem.js';
import { ml_kem768_x25519 } from '@noble/post-quantum/hybrid.js';
import { isKeywardError } from '../../../lib/errors.js';
import { decapsulate, encapsulate, kemCiphertextLength } from '../../../engine/crypto/kem.js';
import { generateKey, importPublicKey, publicKeyOf } from '../../../engine/crypto/material.js';
import { acvp, hex, report, toHex, xwing } from './vectors.js';

const TYPES = {
  'ML-KEM-512': ['ml-kem-512', ml_kem512],
  'ML-KEM-768': ['ml-kem-768', ml_kem768],
  'ML-KEM-1024': ['ml-kem-1024', ml_kem1024],
} as const;

describe('kem: published vectors', () => {
  it('ACVP ML-KEM keyGen: seed d‖z (our private form) → ek, dk', () => {
    let ran = 0;
    for (const g of acvp('ML-KEM-keyGen-FIPS203')) {
      const [type, noble] = TYPES[g.parameterSet as keyof typeof TYPES];
      for (const t of g.tests) {
        const seed = new Uint8Array([...hex(t.d), ...hex(t.z)]);
        assert.equal(toHex(publicKeyOf(type, seed)!), String(t.ek).toLowerCase());
        assert.equal(toHex(noble.keygen(seed).secretKey), String(t.dk).toLowerCase());
        ran++;
      }
    }
    report('ACVP ML-KEM keyGen', ran, {});
  });

  it('ACVP ML-KEM encapDecap (noble, the primitive our API calls: vectors give expanded dk, our API takes seeds) and key checks through importPublicKey', () => {
    let ran = 0;
    const skipped = { 'decapsulationKeyCheck (our private keys are seeds: no expanded dk to check)': 0 };
    for (const g of acvp('ML-KEM-encapDecap-FIPS203')) {
      const [type, noble] = TYPES[g.parameterSet as keyof typeof TYPES];
      for (const t of g.tests) {
        if (g.function === 'encapsulation') {
          const r = noble.encapsulate(hex(t.ek), hex(t.m));
          assert.equal(toHex(r.cipherText), String(t.c).toLowerCase());
          assert.equal(toHex(r.sharedSecret), String(t.k).toLowerCase());
          assert.equal(toHex(noble.decapsulate(hex(t.c), hex(t.dk))), String(t.k).toLowerCase());
        } else if (g.function === 'decapsulation') {
          // Includes implicit-rejection cases: modified ciphertexts decapsulate to K̄, not an error.
          assert.equal(toHex(noble.decapsulate(hex(t.c), hex(t.dk))), String(t.k).toLowerCase());
        } else if (g.function === 'encapsulationKeyCheck') {
          let ok = true;
          try {
            importPublicKey(type, hex(t.ek));
          } catch (e) {
            assert.ok(isKeywardError(e, 'PUBLIC_KEY_INVALID'));
            ok = false;
          }
          assert.equal(ok, t.testPassed, `tcId ${String(t.tcId)} ${String(t.reason)}`);
        } else {
          skipped['decapsulationKeyCheck (our private keys are seeds: no expanded dk to check)']++;
          continue;
        }
        ran++;
      }
    }
    report('ACVP ML-KEM encapDecap', ran, skipped);
  });

  it('X-Wing draft vectors: seed → pk, decapsulate(ct) = ss through our API; noble reproduces ct', () => {
    let ran = 0;
    for (const v of xwing()) {
      const seed = hex(v.seed);
      assert.equal(v.sk, v.seed, 'the X-Wing decapsulation key is the seed');
      assert.equal(toHex(publicKeyOf('x-wing', seed)!), v.pk);
      assert.equal(toHex(decapsulate('x-wing', seed, hex(v.ct))), v.ss);
      const r = ml_kem768_x25519.encapsulate(hex(v.pk), hex(v.eseed));
      assert.equal(toHex(r.cipherText), v.ct);
      assert.equal(toHex(r.sharedSecret), v.ss);
      ran++;
    }
    report('X-Wing draft', ran, {});
  });
});

for (const type of ['ml-kem-512', 'ml-kem-768', 'ml-kem-1024', 'x-wing'] as const) {
  describe(`kem ${type}`, () => {
    const k = generateKey(type);
    const pub = k.public!;

    it('encapsulate → decapsulate gives the same 32-byte secret', () => {
      const e = encapsulate(type, pub);
      assert.equal(e.sharedSecret.length, 32);
      assert.equal(e.ciphertext.length, kemCiphertextLength(type));
      assert.deepEqual(decapsulate(type, k.private, e.ciphertext), e.sharedSecret);
    });

    it('implicit rejection: a modified ciphertext yields a different secret, never an error', () => {
      const e = encapsulate(type, pub);
      for (const i of [0, e.ciphertext.length >> 1, e.ciphertext.length - 1]) {
        const bad = new Uint8Array(e.ciphertext);
        bad[i]! ^= 1;
        const ss = decapsulate(type, k.private, bad);
        assert.equal(ss.length, 32);
        assert.notDeepEqual(ss, e.sharedSecret);
        assert.deepEqual(decapsulate(type, k.private, bad), ss, 'deterministic');
      }
      // Another key's ciphertext: also no error, another secret.
      const foreign = encapsulate(type, generateKey(type).public!);
      assert.notDeepEqual(decapsulate(type, k.private, foreign.ciphertext), foreign.sharedSecret);
    });

    it('wrong-length ciphertexts → CIPHERTEXT_INVALID', () => {
      const e = encapsulate(type, pub);
      for (const bad of [e.ciphertext.subarray(1), new Uint8Array([...e.ciphertext, 0]), new Uint8Array(0)]) {
        assert.throws(
          () => decapsulate(type, k.private, bad),
          (err: unknown) => isKeywardError(err, 'CIPHERTEXT_INVALID'),
        );
      }
    });

    it('interop: an encapsulation made with noble outside our API decapsulates with ours', () => {
      const noble =
        type === 'x-wing'
          ? ml_kem768_x25519
          : { 'ml-kem-512': ml_kem512, 'ml-kem-768': ml_kem768, 'ml-kem-1024': ml_kem1024 }[type];
      const raw = Buffer.from(pub).toString('base64');
      const imported = importPublicKey(type, raw);
      const r = noble.encapsulate(imported);
      assert.deepEqual(decapsulate(type, k.private, r.cipherText), r.sharedSecret);
    });

    it('public keys: wrong length or failing the modulus check are PUBLIC_KEY_INVALID', () => {
      assert.throws(
        () => importPublicKey(type, pub.subarray(1)),
        (e: unknown) => isKeywardError(e, 'PUBLIC_KEY_INVALID'),
      );
      const bad = new Uint8Array(pub);
      bad.fill(0xff, 0, 384); // coefficients 4095 ≥ q
      assert.throws(
        () => importPublicKey(type, bad),
        (e: unknown) => isKeywardError(e, 'PUBLIC_KEY_INVALID'),
      );
      assert.throws(
        () => encapsulate(type, bad),
        (e: unknown) => isKeywardError(e, 'PUBLIC_KEY_INVALID'),
      );
      assert.throws(
        () => importPublicKey(type, 'not base64!'),
        (e: unknown) => isKeywardError(e, 'PUBLIC_KEY_INVALID'),
      );
    });
  });
}
