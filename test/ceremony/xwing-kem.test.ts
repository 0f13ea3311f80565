/**
 * The @hpke/core X-Wing KEM over @noble (ceremony/xwing-kem.ts) against (1) the draft's own test
 * vectors (test/vectors/x-wing) and (2) the bytes that @hpke/hybridkem-x-wing 0.7.0, the KEM it
 * replaced, produced for fixed seeds and randomness on the day of the switch
 * (test/fixtures/ceremony/hpke-x-wing.json): key derivation, encapsulation, HPKE DeriveKeyPair and
 * whole RFC 9180 SealBase outputs must be identical, so every shard file and submission made before
 * the switch still opens, and new ones are the same bytes.
 * @module
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import {
  Aes256Gcm,
  CipherSuite,
  DecapError,
  DeserializeError,
  HkdfSha256,
  InvalidParamError,
  SerializeError,
} from '@hpke/core';
import { EnvelopeSuiteId, openEnvelope, sealEnvelope } from '../../ceremony/index.js';
import { XWingKem, wipeXWingKey, xWingPublicKey } from '../../ceremony/xwing-kem.js';
import { hex, toHex, xwing } from '../engine/crypto/vectors.js';
import { rejectsWithCode } from './helpers.js';

interface Recorded {
  kem: Array<Record<'seed' | 'eseed' | 'publicKey' | 'enc' | 'sharedSecret', string>>;
  derive: Array<Record<'ikm' | 'privateKey' | 'publicKey', string>>;
  seal: Array<Record<'seed' | 'eseed' | 'info' | 'aad' | 'plaintext' | 'enc' | 'ciphertext', string>>;
}
const recorded = JSON.parse(
  readFileSync(new URL('../fixtures/ceremony/hpke-x-wing.json', import.meta.url), 'utf8'),
) as Recorded;
const b64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));
const u8 = (b: ArrayBuffer) => new Uint8Array(b);

const kem = new XWingKem();
const suite = new CipherSuite({ kem, kdf: new HkdfSha256(), aead: new Aes256Gcm() });

describe('XWingKem (@hpke/core KEM over @noble)', () => {
  test('identifiers and sizes are the IANA/draft ones and the envelope suite id', () => {
    assert.deepEqual(
      { id: kem.id, nsecret: kem.secretSize, nenc: kem.encSize, npk: kem.publicKeySize, nsk: kem.privateKeySize },
      { id: 0x647a, nsecret: 32, nenc: 1120, npk: 1216, nsk: 32 },
    );
    assert.equal(kem.id, EnvelopeSuiteId.kem);
  });

  test('the draft test vectors: seed → pk, eseed → ct and ss, decap(ct) = ss', async () => {
    let n = 0;
    for (const v of xwing()) {
      const pair = await kem.generateKeyPairDerand(hex(v.seed));
      assert.equal(toHex(u8(await kem.serializePublicKey(pair.publicKey))), v.pk);
      assert.equal(toHex(u8(await kem.serializePrivateKey(pair.privateKey))), v.sk);
      const { enc, sharedSecret } = await kem.encap({ recipientPublicKey: pair.publicKey, ekm: hex(v.eseed) });
      assert.equal(toHex(u8(enc)), v.ct);
      assert.equal(toHex(u8(sharedSecret)), v.ss);
      assert.equal(toHex(u8(await kem.decap({ recipientKey: pair, enc: hex(v.ct) }))), v.ss);
      n++;
    }
    assert.ok(n >= 3, `expected the draft's vectors, ran ${n}`);
  });

  test('same bytes as @hpke/hybridkem-x-wing 0.7.0: public keys, encapsulations and decapsulations', async () => {
    assert.equal(recorded.kem.length, 3);
    for (const r of recorded.kem) {
      assert.deepEqual(xWingPublicKey(b64(r.seed)), b64(r.publicKey));
      const pk = await kem.deserializePublicKey(b64(r.publicKey));
      const { enc, sharedSecret } = await kem.encap({ recipientPublicKey: pk, ekm: b64(r.eseed) });
      assert.deepEqual(u8(enc), b64(r.enc));
      assert.deepEqual(u8(sharedSecret), b64(r.sharedSecret));
      const sk = await kem.deserializePrivateKey(b64(r.seed));
      assert.deepEqual(u8(await kem.decap({ recipientKey: sk, enc: b64(r.enc) })), b64(r.sharedSecret));
    }
  });

  test('same bytes as @hpke/hybridkem-x-wing 0.7.0: DeriveKeyPair(ikm) = GenerateKeyPairDerand(SHAKE256(ikm, 32))', async () => {
    assert.equal(recorded.derive.length, 3);
    for (const r of recorded.derive) {
      const pair = await kem.deriveKeyPair(b64(r.ikm));
      assert.deepEqual(u8(await kem.serializePrivateKey(pair.privateKey)), b64(r.privateKey));
      assert.deepEqual(u8(await kem.serializePublicKey(pair.publicKey)), b64(r.publicKey));
    }
  });

  test('same bytes as @hpke/hybridkem-x-wing 0.7.0: whole HPKE SealBase outputs, and they open as envelopes', async () => {
    assert.equal(recorded.seal.length, 2);
    for (const r of recorded.seal) {
      const pair = await kem.generateKeyPairDerand(b64(r.seed));
      const { enc, ct } = await suite.seal(
        { recipientPublicKey: pair.publicKey, info: b64(r.info), ekm: b64(r.eseed) },
        b64(r.plaintext),
        b64(r.aad),
      );
      assert.deepEqual(u8(enc), b64(r.enc));
      assert.deepEqual(u8(ct), b64(r.ciphertext));
      const pt = await openEnvelope(
        b64(r.seed),
        { enc: b64(r.enc), ciphertext: b64(r.ciphertext) },
        b64(r.info),
        b64(r.aad),
      );
      assert.deepEqual(pt, b64(r.plaintext));
      // A wrong aad must fail: the comparison above is not vacuous.
      await rejectsWithCode(
        openEnvelope(b64(r.seed), { enc: b64(r.enc), ciphertext: b64(r.ciphertext) }, b64(r.info), new Uint8Array([1])),
        'ENVELOPE_OPEN_FAILED',
      );
    }
  });

  test('random encapsulations round-trip, and sealEnvelope output opens', async () => {
    const pair = await kem.generateKeyPair();
    const a = await kem.encap({ recipientPublicKey: pair.publicKey });
    const b = await kem.encap({ recipientPublicKey: pair.publicKey });
    assert.notDeepEqual(u8(a.enc), u8(b.enc));
    assert.deepEqual(u8(await kem.decap({ recipientKey: pair.privateKey, enc: a.enc })), u8(a.sharedSecret));
    const seed = u8(await kem.serializePrivateKey(pair.privateKey));
    const env = await sealEnvelope(
      u8(await kem.serializePublicKey(pair.publicKey)),
      new Uint8Array([1, 2, 3]),
      new Uint8Array(0),
      new Uint8Array(0),
    );
    assert.deepEqual(await openEnvelope(seed, env, new Uint8Array(0), new Uint8Array(0)), new Uint8Array([1, 2, 3]));
  });

  test('refuses wrong sizes, foreign keys, a CryptoKeyPair ekm, jwk and a low-order X25519 enc with @hpke/core error classes', async () => {
    await assert.rejects(kem.deserializePublicKey(new Uint8Array(1215)), DeserializeError);
    await assert.rejects(kem.deserializePrivateKey(new Uint8Array(33)), DeserializeError);
    await assert.rejects(kem.importKey('jwk', { kty: 'AKP' }), DeserializeError);
    const pair = await kem.generateKeyPairDerand(new Uint8Array(32).fill(7));
    await assert.rejects(kem.serializePublicKey(pair.privateKey), SerializeError);
    await assert.rejects(
      kem.serializePrivateKey({
        type: 'private',
        algorithm: { name: 'X-Wing' },
        extractable: true,
        usages: [],
      } as never),
      SerializeError,
    );
    await assert.rejects(kem.encap({ recipientPublicKey: pair.publicKey, ekm: new Uint8Array(63) }), InvalidParamError);
    await assert.rejects(kem.encap({ recipientPublicKey: pair.publicKey, ekm: pair }), InvalidParamError);
    await assert.rejects(kem.decap({ recipientKey: pair, enc: new Uint8Array(1119) }), InvalidParamError);
    // The X25519 part (last 32 bytes) all zeros is a low-order point: the exchange gives zero, refused.
    await assert.rejects(kem.decap({ recipientKey: pair, enc: new Uint8Array(1120) }), DecapError);
    const imported = await kem.importKey('raw', new Uint8Array(32).fill(7).buffer, false);
    assert.deepEqual(u8(await kem.serializePrivateKey(imported)), new Uint8Array(32).fill(7));
  });

  test('wipeXWingKey zeroes a private key; a public key is refused', async () => {
    const pair = await kem.generateKeyPairDerand(new Uint8Array(32).fill(9));
    wipeXWingKey(pair.privateKey);
    assert.deepEqual(u8(await kem.serializePrivateKey(pair.privateKey)), new Uint8Array(32));
    assert.throws(() => wipeXWingKey(pair.publicKey), TypeError);
  });
});
