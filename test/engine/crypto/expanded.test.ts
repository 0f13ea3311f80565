/**
 * Expanded private keys (engine/crypto/expanded.ts): the expanded form is exactly what the FIPS
 * vectors give for a seed, X-Wing decapsulation from it reproduces the draft's vectors and noble's
 * `ml_kem768_x25519` (good, tampered, foreign and low-order ciphertexts), signatures made with it
 * verify, it crosses the worker pool intact, and misuse is a TypeError/RangeError.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ml_kem768_x25519 } from '@noble/post-quantum/hybrid.js';
import { isKeywardError } from '../../../lib/errors.js';
import {
  expandPrivateKey,
  isExpandable,
  isExpandedKey,
  wipeExpandedKey,
  type ExpandedKey,
} from '../../../engine/crypto/expanded.js';
import { decapsulate, encapsulate } from '../../../engine/crypto/kem.js';
import { generateKey } from '../../../engine/crypto/material.js';
import { CryptoPool } from '../../../engine/crypto/pool.js';
import { sign, verify } from '../../../engine/crypto/sign.js';
import { KEY_TYPES, type KeyType } from '../../../engine/crypto/types.js';
import { acvp, hex, report, toHex, xwing } from './vectors.js';

const msg = new TextEncoder().encode('expanded');
const KEMS = ['ml-kem-512', 'ml-kem-768', 'ml-kem-1024', 'x-wing'] as const;
const SIGNERS = ['ml-dsa-44', 'ml-dsa-65', 'ml-dsa-87', 'ml-dsa-65-ed25519'] as const;

// Curve25519 points of small order (little-endian u), as listed by libsodium and RFC 7748 §6.1's
// advice: 0, 1, the two points of order 8, and p−1, p, p+1.
const X25519_LOW_ORDER = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
];

describe('expanded keys: published vectors', () => {
  it('ACVP ML-DSA and ML-KEM keyGen: the expanded form of the seed is the vector’s sk / dk', () => {
    let ran = 0;
    const dsa = { 'ML-DSA-44': 'ml-dsa-44', 'ML-DSA-65': 'ml-dsa-65', 'ML-DSA-87': 'ml-dsa-87' } as const;
    for (const g of acvp('ML-DSA-keyGen-FIPS204')) {
      for (const t of g.tests) {
        const k = expandPrivateKey(dsa[g.parameterSet as keyof typeof dsa], hex(t.seed));
        assert.equal(toHex(k.parts[0]!), String(t.sk).toLowerCase());
        ran++;
      }
    }
    const kem = { 'ML-KEM-512': 'ml-kem-512', 'ML-KEM-768': 'ml-kem-768', 'ML-KEM-1024': 'ml-kem-1024' } as const;
    for (const g of acvp('ML-KEM-keyGen-FIPS203')) {
      for (const t of g.tests) {
        const k = expandPrivateKey(kem[g.parameterSet as keyof typeof kem], new Uint8Array([...hex(t.d), ...hex(t.z)]));
        assert.equal(toHex(k.parts[0]!), String(t.dk).toLowerCase());
        ran++;
      }
    }
    report('ACVP keyGen through expandPrivateKey', ran, {});
  });

  it('X-Wing draft vectors: decapsulate(expanded, ct) = ss; the X25519 public part is the pk’s tail', () => {
    let ran = 0;
    for (const v of xwing()) {
      const k = expandPrivateKey('x-wing', hex(v.seed));
      assert.equal(toHex(decapsulate('x-wing', k, hex(v.ct))), v.ss);
      assert.equal(toHex(k.parts[2]!), v.pk.slice(-64));
      ran++;
    }
    report('X-Wing draft (expanded)', ran, {});
  });
});

describe('expanded keys: same results as seeds', () => {
  for (const type of KEMS) {
    it(`${type}: good, tampered and foreign ciphertexts decapsulate as from the seed${type === 'x-wing' ? ' and as noble does' : ''}`, () => {
      const seed = generateKey(type);
      const k = expandPrivateKey(type, seed.private);
      const cts: Uint8Array[] = [];
      for (let i = 0; i < 4; i++) cts.push(encapsulate(type, seed.public!).ciphertext);
      const good = cts[0]!;
      for (const at of [0, good.length >> 1, good.length - 33, good.length - 1]) {
        const bad = new Uint8Array(good);
        bad[at]! ^= 0x04;
        cts.push(bad);
      }
      cts.push(encapsulate(type, generateKey(type).public!).ciphertext);
      for (const ct of cts) {
        const fromSeed = decapsulate(type, seed.private, ct);
        assert.deepEqual(decapsulate(type, k, ct), fromSeed);
        if (type === 'x-wing') assert.deepEqual(ml_kem768_x25519.decapsulate(ct, seed.private), fromSeed);
      }
    });
  }

  it('x-wing: a low-order X25519 part is CIPHERTEXT_INVALID from the seed and from the expanded key alike', () => {
    const seed = generateKey('x-wing');
    const k = expandPrivateKey('x-wing', seed.private);
    const ct = encapsulate('x-wing', seed.public!).ciphertext;
    for (const point of X25519_LOW_ORDER) {
      const bad = new Uint8Array(ct);
      bad.set(hex(point), bad.length - 32);
      assert.throws(() => ml_kem768_x25519.decapsulate(bad, seed.private), 'noble refuses it');
      for (const priv of [seed.private, k]) {
        assert.throws(
          () => decapsulate('x-wing', priv, bad),
          (e: unknown) => isKeywardError(e, 'CIPHERTEXT_INVALID') && /low-order/.test(e.message),
          point,
        );
      }
    }
  });

  for (const type of SIGNERS) {
    it(`${type}: signatures from the expanded key verify, with and without context; wrong message fails`, () => {
      const seed = generateKey(type);
      const k = expandPrivateKey(type, seed.private);
      const ctx = new Uint8Array([1, 2, 3]);
      assert.equal(verify(type, seed.public!, msg, sign(type, k, msg)), true);
      assert.equal(verify(type, seed.public!, msg, sign(type, k, msg, { context: ctx }), { context: ctx }), true);
      assert.equal(verify(type, seed.public!, msg, sign(type, k, msg, { context: ctx })), false);
      assert.equal(verify(type, seed.public!, new Uint8Array([...msg, 0]), sign(type, k, msg)), false);
    });
  }
});

describe('expanded keys: misuse and wiping', () => {
  it('only seed-stored post-quantum types expand; a key of another type or shape is refused', () => {
    for (const type of KEY_TYPES)
      assert.equal(
        isExpandable(type),
        (SIGNERS as readonly string[]).includes(type) || (KEMS as readonly string[]).includes(type),
        type,
      );
    assert.throws(() => expandPrivateKey('ed25519', new Uint8Array(32)), RangeError);
    assert.throws(() => expandPrivateKey('ml-dsa-44', new Uint8Array(31)), RangeError);
    const k44 = expandPrivateKey('ml-dsa-44', generateKey('ml-dsa-44').private);
    assert.throws(() => sign('ml-dsa-65', k44, msg), RangeError);
    assert.throws(() => sign('ed25519', { ...k44, type: 'ed25519' } as ExpandedKey, msg), RangeError);
    assert.throws(() => sign('ml-dsa-44', { ...k44, parts: [k44.parts[0]!.subarray(1)] }, msg), RangeError);
    assert.throws(() => sign('ml-dsa-44', { kind: 'other' } as unknown as ExpandedKey, msg), TypeError);
    const kem = expandPrivateKey('ml-kem-768', generateKey('ml-kem-768').private);
    assert.throws(() => decapsulate('ml-kem-512', kem, new Uint8Array(768)), RangeError);
  });

  it('wipeExpandedKey zeroes every part', () => {
    const k = expandPrivateKey('x-wing', generateKey('x-wing').private);
    wipeExpandedKey(k);
    for (const p of k.parts) assert.ok(p.every((b) => b === 0));
  });

  it('through the worker pool: expand, sign and decapsulate with the expanded key; the caller’s copy stays intact', async () => {
    const pool = new CryptoPool({ size: 1 });
    try {
      const dsa = generateKey('ml-dsa-65');
      const k = await pool.expand('ml-dsa-65', dsa.private);
      assert.ok(isExpandedKey(k));
      assert.deepEqual(k.parts, expandPrivateKey('ml-dsa-65', dsa.private).parts);
      const before = toHex(k.parts[0]!);
      assert.equal(verify('ml-dsa-65', dsa.public!, msg, await pool.sign('ml-dsa-65', k, msg)), true);
      assert.equal(toHex(k.parts[0]!), before, 'the pool sent a copy, not the cached key');
      assert.ok(
        dsa.private.some((b) => b !== 0),
        'the seed given to expand is untouched',
      );

      const xw = generateKey('x-wing');
      const xk = expandPrivateKey('x-wing', xw.private);
      const e = encapsulate('x-wing', xw.public!);
      assert.deepEqual(await pool.decapsulate('x-wing', xk, e.ciphertext), e.sharedSecret);
      assert.ok(
        xk.parts.every((p) => p.some((b) => b !== 0)),
        'the caller’s expanded key is intact',
      );
      const bad = new Uint8Array(e.ciphertext);
      bad.fill(0, bad.length - 32);
      await assert.rejects(pool.decapsulate('x-wing', xk, bad), (err: unknown) =>
        isKeywardError(err, 'CIPHERTEXT_INVALID'),
      );
      await assert.rejects(pool.expand('ed25519' as KeyType, new Uint8Array(32)), RangeError);
    } finally {
      await pool.close();
    }
  });
});
