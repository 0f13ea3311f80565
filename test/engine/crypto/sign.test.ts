import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, constants, verify as nodeVerify } from 'node:crypto';
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import { p256 } from '@noble/curves/nist.js';
import { ED25519_TORSION_SUBGROUP } from '@noble/curves/ed25519.js';
import { ml_dsa44, ml_dsa65, ml_dsa87 } from '@noble/post-quantum/ml-dsa.js';
import { slh_dsa_sha2_128f } from '@noble/post-quantum/slh-dsa.js';
import { isKeywardError } from '../../../lib/errors.js';
import { compositeMessage, formatSignature, parseSignature, sign, verify } from '../../../engine/crypto/sign.js';
import { exportPublicKey, generateKey, importPublicKey, publicKeyOf } from '../../../engine/crypto/material.js';
import type { KeyType } from '../../../engine/crypto/types.js';
import { acvp, ed25519Pkcs8, ed25519Spki, hex, report, rfc8032, toHex } from './vectors.js';

const msg = new TextEncoder().encode('keyward signs this');
const FAST: KeyType[] = [
  'ed25519',
  'ecdsa-p256',
  'ecdsa-p384',
  'rsa-3072',
  'ml-dsa-44',
  'ml-dsa-65',
  'ml-dsa-87',
  'slh-dsa-sha2-128f',
  'ml-dsa-65-ed25519',
];
const keys = new Map<KeyType, { private: Uint8Array; public: Uint8Array }>();
function keyOf(t: KeyType) {
  let k = keys.get(t);
  if (!k) {
    const g = generateKey(t);
    k = { private: g.private, public: g.public! };
    keys.set(t, k);
  }
  return k;
}

