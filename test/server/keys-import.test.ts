/**
 * BYOK import and RSA-OAEP decryption over real HTTP: the wrapping key endpoint, an import of each
 * key family under both wrapping algorithms followed by operations checked against the original
 * key outside the server (node:crypto, @noble/post-quantum), RSA-OAEP with client-side encryption
 * and Wycheproof ciphertexts, a table of wrong inputs, policy decisions, and no material in logs.
 */
import assert from 'node:assert/strict';
import {
  constants,
  createHmac,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  publicEncrypt,
  verify as nodeVerify,
} from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { ml_dsa65 } from '@noble/post-quantum/ml-dsa.js';
import { ml_kem768 } from '@noble/post-quantum/ml-kem.js';
import { issueToken } from '../../engine/auth/tokens.js';
import {
  decrypt as aeadDecrypt,
  generateKey,
  generateWrappingKey,
  importWrappingKey,
  wrapKeyMaterial,
} from '../../engine/crypto/index.js';
import type { KeyType, WrappingAlgorithm } from '../../engine/crypto/index.js';
import { wrappingKeyPath } from '../../engine/keys/wrapping.js';
import { devBootstrap } from '../../engine/dev.js';
import { getEntry } from '../../engine/store/index.js';
import { startTestServer } from '../helpers/server.js';
import type { TestServer } from '../helpers/server.js';
import { hex, wycheproof } from '../engine/crypto/vectors.js';
import { assertError, b64 } from '../helpers/wire.js';
import { fixedRsaKeyPair, importFixedRsaKey } from '../helpers/rsa.js';

const ALGS: WrappingAlgorithm[] = ['rsa-oaep-3072-aes-kwp', 'ml-kem-768', 'x-wing'];
const MSG = new TextEncoder().encode('imported and working');
const GENERIC_DECRYPT = { error: { code: 'DECRYPTION_FAILED', message: 'decryption failed' } };

/** Material in each family's import format, and a check that the imported key is that key. */
interface Family {
  type: KeyType;
  material: Uint8Array;
  /** The canonical public key the server must derive (base64), or null for symmetric keys. */
  publicKey: string | null;
  check(s: TestServer, name: string, token: string): Promise<void>;
}

const pkcs8 = (k: ReturnType<typeof generateKeyPairSync>['privateKey']) =>
  new Uint8Array(k.export({ format: 'der', type: 'pkcs8' }));
const spki = (k: ReturnType<typeof generateKeyPairSync>['publicKey']) => b64(k.export({ format: 'der', type: 'spki' }));

