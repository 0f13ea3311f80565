import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { constants, createPublicKey, publicEncrypt } from 'node:crypto';
import fc from 'fast-check';
import { isKeywardError } from '../../../lib/errors.js';
import { decrypt as aeadDecrypt } from '../../../engine/crypto/aead.js';
import { oaepCiphertextLength, oaepDecrypt, oaepEncrypt, oaepMaxPlaintextLength } from '../../../engine/crypto/oaep.js';
import { CryptoPool } from '../../../engine/crypto/pool.js';
import { isSlow, supports } from '../../../engine/crypto/types.js';
import { hex, toHex, wycheproof } from './vectors.js';
import { fixedRsaMaterial } from '../../helpers/rsa.js';

interface OaepVectors {
  privateKeyPkcs8: string;
  tests: Array<{ tcId: number; comment: string; msg: string; ct: string; label: string; result: 'valid' | 'invalid' }>;
}

const isDecryptionFailed = (e: unknown) =>
  isKeywardError(e) && e.code === 'DECRYPTION_FAILED' && e.message === 'decryption failed';

describe('oaep: Wycheproof RSAES-OAEP-3072 SHA-256/MGF1-SHA-256', () => {
  const v = wycheproof<OaepVectors>('rsa_oaep_3072_sha256');
  const priv = hex(v.privateKeyPkcs8);

  for (const t of v.tests) {
    it(`tcId ${t.tcId} ${t.result}${t.comment ? ` (${t.comment})` : ''}`, () => {
      const label = t.label ? hex(t.label) : undefined;
      if (t.result === 'valid') {
        assert.equal(toHex(oaepDecrypt('rsa-3072', priv, hex(t.ct), label)), t.msg);
      } else {
        // Every invalid padding is the one generic error: no Manger oracle.
        assert.throws(() => oaepDecrypt('rsa-3072', priv, hex(t.ct), label), isDecryptionFailed);
      }
    });
  }

  it('a labelled ciphertext fails without its label, and an unlabelled one fails with a label', () => {
    const labelled = v.tests.find((t) => t.label !== '' && t.result === 'valid')!;
    const plain = v.tests.find((t) => t.label === '' && t.result === 'valid')!;
    assert.throws(() => oaepDecrypt('rsa-3072', priv, hex(labelled.ct)), isDecryptionFailed);
    assert.throws(() => oaepDecrypt('rsa-3072', priv, hex(plain.ct), new Uint8Array([0])), isDecryptionFailed);
  });
});

describe('oaep: round trips and interop', () => {
  const pair = fixedRsaMaterial(3072); // an RSA-3072 key made by OpenSSL (test/fixtures/rsa)

  it('node:crypto publicEncrypt with the SPKI → oaepDecrypt (the client side of the API)', () => {
    const pub = createPublicKey({ key: Buffer.from(pair.public!), format: 'der', type: 'spki' });
    const ct = publicEncrypt(
      { key: pub, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
      Buffer.from('hello'),
    );
    assert.equal(Buffer.from(oaepDecrypt('rsa-3072', pair.private, ct)).toString(), 'hello');
  });

  it('encrypt ∘ decrypt = id for any message up to k − 66 bytes and any label', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: oaepMaxPlaintextLength('rsa-3072') }),
        fc.option(fc.uint8Array({ maxLength: 64 }), { nil: undefined }),
        (m, label) => {
          const ct = oaepEncrypt('rsa-3072', pair.public!, m, label);
          assert.equal(ct.length, oaepCiphertextLength('rsa-3072'));
          assert.deepEqual(oaepDecrypt('rsa-3072', pair.private, ct, label), m);
        },
      ),
      { numRuns: 25 },
    );
    assert.equal(oaepMaxPlaintextLength('rsa-3072'), 318);
    assert.equal(oaepMaxPlaintextLength('rsa-4096'), 446);
  });

  it('wrong key, truncated, extended, flipped, empty, all-ones: the same DECRYPTION_FAILED', () => {
    const ct = oaepEncrypt('rsa-3072', pair.public!, new TextEncoder().encode('m'));
    const other = fixedRsaMaterial('3072-b'); // another OpenSSL-made key: a keygen costs up to a second
    const flipped = ct.slice();
    flipped[100]! ^= 1;
    const bad = [
      ct.subarray(1),
      new Uint8Array([...ct, 0]),
      flipped,
      new Uint8Array(0),
      new Uint8Array(384).fill(0xff),
      new Uint8Array(384),
    ];
    assert.throws(() => oaepDecrypt('rsa-3072', other.private, ct), isDecryptionFailed);
    for (const b of bad) assert.throws(() => oaepDecrypt('rsa-3072', pair.private, b), isDecryptionFailed);
    assert.throws(() => oaepDecrypt('rsa-3072', pair.private, 'nope' as unknown as Uint8Array), isDecryptionFailed);
  });

  it('a PKCS#1 v1.5 ciphertext does not decrypt as OAEP', () => {
    const pub = createPublicKey({ key: Buffer.from(pair.public!), format: 'der', type: 'spki' });
    const v15 = publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_PADDING }, Buffer.from('x'));
    assert.throws(() => oaepDecrypt('rsa-3072', pair.private, v15), isDecryptionFailed);
  });

  it('rsa-4096 takes 512-byte ciphertexts only (an RSA-3072 one is the generic failure)', () => {
    assert.equal(oaepCiphertextLength('rsa-4096'), 512);
    const ct = oaepEncrypt('rsa-3072', pair.public!, new Uint8Array(1));
    assert.throws(() => oaepDecrypt('rsa-4096', pair.private, ct), isDecryptionFailed);
  });

  it('only RSA types, and over-long plaintexts, are refused as programmer or operation errors', () => {
    assert.throws(
      () => oaepEncrypt('ed25519', pair.public!, new Uint8Array(1)),
      (e: unknown) => isKeywardError(e) && e.code === 'OPERATION_UNSUPPORTED',
    );
    assert.throws(() => oaepEncrypt('rsa-3072', pair.public!, new Uint8Array(319)), RangeError);
  });

  it('the capability table: RSA decrypts (on the pool), the AEAD module refuses RSA keys', () => {
    assert.ok(supports('rsa-3072', 'decrypt') && supports('rsa-4096', 'decrypt'));
    assert.ok(!supports('rsa-3072', 'encrypt') && !supports('rsa-3072', 'rewrap') && !supports('rsa-3072', 'datakey'));
    assert.ok(isSlow('rsa-3072', 'decrypt'));
    assert.throws(
      () => aeadDecrypt({ type: 'rsa-3072', keyId: 'k', ciphertext: 'kw:v1:AAAA', key: new Uint8Array(32) }),
      (e: unknown) => isKeywardError(e) && e.code === 'OPERATION_UNSUPPORTED',
    );
  });

  it('the worker pool decrypts the same way, with the same generic failure', async () => {
    const pool = new CryptoPool({ size: 1 });
    try {
      const ct = oaepEncrypt(
        'rsa-3072',
        pair.public!,
        new TextEncoder().encode('pooled'),
        new TextEncoder().encode('L'),
      );
      assert.equal(
        Buffer.from(await pool.decrypt('rsa-3072', pair.private, ct, new TextEncoder().encode('L'))).toString(),
        'pooled',
      );
      await assert.rejects(pool.decrypt('rsa-3072', pair.private, ct), isDecryptionFailed);
      assert.ok(
        pair.private.some((b) => b !== 0),
        "the caller's key is copied, not transferred",
      );
    } finally {
      await pool.close();
    }
  });
});