describe('sign: published vectors', () => {
  it('RFC 8032 §7.1 Ed25519 (sign is deterministic: exact signatures); ctx/ph variants not exposed', () => {
    let ran = 0;
    for (const v of rfc8032('ed25519')) {
      const priv = ed25519Pkcs8(hex(v.secretKey));
      assert.equal(toHex(publicKeyOf('ed25519', priv)!.subarray(12)), v.publicKey);
      const sig = sign('ed25519', priv, hex(v.message));
      assert.equal(toHex(sig), v.signature);
      assert.equal(verify('ed25519', ed25519Spki(hex(v.publicKey)), hex(v.message), sig), true);
      ran++;
    }
    report('RFC 8032', ran, {
      'Ed25519ctx (not exposed)': rfc8032('ed25519ctx').length,
      'Ed25519ph (not exposed)': rfc8032('ed25519ph').length,
    });
  });

  it('ACVP EdDSA SigVer, ED-25519 pure', () => {
    let ran = 0;
    const skipped = { 'ED-448': 0, 'pre-hash (Ed25519ph)': 0 };
    for (const g of acvp('EDDSA-SigVer-1.0')) {
      if (g.curve !== 'ED-25519') {
        skipped['ED-448'] += g.tests.length;
        continue;
      }
      if (g.preHash) {
        skipped['pre-hash (Ed25519ph)'] += g.tests.length;
        continue;
      }
      for (const t of g.tests) {
        assert.equal(
          verify('ed25519', ed25519Spki(hex(t.q)), hex(t.message), hex(t.signature)),
          t.testPassed,
          `tcId ${String(t.tcId)} ${String(t.reason)}`,
        );
        ran++;
      }
    }
    report('ACVP EdDSA SigVer', ran, skipped);
  });

  it('ACVP ECDSA SigVer, P-256 and P-384 (SHA-2 groups; digests other than the key type’s hash go through prehashed)', () => {
    let ran = 0;
    const skipped = { 'P-224/P-521': 0, 'SHA-3/SHAKE/SHA2-512/256': 0 };
    for (const g of acvp('ECDSA-SigVer-FIPS186-5')) {
      const type = g.curve === 'P-256' ? 'ecdsa-p256' : g.curve === 'P-384' ? 'ecdsa-p384' : undefined;
      if (!type) {
        skipped['P-224/P-521'] += g.tests.length;
        continue;
      }
      if (g.hashAlg !== 'SHA2-256' && g.hashAlg !== 'SHA2-512') {
        skipped['SHA-3/SHAKE/SHA2-512/256'] += g.tests.length;
        continue;
      }
      const n = type === 'ecdsa-p256' ? 32 : 48;
      for (const t of g.tests) {
        const spki = new Uint8Array(
          createPublicKey({
            key: {
              kty: 'EC',
              crv: String(g.curve),
              x: Buffer.from(hex(t.qx)).toString('base64url'),
              y: Buffer.from(hex(t.qy)).toString('base64url'),
            },
            format: 'jwk',
          }).export({ format: 'der', type: 'spki' }),
        );
        const sig = new Uint8Array([
          ...hex(String(t.r).padStart(2 * n, '0')),
          ...hex(String(t.s).padStart(2 * n, '0')),
        ]);
        const m = hex(t.message);
        let ok: boolean;
        if (type === 'ecdsa-p256' && g.hashAlg === 'SHA2-256') {
          ok = verify(type, spki, m, sig, { encoding: 'p1363' });
        } else {
          // FIPS 186-5 §6.4.2: e = leftmost min(N, hashlen) bits of H(M). A longer digest is cut to
          // N bits, a shorter one left-padded with zeros: both give the same integer e.
          const h = g.hashAlg === 'SHA2-256' ? sha256(m) : sha512(m);
          const digest = h.length >= n ? h.subarray(0, n) : new Uint8Array([...new Uint8Array(n - h.length), ...h]);
          ok = verify(type, spki, digest, sig, { encoding: 'p1363', prehashed: true });
        }
        assert.equal(ok, t.testPassed, `tcId ${String(t.tcId)} ${String(t.reason)}`);
        ran++;
      }
    }
    report('ACVP ECDSA SigVer', ran, skipped);
  });

  it('ACVP ML-DSA keyGen: the seed is the canonical private key', () => {
    const alg = {
      'ML-DSA-44': ['ml-dsa-44', ml_dsa44],
      'ML-DSA-65': ['ml-dsa-65', ml_dsa65],
      'ML-DSA-87': ['ml-dsa-87', ml_dsa87],
    } as const;
    let ran = 0;
    for (const g of acvp('ML-DSA-keyGen-FIPS204')) {
      const [type, noble] = alg[g.parameterSet as keyof typeof alg];
      for (const t of g.tests) {
        assert.equal(toHex(publicKeyOf(type, hex(t.seed))!), String(t.pk).toLowerCase());
        assert.equal(toHex(noble.keygen(hex(t.seed)).secretKey), String(t.sk).toLowerCase());
        ran++;
      }
    }
    report('ACVP ML-DSA keyGen', ran, {});
  });

  it('ACVP ML-DSA sigVer, external interface, pure, with context', () => {
    const type = { 'ML-DSA-44': 'ml-dsa-44', 'ML-DSA-65': 'ml-dsa-65', 'ML-DSA-87': 'ml-dsa-87' } as const;
    let ran = 0;
    const skipped = { 'HashML-DSA pre-hash': 0, 'internal interface / external-mu': 0 };
    for (const g of acvp('ML-DSA-sigVer-FIPS204')) {
      if (g.signatureInterface !== 'external' || g.externalMu) {
        skipped['internal interface / external-mu'] += g.tests.length;
        continue;
      }
      if (g.preHash !== 'pure') {
        skipped['HashML-DSA pre-hash'] += g.tests.length;
        continue;
      }
      for (const t of g.tests) {
        const ok = verify(type[g.parameterSet as keyof typeof type], hex(t.pk), hex(t.message), hex(t.signature), {
          context: hex(t.context ?? ''),
        });
        assert.equal(ok, t.testPassed, `tcId ${String(t.tcId)} ${String(t.reason)}`);
        ran++;
      }
    }
    report('ACVP ML-DSA sigVer', ran, skipped);
  });

  it('ACVP SLH-DSA keyGen (SHA2-128s/128f/256s; 3 per -s set, keygen is slow)', () => {
    const ours = {
      'SLH-DSA-SHA2-128s': 'slh-dsa-sha2-128s',
      'SLH-DSA-SHA2-128f': 'slh-dsa-sha2-128f',
      'SLH-DSA-SHA2-256s': 'slh-dsa-sha2-256s',
    } as const;
    let ran = 0;
    const skipped = { 'other parameter sets': 0, 'beyond 3 per -s set (time)': 0 };
    return import('@noble/post-quantum/slh-dsa.js').then((slh) => {
      const noble = {
        'slh-dsa-sha2-128s': slh.slh_dsa_sha2_128s,
        'slh-dsa-sha2-128f': slh.slh_dsa_sha2_128f,
        'slh-dsa-sha2-256s': slh.slh_dsa_sha2_256s,
      } as const;
      for (const g of acvp('SLH-DSA-keyGen-FIPS205')) {
        const type = ours[g.parameterSet as keyof typeof ours];
        if (!type) {
          skipped['other parameter sets'] += g.tests.length;
          continue;
        }
        const limit = type.endsWith('f') ? g.tests.length : 3;
        skipped['beyond 3 per -s set (time)'] += g.tests.length - limit;
        for (const t of g.tests.slice(0, limit)) {
          const seed = new Uint8Array([...hex(t.skSeed), ...hex(t.skPrf), ...hex(t.pkSeed)]);
          const k = noble[type].keygen(seed);
          assert.equal(toHex(k.secretKey), String(t.sk).toLowerCase());
          assert.equal(toHex(publicKeyOf(type, hex(t.sk))!), String(t.pk).toLowerCase());
          ran++;
        }
      }
      report('ACVP SLH-DSA keyGen', ran, skipped);
    });
  });
});