async function signed(s: TestServer, name: string, token: string, body: object = {}): Promise<Buffer> {
  const r = await s.call('POST', `/v1/keys/${name}/sign`, { token, body: { message: b64(MSG), ...body } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.match(r.body.signature, /^kw:v1:/);
  return Buffer.from(r.body.signature.slice('kw:v1:'.length), 'base64');
}

function families(): Family[] {
  const aes = generateKey('aes256-gcm').private;
  const mac = generateKey('hmac-sha256').private;
  const ed = generateKeyPairSync('ed25519');
  const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const rsa = fixedRsaKeyPair(3072);
  const dsaSeed = generateKey('ml-dsa-65').private;
  const kemSeed = generateKey('ml-kem-768').private;
  return [
    {
      type: 'aes256-gcm',
      material: aes,
      publicKey: null,
      async check(s, name, token) {
        const e = await s.call('POST', `/v1/keys/${name}/encrypt`, { token, body: { plaintext: b64(MSG) } });
        assert.equal(e.status, 200, JSON.stringify(e.body));
        // Decrypted outside the server with the original key: the server encrypted with our material.
        const row = await s.hsm.keys.row(name);
        assert.deepEqual(
          aeadDecrypt({ type: 'aes256-gcm', key: aes, keyId: row.id, ciphertext: e.body.ciphertext }),
          MSG,
        );
        const d = await s.call('POST', `/v1/keys/${name}/decrypt`, { token, body: { ciphertext: e.body.ciphertext } });
        assert.equal(d.body.plaintext, b64(MSG));
      },
    },
    {
      type: 'hmac-sha256',
      material: mac,
      publicKey: null,
      async check(s, name, token) {
        const h = await s.call('POST', `/v1/keys/${name}/hmac`, { token, body: { message: b64(MSG) } });
        assert.equal(h.body.hmac, 'kw:v1:' + createHmac('sha256', mac).update(MSG).digest('base64'));
      },
    },
    {
      type: 'ed25519',
      material: pkcs8(ed.privateKey),
      publicKey: spki(ed.publicKey),
      async check(s, name, token) {
        assert.equal(nodeVerify(null, MSG, ed.publicKey, await signed(s, name, token)), true);
      },
    },
    {
      type: 'ecdsa-p256',
      material: pkcs8(ec.privateKey),
      publicKey: spki(ec.publicKey),
      async check(s, name, token) {
        assert.equal(nodeVerify('sha256', MSG, ec.publicKey, await signed(s, name, token)), true);
        const p1363 = await signed(s, name, token, { encoding: 'p1363' });
        assert.equal(nodeVerify('sha256', MSG, { key: ec.publicKey, dsaEncoding: 'ieee-p1363' }, p1363), true);
      },
    },
    {
      type: 'rsa-3072',
      material: pkcs8(rsa.privateKey),
      publicKey: spki(rsa.publicKey),
      async check(s, name, token) {
        const sig = await signed(s, name, token);
        assert.equal(
          nodeVerify(
            'sha256',
            MSG,
            { key: rsa.publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 },
            sig,
          ),
          true,
        );
        // and it decrypts what the original public key encrypted
        const ct = publicEncrypt(
          { key: rsa.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
          MSG,
        );
        const d = await s.call('POST', `/v1/keys/${name}/decrypt`, { token, body: { ciphertext: b64(ct) } });
        assert.equal(d.body.plaintext, b64(MSG), JSON.stringify(d.body));
      },
    },
    {
      type: 'ml-dsa-65',
      material: dsaSeed,
      publicKey: b64(ml_dsa65.keygen(dsaSeed).publicKey),
      async check(s, name, token) {
        const sig = await signed(s, name, token, { context: b64('ctx') });
        assert.equal(
          ml_dsa65.verify(sig, MSG, ml_dsa65.keygen(dsaSeed).publicKey, { context: new TextEncoder().encode('ctx') }),
          true,
        );
      },
    },
    {
      type: 'ml-kem-768',
      material: kemSeed,
      publicKey: b64(ml_kem768.keygen(kemSeed).publicKey),
      async check(s, name, token) {
        // encapsulated outside the server to the original key's public half
        const { cipherText, sharedSecret } = ml_kem768.encapsulate(ml_kem768.keygen(kemSeed).publicKey);
        const d = await s.call('POST', `/v1/keys/${name}/decapsulate`, {
          token,
          body: { ciphertext: b64(cipherText) },
        });
        assert.equal(d.body.sharedSecret, b64(sharedSecret));
      },
    },
  ];
}

describe('BYOK import and RSA-OAEP decrypt', { timeout: 300_000 }, () => {
  let s: TestServer;
  let root: string;
  let app: string;
  let operator: string;
  const secrets: string[] = [];
  const wrappingKeys = new Map<WrappingAlgorithm, Uint8Array>();

  /** Wraps `material` the way a client does: fetch the published wrapping key, wrap locally. */
  async function wrap(alg: WrappingAlgorithm, material: Uint8Array): Promise<string> {
    let pub = wrappingKeys.get(alg);
    if (!pub) {
      const r = await s.call('GET', `/v1/sys/wrapping-key?algorithm=${alg}`, { token: operator });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      pub = importWrappingKey(alg, r.body.publicKey);
      wrappingKeys.set(alg, pub);
    }
    return b64(wrapKeyMaterial(alg, pub, material));
  }

  before(async () => {
    s = await startTestServer();
    root = (await devBootstrap(s.hsm)).rootToken;
    app = (await issueToken(s.hsm.store.db, { principal: 'svc', roles: ['app'], now: new Date() })).token;
    operator = (await issueToken(s.hsm.store.db, { principal: 'op', roles: ['operator'], now: new Date() })).token;
  });
  after(() => s.close());

  describe('GET /v1/sys/wrapping-key', () => {
    it('publishes one stable key per algorithm: RSA-3072 as PEM, ML-KEM-768 and X-Wing as base64 raw', async () => {
      const [r1, r2] = await Promise.all(
        [0, 1].map(() => s.call('GET', '/v1/sys/wrapping-key?algorithm=rsa-oaep-3072-aes-kwp', { token: operator })),
      );
      assert.equal(r1!.status, 200, JSON.stringify(r1!.body));
      assert.equal(r2!.status, 200, JSON.stringify(r2!.body));
      assert.deepEqual(r1!.body, r2!.body, 'concurrent first requests publish the same key');
      assert.equal(r1!.body.algorithm, 'rsa-oaep-3072-aes-kwp');
      assert.equal(r1!.body.format, 'pem');
      const key = createPublicKey(r1!.body.publicKey);
      assert.deepEqual([key.asymmetricKeyType, key.asymmetricKeyDetails?.modulusLength], ['rsa', 3072]);
      assert.match(r1!.body.fingerprint, /^[0-9a-f]{64}$/);
      const dflt = await s.call('GET', '/v1/sys/wrapping-key', { token: operator });
      assert.equal(dflt.body.fingerprint, r1!.body.fingerprint, 'RSA is the default algorithm');
      const kem = await s.call('GET', '/v1/sys/wrapping-key?algorithm=ml-kem-768', { token: operator });
      assert.equal(kem.body.format, 'raw');
      assert.equal(Buffer.from(kem.body.publicKey, 'base64').length, 1184);
      assert.equal(
        (await s.call('GET', '/v1/sys/wrapping-key?algorithm=ml-kem-768', { token: root })).body.fingerprint,
        kem.body.fingerprint,
      );
      const xw = await s.call('GET', '/v1/sys/wrapping-key?algorithm=x-wing', { token: operator });
      assert.deepEqual(
        [xw.body.algorithm, xw.body.format, Buffer.from(xw.body.publicKey, 'base64').length],
        ['x-wing', 'raw', 1216],
      );
    });

    it('is stored encrypted under the barrier, never in the clear', async () => {
      const blob = await getEntry(s.hsm.store.db, wrappingKeyPath('ml-kem-768'));
      assert.ok(blob && blob.length > 64);
      const pub = Buffer.from(
        (await s.call('GET', '/v1/sys/wrapping-key?algorithm=ml-kem-768', { token: operator })).body.publicKey,
        'base64',
      );
      // the stored form is the 64-byte seed under the barrier: neither it nor the public key shows
      assert.equal(Buffer.from(blob).includes(pub.subarray(0, 32)), false);
      assert.equal(blob.length, 5 + 12 + 64 + 16);
    });
  });

  for (const f of families()) {
    for (const alg of ALGS) {
      it(`imports ${f.type} wrapped with ${alg}; the key works and matches the original`, async () => {
        const name = `imp-${f.type}-${{ 'rsa-oaep-3072-aes-kwp': 'rsa', 'ml-kem-768': 'kem', 'x-wing': 'xw' }[alg]}`;
        const wrappedKey = await wrap(alg, f.material);
        secrets.push(b64(f.material), Buffer.from(f.material).toString('hex'), wrappedKey);
        const r = await s.call('POST', `/v1/keys/${name}/import`, {
          token: operator,
          body: { type: f.type, algorithm: alg, wrappedKey, labels: { origin: 'byok' } },
        });
        assert.equal(r.status, 201, JSON.stringify(r.body));
        assert.deepEqual(
          [r.body.name, r.body.type, r.body.latestVersion, r.body.verifyOnly, r.body.labels.origin],
          [name, f.type, 1, false, 'byok'],
        );
        assert.equal(
          r.body.versions[0].publicKey,
          f.publicKey,
          'the public key derived from the imported material is the original one',
        );
        assert.equal(JSON.stringify(r.body).includes(b64(f.material)), false, 'the material is never echoed');
        await f.check(s, name, app);
        // an imported key rotates like any other (new versions are generated inside)
        if (f.type === 'ed25519')
          assert.equal((await s.call('POST', `/v1/keys/${name}/rotate`, { token: operator })).body.latestVersion, 2);
      });
    }
  }

  describe('RSA-OAEP decrypt', () => {
    let pem: string;
    before(async () => {
      // A fixture key imported (test/helpers/rsa.ts): decryption is tested here; rotation generates v2.
      await importFixedRsaKey(s, root, 'oaep');
      pem = (await s.call('GET', '/v1/keys/oaep/public?format=pem', { token: app })).body.publicKey;
    });
    const enc = (m: string | Uint8Array, label?: string) =>
      b64(
        publicEncrypt(
          {
            key: createPublicKey(pem),
            padding: constants.RSA_PKCS1_OAEP_PADDING,
            oaepHash: 'sha256',
            ...(label ? { oaepLabel: Buffer.from(label) } : {}),
          },
          Buffer.from(m),
        ),
      );
    const decrypt = (body: object, name = 'oaep') => s.call('POST', `/v1/keys/${name}/decrypt`, { token: app, body });

    it('decrypts what publicEncrypt made with the exported PEM: raw base64, kw:v1: form, label as aad, keyVersion, batch', async () => {
      const ct = enc('card 4111');
      assert.equal((await decrypt({ ciphertext: ct })).body.plaintext, b64('card 4111'));
      assert.equal((await decrypt({ ciphertext: 'kw:v1:' + ct })).body.plaintext, b64('card 4111'));
      assert.equal((await decrypt({ ciphertext: ct, keyVersion: 1 })).body.plaintext, b64('card 4111'));
      const labelled = enc('x', 'order-7');
      assert.equal((await decrypt({ ciphertext: labelled, aad: b64('order-7') })).body.plaintext, b64('x'));
      assert.deepEqual((await decrypt({ ciphertext: labelled })).body, GENERIC_DECRYPT);
      const batch = await decrypt({ batch: [{ ciphertext: ct }, { ciphertext: 'AAAA' }, { ciphertext: enc('') }] });
      assert.deepEqual(batch.body.batch, [{ plaintext: b64('card 4111') }, GENERIC_DECRYPT, { plaintext: '' }]);
    });

    it('after rotation: raw ciphertexts default to the latest version, keyVersion reaches older ones, min version disables them', async () => {
      const v1 = enc('old');
      await s.call('POST', '/v1/keys/oaep/rotate', { token: operator });
      const pem2 = (await s.call('GET', '/v1/keys/oaep/public?format=pem', { token: app })).body.publicKey;
      assert.notEqual(pem2, pem);
      assert.deepEqual((await decrypt({ ciphertext: v1 })).body, GENERIC_DECRYPT, 'v1 ciphertext against v2 key');
      assert.equal((await decrypt({ ciphertext: v1, keyVersion: 1 })).body.plaintext, b64('old'));
      assert.equal((await decrypt({ ciphertext: 'kw:v1:' + v1 })).body.plaintext, b64('old'));
      assertError(await decrypt({ ciphertext: 'kw:v1:' + v1, keyVersion: 2 }), 400, 'OPTION_INVALID');
      assertError(await decrypt({ ciphertext: v1, keyVersion: 3 }), 400, 'KEY_VERSION_DISABLED');
      assert.deepEqual((await decrypt({ ciphertext: 'kw:v3:' + v1 })).body, GENERIC_DECRYPT);
      await s.call('POST', '/v1/keys/oaep/config', { token: operator, body: { minDecryptionVersion: 2 } });
      assertError(await decrypt({ ciphertext: v1, keyVersion: 1 }), 400, 'KEY_VERSION_DISABLED');
      pem = pem2;
    });

    it('wrong key, garbage, truncation: the same body as a failed AEAD decryption (no padding oracle)', async () => {
      await importFixedRsaKey(s, root, 'oaep-other', { key: '3072-b' });
      await s.call('POST', '/v1/keys', { token: root, body: { name: 'aes', type: 'aes256-gcm' } });
      const aeadFailure = (await decrypt({ ciphertext: 'kw:v1:AAAA' }, 'aes')).body;
      assert.deepEqual(aeadFailure, GENERIC_DECRYPT);
      const ct = enc('m');
      const bad = [
        Buffer.from(ct, 'base64').subarray(1),
        Buffer.alloc(384),
        Buffer.alloc(384, 0xff),
        Buffer.from('nope'),
      ].map((b) => b64(b));
      for (const c of [...bad, 'kw:v2:'])
        assert.deepEqual((await decrypt({ ciphertext: c })).body, aeadFailure, c.slice(0, 12));
      // Text that is neither kw:v<N>:<base64> nor base64 is a syntax error, told apart (it says nothing about the key).
      for (const c of ['***', 'kw:v1:***', '', 'kw:vx:AAAA'])
        assertError(await decrypt({ ciphertext: c }), 400, 'CIPHERTEXT_FORMAT');
      assert.deepEqual((await decrypt({ ciphertext: ct }, 'oaep-other')).body, aeadFailure);
      assert.equal((await s.call('GET', '/v1/sys/health')).status, 200);
    });

    it('RSA keys do not encrypt or rewrap server-side; a keyVersion must agree with a kw: ciphertext', async () => {
      assertError(
        await s.call('POST', '/v1/keys/oaep/encrypt', { token: app, body: { plaintext: b64('m') } }),
        400,
        'OPERATION_UNSUPPORTED',
      );
      assertError(
        await s.call('POST', '/v1/keys/oaep/rewrap', { token: app, body: { ciphertext: enc('m') } }),
        400,
        'OPERATION_UNSUPPORTED',
      );
      assertError(
        await s.call('POST', '/v1/keys/aes/decrypt', { token: app, body: { ciphertext: 'kw:v1:AAAA', keyVersion: 2 } }),
        400,
        'OPTION_INVALID',
      );
      assertError(
        await s.call('POST', '/v1/keys/oaep/decrypt', {
          token: app,
          body: { ciphertext: 'kw:v1:' + enc('m'), keyVersion: 2 },
        }),
        400,
        'OPTION_INVALID',
      );
      assertError(
        await s.call('POST', '/v1/keys/imp-ed25519-rsa/decrypt', { token: app, body: { ciphertext: 'AAAA' } }),
        400,
        'OPERATION_UNSUPPORTED',
      );
    });

    it('a verify-only RSA key refuses to decrypt', async () => {
      await s.call('POST', '/v1/keys', { token: root, body: { name: 'oaep-pub', type: 'rsa-3072', publicKey: pem } });
      assertError(await decrypt({ ciphertext: enc('m') }, 'oaep-pub'), 400, 'KEY_VERIFY_ONLY');
    });

    it("Wycheproof RSAES-OAEP-3072-SHA-256: the vectors' key imported over BYOK decrypts the valid cases; every invalid padding is the generic error", async () => {
      const v = wycheproof<{
        privateKeyPkcs8: string;
        tests: Array<{ tcId: number; msg: string; ct: string; label: string; result: string }>;
      }>('rsa_oaep_3072_sha256');
      const imp = await s.call('POST', '/v1/keys/wycheproof-oaep/import', {
        token: operator,
        body: {
          type: 'rsa-3072',
          algorithm: 'ml-kem-768',
          wrappedKey: await wrap('ml-kem-768', hex(v.privateKeyPkcs8)),
        },
      });
      assert.equal(imp.status, 201, JSON.stringify(imp.body));
      for (const t of v.tests) {
        const r = await decrypt(
          { ciphertext: b64(hex(t.ct)), ...(t.label ? { aad: b64(hex(t.label)) } : {}) },
          'wycheproof-oaep',
        );
        if (t.result === 'valid')
          assert.equal(Buffer.from(r.body.plaintext ?? '', 'base64').toString('hex'), t.msg, `tcId ${t.tcId}`);
        else assert.deepEqual([r.status, r.body], [400, GENERIC_DECRYPT], `tcId ${t.tcId}`);
      }
    });
  });

  describe('wrong inputs', () => {
    let good: string;
    let foreign: string;
    before(async () => {
      good = await wrap('rsa-oaep-3072-aes-kwp', generateKey('ed25519').private);
      // wrapped to a wrapping key of another server
      foreign = b64(
        wrapKeyMaterial('ml-kem-768', generateWrappingKey('ml-kem-768').public!, generateKey('aes256-gcm').private),
      );
    });
    const body = (over: object) => ({ type: 'ed25519', algorithm: 'rsa-oaep-3072-aes-kwp', wrappedKey: good, ...over });
    const flip = (text: string, at: number) => {
      const b = Buffer.from(text, 'base64');
      b[at < 0 ? b.length + at : at]! ^= 1;
      return b64(b);
    };
    const mismatchedEc = () => {
      const a = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
      const { x, y } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey.export({ format: 'jwk' });
      return new Uint8Array(
        createPrivateKey({ key: { ...a.privateKey.export({ format: 'jwk' }), x, y }, format: 'jwk' }).export({
          format: 'der',
          type: 'pkcs8',
        }),
      );
    };
    const cases: Array<[string, string, () => Promise<object> | object, number, string]> = [
      ['garbage base64', 'w1', () => body({ wrappedKey: '***' }), 400, 'VALIDATION_FAILED'],
      ['non-canonical base64', 'w1', () => body({ wrappedKey: 'AB==' }), 400, 'VALIDATION_FAILED'],
      ['missing wrappedKey', 'w1', () => ({ type: 'ed25519', algorithm: 'ml-kem-768' }), 400, 'VALIDATION_FAILED'],
      [
        'material in the clear (unknown field)',
        'w1',
        () => body({ privateKey: b64(generateKey('ed25519').private) }),
        400,
        'VALIDATION_FAILED',
      ],
      ['unknown wrapping algorithm', 'w1', () => body({ algorithm: 'rsa-oaep-2048' }), 400, 'VALIDATION_FAILED'],
      ['wrappedKey as a number', 'w1', () => body({ wrappedKey: 5 }), 400, 'VALIDATION_FAILED'],
      ['unknown key type', 'w1', () => body({ type: 'des' }), 400, 'KEY_TYPE_INVALID'],
      ['bad key name', '-bad', () => body({}), 400, 'VALIDATION_FAILED'],
      ['too short', 'w1', () => body({ wrappedKey: 'AAAA' }), 400, 'WRAPPED_KEY_INVALID'],
      [
        'wrong length (not a multiple of 8)',
        'w1',
        () => body({ wrappedKey: b64(Buffer.concat([Buffer.from(good, 'base64'), Buffer.from([0])])) }),
        400,
        'WRAPPED_KEY_INVALID',
      ],
      [
        'flipped bit in the RSA-OAEP part',
        'w1',
        () => body({ wrappedKey: flip(good, 10) }),
        400,
        'WRAPPED_KEY_INVALID',
      ],
      ['flipped bit in the KWP part', 'w1', () => body({ wrappedKey: flip(good, -1) }), 400, 'WRAPPED_KEY_INVALID'],
      [
        'wrapped with the other algorithm',
        'w1',
        async () => body({ wrappedKey: await wrap('ml-kem-768', generateKey('ed25519').private) }),
        400,
        'WRAPPED_KEY_INVALID',
      ],
      [
        'an X-Wing blob whose X25519 part is a low-order point',
        'w1',
        async () =>
          body({
            algorithm: 'x-wing',
            wrappedKey: b64(
              Buffer.from(await wrap('x-wing', generateKey('ed25519').private), 'base64').fill(0, 1088, 1120),
            ),
          }),
        400,
        'WRAPPED_KEY_INVALID',
      ],
      [
        'an X-Wing blob with a flipped bit in its KWP part',
        'w1',
        async () =>
          body({ algorithm: 'x-wing', wrappedKey: flip(await wrap('x-wing', generateKey('ed25519').private), -1) }),
        400,
        'WRAPPED_KEY_INVALID',
      ],
      [
        "wrapped to another server's key",
        'w1',
        () => body({ algorithm: 'ml-kem-768', type: 'aes256-gcm', wrappedKey: foreign }),
        400,
        'WRAPPED_KEY_INVALID',
      ],
      ['Ed25519 material for an ecdsa-p256 key', 'w1', () => body({ type: 'ecdsa-p256' }), 400, 'PRIVATE_KEY_INVALID'],
      [
        '31-byte AES key',
        'w1',
        async () => body({ type: 'aes256-gcm', wrappedKey: await wrap('rsa-oaep-3072-aes-kwp', new Uint8Array(31)) }),
        400,
        'PRIVATE_KEY_INVALID',
      ],
      [
        'an ML-KEM-768 seed for ml-dsa-65',
        'w1',
        async () =>
          body({
            type: 'ml-dsa-65',
            algorithm: 'ml-kem-768',
            wrappedKey: await wrap('ml-kem-768', generateKey('ml-kem-768').private),
          }),
        400,
        'PRIVATE_KEY_INVALID',
      ],
      [
        'RSA-2048 for rsa-3072',
        'w1',
        async () =>
          body({
            type: 'rsa-3072',
            algorithm: 'ml-kem-768',
            wrappedKey: await wrap('ml-kem-768', pkcs8(fixedRsaKeyPair(2048).privateKey)),
          }),
        400,
        'PRIVATE_KEY_INVALID',
      ],
      [
        'an EC key whose public point is not its own',
        'w1',
        async () =>
          body({ type: 'ecdsa-p256', algorithm: 'ml-kem-768', wrappedKey: await wrap('ml-kem-768', mismatchedEc()) }),
        400,
        'PRIVATE_KEY_INVALID',
      ],
      ['a name that exists', 'oaep', () => body({}), 409, 'KEY_EXISTS'],
    ];
    for (const [what, name, make, status, code] of cases) {
      it(`rejects ${what} with ${status} ${code}`, async () => {
        const r = await s.call('POST', `/v1/keys/${name}/import`, { token: root, body: await make() });
        assertError(r, status, code);
        assert.equal((await s.call('GET', '/v1/sys/health')).status, 200);
        assert.equal((await s.call('GET', '/v1/keys/w1', { token: root })).status, 404, 'nothing was created');
      });
    }

    it('one message for every cryptographic unwrap failure', async () => {
      const bodies = await Promise.all(
        [flip(good, 10), flip(good, -1), foreign].map(
          async (w, i) =>
            (
              await s.call('POST', '/v1/keys/w1/import', {
                token: root,
                body: body(i === 2 ? { algorithm: 'ml-kem-768', wrappedKey: w } : { wrappedKey: w }),
              })
            ).body,
        ),
      );
      assert.deepEqual(bodies[0], bodies[1]);
      assert.deepEqual(bodies[1], bodies[2]);
    });

    it('bodies over the limit are 413; bad query on the wrapping key is 400', async () => {
      assertError(
        await s.call('POST', '/v1/keys/w1/import', { token: root, body: body({ wrappedKey: 'A'.repeat(2_000_000) }) }),
        413,
        'BODY_TOO_LARGE',
      );
      assertError(
        await s.call('POST', '/v1/keys/w1/import', { token: root, body: body({ wrappedKey: 'A'.repeat(9000) }) }),
        400,
        'VALIDATION_FAILED',
      );
      assertError(await s.call('GET', '/v1/sys/wrapping-key?algorithm=des', { token: root }), 400, 'VALIDATION_FAILED');
      assertError(
        await s.call('GET', '/v1/sys/wrapping-key?algorithm=a&algorithm=b', { token: root }),
        400,
        'VALIDATION_FAILED',
      );
    });
  });

  it('policies: apps may neither import nor read the wrapping key; no token is 401', async () => {
    const wrappedKey = await wrap('ml-kem-768', generateKey('aes256-gcm').private);
    assertError(
      await s.call('POST', '/v1/keys/by-app/import', {
        token: app,
        body: { type: 'aes256-gcm', algorithm: 'ml-kem-768', wrappedKey },
      }),
      403,
      'POLICY_DENIED',
    );
    assertError(await s.call('GET', '/v1/sys/wrapping-key', { token: app }), 403, 'POLICY_DENIED');
    assertError(await s.call('GET', '/v1/sys/wrapping-key'), 401, 'UNAUTHENTICATED');
    assertError(
      await s.call('POST', '/v1/keys/by-app/import', {
        body: { type: 'aes256-gcm', algorithm: 'ml-kem-768', wrappedKey },
      }),
      401,
      'UNAUTHENTICATED',
    );
  });

  it('no key material or wrapped blob reaches the log', () => {
    const log = s.logs.join('\n');
    assert.ok(secrets.length >= 20);
    for (const secret of secrets) assert.equal(log.includes(secret), false);
  });

  it('sealing wipes the wrapping keys: the endpoint answers SEALED', async () => {
    assert.equal((await s.call('POST', '/v1/sys/seal', { token: root, body: {} })).status, 200);
    assertError(await s.call('GET', '/v1/sys/wrapping-key', { token: operator }), 503, 'SEALED');
  });
});
