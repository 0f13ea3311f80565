import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createDecipheriv, privateDecrypt, constants, createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { ml_kem768 } from '@noble/post-quantum/ml-kem.js';
import { ml_kem768_x25519 } from '@noble/post-quantum/hybrid.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { isKeywardError } from '../../../lib/errors.js';
import {
  ML_KEM_BYOK_INFO,
  WRAPPING_ALGORITHMS,
  X_WING_BYOK_INFO,
  exportWrappingKey,
  generateWrappingKey,
  importWrappingKey,
  parseWrappingKey,
  unwrapKeyMaterial,
  wrapKeyMaterial,
  wrappingKeyType,
} from '../../../engine/crypto/byok.js';
import { kwpUnwrap, kwpWrap, kwpWrappedLength } from '../../../engine/crypto/kwp.js';
import { generateKey, importPrivateKey } from '../../../engine/crypto/material.js';
import { KEY_TYPES } from '../../../engine/crypto/types.js';
import { hex, toHex, wycheproof } from './vectors.js';
import { fixedRsaKeyPair, fixedRsaMaterial } from '../../helpers/rsa.js';

interface KwpVectors {
  tests: Array<{ tcId: number; comment: string; key: string; msg: string; ct: string; result: 'valid' | 'invalid' }>;
}

/** Length of each construction's asymmetric head (RSA-OAEP-3072, ML-KEM-768 and X-Wing ciphertexts). */
const HEAD = { 'rsa-oaep-3072-aes-kwp': 384, 'ml-kem-768': 1088, 'x-wing': 1120 } as const;
const GENERIC = 'the wrapped key does not unwrap with the wrapping key (wrong wrapping key or algorithm, or modified)';
const isGeneric = (e: unknown) => isKeywardError(e) && e.code === 'WRAPPED_KEY_INVALID' && e.message === GENERIC;
const isLength = (e: unknown) =>
  isKeywardError(e) && e.code === 'WRAPPED_KEY_INVALID' && /expected \d+ bytes of/.test(e.message);

describe('kwp: AES-256-KWP (RFC 5649) against Wycheproof', () => {
  for (const t of wycheproof<KwpVectors>('aes_kwp_256').tests) {
    it(`tcId ${t.tcId} ${t.result} (${t.comment})`, () => {
      if (t.result === 'valid') {
        assert.equal(toHex(kwpWrap(hex(t.key), hex(t.msg))), t.ct);
        assert.equal(toHex(kwpUnwrap(hex(t.key), hex(t.ct))!), t.msg);
      } else {
        assert.equal(kwpUnwrap(hex(t.key), hex(t.ct)), undefined);
      }
    });
  }

  it('unwrap ∘ wrap = id; any flipped bit, wrong KEK or truncation is undefined', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 1, maxLength: 300 }),
        fc.nat(),
        (kek, m, at) => {
          const w = kwpWrap(kek, m);
          assert.equal(w.length, kwpWrappedLength(m.length));
          assert.deepEqual(kwpUnwrap(kek, w), m);
          const flipped = w.slice();
          flipped[at % w.length]! ^= 1 << (at % 8);
          assert.equal(kwpUnwrap(kek, flipped), undefined);
          assert.equal(kwpUnwrap(kek, w.subarray(0, w.length - 8)), undefined);
          const other = kek.slice();
          other[0]! ^= 1;
          assert.equal(kwpUnwrap(other, w), undefined);
        },
      ),
      { numRuns: 50 },
    );
    assert.equal(kwpUnwrap(new Uint8Array(32), new Uint8Array(17)), undefined);
    assert.equal(kwpUnwrap(new Uint8Array(32), new Uint8Array(8)), undefined);
    assert.throws(() => kwpWrap(new Uint8Array(31), new Uint8Array(8)), RangeError);
    assert.throws(() => kwpWrap(new Uint8Array(32), new Uint8Array(0)), RangeError);
  });
});