describe('sign/verify round trips and negatives', () => {
  for (const type of FAST) {
    it(`${type}: sign → verify; wrong key, message, truncation, extension, bit flip → false`, () => {
      const k = keyOf(type);
      const sig = sign(type, k.private, msg);
      assert.equal(verify(type, k.public, msg, sig), true);
      const other = type === 'rsa-3072' || type === 'slh-dsa-sha2-128f' ? undefined : generateKey(type).public!;
      if (other) assert.equal(verify(type, other, msg, sig), false);
      assert.equal(verify(type, k.public, new Uint8Array([...msg, 0]), sig), false);
      assert.equal(verify(type, k.public, msg, sig.subarray(0, sig.length - 1)), false);
      assert.equal(verify(type, k.public, msg, new Uint8Array([...sig, 0])), false);
      assert.equal(verify(type, k.public, msg, new Uint8Array(0)), false);
      for (const i of [0, sig.length >> 1, sig.length - 1]) {
        const bad = new Uint8Array(sig);
        bad[i]! ^= 0x80;
        assert.equal(verify(type, k.public, msg, bad), false, `flip at ${i}`);
      }
      assert.equal(verify(type, k.public, msg, 'nope' as unknown as Uint8Array), false);
    });
  }

  it('ML-DSA / SLH-DSA / composite: context strings are bound', () => {
    for (const type of ['ml-dsa-44', 'slh-dsa-sha2-128f', 'ml-dsa-65-ed25519'] as const) {
      const k = keyOf(type);
      const sig = sign(type, k.private, msg, { context: new Uint8Array([1, 2, 3]) });
      assert.equal(verify(type, k.public, msg, sig, { context: new Uint8Array([1, 2, 3]) }), true);
      assert.equal(verify(type, k.public, msg, sig, { context: new Uint8Array([1, 2]) }), false);
      assert.equal(verify(type, k.public, msg, sig), false);
    }
    assert.throws(
      () => sign('ml-dsa-44', keyOf('ml-dsa-44').private, msg, { context: new Uint8Array(256) }),
      (e: unknown) => isKeywardError(e, 'OPTION_INVALID'),
    );
    assert.throws(
      () => sign('ed25519', keyOf('ed25519').private, msg, { context: new Uint8Array(1) }),
      (e: unknown) => isKeywardError(e, 'OPTION_UNSUPPORTED'),
    );
    assert.throws(
      () => sign('ml-dsa-44', keyOf('ml-dsa-44').private, msg, { prehashed: true }),
      (e: unknown) => isKeywardError(e, 'OPTION_UNSUPPORTED'),
    );
    assert.throws(
      () => sign('ed25519', keyOf('ed25519').private, msg, { encoding: 'p1363' }),
      (e: unknown) => isKeywardError(e, 'OPTION_UNSUPPORTED'),
    );
  });

  it('composite: both components must verify; M′ follows the draft', () => {
    const k = keyOf('ml-dsa-65-ed25519');
    const sig = sign('ml-dsa-65-ed25519', k.private, msg);
    assert.equal(sig.length, 3309 + 64);
    const mPrime = compositeMessage(msg, new Uint8Array(0));
    assert.equal(
      new TextDecoder().decode(mPrime.subarray(0, 62)),
      'CompositeAlgorithmSignatures2025COMPSIG-MLDSA65-Ed25519-SHA512',
    );
    assert.equal(mPrime[62], 0);
    assert.deepEqual(mPrime.subarray(63), sha512(msg));
    // Each component verifies on its own under the published construction…
    assert.equal(
      ml_dsa65.verify(sig.subarray(0, 3309), mPrime, k.public.subarray(0, 1952), {
        context: new TextEncoder().encode('COMPSIG-MLDSA65-Ed25519-SHA512'),
      }),
      true,
    );
    // …and a valid ML-DSA half with a broken Ed25519 half (or vice versa) is rejected.
    const badEd = new Uint8Array(sig);
    badEd[3309 + 5]! ^= 1;
    assert.equal(verify('ml-dsa-65-ed25519', k.public, msg, badEd), false);
    const badMl = new Uint8Array(sig);
    badMl[100]! ^= 1;
    assert.equal(verify('ml-dsa-65-ed25519', k.public, msg, badMl), false);
    // Stripping the composite (an ML-DSA-65 signature over M alone) is not accepted.
    const lone = sign('ml-dsa-65', k.private.subarray(0, 32), msg);
    assert.equal(verify('ml-dsa-65-ed25519', k.public, msg, new Uint8Array([...lone, ...new Uint8Array(64)])), false);
  });

  it('ECDSA: low-S always emitted; high-S accepted (FIPS 186-5) unless requireLowS; strict DER; P1363 length', () => {
    for (const type of ['ecdsa-p256', 'ecdsa-p384'] as const) {
      const k = keyOf(type);
      const curve = type === 'ecdsa-p256' ? p256 : (null as never);
      for (let i = 0; i < 16; i++) {
        const der = sign(type, k.private, msg);
        assert.equal(der[0], 0x30);
        const p = sign(type, k.private, msg, { encoding: 'p1363' });
        assert.equal(p.length, type === 'ecdsa-p256' ? 64 : 96);
        assert.equal(verify(type, k.public, msg, p, { encoding: 'p1363' }), true);
        assert.equal(verify(type, k.public, msg, p), false, 'p1363 bytes are not DER');
        assert.equal(verify(type, k.public, msg, der, { encoding: 'p1363' }), false);
        if (type === 'ecdsa-p256') assert.equal(curve.Signature.fromBytes(p, 'compact').hasHighS(), false);
      }
    }
    const k = keyOf('ecdsa-p256');
    const sig = p256.Signature.fromBytes(sign('ecdsa-p256', k.private, msg, { encoding: 'p1363' }), 'compact');
    const high = new p256.Signature(sig.r, p256.Point.Fn.ORDER - sig.s);
    assert.equal(high.hasHighS(), true);
    assert.equal(verify('ecdsa-p256', k.public, msg, high.toBytes('compact'), { encoding: 'p1363' }), true);
    assert.equal(verify('ecdsa-p256', k.public, msg, high.toBytes('der')), true);
    assert.equal(verify('ecdsa-p256', k.public, msg, high.toBytes('der'), { requireLowS: true }), false);
    assert.equal(
      verify('ecdsa-p256', k.public, msg, high.toBytes('compact'), { encoding: 'p1363', requireLowS: true }),
      false,
    );
    assert.equal(verify('ecdsa-p256', k.public, msg, sig.toBytes('der'), { requireLowS: true }), true);
    assert.throws(
      () => verify('ed25519', keyOf('ed25519').public, msg, new Uint8Array(64), { requireLowS: true }),
      /OPTION_UNSUPPORTED|requireLowS/,
    );
    // node:crypto (OpenSSL) itself accepts the high-S twin: FIPS 186-5 verification does.
    assert.equal(
      nodeVerify(
        'sha256',
        msg,
        {
          key: createPublicKey({ key: Buffer.from(k.public), format: 'der', type: 'spki' }),
          dsaEncoding: 'ieee-p1363',
        },
        high.toBytes('compact'),
      ),
      true,
    );
    // Non-canonical DER: long-form length, extra leading zero in r, trailing garbage, BER indefinite.
    const der = sig.toBytes('der');
    const longForm = new Uint8Array([0x30, 0x81, der[1]!, ...der.subarray(2)]);
    const r = sig.r.toString(16).padStart(64, '0'),
      s = sig.s.toString(16).padStart(64, '0');
    const paddedR = hex(`30${(der[1]! + 1).toString(16)}0221${der[3] === 0x21 ? '' : '00'}` + toHex(der.subarray(4)));
    for (const bad of [longForm, new Uint8Array([...der, 0]), paddedR, hex(`3080${toHex(der.subarray(2))}0000`)]) {
      assert.equal(verify('ecdsa-p256', k.public, msg, bad), false);
    }
    // r = 0, s = 0, r = n.
    const n = p256.Point.Fn.ORDER.toString(16).padStart(64, '0');
    for (const bad of ['00'.repeat(32) + s, r + '00'.repeat(32), n + s])
      assert.equal(verify('ecdsa-p256', k.public, msg, hex(bad), { encoding: 'p1363' }), false);
    // Prehashed signing equals signing the digest's message.
    const d = sha256(msg);
    const pre = sign('ecdsa-p256', k.private, d, { prehashed: true });
    assert.equal(verify('ecdsa-p256', k.public, msg, pre), true);
    assert.equal(verify('ecdsa-p256', k.public, d, sign('ecdsa-p256', k.private, msg), { prehashed: true }), true);
    assert.throws(
      () => sign('ecdsa-p256', k.private, msg, { prehashed: true }),
      (e: unknown) => isKeywardError(e, 'OPTION_INVALID'),
    );
  });

  it('Ed25519: small-order public keys never verify (and cannot be imported)', () => {
    for (const h of ED25519_TORSION_SUBGROUP) {
      const pub = hex(h);
      // The classic forgery against a small-order key: R = identity-ish, S = 0.
      const forged = new Uint8Array([
        ...hex('0100000000000000000000000000000000000000000000000000000000000000'),
        ...new Uint8Array(32),
      ]);
      assert.equal(verify('ed25519', ed25519Spki(pub), msg, forged), false);
      assert.throws(
        () => importPublicKey('ed25519', ed25519Spki(pub)),
        (e: unknown) => isKeywardError(e, 'PUBLIC_KEY_INVALID'),
      );
    }
    // Non-canonical S (S + L) is rejected.
    const k = keyOf('ed25519');
    const sig = sign('ed25519', k.private, msg);
    const L = 2n ** 252n + 27742317777372353535851937790883648493n;
    let s = 0n;
    for (let i = 31; i >= 0; i--) s = (s << 8n) | BigInt(sig[32 + i]!);
    const s2 = s + L;
    const bad = new Uint8Array(sig);
    for (let i = 0; i < 32; i++) bad[32 + i] = Number((s2 >> BigInt(8 * i)) & 0xffn);
    assert.equal(verify('ed25519', k.public, msg, bad), false);
  });

  it('signature text: kw:v<N>:<base64>', () => {
    const sig = sign('ed25519', keyOf('ed25519').private, msg);
    const text = formatSignature(4, sig);
    assert.match(text, /^kw:v4:/);
    assert.deepEqual(parseSignature(text), { version: 4, signature: sig });
    assert.throws(
      () => parseSignature('kw:v4:***'),
      (e: unknown) => isKeywardError(e, 'SIGNATURE_INVALID'),
    );
  });
});

