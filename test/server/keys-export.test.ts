/**
 * Key export under dual control, over real HTTP: `POST /v1/keys/:name/export` is parked for two
 * operators' approval (the default policy), executes once, and its blob
 *   (1) imports into ANOTHER Keyward server (wrapped to that server's published wrapping key), where
 *       ciphertexts made for the source key decrypt and signatures made there verify with the
 *       source's public key;
 *   (2) unwraps outside Keyward with a private key the test holds (node:crypto RSA-OAEP +
 *       'id-aes256-wrap-pad', @noble ML-KEM-768 and X-Wing + node HKDF), and the material works
 *       with node:crypto (AES-256-GCM of a Keyward `kw:` ciphertext, Ed25519/ECDSA PKCS#8) and
 *       @noble (ML-DSA-65 from its seed);
 *   (3) is refused with a 4xx BEFORE anything is parked when it could not run;
 *   (4) never leaves a non-exportable key, approvals or not;
 *   (5) leaves no secret in the audit records or the log.
 */
import assert from 'node:assert/strict';
import {
  constants,
  createDecipheriv,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  hkdfSync,
  privateDecrypt,
  publicEncrypt,
  sign as nodeSign,
  verify as nodeVerify,
} from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { ml_dsa65 } from '@noble/post-quantum/ml-dsa.js';
import { ml_kem512, ml_kem768 } from '@noble/post-quantum/ml-kem.js';
import { ml_kem768_x25519 } from '@noble/post-quantum/hybrid.js';
import { auditRecordsPage } from '../../engine/audit/log/read.js';
import { issueToken } from '../../engine/auth/tokens.js';
import { ML_KEM_BYOK_INFO, X_WING_BYOK_INFO } from '../../engine/crypto/index.js';
import type { WrappingAlgorithm } from '../../engine/crypto/index.js';
import { devBootstrap } from '../../engine/dev.js';
import { completeApproval } from '../helpers/approvals.js';
import { startTestServer } from '../helpers/server.js';
import type { TestServer } from '../helpers/server.js';
import { assertError, b64 } from '../helpers/wire.js';
import { fixedRsaKeyPair, importFixedRsaKey } from '../helpers/rsa.js';

const MSG = new TextEncoder().encode('exported under dual control');

// ---------------------------------------------------------------------------------------------
// The receiver's side, written from the construction (engine/crypto/byok.ts header) with outside
// implementations only: node:crypto for RSA-OAEP, HKDF and AES-KWP (RFC 5649, OpenSSL's
// id-aes256-wrap-pad with the RFC's alternative IV), @noble/post-quantum for the KEMs.

/** RFC 5649 §3: the alternative initial value's fixed half. */
const KWP_AIV = Buffer.from('a65959a6', 'hex');
const kwpUnwrap = (kek: Uint8Array, blob: Uint8Array) => {
  const d = createDecipheriv('id-aes256-wrap-pad', kek, KWP_AIV);
  return new Uint8Array(Buffer.concat([d.update(blob), d.final()]));
};

interface Receiver {
  alg: WrappingAlgorithm;
  /** What goes in the request's `wrappingKey`. */
  publicKey: string;
  unwrap(blob: Uint8Array): Uint8Array;
}

