/**
 * The real `node-vault` client (npm) against a Keyward server: the calls an existing Vault
 * application makes (create a key, encrypt, decrypt, rewrap, sign, verify, data key, rotate, hmac,
 * list), and a parked request surfacing as a clear client error.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import vaultClient from 'node-vault';
import { issueToken } from '../../engine/auth/tokens.js';
import { devBootstrap } from '../../engine/dev.js';
import { activateGlobalPolicy } from '../helpers/approvals.js';
import { startTestServer } from '../helpers/server.js';
import { compileFixture } from '../engine/policy/helpers.js';
import type { TestServer } from '../helpers/server.js';
import { b64 } from '../helpers/wire.js';

describe('Vault transit through node-vault', { timeout: 120_000 }, () => {
  let s: TestServer;
  let root: string;
  let app: string;
  let admin: ReturnType<typeof vaultClient>;
  let vault: ReturnType<typeof vaultClient>;

  before(async () => {
    s = await startTestServer();
    root = (await devBootstrap(s.hsm)).rootToken;
    app = (await issueToken(s.hsm.store.db, { principal: 'svc', roles: ['app'], now: new Date() })).token;
    // Vault's LIST verb never reaches a Node.js server (see docs/vault-transit.md): list as GET ?list=1.
    admin = vaultClient({ endpoint: s.url, token: root, noCustomHTTPVerbs: true });
    vault = vaultClient({ endpoint: s.url, token: app, noCustomHTTPVerbs: true });
  });
  after(() => s.close());

  it('creates a key, encrypts, decrypts, rotates, rewraps', async () => {
    const created = await admin.transitCreateKey({ name: 'orders' });
    assert.equal(created.data.type, 'aes256-gcm96');
    assert.deepEqual(Object.keys(created.data.keys), ['1']);
    const read = await vault.transitReadKey({ name: 'orders' });
    assert.equal(read.data.latest_version, 1);
    const enc = await vault.encryptData({ name: 'orders', plaintext: b64('card 4111') });
    assert.match(enc.data.ciphertext, /^vault:v1:/);
    const dec = await vault.decryptData({ name: 'orders', ciphertext: enc.data.ciphertext });
    assert.equal(Buffer.from(dec.data.plaintext, 'base64').toString(), 'card 4111');
    const rotated = await admin.write('transit/keys/orders/rotate', {});
    assert.equal(rotated.data.latest_version, 2);
    const rw = await vault.rewrapData({ name: 'orders', ciphertext: enc.data.ciphertext });
    assert.match(rw.data.ciphertext, /^vault:v2:/);
    assert.equal(rw.data.key_version, 2);
    const again = await vault.decryptData({ name: 'orders', ciphertext: rw.data.ciphertext });
    assert.equal(again.data.plaintext, dec.data.plaintext);
    const batch = await vault.write('transit/encrypt/orders', {
      batch_input: [{ plaintext: b64('a') }, { plaintext: b64('b'), associated_data: b64('row 7') }],
    });
    assert.equal(batch.data.batch_results.length, 2);
    const back = await vault.write('transit/decrypt/orders', {
      batch_input: [{ ciphertext: batch.data.batch_results[1].ciphertext, associated_data: b64('row 7') }],
    });
    assert.equal(back.data.batch_results[0].plaintext, b64('b'));
  });

  it('signs and verifies; makes data keys; hmacs', async () => {
    await admin.transitCreateKey({ name: 'signer', type: 'ecdsa-p256' });
    const sig = await vault.write('transit/sign/signer', { input: b64('invoice 42') });
    assert.match(sig.data.signature, /^vault:v1:/);
    assert.equal(
      (await vault.write('transit/verify/signer', { input: b64('invoice 42'), signature: sig.data.signature })).data
        .valid,
      true,
    );
    assert.equal(
      (await vault.write('transit/verify/signer', { input: b64('invoice 43'), signature: sig.data.signature })).data
        .valid,
      false,
    );

    const dk = await vault.write('transit/datakey/plaintext/orders', { bits: 256 });
    assert.equal(Buffer.from(dk.data.plaintext, 'base64').length, 32);
    const opened = await vault.decryptData({ name: 'orders', ciphertext: dk.data.ciphertext });
    assert.equal(opened.data.plaintext, dk.data.plaintext);
    const wrapped = await vault.write('transit/datakey/wrapped/orders', {});
    assert.equal(wrapped.data.plaintext, undefined);

    await admin.transitCreateKey({ name: 'mac', type: 'hmac' });
    const mac = await vault.write('transit/hmac/mac', { input: b64('webhook body') });
    assert.match(mac.data.hmac, /^vault:v1:/);
    assert.equal(
      (await vault.write('transit/verify/mac', { input: b64('webhook body'), hmac: mac.data.hmac })).data.valid,
      true,
    );
    assert.equal(
      (await vault.write('transit/verify/mac', { input: b64('webhook bodY'), hmac: mac.data.hmac })).data.valid,
      false,
    );
    // An HMAC of version 1 still verifies after rotation.
    await admin.write('transit/keys/mac/rotate', {});
    assert.equal(
      (await vault.write('transit/verify/mac', { input: b64('webhook body'), hmac: mac.data.hmac })).data.valid,
      true,
    );

    const random = await vault.write('transit/random/16', { format: 'hex' });
    assert.match(random.data.random_bytes, /^[0-9a-f]{32}$/);
  });

  it('lists keys with GET ?list=1; the LIST verb gets a 405 saying so', async () => {
    const list = await vault.list('transit/keys');
    assert.deepEqual(list.data.keys, ['mac', 'orders', 'signer']);
    const raw = vaultClient({ endpoint: s.url, token: app });
    await assert.rejects(
      raw.transitListKeys(),
      (err: any) => err.response?.statusCode === 405 && /send GET with \?list=true/.test(err.message),
    );
    // The server still answers on new connections afterwards.
    assert.equal((await vault.list('transit/keys')).data.keys.length, 3);
  });

  it('a parked request is a clear error naming the approval and how to execute it', async () => {
    await admin.write('transit/keys/orders/config', { deletion_allowed: true });
    const err: any = await admin.transitDeleteKey({ name: 'orders' }).then(
      () => assert.fail('a dual-controlled delete must not succeed at once'),
      (e: unknown) => e,
    );
    assert.equal(err.response.statusCode, 403);
    const id = /apr_[0-9a-f]{32}/.exec(err.message)?.[0];
    assert.ok(id, err.message);
    assert.match(err.message, new RegExp(`POST /v1/approvals/${id}/execute`));
    assert.match(err.message, /2 approvals from "operator"/);
    assert.equal(err.response.body.approval.approvalId, id);
    // The key is untouched until the approval executes.
    assert.equal(
      (await vault.encryptData({ name: 'orders', plaintext: b64('still here') })).data.ciphertext.slice(0, 9),
      'vault:v2:',
    );
  });

  it('errors: bad token, unknown key and bad input reject with Vault messages', async () => {
    const stranger = vaultClient({ endpoint: s.url, token: 'kwt_not-a-token', noCustomHTTPVerbs: true });
    await assert.rejects(
      stranger.encryptData({ name: 'orders', plaintext: b64('x') }),
      (e: any) => e.response.statusCode === 403 && /^permission denied/.test(e.message),
    );
    await assert.rejects(
      vault.decryptData({ name: 'nope', ciphertext: 'vault:v1:AAAA' }),
      (e: any) => e.response.statusCode === 404 && /nope/.test(e.message),
    );
    await assert.rejects(
      vault.decryptData({ name: 'orders', ciphertext: 'not-a-ciphertext' }),
      (e: any) => e.response.statusCode === 400 && /vault:v<version>/.test(e.message),
    );
    // The app role may not create keys: encrypt's upsert is decided by the policies too.
    await assert.rejects(
      vault.encryptData({ name: 'fresh', plaintext: b64('x') }),
      (e: any) => e.response.statusCode === 403 && /key\.create/.test(e.message),
    );
    const made = await admin.encryptData({ name: 'fresh', plaintext: b64('x') });
    assert.match(made.data.ciphertext, /^vault:v1:/);
  });

  it("encrypt's upsert is decided whole: a caller refused the encrypt or the create leaves no key behind", async () => {
    const op = (await issueToken(s.hsm.store.db, { principal: 'op', roles: ['operator'], now: new Date() })).token;
    const operator = vaultClient({ endpoint: s.url, token: op, noCustomHTTPVerbs: true });
    const missing = (name: string) =>
      assert.rejects(admin.transitReadKey({ name }), (e: any) => e.response.statusCode === 404);
    // `operator` may create keys but not encrypt: refused, and no key was made on the way.
    await assert.rejects(
      operator.encryptData({ name: 'upsert-op', plaintext: b64('x') }),
      (e: any) => e.response.statusCode === 403 && /denied encrypt/.test(e.message),
    );
    await missing('upsert-op');
    // The same for a batch.
    await assert.rejects(
      operator.write('transit/encrypt/upsert-op', { batch_input: [{ plaintext: b64('a') }] }),
      (e: any) => e.response.statusCode === 403,
    );
    await missing('upsert-op');
    // `app` may encrypt but not create keys: refused, nothing made either.
    await assert.rejects(
      vault.encryptData({ name: 'upsert-op', plaintext: b64('x') }),
      (e: any) => e.response.statusCode === 403 && /denied key\.create/.test(e.message),
    );
    await missing('upsert-op');
    // Allowed both: the key is created and the plaintext encrypted under it (it decrypts).
    const enc = await admin.encryptData({ name: 'upsert-op', plaintext: b64('made on the way') });
    assert.match(enc.data.ciphertext, /^vault:v1:/);
    assert.equal((await admin.transitReadKey({ name: 'upsert-op' })).data.type, 'aes256-gcm96');
    const dec = await vault.decryptData({ name: 'upsert-op', ciphertext: enc.data.ciphertext });
    assert.equal(Buffer.from(dec.data.plaintext, 'base64').toString(), 'made on the way');
    // The audit log (a missing key's 404 names no key): each refusal is the only record naming the
    // key to be, and only the last upsert creates it.
    let ops: string[] = [];
    for (let i = 0; i < 100 && !ops.includes('decrypt:200'); i++) {
      if (i) await new Promise((res) => setTimeout(res, 100));
      const r = await s.call('GET', '/v1/audit/records?from=0&limit=1000', { token: root });
      ops = (r.body.records ?? [])
        .map((x: any) => (typeof x === 'string' ? JSON.parse(x) : JSON.parse(x.leaf ?? '{}')))
        .filter((x: any) => x.key === 'upsert-op')
        .map((x: any) => `${x.operation}:${x.status}`);
    }
    assert.deepEqual(ops, [
      // operator: refused on the missing key, then on the key to be (the upsert decides again)
      ...['encrypt:403', 'encrypt:403'],
      ...['encrypt:403', 'encrypt:403'], // operator, batch
      ...['key.create:403', 'encrypt:403'], // app
      ...['key.create:200', 'encrypt:200', 'key.read:200', 'decrypt:200'], // admin, then app
    ]);
  });

  it("encrypt's upsert under a policy that decides on the key's name: refused on the missing key, created as the key to be", async () => {
    // Activated last: it refuses encrypts to every other key.
    await activateGlobalPolicy(s, root, 'encrypt-named', await compileFixture('encrypt-named'));
    // Another name: refused, and nothing made.
    await assert.rejects(
      admin.encryptData({ name: 'other-name', plaintext: b64('x') }),
      (e: any) => e.response.statusCode === 403 && /encrypt only to named-only/.test(e.message),
    );
    await assert.rejects(admin.transitReadKey({ name: 'other-name' }), (e: any) => e.response.statusCode === 404);
    // The name it allows: the first decision (no key yet) refuses, the upsert's allows, the key is made.
    const enc = await admin.encryptData({ name: 'named-only', plaintext: b64('by name') });
    assert.match(enc.data.ciphertext, /^vault:v1:/);
    const dec = await admin.decryptData({ name: 'named-only', ciphertext: enc.data.ciphertext });
    assert.equal(Buffer.from(dec.data.plaintext, 'base64').toString(), 'by name');
  });
});
