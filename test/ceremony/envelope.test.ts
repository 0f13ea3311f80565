import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { utf8 } from '../../lib/bytes.js';
import {
  ENVELOPE_SUITE,
  EnvelopeSuiteId,
  XWING_ENC_LEN,
  XWING_PUBLIC_KEY_LEN,
  deriveXWingPublicKey,
  generateSessionKey,
  openEnvelope,
  sealEnvelope,
} from '../../ceremony/index.js';
import type { Envelope, XWingKeyPair } from '../../ceremony/index.js';
import { counting, flipByte, rejectsWithCode } from './helpers.js';

const info = utf8('keyward/test/v1\0info');
const aad = utf8('row 42');
const plaintext = counting(33);

let recipient: XWingKeyPair;
let other: XWingKeyPair;
let sealed: Envelope;

before(async () => {
  [recipient, other] = await Promise.all([generateSessionKey(), generateSessionKey()]);
  sealed = await sealEnvelope(recipient.publicKey, plaintext, info, aad);
});

describe('suite', () => {
  test('is X-Wing / HKDF-SHA256 / AES-256-GCM', () => {
    assert.deepEqual(EnvelopeSuiteId, { kem: 0x647a, kdf: 0x0001, aead: 0x0002 });
    assert.equal(ENVELOPE_SUITE, 'HPKE-X-Wing-HKDF-SHA256-AES-256-GCM');
  });
});

describe('keys', () => {
  test('session keys are fresh X-Wing key pairs', () => {
    assert.equal(recipient.seed.length, 32);
    assert.equal(recipient.publicKey.length, XWING_PUBLIC_KEY_LEN);
    assert.notDeepEqual(recipient.seed, other.seed);
    assert.notDeepEqual(recipient.publicKey, other.publicKey);
  });

  test('the public key is a function of the seed', async () => {
    assert.deepEqual(await deriveXWingPublicKey(recipient.seed), recipient.publicKey);
    // A view into a larger buffer must work too (the library reads `.buffer` whole).
    const big = new Uint8Array(100);
    big.set(recipient.seed, 10);
    assert.deepEqual(await deriveXWingPublicKey(big.subarray(10, 42)), recipient.publicKey);
  });

  test('refuses a seed of the wrong length', async () => {
    await assert.rejects(deriveXWingPublicKey(new Uint8Array(31)), RangeError);
  });
});

describe('seal and open', () => {
  test('round trip', async () => {
    assert.equal(sealed.enc.length, XWING_ENC_LEN);
    assert.equal(sealed.ciphertext.length, plaintext.length + 16);
    assert.deepEqual(await openEnvelope(recipient.seed, sealed, info, aad), plaintext);
  });

  test('round trip with empty plaintext, info and aad, and with views', async () => {
    const e = await sealEnvelope(recipient.publicKey, new Uint8Array(0), new Uint8Array(0), new Uint8Array(0));
    assert.deepEqual(await openEnvelope(recipient.seed, e, new Uint8Array(0), new Uint8Array(0)), new Uint8Array(0));
    const padded = new Uint8Array(2000);
    padded.set(recipient.publicKey, 7);
    const viaView = await sealEnvelope(padded.subarray(7, 7 + XWING_PUBLIC_KEY_LEN), plaintext, info, aad);
    assert.deepEqual(await openEnvelope(recipient.seed, viaView, info, aad), plaintext);
  });

  test('every seal is randomized', async () => {
    const again = await sealEnvelope(recipient.publicKey, plaintext, info, aad);
    assert.notDeepEqual(again.enc, sealed.enc);
    assert.notDeepEqual(again.ciphertext, sealed.ciphertext);
  });

  const failures: Array<[string, () => Promise<unknown>]> = [
    ['the wrong key', () => openEnvelope(other.seed, sealed, info, aad)],
    ['the wrong info', () => openEnvelope(recipient.seed, sealed, utf8('keyward/test/v1\0infO'), aad)],
    ['empty info', () => openEnvelope(recipient.seed, sealed, new Uint8Array(0), aad)],
    ['the wrong aad', () => openEnvelope(recipient.seed, sealed, info, utf8('row 43'))],
    [
      'a flipped byte in enc (ML-KEM part)',
      () => openEnvelope(recipient.seed, { ...sealed, enc: flipByte(sealed.enc, 0) }, info, aad),
    ],
    [
      'a flipped byte in enc (X25519 part)',
      () => openEnvelope(recipient.seed, { ...sealed, enc: flipByte(sealed.enc, -1) }, info, aad),
    ],
    [
      'a flipped byte in the ciphertext',
      () => openEnvelope(recipient.seed, { ...sealed, ciphertext: flipByte(sealed.ciphertext, 0) }, info, aad),
    ],
    [
      'a flipped byte in the tag',
      () => openEnvelope(recipient.seed, { ...sealed, ciphertext: flipByte(sealed.ciphertext, -1) }, info, aad),
    ],
    [
      'a truncated ciphertext',
      () => openEnvelope(recipient.seed, { ...sealed, ciphertext: sealed.ciphertext.subarray(0, 10) }, info, aad),
    ],
    [
      'a truncated enc',
      () => openEnvelope(recipient.seed, { ...sealed, enc: sealed.enc.subarray(0, 1119) }, info, aad),
    ],
    [
      'swapped enc and ciphertext',
      () => openEnvelope(recipient.seed, { enc: sealed.ciphertext, ciphertext: sealed.enc }, info, aad),
    ],
  ];
  for (const [what, open] of failures) {
    test(`opening with ${what} is ENVELOPE_OPEN_FAILED, with a generic message`, async () => {
      const err = await rejectsWithCode(open(), 'ENVELOPE_OPEN_FAILED');
      assert.equal(err.message, 'cannot open the envelope: wrong key, wrong context or modified data');
      assert.ok(err.cause !== undefined);
    });
  }

  test('sealing to a public key the KEM rejects is ENVELOPE_SEAL_FAILED', async () => {
    // ML-KEM-768 encapsulation key coefficients must be < q; 0xff… is not (FIPS 203 §7.2).
    await rejectsWithCode(
      sealEnvelope(new Uint8Array(XWING_PUBLIC_KEY_LEN).fill(0xff), plaintext, info, aad),
      'ENVELOPE_SEAL_FAILED',
    );
  });

  test('wrong argument types are programmer errors', async () => {
    await assert.rejects(sealEnvelope(new Uint8Array(10), plaintext, info, aad), RangeError);
    await assert.rejects(sealEnvelope(recipient.publicKey, 'text' as unknown as Uint8Array, info, aad), TypeError);
    await assert.rejects(openEnvelope(new Uint8Array(16), sealed, info, aad), RangeError);
    await assert.rejects(openEnvelope(recipient.seed, null as unknown as Envelope, info, aad), TypeError);
  });
});