describe('byok: wrapping constructions', () => {
  const keys = Object.fromEntries(WRAPPING_ALGORITHMS.map((a) => [a, generateWrappingKey(a)]));

  it('wrapping keys are an rsa-3072, an ml-kem-768 and an x-wing key, published as PEM and base64 raw', () => {
    assert.equal(wrappingKeyType('rsa-oaep-3072-aes-kwp'), 'rsa-3072');
    assert.equal(wrappingKeyType('ml-kem-768'), 'ml-kem-768');
    assert.equal(wrappingKeyType('x-wing'), 'x-wing');
    const xw = exportWrappingKey('x-wing', keys['x-wing']!.public!);
    assert.deepEqual([xw.format, Buffer.from(xw.publicKey, 'base64').length], ['raw', 1216]);
    assert.deepEqual(importWrappingKey('x-wing', xw.publicKey), keys['x-wing']!.public);
    const rsa = exportWrappingKey('rsa-oaep-3072-aes-kwp', keys['rsa-oaep-3072-aes-kwp']!.public!);
    assert.match(rsa.publicKey, /^-----BEGIN PUBLIC KEY-----/);
    assert.equal(rsa.format, 'pem');
    assert.match(rsa.fingerprint, /^[0-9a-f]{64}$/);
    assert.deepEqual(importWrappingKey('rsa-oaep-3072-aes-kwp', rsa.publicKey), keys['rsa-oaep-3072-aes-kwp']!.public);
    const kem = exportWrappingKey('ml-kem-768', keys['ml-kem-768']!.public!);
    assert.equal(Buffer.from(kem.publicKey, 'base64').length, 1184);
    assert.deepEqual(importWrappingKey('ml-kem-768', kem.publicKey), keys['ml-kem-768']!.public);
  });

  // Every key type's material, made once for the three algorithms; the RSA ones are the fixture keys
  // (test/helpers/rsa.ts): wrapping is tested here, not RSA generation, which cost this file seconds
  // of CPU (an RSA-4096 keygen alone costs a second; the rsa-3072 wrapping key above is still made).
  let materials: Map<(typeof KEY_TYPES)[number], Uint8Array> | undefined;
  const materialOf = (type: (typeof KEY_TYPES)[number]): Uint8Array => {
    materials ??= new Map();
    if (!materials.has(type))
      materials.set(
        type,
        type === 'rsa-3072' || type === 'rsa-4096'
          ? fixedRsaMaterial(type === 'rsa-3072' ? 3072 : 4096).private
          : generateKey(type).private,
      );
    return materials.get(type)!;
  };

  for (const alg of WRAPPING_ALGORITHMS) {
    it(`${alg}: every key type's canonical material round-trips`, () => {
      const { public: pub, private: priv } = keys[alg]!;
      for (const type of KEY_TYPES) {
        if (type.startsWith('slh-dsa-sha2-') && type.endsWith('s')) continue; // keygen takes seconds; 128f covers the format
        const m = materialOf(type);
        const back = unwrapKeyMaterial(alg, priv, wrapKeyMaterial(alg, pub!, m));
        assert.deepEqual(back, m, type);
        assert.ok(importPrivateKey(type, back), type);
      }
    });

    it(`${alg}: wrong wrapping key, modified head or body, wrong algorithm → one generic error; bad lengths say so`, () => {
      const { public: pub, private: priv } = keys[alg]!;
      const w = wrapKeyMaterial(alg, pub!, new Uint8Array(32).fill(7));
      const head = HEAD[alg];
      // Some other key of the algorithm's type: a fixture for RSA (a second keygen costs up to a second).
      const otherKey =
        alg === 'rsa-oaep-3072-aes-kwp' ? fixedRsaMaterial('3072-b').private : generateWrappingKey(alg).private;
      assert.throws(() => unwrapKeyMaterial(alg, otherKey, w), isGeneric);
      for (const at of [0, head - 1, head, w.length - 1]) {
        const bad = w.slice();
        bad[at]! ^= 0x80;
        assert.throws(() => unwrapKeyMaterial(alg, priv, bad), isGeneric, `flip at ${at}`);
      }
      for (const otherAlg of WRAPPING_ALGORITHMS.filter((a) => a !== alg)) {
        assert.throws(
          () => unwrapKeyMaterial(otherAlg, keys[otherAlg]!.private, w),
          (e: unknown) => isGeneric(e) || isLength(e),
          otherAlg,
        );
      }
      for (const cut of [
        new Uint8Array(0),
        w.subarray(0, head),
        w.subarray(0, head + 8),
        w.subarray(0, w.length - 1),
        new Uint8Array([...w, 0]),
      ]) {
        assert.throws(() => unwrapKeyMaterial(alg, priv, cut), isLength, `length ${cut.length}`);
      }
      assert.throws(() => unwrapKeyMaterial(alg, priv, w.subarray(0, w.length - 8)), isGeneric);
    });
  }

  it('rsa-oaep-3072-aes-kwp is exactly RSA-OAEP-SHA256(kek) ‖ AES-256-KWP(kek, material): unwrapped here with plain node:crypto', () => {
    const { public: pub, private: priv } = keys['rsa-oaep-3072-aes-kwp']!;
    const m = new TextEncoder().encode('thirty-two bytes of key material');
    const w = wrapKeyMaterial('rsa-oaep-3072-aes-kwp', pub!, m);
    const key = createPrivateKey({ key: Buffer.from(priv), format: 'der', type: 'pkcs8' });
    const kek = privateDecrypt(
      { key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
      w.subarray(0, 384),
    );
    assert.equal(kek.length, 32);
    const d = createDecipheriv('id-aes256-wrap-pad', kek, Buffer.from('a65959a6', 'hex'));
    assert.deepEqual(new Uint8Array(Buffer.concat([d.update(w.subarray(384)), d.final()])), m);
  });

  it('ml-kem-768 is exactly ct ‖ AES-256-KWP(HKDF-SHA-256(ss, "", info), material): unwrapped here with noble', () => {
    assert.equal(ML_KEM_BYOK_INFO, 'keyward/byok/v1 ml-kem-768 aes-256-kwp');
    const { public: pub, private: seed } = keys['ml-kem-768']!;
    const m = new Uint8Array(64).map((_, i) => i);
    const w = wrapKeyMaterial('ml-kem-768', pub!, m);
    const ss = ml_kem768.decapsulate(w.subarray(0, 1088), ml_kem768.keygen(seed).secretKey);
    const kek = hkdf(sha256, ss, new Uint8Array(0), new TextEncoder().encode(ML_KEM_BYOK_INFO), 32);
    const d = createDecipheriv('id-aes256-wrap-pad', kek, Buffer.from('a65959a6', 'hex'));
    assert.deepEqual(new Uint8Array(Buffer.concat([d.update(w.subarray(1088)), d.final()])), m);
  });

  it('x-wing is exactly ct ‖ AES-256-KWP(HKDF-SHA-256(ss, "", info), material): unwrapped here with noble and node:crypto', () => {
    assert.equal(X_WING_BYOK_INFO, 'keyward/byok/v1 x-wing aes-256-kwp');
    const { public: pub, private: seed } = keys['x-wing']!;
    const m = generateKey('ed25519').private;
    const w = wrapKeyMaterial('x-wing', pub!, m);
    assert.equal(w.length, 1120 + 8 + 8 * Math.ceil(m.length / 8));
    const ss = ml_kem768_x25519.decapsulate(w.subarray(0, 1120), ml_kem768_x25519.keygen(seed).secretKey);
    const kek = hkdf(sha256, ss, new Uint8Array(0), new TextEncoder().encode(X_WING_BYOK_INFO), 32);
    const d = createDecipheriv('id-aes256-wrap-pad', kek, Buffer.from('a65959a6', 'hex'));
    assert.deepEqual(new Uint8Array(Buffer.concat([d.update(w.subarray(1120)), d.final()])), m);
    // A low-order X25519 part is refused by X-Wing; here it is the same generic failure as any other.
    const low = w.slice().fill(0, 1088, 1120);
    assert.throws(() => unwrapKeyMaterial('x-wing', seed, low), isGeneric);
  });

  it("parseWrappingKey (export: the receiver's key) takes each algorithm's form and names what it expects otherwise", () => {
    for (const alg of WRAPPING_ALGORITHMS) {
      const pub = keys[alg]!.public!;
      assert.deepEqual(parseWrappingKey(alg, exportWrappingKey(alg, pub).publicKey), pub);
    }
    const bad = (e: unknown, re: RegExp) =>
      isKeywardError(e) && e.code === 'WRAPPING_KEY_INVALID' && re.test(e.message);
    const rsaPem = exportWrappingKey('rsa-oaep-3072-aes-kwp', keys['rsa-oaep-3072-aes-kwp']!.public!).publicKey;
    assert.throws(
      () => parseWrappingKey('ml-kem-768', rsaPem),
      (e) => bad(e, /ml-kem-768 expects base64 of a raw ml-kem-768 public key/),
    );
    assert.throws(
      () => parseWrappingKey('x-wing', exportWrappingKey('ml-kem-768', keys['ml-kem-768']!.public!).publicKey),
      (e) => bad(e, /x-wing expects/),
    );
    assert.throws(
      () => parseWrappingKey('rsa-oaep-3072-aes-kwp', 'not a key'),
      (e) => bad(e, /RSA-3072 public key as PEM/),
    );
    const rsa2048 = fixedRsaKeyPair(2048).publicKey.export({ format: 'der', type: 'spki' }).toString('base64');
    assert.throws(
      () => parseWrappingKey('rsa-oaep-3072-aes-kwp', rsa2048),
      (e) => bad(e, /rsa-oaep-3072-aes-kwp expects/),
    );
  });

  it('a blob made with the Vault / AWS KMS openssl recipe (pkeyutl OAEP-SHA-256 + enc -id-aes256-wrap-pad) unwraps', (t) => {
    try {
      execFileSync('openssl', ['version'], { stdio: 'ignore' });
    } catch {
      t.skip('openssl is not installed');
      return;
    }
    const dir = mkdtempSync(join(tmpdir(), 'keyward-byok-'));
    try {
      const { public: pub, private: priv } = keys['rsa-oaep-3072-aes-kwp']!;
      writeFileSync(join(dir, 'wrapping.pem'), exportWrappingKey('rsa-oaep-3072-aes-kwp', pub!).publicKey);
      const material = generateKey('ecdsa-p256').private;
      writeFileSync(join(dir, 'key.der'), material);
      const kek = Buffer.alloc(32, 0x5a);
      writeFileSync(join(dir, 'kek.bin'), kek);
      const run = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
      run([
        'pkeyutl',
        '-encrypt',
        '-pubin',
        '-inkey',
        'wrapping.pem',
        '-in',
        'kek.bin',
        '-out',
        'kek.enc',
        '-pkeyopt',
        'rsa_padding_mode:oaep',
        '-pkeyopt',
        'rsa_oaep_md:sha256',
        '-pkeyopt',
        'rsa_mgf1_md:sha256',
      ]);
      run([
        'enc',
        '-id-aes256-wrap-pad',
        '-K',
        kek.toString('hex'),
        '-iv',
        'A65959A6',
        '-in',
        'key.der',
        '-out',
        'key.wrapped',
      ]);
      const blob = new Uint8Array(
        Buffer.concat([readFileSync(join(dir, 'kek.enc')), readFileSync(join(dir, 'key.wrapped'))]),
      );
      assert.deepEqual(unwrapKeyMaterial('rsa-oaep-3072-aes-kwp', priv, blob), material);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
