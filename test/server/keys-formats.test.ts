/**
 * Raw values versus `kw:v<N>:` values (issue 11, defect 2), one rule for every operation that
 * takes one (decrypt, rewrap, verify): a well-formed `kw:v<N>:<base64>` names its version; plain
 * standard base64 is the raw body, for `keyVersion` when given, else the latest version; anything
 * else is a 400 naming the field and the expected form (CIPHERTEXT_FORMAT / SIGNATURE_FORMAT),
 * never a silent `{valid: false}`. Raw signatures come from node:crypto, an outside signer.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign as nodeSign } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { issueToken } from '../../engine/auth/tokens.js';
import { devBootstrap } from '../../engine/dev.js';
import { ERROR_STATUS } from '../../server/errors.js';
import { importFixedRsaKey } from '../helpers/rsa.js';
import { startTestServer } from '../helpers/server.js';
import type { TestServer } from '../helpers/server.js';
import { b64 } from '../helpers/wire.js';

const MSG = b64('raw or kw');

/** Values that are neither a well-formed kw: value nor standard base64. */
const MALFORMED: Array<[string, string]> = [
  ['words', 'not a value'],
  ['bad base64 after kw:', 'kw:v1:!!!!'],
  ['no version', 'kw::AAAA'],
  ['version 0', 'kw:v0:AAAA'],
  ['version with a leading zero', 'kw:v01:AAAA'],
  ['an 11-digit version', 'kw:v99999999999:AAAA'],
  ['a version over 2^32-1', 'kw:v4294967296:AAAA'],
  ['vault: prefix', 'vault:v1:AAAA'],
  ['base64url', 'AB-_'],
  ['unpadded base64', 'AAA'],
  ['non-canonical base64', 'AB=='],
  ['base64 with a line break', 'AAAA\nAAAA'],
];

