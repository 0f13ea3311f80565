/**
 * /v1/transit over HTTP: Vault's error shapes and statuses, signatures checked by node:crypto
 * (ECDSA asn1 and jws, prehashed, Ed25519, RSA-PSS with Vault's salt lengths and PKCS#1 v1.5),
 * exports that node:crypto re-imports, the audit trail, and a parked request executed through
 * /v1/approvals.
 */
import assert from 'node:assert/strict';
import {
  constants,
  createHash,
  createPrivateKey,
  createPublicKey,
  publicEncrypt,
  sign as nodeSign,
  verify as nodeVerify,
} from 'node:crypto';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { issueToken } from '../../engine/auth/tokens.js';
import { devBootstrap } from '../../engine/dev.js';
import { approverTokens } from '../helpers/approvals.js';
import { startTestServer } from '../helpers/server.js';
import type { TestServer } from '../helpers/server.js';
import { b64 } from '../helpers/wire.js';

const MSG = 'the quick brown fox';
const body = (sig: string) => Buffer.from(sig.replace(/^vault:v\d+:/, ''), 'base64');

function assertVaultError(res: { status: number; body: any }, status: number, pattern: RegExp) {
  assert.equal(res.status, status, JSON.stringify(res.body));
  assert.ok(Array.isArray(res.body?.errors), `expected {"errors": [...]}, got ${JSON.stringify(res.body)}`);
  assert.deepEqual(Object.keys(res.body), res.body.approval ? ['errors', 'approval'] : ['errors']);
  assert.match(res.body.errors[0] ?? '', pattern);
}