function receivers(): Receiver[] {
  const rsa = fixedRsaKeyPair(3072);
  const kem = ml_kem768.keygen();
  const xw = ml_kem768_x25519.keygen();
  return [
    {
      alg: 'rsa-oaep-3072-aes-kwp',
      publicKey: rsa.publicKey.export({ format: 'pem', type: 'spki' }) as string,
      unwrap: (blob) =>
        kwpUnwrap(
          privateDecrypt(
            { key: rsa.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
            blob.subarray(0, 384),
          ),
          blob.subarray(384),
        ),
    },
    {
      alg: 'ml-kem-768',
      publicKey: b64(kem.publicKey),
      unwrap: (blob) => {
        const ss = ml_kem768.decapsulate(blob.subarray(0, 1088), kem.secretKey);
        return kwpUnwrap(
          new Uint8Array(hkdfSync('sha256', ss, new Uint8Array(0), ML_KEM_BYOK_INFO, 32)),
          blob.subarray(1088),
        );
      },
    },
    {
      alg: 'x-wing',
      publicKey: b64(xw.publicKey),
      unwrap: (blob) => {
        const ss = ml_kem768_x25519.decapsulate(blob.subarray(0, 1120), xw.secretKey);
        return kwpUnwrap(
          new Uint8Array(hkdfSync('sha256', ss, new Uint8Array(0), 'keyward/byok/v1 x-wing aes-256-kwp', 32)),
          blob.subarray(1120),
        );
      },
    },
  ];
}

/** The AEAD associated data of a `kw:` ciphertext (engine/crypto/aead.ts header), rebuilt by hand. */
function aeadAd(fmt: number, alg: number, version: number, keyId: string, aad: Buffer = Buffer.alloc(0)): Buffer {
  const id = Buffer.from(keyId, 'utf8');
  const v = Buffer.alloc(4);
  v.writeUInt32BE(version);
  const l = Buffer.alloc(2);
  l.writeUInt16BE(id.length);
  return Buffer.concat([Buffer.from('keyward/aead/v1\0'), Buffer.from([fmt, alg]), v, l, id, aad]);
}

/** AES-256-GCM decryption of a Keyward `kw:v<N>:` ciphertext with node:crypto alone. */
function gcmOpen(key: Uint8Array, keyId: string, text: string, aad?: Buffer): Buffer {
  const m = /^kw:v(\d+):(.+)$/.exec(text)!;
  const body = Buffer.from(m[2]!, 'base64');
  const d = createDecipheriv('aes-256-gcm', key, body.subarray(2, 14));
  d.setAAD(aeadAd(body[0]!, body[1]!, Number(m[1]), keyId, aad));
  d.setAuthTag(body.subarray(body.length - 16));
  return Buffer.concat([d.update(body.subarray(14, body.length - 16)), d.final()]);
}

describe('key export under dual control', { timeout: 300_000 }, () => {
  let a: TestServer;
  let b: TestServer;
  let rootA: string;
  let rootB: string;
  let appA: string;
  let appB: string;
  let operatorA: string;
  /** Everything secret the tests saw (material, blobs), to look for in logs and audit records. */
  const secrets: string[] = [];
  const recv = receivers();

  const create = async (name: string, body: object) => {
    const r = await a.call('POST', '/v1/keys', { token: rootA, body: { name, ...body } });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body;
  };
  /** Asks A for an export as root, has two operators approve, executes it: the export's answer. */
  const exportApproved = async (name: string, body: object) => {
    const parked = await a.call('POST', `/v1/keys/${name}/export`, { token: rootA, body });
    const done = await completeApproval(a, parked, rootA, body);
    assert.equal(done.status, 200, JSON.stringify(done.body));
    const wrapped = Buffer.from(done.body.wrappedKey, 'base64');
    secrets.push(done.body.wrappedKey);
    return { res: done.body, wrapped, approvalId: parked.body.approvalId as string };
  };
  const pendingCount = async () =>
    (await a.call('GET', '/v1/approvals?state=pending&limit=100', { token: rootA })).body.approvals.length as number;

  before(async () => {
    [a, b] = await Promise.all([startTestServer(), startTestServer()]);
    rootA = (await devBootstrap(a.hsm)).rootToken;
    rootB = (await devBootstrap(b.hsm)).rootToken;
    appA = (await issueToken(a.hsm.store.db, { principal: 'svc', roles: ['app'], now: new Date() })).token;
    appB = (await issueToken(b.hsm.store.db, { principal: 'svc', roles: ['app'], now: new Date() })).token;
    operatorA = (await issueToken(a.hsm.store.db, { principal: 'op-a', roles: ['operator'], now: new Date() })).token;
  });
  after(async () => {
    await Promise.all([a?.close(), b?.close()]);
  });

  describe('(1) into another Keyward', () => {
    /** Exports A's `name` wrapped to B's published wrapping key of `alg` and imports it on B as `name`. */
    async function migrate(
      name: string,
      alg: WrappingAlgorithm,
      type: string,
      over: object = {},
      importOver: (res: any) => object = () => ({}),
    ) {
      const wk = await b.call('GET', `/v1/sys/wrapping-key?algorithm=${alg}`, { token: rootB });
      assert.equal(wk.status, 200, JSON.stringify(wk.body));
      const { res } = await exportApproved(name, { algorithm: alg, wrappingKey: wk.body.publicKey, ...over });
      assert.equal(res.wrappingKeyFingerprint, wk.body.fingerprint, "the fingerprint names B's wrapping key");
      assert.deepEqual([res.name, res.type, res.algorithm], [name, type, alg]);
      const imp = await b.call('POST', `/v1/keys/${name}/import`, {
        token: rootB,
        body: { type: res.type, algorithm: alg, wrappedKey: res.wrappedKey, ...importOver(res) },
      });
      assert.equal(imp.status, 201, JSON.stringify(imp.body));
      // The receiver's check: the key it unwrapped has the public key the export announced.
      assert.equal(imp.body.versions[0].publicKey, res.publicKey);
      return res;
    }

    it("aes256-gcm over ML-KEM-768, keeping its id and version: A's kw:v2 ciphertexts decrypt on B, B's on A", async () => {
      await create('mig-aes', { type: 'aes256-gcm', exportable: true });
      const old = (
        await a.call('POST', '/v1/keys/mig-aes/encrypt', { token: appA, body: { plaintext: b64('v1 data') } })
      ).body.ciphertext;
      await a.call('POST', '/v1/keys/mig-aes/rotate', { token: rootA });
      const ctA = await a.call('POST', '/v1/keys/mig-aes/encrypt', {
        token: appA,
        body: { plaintext: b64(MSG), aad: b64('order-7') },
      });
      assert.match(ctA.body.ciphertext, /^kw:v2:/);
      const res = await migrate('mig-aes', 'ml-kem-768', 'aes256-gcm', {}, (r) => ({
        keyId: r.keyId,
        keyVersion: r.keyVersion,
      }));
      assert.equal(res.keyVersion, 2);
      const info = await b.call('GET', '/v1/keys/mig-aes', { token: rootB });
      assert.deepEqual([info.body.latestVersion, info.body.minDecryptionVersion, info.body.versions.length], [2, 2, 1]);
      const d = await b.call('POST', '/v1/keys/mig-aes/decrypt', {
        token: appB,
        body: { ciphertext: ctA.body.ciphertext, aad: b64('order-7') },
      });
      assert.equal(d.body.plaintext, b64(MSG), JSON.stringify(d.body));
      const ctB = (
        await b.call('POST', '/v1/keys/mig-aes/encrypt', { token: appB, body: { plaintext: b64('from B') } })
      ).body.ciphertext;
      assert.equal(
        (await a.call('POST', '/v1/keys/mig-aes/decrypt', { token: appA, body: { ciphertext: ctB } })).body.plaintext,
        b64('from B'),
      );
      // Version 1 never left A; B rotates on from the version it has.
      assertError(
        await b.call('POST', '/v1/keys/mig-aes/decrypt', { token: appB, body: { ciphertext: old } }),
        400,
        'KEY_VERSION_DISABLED',
      );
      assert.equal((await b.call('POST', '/v1/keys/mig-aes/rotate', { token: rootB })).body.latestVersion, 3);
      assert.equal(
        (
          await b.call('POST', '/v1/keys/mig-aes/decrypt', {
            token: appB,
            body: { ciphertext: ctA.body.ciphertext, aad: b64('order-7') },
          })
        ).body.plaintext,
        b64(MSG),
      );
      // The same export again: the id is taken. Without the identity, a new key that A's ciphertexts don't open.
      const again = await b.call('POST', '/v1/keys/mig-aes-2/import', {
        token: rootB,
        body: {
          type: 'aes256-gcm',
          algorithm: 'ml-kem-768',
          wrappedKey: res.wrappedKey,
          keyId: res.keyId,
          keyVersion: 2,
        },
      });
      assertError(again, 409, 'KEY_EXISTS');
      const fresh = await b.call('POST', '/v1/keys/mig-aes-3/import', {
        token: rootB,
        body: { type: 'aes256-gcm', algorithm: 'ml-kem-768', wrappedKey: res.wrappedKey },
      });
      assert.equal(fresh.status, 201, JSON.stringify(fresh.body));
      assertError(
        await b.call('POST', '/v1/keys/mig-aes-3/decrypt', {
          token: appB,
          body: { ciphertext: ctA.body.ciphertext, aad: b64('order-7') },
        }),
        400,
        'DECRYPTION_FAILED',
      );
      assertError(
        await b.call('POST', '/v1/keys/mig-aes-4/import', {
          token: rootB,
          body: { type: 'aes256-gcm', algorithm: 'ml-kem-768', wrappedKey: res.wrappedKey, keyId: res.keyId },
        }),
        400,
        'VALIDATION_FAILED',
      );
      assertError(
        await b.call('POST', '/v1/keys/mig-aes-4/import', {
          token: rootB,
          body: {
            type: 'aes256-gcm',
            algorithm: 'ml-kem-768',
            wrappedKey: res.wrappedKey,
            keyId: 'key_../../x',
            keyVersion: 1,
          },
        }),
        400,
        'VALIDATION_FAILED',
      );
    });

    it("rsa-3072 over RSA-OAEP+KWP: OAEP ciphertexts made with A's public key decrypt on B; B's PSS signatures verify on A", async () => {
      // A fixture key imported as exportable, not a generation (test/helpers/rsa.ts): the export is tested here.
      await importFixedRsaKey(a, rootA, 'mig-rsa', { exportable: true });
      const res = await migrate('mig-rsa', 'rsa-oaep-3072-aes-kwp', 'rsa-3072');
      assert.equal(res.keyVersion, 1);
      const pemA = (await a.call('GET', '/v1/keys/mig-rsa/public?format=pem', { token: appA })).body.publicKey;
      const ct = b64(
        publicEncrypt(
          { key: createPublicKey(pemA), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
          Buffer.from('for A'),
        ),
      );
      const d = await b.call('POST', '/v1/keys/mig-rsa/decrypt', { token: appB, body: { ciphertext: ct } });
      assert.equal(d.body.plaintext, b64('for A'), JSON.stringify(d.body));
      const sig = await b.call('POST', '/v1/keys/mig-rsa/sign', { token: appB, body: { message: b64(MSG) } });
      assert.equal(
        (
          await a.call('POST', '/v1/keys/mig-rsa/verify', {
            token: appA,
            body: { message: b64(MSG), signature: sig.body.signature },
          })
        ).body.valid,
        true,
      );
    });

    it("ed25519 over ML-KEM-768, a chosen older version: B's signatures verify with A's version-1 public key", async () => {
      await create('mig-ed', { type: 'ed25519', exportable: true });
      const v1 = (await a.call('GET', '/v1/keys/mig-ed/public?format=pem', { token: appA })).body.publicKey;
      assert.equal((await a.call('POST', '/v1/keys/mig-ed/rotate', { token: rootA })).body.latestVersion, 2);
      const res = await migrate('mig-ed', 'ml-kem-768', 'ed25519', { keyVersion: 1 });
      assert.equal(res.keyVersion, 1);
      const sig = await b.call('POST', '/v1/keys/mig-ed/sign', { token: appB, body: { message: b64(MSG) } });
      assert.equal(
        nodeVerify(null, MSG, createPublicKey(v1), Buffer.from(sig.body.signature.slice('kw:v1:'.length), 'base64')),
        true,
      );
    });

    it("ml-dsa-65 and x-wing over X-Wing: B's ML-DSA signatures verify on A; what A encapsulates B decapsulates", async () => {
      await create('mig-mldsa', { type: 'ml-dsa-65', exportable: true });
      await migrate('mig-mldsa', 'x-wing', 'ml-dsa-65');
      const sig = await b.call('POST', '/v1/keys/mig-mldsa/sign', { token: appB, body: { message: b64(MSG) } });
      assert.equal(
        (
          await a.call('POST', '/v1/keys/mig-mldsa/verify', {
            token: appA,
            body: { message: b64(MSG), signature: sig.body.signature },
          })
        ).body.valid,
        true,
      );

      await create('mig-xw', { type: 'x-wing', exportable: true });
      await migrate('mig-xw', 'x-wing', 'x-wing');
      const enc = await a.call('POST', '/v1/keys/mig-xw/encapsulate', { token: appA, body: {} });
      secrets.push(enc.body.sharedSecret);
      const dec = await b.call('POST', '/v1/keys/mig-xw/decapsulate', {
        token: appB,
        body: { ciphertext: enc.body.ciphertext },
      });
      assert.equal(dec.body.sharedSecret, enc.body.sharedSecret);
    });
  });

  describe("(2) outside Keyward, with the receiver's own private key", () => {
    for (const r of recv) {
      it(`aes256-gcm wrapped with ${r.alg}: node:crypto AES-256-GCM opens A's kw: ciphertext`, async () => {
        const name = `out-aes-${r.alg}`;
        await create(name, { type: 'aes256-gcm', exportable: true });
        const e = await a.call('POST', `/v1/keys/${name}/encrypt`, {
          token: appA,
          body: { plaintext: b64(MSG), aad: b64('ctx') },
        });
        const { res, wrapped } = await exportApproved(name, { algorithm: r.alg, wrappingKey: r.publicKey });
        assert.equal(res.publicKey, null);
        const key = r.unwrap(wrapped);
        assert.equal(key.length, 32);
        secrets.push(b64(key), Buffer.from(key).toString('hex'));
        assert.deepEqual(new Uint8Array(gcmOpen(key, res.keyId, e.body.ciphertext, Buffer.from('ctx'))), MSG);
      });
    }

    it("ecdsa-p256 (PKCS#8 through RSA-OAEP+KWP): the public key matches; A's signatures verify under the key node:crypto derives from it", async () => {
      await create('out-ec', { type: 'ecdsa-p256', exportable: true });
      const { res, wrapped } = await exportApproved('out-ec', {
        algorithm: 'rsa-oaep-3072-aes-kwp',
        wrappingKey: recv[0]!.publicKey,
      });
      const der = recv[0]!.unwrap(wrapped);
      secrets.push(b64(der));
      const priv = createPrivateKey({ key: Buffer.from(der), format: 'der', type: 'pkcs8' });
      assert.equal(b64(createPublicKey(priv).export({ format: 'der', type: 'spki' })), res.publicKey);
      // (node:crypto signs high-S half the time, which A's verify refuses until issue 11's defect 1 is fixed.)
      const sig = await a.call('POST', '/v1/keys/out-ec/sign', { token: appA, body: { message: b64(MSG) } });
      assert.equal(
        nodeVerify(
          'sha256',
          MSG,
          createPublicKey(priv),
          Buffer.from(sig.body.signature.slice('kw:v1:'.length), 'base64'),
        ),
        true,
      );
      const mine = nodeSign('sha256', MSG, priv);
      assert.equal(
        nodeVerify(
          'sha256',
          MSG,
          createPublicKey({ key: Buffer.from(res.publicKey, 'base64'), format: 'der', type: 'spki' }),
          mine,
        ),
        true,
      );
    });

    it('ed25519 (PKCS#8 through X-Wing): node:crypto signs, A verifies', async () => {
      await create('out-ed', { type: 'ed25519', exportable: true });
      const { wrapped } = await exportApproved('out-ed', { algorithm: 'x-wing', wrappingKey: recv[2]!.publicKey });
      const priv = createPrivateKey({ key: Buffer.from(recv[2]!.unwrap(wrapped)), format: 'der', type: 'pkcs8' });
      const sig = nodeSign(null, MSG, priv);
      assert.equal(
        (
          await a.call('POST', '/v1/keys/out-ed/verify', {
            token: appA,
            body: { message: b64(MSG), signature: 'kw:v1:' + b64(sig) },
          })
        ).body.valid,
        true,
      );
    });

    it('ml-dsa-65 (the FIPS 204 seed through ML-KEM-768): @noble derives the same public key and signs, A verifies', async () => {
      await create('out-mldsa', { type: 'ml-dsa-65', exportable: true });
      const { res, wrapped } = await exportApproved('out-mldsa', {
        algorithm: 'ml-kem-768',
        wrappingKey: recv[1]!.publicKey,
      });
      const seed = recv[1]!.unwrap(wrapped);
      assert.equal(seed.length, 32);
      secrets.push(b64(seed));
      const kp = ml_dsa65.keygen(seed);
      assert.equal(b64(kp.publicKey), res.publicKey);
      const sig = ml_dsa65.sign(MSG, kp.secretKey);
      assert.equal(
        (
          await a.call('POST', '/v1/keys/out-mldsa/verify', {
            token: appA,
            body: { message: b64(MSG), signature: 'kw:v1:' + b64(sig) },
          })
        ).body.valid,
        true,
      );
    });
  });

  describe('(3) refused with a 4xx before anything is parked', () => {
    before(async () => {
      await create('plain', { type: 'aes256-gcm' });
      await create('exp', { type: 'ed25519', exportable: true });
      const pub = (await a.call('GET', '/v1/keys/exp/public?format=pem', { token: appA })).body.publicKey;
      await create('pub-only', { type: 'ed25519', publicKey: pub, exportable: true });
    });
    const rsaPem = () => recv[0]!.publicKey;
    const cases: Array<[string, string, () => object, number, string]> = [
      [
        'a key not created exportable',
        'plain',
        () => ({ algorithm: 'ml-kem-768', wrappingKey: recv[1]!.publicKey }),
        400,
        'KEY_NOT_EXPORTABLE',
      ],
      [
        'a verify-only key (no private material)',
        'pub-only',
        () => ({ algorithm: 'ml-kem-768', wrappingKey: recv[1]!.publicKey }),
        400,
        'KEY_VERIFY_ONLY',
      ],
      [
        'a version the key does not have',
        'exp',
        () => ({ algorithm: 'x-wing', wrappingKey: recv[2]!.publicKey, keyVersion: 2 }),
        404,
        'KEY_VERSION_NOT_FOUND',
      ],
      [
        'a key that does not exist',
        'nope',
        () => ({ algorithm: 'x-wing', wrappingKey: recv[2]!.publicKey }),
        404,
        'KEY_NOT_FOUND',
      ],
      [
        'an RSA-2048 wrapping key',
        'exp',
        () => ({
          algorithm: 'rsa-oaep-3072-aes-kwp',
          wrappingKey: fixedRsaKeyPair(2048).publicKey.export({ format: 'pem', type: 'spki' }),
        }),
        400,
        'WRAPPING_KEY_INVALID',
      ],
      [
        'an Ed25519 PEM for RSA-OAEP',
        'exp',
        () => ({
          algorithm: 'rsa-oaep-3072-aes-kwp',
          wrappingKey: generateKeyPairSync('ed25519').publicKey.export({ format: 'pem', type: 'spki' }),
        }),
        400,
        'WRAPPING_KEY_INVALID',
      ],
      [
        'a truncated PEM',
        'exp',
        () => ({ algorithm: 'rsa-oaep-3072-aes-kwp', wrappingKey: rsaPem().slice(0, 200) }),
        400,
        'WRAPPING_KEY_INVALID',
      ],
      [
        'an RSA PEM for ML-KEM-768',
        'exp',
        () => ({ algorithm: 'ml-kem-768', wrappingKey: rsaPem() }),
        400,
        'WRAPPING_KEY_INVALID',
      ],
      [
        'an ML-KEM-512 key for ML-KEM-768',
        'exp',
        () => ({ algorithm: 'ml-kem-768', wrappingKey: b64(ml_kem512.keygen().publicKey) }),
        400,
        'WRAPPING_KEY_INVALID',
      ],
      [
        'an ML-KEM-768 key for X-Wing',
        'exp',
        () => ({ algorithm: 'x-wing', wrappingKey: recv[1]!.publicKey }),
        400,
        'WRAPPING_KEY_INVALID',
      ],
      [
        'an ML-KEM-768 key failing the FIPS 203 modulus check',
        'exp',
        () => ({ algorithm: 'ml-kem-768', wrappingKey: b64(new Uint8Array(1184).fill(0xff)) }),
        400,
        'WRAPPING_KEY_INVALID',
      ],
      [
        'an unknown algorithm',
        'exp',
        () => ({ algorithm: 'rsa-oaep-2048', wrappingKey: rsaPem() }),
        400,
        'VALIDATION_FAILED',
      ],
      ['no wrapping key', 'exp', () => ({ algorithm: 'x-wing' }), 400, 'VALIDATION_FAILED'],
      [
        'an unknown field',
        'exp',
        () => ({ algorithm: 'x-wing', wrappingKey: recv[2]!.publicKey, format: 'clear' }),
        400,
        'VALIDATION_FAILED',
      ],
      [
        'keyVersion 0',
        'exp',
        () => ({ algorithm: 'x-wing', wrappingKey: recv[2]!.publicKey, keyVersion: 0 }),
        400,
        'VALIDATION_FAILED',
      ],
    ];
    for (const [what, name, body, status, code] of cases) {
      it(`refuses ${what}: ${status} ${code}, no approval created`, async () => {
        const before = await pendingCount();
        assertError(await a.call('POST', `/v1/keys/${name}/export`, { token: rootA, body: body() }), status, code);
        assert.equal(await pendingCount(), before, 'nothing was parked');
      });
    }

    it('a version below minDecryptionVersion is refused (KEY_VERSION_DISABLED)', async () => {
      await create('exp-rot', { type: 'hmac-sha256', exportable: true });
      await a.call('POST', '/v1/keys/exp-rot/rotate', { token: rootA });
      assert.equal(
        (await a.call('POST', '/v1/keys/exp-rot/config', { token: rootA, body: { minDecryptionVersion: 2 } })).status,
        200,
      );
      assertError(
        await a.call('POST', '/v1/keys/exp-rot/export', {
          token: rootA,
          body: { algorithm: 'x-wing', wrappingKey: recv[2]!.publicKey, keyVersion: 1 },
        }),
        400,
        'KEY_VERSION_DISABLED',
      );
    });

    it('the policies come first: an app is denied (403) whether or not the key could be exported', async () => {
      for (const name of ['plain', 'exp']) {
        assertError(
          await a.call('POST', `/v1/keys/${name}/export`, {
            token: appA,
            body: { algorithm: 'x-wing', wrappingKey: recv[2]!.publicKey },
          }),
          403,
          'POLICY_DENIED',
        );
      }
      assertError(
        await a.call('POST', '/v1/keys/exp/export', { body: { algorithm: 'x-wing', wrappingKey: recv[2]!.publicKey } }),
        401,
        'UNAUTHENTICATED',
      );
    });

    it('an exportable key is parked (202), even for an admin, and gives nothing before two operators approve', async () => {
      const body = { algorithm: 'x-wing', wrappingKey: recv[2]!.publicKey };
      const parked = await a.call('POST', '/v1/keys/exp/export', { token: operatorA, body });
      assert.equal(parked.status, 202, JSON.stringify(parked.body));
      assert.deepEqual([parked.body.required, parked.body.group], [2, 'operator']);
      assert.match(parked.body.reason, /key\.export/);
      assert.equal(JSON.stringify(parked.body).includes('wrappedKey'), false);
      const early = await a.call('POST', `/v1/approvals/${parked.body.approvalId}/execute`, { token: operatorA, body });
      assertError(early, 409, 'APPROVAL_INSUFFICIENT');
      const done = await completeApproval(a, parked, operatorA, body);
      assert.equal(done.status, 200, JSON.stringify(done.body));
      secrets.push(done.body.wrappedKey);
      assertError(
        await a.call('POST', `/v1/approvals/${parked.body.approvalId}/execute`, { token: operatorA, body }),
        409,
        'APPROVAL_NOT_PENDING',
      );
    });
  });

  describe('(4) a non-exportable key never leaves', () => {
    it('the service refuses it whatever the pipeline decided', async () => {
      const row = await a.hsm.keys.row('plain');
      await assert.rejects(
        a.hsm.keys.export(row, { algorithm: 'x-wing', wrappingPublicKey: Buffer.from(recv[2]!.publicKey, 'base64') }),
        { code: 'KEY_NOT_EXPORTABLE' },
      );
    });

    it('an approved export of an exportable key, whose name then goes to a non-exportable key, refuses at execution', async () => {
      await create('swap', { type: 'aes256-gcm', exportable: true });
      const body = { algorithm: 'ml-kem-768', wrappingKey: recv[1]!.publicKey };
      const parked = await a.call('POST', '/v1/keys/swap/export', { token: rootA, body });
      assert.equal(parked.status, 202, JSON.stringify(parked.body));
      // Delete (dual control too) and purge the exportable key; re-create the name, not exportable.
      assert.equal(
        (await a.call('POST', '/v1/keys/swap/config', { token: rootA, body: { deletionAllowed: true } })).status,
        200,
      );
      const del = await completeApproval(a, await a.call('DELETE', '/v1/keys/swap', { token: rootA }), rootA);
      assert.equal(del.status, 200, JSON.stringify(del.body));
      assert.deepEqual(await a.hsm.keys.purgeExpired(new Date(Date.now() + 30 * 86_400_000)), ['swap']);
      await create('swap', { type: 'aes256-gcm' });
      const done = await completeApproval(a, parked, rootA, body);
      assertError(done, 400, 'KEY_NOT_EXPORTABLE');
      const view = await a.call('GET', `/v1/approvals/${parked.body.approvalId}`, { token: rootA });
      assert.equal(view.body.state, 'pending', 'a refused pre-check claims nothing');
    });
  });

  describe('(5) secrets stay out of the audit log and the log', () => {
    it('audit records of key.export carry the algorithm, the wrapping key fingerprint and the version, nothing secret', async () => {
      const page = await auditRecordsPage(a.hsm.store.db, 0, 100_000);
      const exports = page.records.map((r) => JSON.parse(r.leaf)).filter((r) => r.operation === 'key.export');
      assert.ok(exports.length >= 20, `expected the export records, got ${exports.length}`);
      const done = exports.filter((r) => r.status === 200);
      assert.ok(done.length >= 10);
      for (const r of done) {
        assert.deepEqual(Object.keys(r.details).sort(), ['algorithm', 'wrappingKeyFingerprint']);
        assert.match(r.details.wrappingKeyFingerprint, /^[0-9a-f]{64}$/);
        assert.equal(typeof r.keyVersion, 'number');
        assert.match(r.approvalId, /^apr_/);
      }
      const parked = exports.filter((r) => r.code === 'APPROVAL_PENDING');
      assert.ok(
        parked.length >= 10 && parked.every((r) => r.details.algorithm && r.details.wrappingKeyFingerprint),
        'the parked request names the wrapping key too',
      );
      const refused = exports.filter((r) => r.code === 'KEY_NOT_EXPORTABLE');
      assert.ok(
        refused.length >= 2 && refused.every((r) => r.status === 400),
        'a refusal before parking is recorded as such',
      );
      assert.ok(
        refused.some((r) => r.approvalId === null && r.decision === 'require_approval'),
        'recorded with the decision, and no approval',
      );
      const leaves = page.records.map((r) => r.leaf).join('\n');
      assert.ok(secrets.length >= 15);
      for (const s of secrets) assert.equal(leaves.includes(s), false, 'a secret reached the audit log');
    });

    it("no material, wrapped blob or shared secret reaches either server's log", () => {
      const log = [...a.logs, ...b.logs].join('\n');
      for (const s of secrets) assert.equal(log.includes(s), false);
    });
  });
});