describe('raw and kw: values on decrypt, rewrap and verify', { timeout: 300_000 }, () => {
  let s: TestServer;
  let root: string;
  let app: string;

  const call = (path: string, body: object) => s.call('POST', path, { token: app, body });
  const ok = async (path: string, body: object) => {
    const r = await call(path, body);
    assert.equal(r.status, 200, `${path}: ${JSON.stringify(r.body)}`);
    return r.body;
  };
  const fails = async (path: string, body: object, status: number, code: string, message?: RegExp) => {
    const r = await call(path, body);
    assert.deepEqual(
      [r.status, r.body?.error?.code],
      [status, code],
      `${path} ${JSON.stringify(body).slice(0, 120)}: ${JSON.stringify(r.body)}`,
    );
    if (message) assert.match(r.body.error.message, message);
  };

  before(async () => {
    s = await startTestServer();
    root = (await devBootstrap(s.hsm)).rootToken;
    app = (await issueToken(s.hsm.store.db, { principal: 'svc', roles: ['app'], now: new Date() })).token;
    for (const [name, type] of [
      ['aes', 'aes256-gcm'],
      ['chacha', 'chacha20-poly1305'],
    ]) {
      assert.equal((await s.call('POST', '/v1/keys', { token: root, body: { name, type } })).status, 201);
    }
    // Some rsa-3072 key: a fixture key imported, not a generation (test/helpers/rsa.ts).
    await importFixedRsaKey(s, root, 'rsa');
  });
  after(() => s.close());

  it('the new codes are in the error table as 400s', () => {
    assert.equal(ERROR_STATUS.CIPHERTEXT_FORMAT, 400);
    assert.equal(ERROR_STATUS.SIGNATURE_FORMAT, 400);
  });

  for (const key of ['aes', 'chacha']) {
    it(`${key}: decrypt and rewrap take the raw body for keyVersion (default latest) as well as kw:`, async () => {
      const v1 = (await ok(`/v1/keys/${key}/encrypt`, { plaintext: MSG, aad: b64('ctx') })).ciphertext as string;
      const raw1 = v1.slice('kw:v1:'.length);
      assert.deepEqual(await ok(`/v1/keys/${key}/decrypt`, { ciphertext: v1, aad: b64('ctx') }), { plaintext: MSG });
      assert.deepEqual(
        await ok(`/v1/keys/${key}/decrypt`, { ciphertext: raw1, aad: b64('ctx') }),
        { plaintext: MSG },
        'raw, latest version',
      );
      assert.deepEqual(
        await ok(`/v1/keys/${key}/decrypt`, { ciphertext: v1, aad: b64('ctx'), keyVersion: 1 }),
        { plaintext: MSG },
        'kw: with an agreeing keyVersion',
      );
      const rw = await ok(`/v1/keys/${key}/rewrap`, { ciphertext: raw1, aad: b64('ctx') });
      assert.match(rw.ciphertext, /^kw:v1:/);

      assert.equal((await s.call('POST', `/v1/keys/${key}/rotate`, { token: root, body: {} })).status, 200);
      assert.deepEqual(
        await ok(`/v1/keys/${key}/decrypt`, { ciphertext: raw1, aad: b64('ctx'), keyVersion: 1 }),
        { plaintext: MSG },
        'raw, keyVersion 1',
      );
      // Raw without keyVersion means the latest (v2): the v1 body fails like any wrong ciphertext.
      await fails(`/v1/keys/${key}/decrypt`, { ciphertext: raw1, aad: b64('ctx') }, 400, 'DECRYPTION_FAILED');
      await fails(
        `/v1/keys/${key}/decrypt`,
        { ciphertext: v1, aad: b64('ctx'), keyVersion: 2 },
        400,
        'OPTION_INVALID',
        /keyVersion: the ciphertext names version 1, the request 2/,
      );
      await fails(
        `/v1/keys/${key}/decrypt`,
        { ciphertext: raw1, keyVersion: 7 },
        400,
        'KEY_VERSION_DISABLED',
        /accepts versions 1 to 2/,
      );
      const rw2 = await ok(`/v1/keys/${key}/rewrap`, { ciphertext: raw1, aad: b64('ctx'), keyVersion: 1 });
      assert.match(rw2.ciphertext, /^kw:v2:/);
      assert.equal(rw2.keyVersion, 2);
      assert.deepEqual(
        await ok(`/v1/keys/${key}/decrypt`, { ciphertext: rw2.ciphertext.slice(6), aad: b64('ctx') }),
        { plaintext: MSG },
        'raw v2, latest',
      );
    });
  }

  for (const [what, value] of MALFORMED) {
    it(`malformed ciphertext (${what}) → 400 CIPHERTEXT_FORMAT on decrypt and rewrap`, async () => {
      const expect = /^ciphertext: expected kw:v<version>:<base64> or standard base64/;
      await fails('/v1/keys/aes/decrypt', { ciphertext: value }, 400, 'CIPHERTEXT_FORMAT', expect);
      await fails('/v1/keys/rsa/decrypt', { ciphertext: value }, 400, 'CIPHERTEXT_FORMAT', expect);
      await fails('/v1/keys/aes/rewrap', { ciphertext: value }, 400, 'CIPHERTEXT_FORMAT', expect);
    });
  }

  it('verify: raw signatures from node:crypto verify against the latest version or keyVersion', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    assert.equal(
      (await s.call('POST', '/v1/keys', { token: root, body: { name: 'ed-vo', type: 'ed25519', publicKey: pem } }))
        .status,
      201,
    );
    const message = Buffer.from('signed outside');
    const raw = b64(nodeSign(null, message, privateKey));
    assert.deepEqual(await ok('/v1/keys/ed-vo/verify', { message: b64(message), signature: raw }), { valid: true });
    assert.deepEqual(await ok('/v1/keys/ed-vo/verify', { message: b64(message), signature: raw, keyVersion: 1 }), {
      valid: true,
    });
    assert.deepEqual(
      await ok('/v1/keys/ed-vo/verify', { message: b64(message), signature: 'kw:v1:' + raw, keyVersion: 1 }),
      { valid: true },
    );
    assert.deepEqual(
      await ok('/v1/keys/ed-vo/verify', { message: b64('other'), signature: raw }),
      { valid: false },
      'still a real check',
    );
    await fails(
      '/v1/keys/ed-vo/verify',
      { message: b64(message), signature: raw, keyVersion: 2 },
      400,
      'KEY_VERSION_DISABLED',
      /accepts versions 1 to 1/,
    );
    await fails(
      '/v1/keys/ed-vo/verify',
      { message: b64(message), signature: 'kw:v1:' + raw, keyVersion: 2 },
      400,
      'OPTION_INVALID',
      /keyVersion: the signature names version 1, the request 2/,
    );

    // A generated key across a rotation: raw means the latest unless keyVersion says otherwise.
    assert.equal(
      (await s.call('POST', '/v1/keys', { token: root, body: { name: 'ed-gen', type: 'ed25519' } })).status,
      201,
    );
    const s1 = (await ok('/v1/keys/ed-gen/sign', { message: MSG })).signature as string;
    assert.equal((await s.call('POST', '/v1/keys/ed-gen/rotate', { token: root, body: {} })).status, 200);
    const s2 = (await ok('/v1/keys/ed-gen/sign', { message: MSG })).signature as string;
    assert.match(s2, /^kw:v2:/);
    assert.deepEqual(
      await ok('/v1/keys/ed-gen/verify', { message: MSG, signature: s2.slice(6) }),
      { valid: true },
      'raw v2, latest',
    );
    assert.deepEqual(
      await ok('/v1/keys/ed-gen/verify', { message: MSG, signature: s1.slice(6), keyVersion: 1 }),
      { valid: true },
      'raw v1, keyVersion 1',
    );
    assert.deepEqual(
      await ok('/v1/keys/ed-gen/verify', { message: MSG, signature: s1.slice(6) }),
      { valid: false },
      'raw v1 against v2',
    );
    assert.deepEqual(
      await ok('/v1/keys/ed-gen/verify', { message: MSG, signature: s1 }),
      { valid: true },
      'kw:v1 names its version',
    );
  });

  for (const [what, value] of MALFORMED) {
    it(`malformed signature (${what}) → 400 SIGNATURE_FORMAT, not {valid: false}`, async () => {
      await fails(
        '/v1/keys/ed-gen/verify',
        { message: MSG, signature: value },
        400,
        'SIGNATURE_FORMAT',
        /^signature: expected kw:v<version>:<base64> or standard base64/,
      );
    });
  }

  it('in a batch a malformed signature is that item’s SIGNATURE_FORMAT error', async () => {
    const sig = (await ok('/v1/keys/ed-gen/sign', { message: MSG })).signature as string;
    const b = await ok('/v1/keys/ed-gen/verify', {
      batch: [
        { message: MSG, signature: sig },
        { message: MSG, signature: 'kw:v1:!!' },
        { message: MSG, signature: sig.slice(6) },
        { message: MSG, signature: 'AAAA' },
      ],
    });
    assert.deepEqual(
      b.batch.map((i: any) => i.valid ?? i.error.code),
      [true, 'SIGNATURE_FORMAT', true, false],
    );
  });
});