describe('interop: exported public keys verify outside Keyward', () => {
  it('PEM and JWK in node:crypto (Ed25519, ECDSA DER/P1363, RSA-PSS)', () => {
    for (const type of ['ed25519', 'ecdsa-p256', 'ecdsa-p384', 'rsa-3072'] as const) {
      const k = keyOf(type);
      const pem = exportPublicKey(type, k.public, 'pem');
      const jwk = exportPublicKey(type, k.public, 'jwk');
      assert.equal(pem.format, 'pem');
      const keys = [
        createPublicKey(pem.publicKey as string),
        createPublicKey({ key: jwk.publicKey as never, format: 'jwk' }),
      ];
      for (const key of keys) {
        if (type === 'ed25519') assert.equal(nodeVerify(null, msg, key, sign(type, k.private, msg)), true);
        else if (type === 'rsa-3072') {
          assert.equal(
            nodeVerify(
              'sha256',
              msg,
              { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 },
              sign(type, k.private, msg),
            ),
            true,
          );
        } else {
          const hash = type === 'ecdsa-p256' ? 'sha256' : 'sha384';
          assert.equal(nodeVerify(hash, msg, key, sign(type, k.private, msg)), true);
          assert.equal(
            nodeVerify(
              hash,
              msg,
              { key, dsaEncoding: 'ieee-p1363' },
              sign(type, k.private, msg, { encoding: 'p1363' }),
            ),
            true,
          );
        }
      }
    }
  });

  it('raw ML-DSA / SLH-DSA keys verify in @noble/post-quantum; AKP JWK carries the same bytes', () => {
    const nobles = {
      'ml-dsa-44': ml_dsa44,
      'ml-dsa-65': ml_dsa65,
      'ml-dsa-87': ml_dsa87,
      'slh-dsa-sha2-128f': slh_dsa_sha2_128f,
    } as const;
    for (const [type, noble] of Object.entries(nobles) as Array<
      [keyof typeof nobles, (typeof nobles)[keyof typeof nobles]]
    >) {
      const k = keyOf(type);
      const raw = exportPublicKey(type, k.public, 'raw');
      const pub = new Uint8Array(Buffer.from(raw.publicKey as string, 'base64'));
      const ctx = new Uint8Array([7]);
      assert.equal(noble.verify(sign(type, k.private, msg, { context: ctx }), msg, pub, { context: ctx }), true);
      const jwk = exportPublicKey(type, k.public, 'jwk').publicKey as { kty: string; pub: string };
      assert.equal(jwk.kty, 'AKP');
      assert.deepEqual(new Uint8Array(Buffer.from(jwk.pub, 'base64url')), pub);
      assert.deepEqual(importPublicKey(type, raw.publicKey as string), k.public);
    }
  });
});