describe('/v1/transit', { timeout: 300_000 }, () => {
  let s: TestServer;
  let root: string;
  let app: string;
  const v = (method: string, path: string, b?: unknown, token = app) =>
    s.call(method, `/v1/transit${path}`, {
      headers: { 'x-vault-token': token },
      ...(b !== undefined ? { body: b } : {}),
    });
  const mk = async (name: string, type: string, extra: Record<string, unknown> = {}) => {
    const r = await v('POST', `/keys/${name}`, { type, ...extra }, root);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body.data;
  };

  before(async () => {
    s = await startTestServer();
    root = (await devBootstrap(s.hsm)).rootToken;
    app = (await issueToken(s.hsm.store.db, { principal: 'svc', roles: ['app'], now: new Date() })).token;
  });
  after(() => s.close());

  describe('errors in Vault form', () => {
    it('no token, a bad token and a denied role are 403 "permission denied"', async () => {
      await mk('e1', 'aes256-gcm96');
      assertVaultError(
        await s.call('POST', '/v1/transit/encrypt/e1', { body: { plaintext: b64('x') } }),
        403,
        /^permission denied/,
      );
      assertVaultError(await v('POST', '/encrypt/e1', { plaintext: b64('x') }, 'kwt_bogus'), 403, /^permission denied/);
      const op = (await issueToken(s.hsm.store.db, { principal: 'op', roles: ['operator'], now: new Date() })).token;
      assertVaultError(
        await v('POST', '/encrypt/e1', { plaintext: b64('x') }, op),
        403,
        /^permission denied: denied encrypt/,
      );
      // Authorization: Bearer works as well as X-Vault-Token.
      const viaBearer = await s.call('POST', '/v1/transit/encrypt/e1', { token: app, body: { plaintext: b64('x') } });
      assert.equal(viaBearer.status, 200, JSON.stringify(viaBearer.body));
    });

    it('unknown key 404, bad input 400, unknown path 404, wrong method 405', async () => {
      assertVaultError(await v('POST', '/decrypt/ghost', { ciphertext: 'vault:v1:AAAA' }), 404, /no key named "ghost"/);
      assertVaultError(await v('GET', '/keys/ghost', undefined, root), 404, /ghost/);
      assertVaultError(
        await v('POST', '/encrypt/e1', { plaintext: 'not base64!' }),
        400,
        /plaintext: expected standard base64/,
      );
      assertVaultError(await v('POST', '/encrypt/e1', {}), 400, /missing plaintext/);
      assertVaultError(await v('POST', '/encrypt/e1', { plaintext: 5 }), 400, /plaintext/);
      assertVaultError(
        await v('POST', '/decrypt/e1', { ciphertext: 'kw-nothing' }),
        400,
        /expected vault:v<version>:<base64>/,
      );
      assertVaultError(
        await v('POST', '/decrypt/e1', { ciphertext: 'vault:v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' }),
        400,
        /decryption failed/,
      );
      assertVaultError(
        await s.call('POST', '/v1/transit/encrypt/e1', {
          token: app,
          raw: '{"plaintext":',
          headers: { 'content-type': 'application/json' },
        }),
        400,
        /not valid JSON/,
      );
      assertVaultError(
        await v('POST', '/keys/x1', { type: 'rsa-2048' }, root),
        400,
        /rsa-2048 is not supported: .*3072/,
      );
      assertVaultError(await v('POST', '/keys/x1', { type: 'blowfish' }, root), 400, /unknown key type "blowfish"/);
      assertVaultError(await v('POST', '/keys/x1', { derived: true }, root), 400, /derived/);
      assertVaultError(
        await v('POST', '/encrypt/e1', { plaintext: b64('x'), context: b64('tenant') }),
        400,
        /context: key derivation/,
      );
      assertVaultError(await v('POST', '/encrypt/e1', { plaintext: b64('x'), key_version: 7 }), 400, /key_version/);
      assertVaultError(await v('POST', '/nowhere'), 404, /no handler for route "transit\/nowhere"/);
      assertVaultError(await s.call('GET', '/v1/transit', { token: app }), 404, /no handler/);
      assertVaultError(await v('GET', '/encrypt/e1'), 405, /unsupported operation/);
      assertVaultError(await v('GET', '/keys', undefined, root), 405, /list=true/);
    });

    it('unknown fields are ignored with a Vault warning; curl --data (form content type) is read as JSON', async () => {
      const r = await v('POST', '/encrypt/e1', { plaintext: b64('x'), name: 'e1', colour: 'blue' });
      assert.equal(r.status, 200);
      assert.deepEqual(r.body.warnings, ['Endpoint ignored these unrecognized parameters: [name colour]']);
      const form = await s.call('POST', '/v1/transit/encrypt/e1', {
        headers: { 'x-vault-token': app, 'content-type': 'application/x-www-form-urlencoded' },
        raw: JSON.stringify({ plaintext: b64('y') }),
      });
      assert.equal(form.status, 200, JSON.stringify(form.body));
      assert.equal(form.body.warnings, null);
      assert.deepEqual(Object.keys(form.body).sort(), [
        'auth',
        'data',
        'lease_duration',
        'lease_id',
        'renewable',
        'request_id',
        'warnings',
        'wrap_info',
      ]);
      assert.equal(form.body.request_id, form.headers.get('x-request-id'));
    });
  });

  it("the LIST verb (rejected by the HTTP parser) is a 405 that says what to send; other parse errors keep Node's answers", async () => {
    const raw = (request: string) =>
      new Promise<string>((resolve, reject) => {
        const url = new URL(s.url);
        const sock = connect(Number(url.port), url.hostname, () => sock.end(request));
        let out = '';
        sock.on('data', (d) => (out += d.toString('latin1')));
        sock.on('close', () => resolve(out));
        sock.on('error', reject);
      });
    const list = await raw(`LIST /v1/transit/keys HTTP/1.1\r\nHost: x\r\nX-Vault-Token: ${app}\r\n\r\n`);
    assert.match(list, /^HTTP\/1\.1 405 /);
    assert.deepEqual(Object.keys(JSON.parse(list.slice(list.indexOf('\r\n\r\n') + 4))), ['errors']);
    assert.match(list, /send GET with \?list=true/);
    assert.match(await raw('BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n'), /^HTTP\/1\.1 400 Bad Request/);
    assert.match(await raw(`GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`), /^HTTP\/1\.1 431 /);
  });

  describe('signatures verify with node:crypto', () => {
    it('ECDSA P-256: asn1 with sha2-256 and sha2-512, jws, prehashed', async () => {
      const key = await mk('ec256', 'ecdsa-p256');
      const pub = createPublicKey(key.keys['1'].public_key);
      assert.equal(key.keys['1'].name, 'P-256');
      const der = (await v('POST', '/sign/ec256', { input: b64(MSG) })).body.data.signature;
      assert.ok(nodeVerify('sha256', Buffer.from(MSG), pub, body(der)));
      const s512 = (await v('POST', '/sign/ec256/sha2-512', { input: b64(MSG) })).body.data.signature;
      assert.ok(nodeVerify('sha512', Buffer.from(MSG), pub, body(s512)));
      assert.ok(!nodeVerify('sha256', Buffer.from(MSG), pub, body(s512)));
      const jws = (await v('POST', '/sign/ec256', { input: b64(MSG), marshaling_algorithm: 'jws' })).body.data
        .signature as string;
      const jwsBody = jws.slice('vault:v1:'.length);
      assert.match(jwsBody, /^[A-Za-z0-9_-]{86}$/); // 64 bytes, base64url, no padding
      assert.ok(
        nodeVerify(
          'sha256',
          Buffer.from(MSG),
          { key: pub, dsaEncoding: 'ieee-p1363' },
          Buffer.from(jwsBody, 'base64url'),
        ),
      );
      assert.equal(
        (await v('POST', '/verify/ec256', { input: b64(MSG), signature: jws, marshaling_algorithm: 'jws' })).body.data
          .valid,
        true,
      );
      assert.equal(
        (await v('POST', '/verify/ec256/sha2-512', { input: b64(MSG), signature: s512 })).body.data.valid,
        true,
      );
      assert.equal((await v('POST', '/verify/ec256', { input: b64(MSG), signature: s512 })).body.data.valid, false);
      const digest = createHash('sha256').update(MSG).digest();
      const pre = (await v('POST', '/sign/ec256', { input: b64(digest), prehashed: true })).body.data.signature;
      assert.ok(nodeVerify('sha256', Buffer.from(MSG), pub, body(pre)));
    });

    it("ECDSA P-384 jws with sha2-384; Vault's default hash is sha2-256 even for P-384", async () => {
      const key = await mk('ec384', 'ecdsa-p384');
      const pub = createPublicKey(key.keys['1'].public_key);
      const jws = (await v('POST', '/sign/ec384/sha2-384', { input: b64(MSG), marshaling_algorithm: 'jws' })).body.data
        .signature as string;
      assert.ok(
        nodeVerify(
          'sha384',
          Buffer.from(MSG),
          { key: pub, dsaEncoding: 'ieee-p1363' },
          Buffer.from(jws.slice(9), 'base64url'),
        ),
      );
      const dflt = (await v('POST', '/sign/ec384', { input: b64(MSG) })).body.data.signature;
      assert.ok(nodeVerify('sha256', Buffer.from(MSG), pub, body(dflt)));
    });

    it('Ed25519: the raw public key and the signature', async () => {
      const key = await mk('ed', 'ed25519');
      const raw = Buffer.from(key.keys['1'].public_key, 'base64');
      assert.equal(raw.length, 32);
      const pub = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
      const sig = (await v('POST', '/sign/ed', { input: b64(MSG) })).body.data.signature;
      assert.equal(body(sig).length, 64);
      assert.ok(nodeVerify(null, Buffer.from(MSG), pub, body(sig)));
      // A signature node:crypto made with another key is false, not an error.
      const other = nodeSign(
        null,
        Buffer.from(MSG),
        createPrivateKey({
          key: { kty: 'OKP', crv: 'Ed25519', d: Buffer.alloc(32, 7).toString('base64url'), x: 'A'.repeat(43) },
          format: 'jwk',
        }),
      );
      assert.equal(
        (await v('POST', '/verify/ed', { input: b64(MSG), signature: `vault:v1:${b64(other)}` })).body.data.valid,
        false,
      );
    });

    it("a public key imported as a verify-only key verifies node:crypto's Ed25519 signatures", async () => {
      const { generateKeyPairSync } = await import('node:crypto');
      const ed = generateKeyPairSync('ed25519');
      const imported = await v(
        'POST',
        '/keys/ed-ext/import',
        { type: 'ed25519', public_key: ed.publicKey.export({ format: 'pem', type: 'spki' }) },
        root,
      );
      assert.equal(imported.status, 200, JSON.stringify(imported.body));
      assert.equal(imported.body.data.imported_key, true);
      assert.equal(imported.body.data.supports_signing, false);
      const sig = nodeSign(null, Buffer.from(MSG), ed.privateKey);
      assert.equal(
        (await v('POST', '/verify/ed-ext', { input: b64(MSG), signature: `vault:v1:${b64(sig)}` })).body.data.valid,
        true,
      );
      assert.equal(
        (await v('POST', '/verify/ed-ext', { input: b64('other'), signature: `vault:v1:${b64(sig)}` })).body.data.valid,
        false,
      );
      assertVaultError(await v('POST', '/sign/ed-ext', { input: b64(MSG) }), 400, /only a public key/);
      assertVaultError(
        await v('POST', '/keys/x2/import', { type: 'aes256-gcm96', ciphertext: 'AAAA' }, root),
        400,
        /POST \/v1\/keys\/:name\/import/,
      );
    });

    it("RSA-3072: PSS with Vault's salt lengths (auto = largest, hash, n) and PKCS#1 v1.5", async () => {
      const key = await mk('rsa', 'rsa-3072', { exportable: true });
      const pub = createPublicKey(key.keys['1'].public_key);
      const sign = async (extra: Record<string, unknown>, path = '/sign/rsa') => {
        const r = await v('POST', path, { input: b64(MSG), ...extra });
        assert.equal(r.status, 200, JSON.stringify(r.body));
        return r.body.data.signature as string;
      };
      const auto = await sign({});
      // "auto" signs with the largest salt: only a verifier that accepts it (or auto-detects) passes.
      assert.ok(
        nodeVerify(
          'sha256',
          Buffer.from(MSG),
          { key: pub, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 384 - 32 - 2 },
          body(auto),
        ),
      );
      assert.ok(
        !nodeVerify(
          'sha256',
          Buffer.from(MSG),
          { key: pub, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 },
          body(auto),
        ),
      );
      const hash = await sign({ salt_length: 'hash' }, '/sign/rsa/sha2-384');
      assert.ok(
        nodeVerify(
          'sha384',
          Buffer.from(MSG),
          { key: pub, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 48 },
          body(hash),
        ),
      );
      const twenty = await sign({ salt_length: '20' });
      assert.ok(
        nodeVerify(
          'sha256',
          Buffer.from(MSG),
          { key: pub, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 20 },
          body(twenty),
        ),
      );
      const v15 = await sign({ signature_algorithm: 'pkcs1v15', hash_algorithm: 'sha2-512' });
      assert.ok(nodeVerify('sha512', Buffer.from(MSG), { key: pub, padding: constants.RSA_PKCS1_PADDING }, body(v15)));
      // PKCS#1 v1.5 is deterministic: node:crypto's own signature is byte-identical.
      const exported = await exportAfterApproval('/export/signing-key/rsa/1');
      const priv = createPrivateKey(exported.keys['1']);
      assert.deepEqual(
        nodeSign('sha512', Buffer.from(MSG), { key: priv, padding: constants.RSA_PKCS1_PADDING }),
        body(v15),
      );
      for (const [sig, extra] of [
        [auto, {}],
        [twenty, { salt_length: 20 }],
        [v15, { signature_algorithm: 'pkcs1v15', hash_algorithm: 'sha2-512' }],
      ] as const) {
        assert.equal(
          (await v('POST', '/verify/rsa', { input: b64(MSG), signature: sig, ...extra })).body.data.valid,
          true,
          JSON.stringify(extra),
        );
      }
      assert.equal((await v('POST', '/verify/rsa', { input: b64(MSG), signature: v15 })).body.data.valid, false);
      // Clients encrypt to the public key (RSA-OAEP-SHA-256, as Vault); transit decrypts.
      const oaep = publicEncrypt(
        { key: pub, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
        Buffer.from(MSG),
      );
      const opened = await v('POST', '/decrypt/rsa', { ciphertext: `vault:v1:${b64(oaep)}` });
      assert.equal(Buffer.from(opened.body.data.plaintext, 'base64').toString(), MSG);
      assertVaultError(
        await v('POST', '/decrypt/rsa', { ciphertext: `vault:v1:${b64(oaep)}`, padding_scheme: 'pkcs1v15' }),
        400,
        /OAEP/,
      );
      assertVaultError(
        await v('POST', '/sign/rsa', { input: b64(MSG), hash_algorithm: 'sha1' }),
        400,
        /sha1 is not supported/,
      );
      assertVaultError(await v('POST', '/sign/rsa', { input: b64(MSG), salt_length: 9999 }), 400, /pssSaltLength/);
    });
  });

  /** GETs an export (parked for dual control), has two operators approve it, executes it as root. */
  async function exportAfterApproval(path: string): Promise<any> {
    const parked = await v('GET', path, undefined, root);
    assertVaultError(parked, 403, /parked as approval apr_/);
    assert.equal(parked.headers.get('location'), `/v1/approvals/${parked.body.approval.approvalId}`);
    const id = parked.body.approval.approvalId as string;
    for (const t of await approverTokens(s.hsm.store.db))
      assert.equal((await s.call('POST', `/v1/approvals/${id}/approve`, { token: t, body: {} })).status, 200);
    const done = await s.call('POST', `/v1/approvals/${id}/execute`, { token: root, body: {} });
    assert.equal(done.status, 200, JSON.stringify(done.body));
    return done.body.data;
  }

  describe('export', () => {
    it('refuses at once what could never run (not exportable, wrong kind); public keys need no approval', async () => {
      await mk('locked', 'aes256-gcm96');
      assertVaultError(await v('GET', '/export/encryption-key/locked', undefined, root), 400, /not created exportable/);
      // A principal the policies deny learns only that: the export checks run after the decision.
      assertVaultError(await v('GET', '/export/encryption-key/locked'), 403, /^permission denied/);
      await mk('ex-ec', 'ecdsa-p256', { exportable: true });
      assertVaultError(await v('GET', '/export/encryption-key/ex-ec', undefined, root), 400, /has no encryption-key/);
      const pub = await v('GET', '/export/public-key/ex-ec/latest');
      assert.equal(pub.status, 200, JSON.stringify(pub.body));
      assert.match(pub.body.data.keys['1'], /^-----BEGIN PUBLIC KEY-----/);
    });

    it('ECDSA and Ed25519 signing keys re-import into node:crypto and match the public key', async () => {
      const ec = await exportAfterApproval('/export/signing-key/ex-ec');
      assert.match(ec.keys['1'], /^-----BEGIN EC PRIVATE KEY-----/);
      const ecPub = (await v('GET', '/keys/ex-ec')).body.data.keys['1'].public_key;
      assert.equal(createPublicKey(createPrivateKey(ec.keys['1'])).export({ format: 'pem', type: 'spki' }), ecPub);
      await mk('ex-ed', 'ed25519', { exportable: true });
      const ed = await exportAfterApproval('/export/signing-key/ex-ed/latest');
      const both = Buffer.from(ed.keys['1'], 'base64');
      assert.equal(both.length, 64);
      const edPub = (await v('GET', '/keys/ex-ed')).body.data.keys['1'].public_key;
      assert.equal(both.subarray(32).toString('base64'), edPub);
    });
  });

  describe('pipeline', () => {
    it('every transit call is an audit record with the native operation name', async () => {
      await mk('aud', 'chacha20-poly1305');
      const ct = (await v('POST', '/encrypt/aud', { plaintext: b64('audited') })).body.data.ciphertext;
      await v('POST', '/decrypt/aud', { ciphertext: ct });
      await v('POST', '/hash', { input: b64('x') });
      let records: any[] = [];
      for (let i = 0; i < 50; i++) {
        const r = await s.call('GET', '/v1/audit/records?from=0&limit=1000', { token: root });
        records = (r.body.records ?? []).map((x: any) =>
          typeof x === 'string' ? JSON.parse(x) : JSON.parse(x.leaf ?? '{}'),
        );
        if (records.some((x) => x.operation === 'hash')) break;
        await new Promise((res) => setTimeout(res, 100));
      }
      const ops = records
        .filter((x) => x.key === 'aud' || x.operation === 'hash')
        .map((x) => `${x.operation}:${x.status}`);
      assert.deepEqual(ops, ['key.create:200', 'encrypt:200', 'decrypt:200', 'hash:200']);
      // Neither the plaintext, the ciphertext nor the token reaches the server log or the audit log.
      const leaves = JSON.stringify(records);
      for (const secret of [b64('audited'), ct.slice(9), app]) {
        assert.ok(!s.logs.some((l) => l.includes(secret)), 'server log');
        assert.ok(!leaves.includes(secret), 'audit log');
      }
    });

    it('a parked delete is executed through /v1/approvals with the transit answer (204)', async () => {
      await mk('doomed', 'aes256-gcm96');
      assertVaultError(await v('DELETE', '/keys/doomed', undefined, root), 400, /deletion is not allowed/);
      assert.equal((await v('POST', '/keys/doomed/config', { deletion_allowed: true }, root)).status, 200);
      const parked = await s.call('DELETE', '/v1/transit/keys/doomed', { token: root });
      assertVaultError(parked, 403, /key\.delete needs 2 approvals/);
      const id = parked.body.approval.approvalId;
      // Executing too early is refused in Vault's form, and leaves the approval usable.
      const early = await s.call('POST', `/v1/approvals/${id}/execute`, { token: root, body: {} });
      assertVaultError(early, 400, /0 of 2 gathered, 2 more needed/);
      for (const t of await approverTokens(s.hsm.store.db))
        assert.equal((await s.call('POST', `/v1/approvals/${id}/approve`, { token: t, body: {} })).status, 200);
      const done = await s.call('POST', `/v1/approvals/${id}/execute`, { token: root, body: {} });
      assert.equal(done.status, 204, JSON.stringify(done.body));
      const read = await v('GET', '/keys/doomed', undefined, root);
      assert.equal(typeof read.body.data.delete_after, 'string');
      assertVaultError(await v('POST', '/encrypt/doomed', { plaintext: b64('x') }), 400, /scheduled for deletion/);
    });

    it('sealed: 503 in Vault form', async () => {
      assert.equal((await s.call('POST', '/v1/sys/seal', { token: root, body: {} })).status, 200);
      const r = await v('POST', '/encrypt/e1', { plaintext: b64('x') });
      assertVaultError(r, 503, /sealed/);
      assert.equal(r.headers.get('retry-after'), '1');
    });
  });
});
