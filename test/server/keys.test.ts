/**
 * Keys over REST: every key type round-trips (SLH-DSA "s" signing, seconds per signature in pure JS,
 * only with KEYWARD_SLOW_TESTS=1), rotation and minimum decryption version, header swaps, batches,
 * policy decisions with the key in the input, and a table of wrong inputs.
 */
import assert from 'node:assert/strict';
import { createPublicKey, verify as nodeVerify } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { issueToken } from '../../engine/auth/tokens.js';
import { KEY_TYPES, keyTypeInfo } from '../../engine/crypto/index.js';
import type { KeyType } from '../../engine/crypto/index.js';
import { devBootstrap } from '../../engine/dev.js';
import { completeApproval } from '../helpers/approvals.js';
import { startTestServer } from '../helpers/server.js';
import type { TestServer } from '../helpers/server.js';
import { assertError, b64 } from '../helpers/wire.js';

const SLOW_SIGN = new Set<KeyType>(['slh-dsa-sha2-128s', 'slh-dsa-sha2-256s']);
const slow = process.env.KEYWARD_SLOW_TESTS === '1';

describe('/v1/keys', { timeout: 300_000 }, () => {
  let s: TestServer;
  let root: string;
  let app: string;
  let operator: string;

  before(async () => {
    s = await startTestServer();
    root = (await devBootstrap(s.hsm)).rootToken;
    app = (await issueToken(s.hsm.store.db, { principal: 'svc', roles: ['app'], now: new Date() })).token;
    operator = (await issueToken(s.hsm.store.db, { principal: 'op', roles: ['operator'], now: new Date() })).token;
  });
  after(() => s.close());

  for (const type of KEY_TYPES) {
    it(`${type} round-trips`, async () => {
      const name = `k-${type}`;
      const created = await s.call('POST', '/v1/keys', {
        token: root,
        body: { name, type, labels: { team: 'payments' } },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.equal(created.body.type, type);
      assert.equal(created.body.latestVersion, 1);
      const ops = keyTypeInfo(type).operations;
      const msg = b64('hello keyward');
      if (ops.includes('encrypt')) {
        const e = await s.call('POST', `/v1/keys/${name}/encrypt`, {
          token: app,
          body: { plaintext: msg, aad: b64('ctx') },
        });
        assert.equal(e.status, 200, JSON.stringify(e.body));
        assert.match(e.body.ciphertext, /^kw:v1:/);
        const d = await s.call('POST', `/v1/keys/${name}/decrypt`, {
          token: app,
          body: { ciphertext: e.body.ciphertext, aad: b64('ctx') },
        });
        assert.equal(d.body.plaintext, msg);
        assertError(
          await s.call('POST', `/v1/keys/${name}/decrypt`, {
            token: app,
            body: { ciphertext: e.body.ciphertext, aad: b64('other') },
          }),
          400,
          'DECRYPTION_FAILED',
        );
        const dk = await s.call('POST', `/v1/keys/${name}/datakey`, { token: app, body: { bytes: 16 } });
        assert.equal(Buffer.from(dk.body.plaintext, 'base64').length, 16);
        const back = await s.call('POST', `/v1/keys/${name}/decrypt`, {
          token: app,
          body: { ciphertext: dk.body.ciphertext },
        });
        assert.equal(back.body.plaintext, dk.body.plaintext);
      }
      if (ops.includes('sign') && (slow || !SLOW_SIGN.has(type))) {
        const sg = await s.call('POST', `/v1/keys/${name}/sign`, { token: app, body: { message: msg } });
        assert.equal(sg.status, 200, JSON.stringify(sg.body));
        assert.match(sg.body.signature, /^kw:v1:/);
        const v = await s.call('POST', `/v1/keys/${name}/verify`, {
          token: app,
          body: { message: msg, signature: sg.body.signature },
        });
        assert.equal(v.body.valid, true);
        const bad = await s.call('POST', `/v1/keys/${name}/verify`, {
          token: app,
          body: { message: b64('other'), signature: sg.body.signature },
        });
        assert.equal(bad.body.valid, false);
        for (const garbage of [
          'kw:v1:AAAA',
          'nonsense',
          sg.body.signature.slice(0, -8),
          'kw:v9:' + sg.body.signature.slice(6),
        ]) {
          const g = await s.call('POST', `/v1/keys/${name}/verify`, {
            token: app,
            body: { message: msg, signature: garbage },
          });
          assert.deepEqual(
            [g.status, g.body.valid],
            [200, false],
            `${garbage.slice(0, 20)}: ${JSON.stringify(g.body)}`,
          );
        }
        if (type === 'ed25519' || type.startsWith('ecdsa') || type.startsWith('rsa')) {
          const pem = (await s.call('GET', `/v1/keys/${name}/public?format=pem`, { token: app })).body.publicKey;
          const sig = Buffer.from(sg.body.signature.slice(6), 'base64');
          const key = createPublicKey(pem);
          const ok =
            type === 'ed25519'
              ? nodeVerify(null, Buffer.from('hello keyward'), key, sig)
              : type.startsWith('rsa')
                ? nodeVerify('sha256', Buffer.from('hello keyward'), { key, padding: 6, saltLength: 32 }, sig)
                : nodeVerify(type === 'ecdsa-p384' ? 'sha384' : 'sha256', Buffer.from('hello keyward'), key, sig);
          assert.equal(ok, true, 'the exported PEM verifies in node:crypto');
        }
      }
      if (ops.includes('hmac')) {
        const h = await s.call('POST', `/v1/keys/${name}/hmac`, { token: app, body: { message: msg } });
        assert.match(h.body.hmac, /^kw:v1:/);
      }
      if (ops.includes('encapsulate')) {
        const enc = await s.call('POST', `/v1/keys/${name}/encapsulate`, { token: app, body: {} });
        assert.equal(enc.status, 200, JSON.stringify(enc.body));
        const dec = await s.call('POST', `/v1/keys/${name}/decapsulate`, {
          token: app,
          body: { ciphertext: enc.body.ciphertext },
        });
        assert.equal(dec.body.sharedSecret, enc.body.sharedSecret);
      }
      if (keyTypeInfo(type).asymmetric) {
        const raw = await s.call('GET', `/v1/keys/${name}/public?format=${type.startsWith('rsa') ? 'jwk' : 'raw'}`, {
          token: app,
        });
        assert.equal(raw.status, 200, JSON.stringify(raw.body));
      } else {
        assertError(await s.call('GET', `/v1/keys/${name}/public`, { token: app }), 400, 'KEY_TYPE_MISMATCH');
      }
    });
  }

  it('rotation: new version encrypts, both decrypt, min version disables v1, a swapped header fails', async () => {
    await s.call('POST', '/v1/keys', { token: root, body: { name: 'rot', type: 'aes256-gcm' } });
    const v1 = (await s.call('POST', '/v1/keys/rot/encrypt', { token: app, body: { plaintext: b64('one') } })).body
      .ciphertext;
    const r = await s.call('POST', '/v1/keys/rot/rotate', { token: operator });
    assert.equal(r.body.latestVersion, 2);
    const v2 = (await s.call('POST', '/v1/keys/rot/encrypt', { token: app, body: { plaintext: b64('two') } })).body
      .ciphertext;
    assert.match(v2, /^kw:v2:/);
    assert.equal(
      (await s.call('POST', '/v1/keys/rot/decrypt', { token: app, body: { ciphertext: v1 } })).body.plaintext,
      b64('one'),
    );
    assertError(
      await s.call('POST', '/v1/keys/rot/decrypt', {
        token: app,
        body: { ciphertext: v2.replace('kw:v2:', 'kw:v1:') },
      }),
      400,
      'DECRYPTION_FAILED',
    );
    const rw = await s.call('POST', '/v1/keys/rot/rewrap', { token: app, body: { ciphertext: v1 } });
    assert.match(rw.body.ciphertext, /^kw:v2:/);
    assertError(
      await s.call('POST', '/v1/keys/rot/config', { token: operator, body: { minDecryptionVersion: 3 } }),
      400,
      'VALIDATION_FAILED',
    );
    assert.equal(
      (await s.call('POST', '/v1/keys/rot/config', { token: operator, body: { minDecryptionVersion: 2 } })).status,
      200,
    );
    assertError(
      await s.call('POST', '/v1/keys/rot/decrypt', { token: app, body: { ciphertext: v1 } }),
      400,
      'KEY_VERSION_DISABLED',
    );
    assert.equal(
      (await s.call('POST', '/v1/keys/rot/decrypt', { token: app, body: { ciphertext: rw.body.ciphertext } })).body
        .plaintext,
      b64('one'),
    );
    // a ciphertext of another key with the same type does not decrypt here
    await s.call('POST', '/v1/keys', { token: root, body: { name: 'rot2', type: 'aes256-gcm' } });
    const other = (await s.call('POST', '/v1/keys/rot2/encrypt', { token: app, body: { plaintext: b64('x') } })).body
      .ciphertext;
    assertError(
      await s.call('POST', '/v1/keys/rot/decrypt', {
        token: app,
        body: { ciphertext: other.replace('kw:v1:', 'kw:v2:') },
      }),
      400,
      'DECRYPTION_FAILED',
    );
  });

  it('encrypt, decrypt and sign answer the bytes JSON.stringify gives (their text is spelled by hand)', async () => {
    const raw = async (path: string, body: unknown) => {
      const res = await fetch(s.url + path, {
        method: 'POST',
        headers: { authorization: `Bearer ${app}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      const text = await res.text();
      assert.equal(res.status, 200, text);
      assert.equal(res.headers.get('content-type'), 'application/json; charset=utf-8');
      assert.equal(res.headers.get('content-length'), String(Buffer.byteLength(text)));
      // The key order and spelling of JSON.stringify over the same value.
      assert.equal(text, JSON.stringify(JSON.parse(text)));
      return JSON.parse(text) as Record<string, unknown>;
    };
    await s.call('POST', '/v1/keys', { token: root, body: { name: 'answers-aes', type: 'aes256-gcm' } });
    await s.call('POST', '/v1/keys', { token: root, body: { name: 'answers-ed', type: 'ed25519' } });
    await s.call('POST', '/v1/keys/answers-aes/rotate', { token: root, body: {} });
    const e = await raw('/v1/keys/answers-aes/encrypt', { plaintext: b64('x'.repeat(1024)) });
    assert.deepEqual(Object.keys(e), ['ciphertext', 'keyVersion']);
    assert.equal(e.keyVersion, 2);
    assert.deepEqual(await raw('/v1/keys/answers-aes/decrypt', { ciphertext: e.ciphertext }), {
      plaintext: b64('x'.repeat(1024)),
    });
    const sg = await raw('/v1/keys/answers-ed/sign', { message: b64('m') });
    assert.deepEqual(Object.keys(sg), ['signature', 'keyVersion']);
    assert.match(sg.signature as string, /^kw:v1:/);
    // A batch's answer is JSON.stringify's own.
    const batch = await raw('/v1/keys/answers-aes/encrypt', { batch: [{ plaintext: b64('a') }, { plaintext: 'no' }] });
    assert.equal((batch.batch as unknown[]).length, 2);
  });

  it('batches keep order with per-item errors', async () => {
    const e = await s.call('POST', '/v1/keys/rot/encrypt', {
      token: app,
      body: { batch: [{ plaintext: b64('a') }, { plaintext: b64('b') }] },
    });
    assert.equal(e.body.batch.length, 2);
    const d = await s.call('POST', '/v1/keys/rot/decrypt', {
      token: app,
      body: {
        batch: [
          { ciphertext: e.body.batch[1].ciphertext },
          { ciphertext: 'kw:v2:AAAA' },
          { ciphertext: e.body.batch[0].ciphertext },
        ],
      },
    });
    assert.equal(d.status, 200);
    assert.equal(d.body.batch[0].plaintext, b64('b'));
    assert.equal(d.body.batch[1].error.code, 'DECRYPTION_FAILED');
    assert.equal(d.body.batch[2].plaintext, b64('a'));
  });

  it('policies decide with the key: app may not create, operator may not encrypt', async () => {
    assertError(
      await s.call('POST', '/v1/keys', { token: app, body: { name: 'nope', type: 'aes256-gcm' } }),
      403,
      'POLICY_DENIED',
    );
    assertError(
      await s.call('POST', '/v1/keys/rot/encrypt', { token: operator, body: { plaintext: b64('a') } }),
      403,
      'POLICY_DENIED',
    );
    assert.equal((await s.call('GET', '/v1/keys/rot', { token: app })).status, 200);
  });

  it('a caller the policies refuse cannot tell whether a key exists; one they allow learns it is missing', async () => {
    const auditor = (await issueToken(s.hsm.store.db, { principal: 'aud', roles: ['auditor'], now: new Date() })).token;
    const calls: Array<[string, string, unknown]> = [
      ['POST', 'encrypt', { plaintext: b64('a') }],
      ['GET', '', undefined],
      ['POST', 'rotate', {}],
      ['DELETE', '', undefined],
    ];
    for (const [method, op, body] of calls) {
      const at = (name: string) => `/v1/keys/${name}${op ? '/' + op : ''}`;
      // "rot" exists (made above), "absent" does not: the same refusal, word for word.
      const existing = await s.call(method, at('rot'), { token: auditor, body });
      const missing = await s.call(method, at('absent'), { token: auditor, body });
      assertError(existing, 403, 'POLICY_DENIED');
      assertError(missing, 403, 'POLICY_DENIED');
      assert.equal(missing.body.error.message, existing.body.error.message);
    }
    // Allowed callers are told: app may encrypt and read, so a missing key is KEY_NOT_FOUND.
    assertError(
      await s.call('POST', '/v1/keys/absent/encrypt', { token: app, body: { plaintext: b64('a') } }),
      404,
      'KEY_NOT_FOUND',
    );
    assertError(await s.call('GET', '/v1/keys/absent', { token: app }), 404, 'KEY_NOT_FOUND');
  });

  it('deletion is scheduled only when allowed; a scheduled key refuses operations', async () => {
    await s.call('POST', '/v1/keys', { token: root, body: { name: 'gone', type: 'hmac-sha256' } });
    // Not allowed: refused at once, never parked for approvers.
    assertError(await s.call('DELETE', '/v1/keys/gone', { token: root }), 409, 'KEY_DELETION_NOT_ALLOWED');
    // Deletion is under dual control: two operators approve, then the requester executes it once.
    await s.call('POST', '/v1/keys/gone/config', { token: root, body: { deletionAllowed: true } });
    const del = await completeApproval(s, await s.call('DELETE', '/v1/keys/gone', { token: root }), root);
    assert.equal(del.status, 200);
    assert.ok(Date.parse(del.body.deleteAfter) > Date.now() + 6 * 86_400_000);
    assertError(
      await s.call('POST', '/v1/keys/gone/hmac', { token: app, body: { message: b64('m') } }),
      409,
      'KEY_PENDING_DELETION',
    );
    // A caller the policies refuse is not told the key exists, nor when it goes: the same refusal as
    // for a key that never existed (twice: the second from the node's key cache).
    const auditor = (await issueToken(s.hsm.store.db, { principal: 'aud2', roles: ['auditor'], now: new Date() }))
      .token;
    for (let i = 0; i < 2; i++) {
      const pending = await s.call('POST', '/v1/keys/gone/hmac', { token: auditor, body: { message: b64('m') } });
      const missing = await s.call('POST', '/v1/keys/never/hmac', { token: auditor, body: { message: b64('m') } });
      assertError(pending, 403, 'POLICY_DENIED');
      assertError(missing, 403, 'POLICY_DENIED');
      assert.equal(pending.body.error.message, missing.body.error.message);
    }
  });

  it('a verify-only key from a public key verifies and refuses to sign', async () => {
    await s.call('POST', '/v1/keys', { token: root, body: { name: 'src', type: 'ed25519' } });
    const pem = (await s.call('GET', '/v1/keys/src/public?format=pem', { token: app })).body.publicKey;
    const sig = (await s.call('POST', '/v1/keys/src/sign', { token: app, body: { message: b64('m') } })).body.signature;
    const c = await s.call('POST', '/v1/keys', { token: root, body: { name: 'vo', type: 'ed25519', publicKey: pem } });
    assert.equal(c.status, 201, JSON.stringify(c.body));
    assert.equal(c.body.verifyOnly, true);
    assert.equal(
      (await s.call('POST', '/v1/keys/vo/verify', { token: app, body: { message: b64('m'), signature: sig } })).body
        .valid,
      true,
    );
    assertError(
      await s.call('POST', '/v1/keys/vo/sign', { token: app, body: { message: b64('m') } }),
      400,
      'KEY_VERIFY_ONLY',
    );
    assertError(
      await s.call('POST', '/v1/keys', { token: root, body: { name: 'vo2', type: 'ed25519', publicKey: 'not a key' } }),
      400,
      'PUBLIC_KEY_INVALID',
    );
  });

  it('lists keys with pagination', async () => {
    const p1 = await s.call('GET', '/v1/keys?limit=2', { token: app });
    assert.equal(p1.body.keys.length, 2);
    const p2 = await s.call('GET', `/v1/keys?limit=2&after=${p1.body.next}`, { token: app });
    assert.ok(p2.body.keys[0].name > p1.body.keys[1].name);
    assertError(await s.call('GET', '/v1/keys?limit=0', { token: app }), 400, 'VALIDATION_FAILED');
  });

  const wrong: Array<[string, string, string, unknown, number, string]> = [
    ['unknown type', 'POST', '/v1/keys', { name: 'x1', type: 'des' }, 400, 'KEY_TYPE_INVALID'],
    ['missing type', 'POST', '/v1/keys', { name: 'x1' }, 400, 'VALIDATION_FAILED'],
    ['bad name', 'POST', '/v1/keys', { name: '../x', type: 'aes256-gcm' }, 400, 'VALIDATION_FAILED'],
    ['duplicate name', 'POST', '/v1/keys', { name: 'rot', type: 'aes256-gcm' }, 409, 'KEY_EXISTS'],
    ['unknown key', 'POST', '/v1/keys/nope/encrypt', { plaintext: 'AAAA' }, 404, 'KEY_NOT_FOUND'],
    ['bad base64', 'POST', '/v1/keys/rot/encrypt', { plaintext: '***' }, 400, 'VALIDATION_FAILED'],
    ['non-canonical base64', 'POST', '/v1/keys/rot/encrypt', { plaintext: 'AB==' }, 400, 'VALIDATION_FAILED'],
    ['plaintext as number', 'POST', '/v1/keys/rot/encrypt', { plaintext: 5 }, 400, 'VALIDATION_FAILED'],
    ['empty batch', 'POST', '/v1/keys/rot/encrypt', { batch: [] }, 400, 'VALIDATION_FAILED'],
    ['wrong key type for sign', 'POST', '/v1/keys/rot/sign', { message: 'AAAA' }, 400, 'OPERATION_UNSUPPORTED'],
    ['wrong key type for encapsulate', 'POST', '/v1/keys/rot/encapsulate', {}, 400, 'OPERATION_UNSUPPORTED'],
    ['garbage ciphertext', 'POST', '/v1/keys/rot/decrypt', { ciphertext: 'hello' }, 400, 'CIPHERTEXT_FORMAT'],
    [
      'a base64 value that is no ciphertext',
      'POST',
      '/v1/keys/rot/decrypt',
      { ciphertext: 'aGVsbG8=' },
      400,
      'DECRYPTION_FAILED',
    ],
    ['datakey too long', 'POST', '/v1/keys/rot/datakey', { bytes: 5000 }, 400, 'VALIDATION_FAILED'],
    ['random too many', 'POST', '/v1/random', { bytes: 1_000_000 }, 400, 'VALIDATION_FAILED'],
  ];
  for (const [name, method, path, body, status, code] of wrong) {
    it(`rejects ${name} with ${status} ${code}`, async () => {
      assertError(await s.call(method, path, { token: root, body }), status, code);
      assert.equal((await s.call('GET', '/v1/sys/health')).status, 200);
    });
  }

  it('random returns the bytes asked for', async () => {
    const r = await s.call('POST', '/v1/random', { token: app, body: { bytes: 48 } });
    assert.equal(Buffer.from(r.body.bytes, 'base64').length, 48);
  });
});

describe('/v1/keys with attacker-chosen versions', () => {
  it('a ciphertext naming a huge or unknown version is the generic DECRYPTION_FAILED; version 0 is not a kw: value', async () => {
    const s = await startTestServer();
    try {
      const root = (await devBootstrap(s.hsm)).rootToken;
      await s.call('POST', '/v1/keys', { token: root, body: { name: 'v', type: 'aes256-gcm' } });
      for (const ct of [
        'kw:v4294967295:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
        'kw:v7:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
      ]) {
        assertError(
          await s.call('POST', '/v1/keys/v/decrypt', { token: root, body: { ciphertext: ct } }),
          400,
          'DECRYPTION_FAILED',
        );
      }
      assertError(
        await s.call('POST', '/v1/keys/v/decrypt', { token: root, body: { ciphertext: 'kw:v0:AAAA' } }),
        400,
        'CIPHERTEXT_FORMAT',
      );
    } finally {
      await s.close();
    }
  });
});
