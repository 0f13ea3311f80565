/**
 * The OpenAPI document against what the server really sends: every response in this file (and in
 * every server test, through test/helpers/server.ts `call()`) is checked against the schema its
 * route documents for that status (test/helpers/openapi.ts checkResponse). This file drives one
 * server through every documented route with bodies that succeed, then has a custom policy park
 * every authenticated route (the documented 202), and shows the check itself can fail.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { toPublicKeyFile } from '../../ceremony/index.js';
import { issueToken } from '../../engine/auth/tokens.js';
import { devBootstrap } from '../../engine/dev.js';
import { compileFixture } from '../engine/policy/helpers.js';
import { ROUTES } from '../../server/openapi.js';
import { completeApproval } from '../helpers/approvals.js';
import { makeHolders } from '../helpers/ceremony.js';
import { checkResponse } from '../helpers/openapi.js';
import { startTestServer } from '../helpers/server.js';
import type { TestServer } from '../helpers/server.js';
import { b64 } from '../helpers/wire.js';

describe('responses match the OpenAPI document', { timeout: 240_000 }, () => {
  let s: TestServer;
  let root: string;
  /** operationIds that answered a documented success here. */
  const succeeded = new Set<string>();
  const op = (method: string, path: string) =>
    ROUTES.find(
      (r) =>
        r.method === method.toLowerCase() &&
        new RegExp(`^${r.path.replace(/:[A-Za-z]+/g, '[^/]+')}$`).test(path.split('?')[0]!),
    )!.operationId;

  /** A call that must succeed with `status` (its body is checked against the document by call()). */
  async function ok(method: string, path: string, body?: unknown, status = 200, token = root) {
    const r = await s.call(method, path, { token, ...(body !== undefined ? { body } : {}) });
    assert.equal(r.status, status, `${method} ${path}: ${JSON.stringify(r.body)}`);
    succeeded.add(op(method, path));
    return r.body;
  }
  /** A dual-controlled request (202), approved by two operators and executed by root. */
  async function approved(method: string, path: string, body?: unknown) {
    const parked = await s.call(method, path, { token: root, ...(body !== undefined ? { body } : {}) });
    const r = await completeApproval(s, parked, root, body);
    assert.equal(r.status, 200, `${method} ${path}: ${JSON.stringify(r.body)}`);
    succeeded.add(op(method, path));
    return r.body;
  }

  before(async () => {
    s = await startTestServer();
    root = (await devBootstrap(s.hsm)).rootToken;
  });
  after(() => s.close());

  it('every route answers its documented success schema', async () => {
    await ok('GET', '/openapi.json');
    await ok('GET', '/v1/sys/health');
    await ok('GET', '/v1/sys/seal-status');
    await ok('GET', '/v1/auth/whoami');
    const first = await ok('GET', '/v1/audit/checkpoint');
    const t = await ok('POST', '/v1/auth/tokens', { principal: 'tour', roles: ['app'], ttl: '1h' }, 201);
    await ok('DELETE', `/v1/auth/tokens/${t.tokenId}`);

    for (const [name, type] of [
      ['aes', 'aes256-gcm'],
      ['ed', 'ed25519'],
      ['ec', 'ecdsa-p256'],
      ['mac', 'hmac-sha256'],
      ['kem', 'ml-kem-768'],
      ['pq', 'ml-dsa-44'],
    ]) {
      await ok('POST', '/v1/keys', { name, type, labels: { team: 'tour' } }, 201);
    }
    await ok('GET', '/v1/keys?limit=2');
    await ok('GET', '/v1/keys/aes');
    await ok('POST', '/v1/keys/aes/rotate', {});
    await ok('POST', '/v1/keys/aes/config', { deletionAllowed: true });
    const enc = await ok('POST', '/v1/keys/aes/encrypt', { plaintext: b64('hello'), aad: b64('ctx') });
    await ok('POST', '/v1/keys/aes/decrypt', { ciphertext: enc.ciphertext, aad: b64('ctx') });
    // A batch with a failing item: per-item results and errors.
    const batch = await ok('POST', '/v1/keys/aes/decrypt', {
      batch: [{ ciphertext: enc.ciphertext, aad: b64('ctx') }, { ciphertext: enc.ciphertext }],
    });
    assert.equal(batch.batch[1].error.code, 'DECRYPTION_FAILED');
    await ok('POST', '/v1/keys/aes/encrypt', { batch: [{ plaintext: b64('a') }, { plaintext: b64('b') }] });
    await ok('POST', '/v1/keys/aes/rewrap', { ciphertext: enc.ciphertext, aad: b64('ctx') });
    await ok('POST', '/v1/keys/aes/datakey', { bytes: 32 });
    const sig = await ok('POST', '/v1/keys/ed/sign', { message: b64('m') });
    await ok('POST', '/v1/keys/ed/verify', { message: b64('m'), signature: sig.signature });
    await ok('POST', '/v1/keys/ec/sign', { batch: [{ message: b64('m'), encoding: 'p1363' }] });
    await ok('POST', '/v1/keys/mac/hmac', { message: b64('m') });
    const kem = await ok('POST', '/v1/keys/kem/encapsulate', {});
    await ok('POST', '/v1/keys/kem/decapsulate', { ciphertext: kem.ciphertext });
    for (const [key, format] of [
      ['ed', 'pem'],
      ['ec', 'jwk'],
      ['ed', 'raw'],
      ['pq', 'jwk'],
      ['kem', 'raw'],
    ])
      await ok('GET', `/v1/keys/${key}/public?format=${format}`);
    const wk = await ok('GET', '/v1/sys/wrapping-key?algorithm=ml-kem-768');
    await ok('POST', '/v1/keys', { name: 'exp', type: 'aes256-gcm', exportable: true }, 201);
    await approved('POST', '/v1/keys/exp/export', { algorithm: 'ml-kem-768', wrappingKey: wk.publicKey });
    await ok('POST', '/v1/random', { bytes: 16 });

    // Policies: push, list, evaluate (one and the set), activate and deactivate (dual control).
    const policy = { wasm: await compileFixture('park-principal') };
    const pushed = await ok(
      'POST',
      '/v1/policies',
      { name: 'park-principal', wasm: Buffer.from(policy.wasm).toString('base64') },
      201,
    );
    await ok('GET', '/v1/policies');
    const input = {
      operation: 'encrypt',
      principal: 'p',
      roles: ['app'],
      key: null,
      attributes: {},
      payloadBytes: 0,
      time: 0,
      approvals: 0,
    };
    await ok('POST', '/v1/policies/evaluate', { hash: pushed.sha256, input });
    await ok('POST', '/v1/policies/evaluate', { input });
    await approved('POST', `/v1/policies/${pushed.sha256}/activate`, { scope: 'key', key: 'aes' });
    await approved('POST', `/v1/policies/${pushed.sha256}/deactivate`, { scope: 'key', key: 'aes' });

    // Audit.
    await ok('GET', '/v1/audit/keys');
    const cp = await ok('GET', '/v1/audit/checkpoint');
    await ok('GET', '/v1/audit/records?from=0&limit=3');
    await ok('GET', `/v1/audit/proofs/inclusion?index=0&size=${cp.size}`);
    await ok('GET', `/v1/audit/proofs/consistency?from=${first.size}&to=${cp.size}`);
    await ok('POST', '/v1/audit/hash', { value: 'tour' });
    await ok('POST', '/v1/audit/export', { from: 0, to: 2, includeInputs: true });

    // Approvals: list, read, deny (approve and execute ran above), and a deletion through them.
    await ok('POST', '/v1/keys/mac/config', { deletionAllowed: true });
    const parked = await s.call('DELETE', '/v1/keys/mac', { token: root });
    assert.equal(parked.status, 202);
    const op1 = (await issueToken(s.hsm.store.db, { principal: 'op-tour', roles: ['operator'], now: new Date() }))
      .token;
    await ok('GET', '/v1/approvals?state=pending&limit=10');
    await ok('GET', `/v1/approvals/${parked.body.approvalId}`);
    await ok('POST', `/v1/approvals/${parked.body.approvalId}/deny`, { reason: 'tour' }, 200, op1);
    await approved('DELETE', '/v1/keys/mac');

    // Sys: rekey status, start and cancel; root rotation; and sealing last.
    await ok('GET', '/v1/sys/rekey');
    const holders = await makeHolders(['tour-a', 'tour-b']);
    await ok('POST', '/v1/sys/rekey/init', { holders: holders.map(toPublicKeyFile), threshold: 2 });
    await ok('POST', '/v1/sys/rekey/cancel', {});
    await ok('POST', '/v1/sys/rotate', {});
    await ok('POST', '/v1/sys/backup', {});
    await ok('GET', '/metrics');
    await ok('POST', '/v1/sys/seal', {});
    await ok('GET', '/v1/sys/health', undefined, 503);

    // What isn't driven here has its success covered by its own suite (ceremonies, BYOK import).
    const elsewhere = new Set([
      'sysInit',
      'sysUnseal',
      'sysUnsealReset',
      'sysRekeyUpdate',
      'keysImport',
      'approvalsApprove',
      'approvalsExecute',
    ]);
    const missing = ROUTES.map((r) => r.operationId).filter((id) => !succeeded.has(id) && !elsewhere.has(id));
    assert.deepEqual(missing, []);
  });

  it('every authenticated route can be parked by a policy: 202 with the documented ApprovalPending', async () => {
    const p = await startTestServer();
    try {
      const admin = (await devBootstrap(p.hsm)).rootToken;
      const call = (method: string, path: string, body?: unknown, token = admin) =>
        p.call(method, path, { token, ...(body !== undefined ? { body } : {}) });
      const policy = { wasm: await compileFixture('park-principal') };
      const wasm = Buffer.from(policy.wasm).toString('base64');
      const pushed = await call('POST', '/v1/policies', { name: 'park-principal', wasm });
      assert.equal(
        (
          await completeApproval(
            p,
            await call('POST', `/v1/policies/${pushed.body.sha256}/activate`, { scope: 'global' }),
            admin,
            { scope: 'global' },
          )
        ).status,
        200,
      );
      for (const [name, type] of [
        ['aes', 'aes256-gcm'],
        ['ed', 'ed25519'],
        ['mac', 'hmac-sha256'],
        ['kem', 'ml-kem-768'],
      ])
        assert.equal((await call('POST', '/v1/keys', { name, type })).status, 201);
      assert.equal((await call('POST', '/v1/keys', { name: 'exp', type: 'aes256-gcm', exportable: true })).status, 201);
      // A deletion that could not run is refused before parking (RequestContext.precheck): allow it.
      assert.equal((await call('POST', '/v1/keys/aes/config', { deletionAllowed: true })).status, 200);
      const wrappingKey = (await call('GET', '/v1/sys/wrapping-key?algorithm=ml-kem-768')).body.publicKey;
      const enc = (await call('POST', '/v1/keys/aes/encrypt', { plaintext: b64('x') })).body.ciphertext;
      const sig = (await call('POST', '/v1/keys/ed/sign', { message: b64('m') })).body.signature;
      const kem = (await call('POST', '/v1/keys/kem/encapsulate', {})).body.ciphertext;
      const holders = (await makeHolders(['park-a'])).map(toPublicKeyFile);
      const parker = (await issueToken(p.hsm.store.db, { principal: 'parker', roles: ['admin'], now: new Date() }))
        .token;
      const apr = 'apr_' + '0'.repeat(32);
      const input = {
        operation: 'encrypt',
        principal: 'p',
        roles: ['app'],
        key: null,
        attributes: {},
        payloadBytes: 0,
        time: 0,
        approvals: 0,
      };
      // One request per authenticated route, valid up to the policy decision.
      const requests: Record<string, [string, string, unknown?]> = {
        sysSeal: ['POST', '/v1/sys/seal', {}],
        sysRotate: ['POST', '/v1/sys/rotate', {}],
        sysRekeyInit: ['POST', '/v1/sys/rekey/init', { holders, threshold: 1 }],
        sysRekeyCancel: ['POST', '/v1/sys/rekey/cancel', {}],
        sysBackup: ['POST', '/v1/sys/backup', {}],
        metrics: ['GET', '/metrics'],
        authWhoami: ['GET', '/v1/auth/whoami'],
        authTokenCreate: ['POST', '/v1/auth/tokens', { principal: 'x', roles: ['app'], ttl: 60 }],
        authTokenRevoke: ['DELETE', '/v1/auth/tokens/tok_0000000000000000'],
        policiesPush: ['POST', '/v1/policies', { name: 'again', wasm }],
        policiesList: ['GET', '/v1/policies'],
        policiesActivate: ['POST', `/v1/policies/${pushed.body.sha256}/activate`, { scope: 'key', key: 'aes' }],
        policiesDeactivate: ['POST', `/v1/policies/${pushed.body.sha256}/deactivate`, { scope: 'global' }],
        policiesEvaluate: ['POST', '/v1/policies/evaluate', { input }],
        keysCreate: ['POST', '/v1/keys', { name: 'new', type: 'aes256-gcm' }],
        keysList: ['GET', '/v1/keys'],
        keysGet: ['GET', '/v1/keys/aes'],
        keysRotate: ['POST', '/v1/keys/aes/rotate', {}],
        keysConfig: ['POST', '/v1/keys/aes/config', { deletionAllowed: true }],
        keysDelete: ['DELETE', '/v1/keys/aes'],
        keysEncrypt: ['POST', '/v1/keys/aes/encrypt', { plaintext: b64('x') }],
        keysDecrypt: ['POST', '/v1/keys/aes/decrypt', { ciphertext: enc }],
        keysRewrap: ['POST', '/v1/keys/aes/rewrap', { ciphertext: enc }],
        keysDatakey: ['POST', '/v1/keys/aes/datakey', {}],
        keysSign: ['POST', '/v1/keys/ed/sign', { message: b64('m') }],
        keysVerify: ['POST', '/v1/keys/ed/verify', { message: b64('m'), signature: sig }],
        keysHmac: ['POST', '/v1/keys/mac/hmac', { message: b64('m') }],
        keysEncapsulate: ['POST', '/v1/keys/kem/encapsulate', {}],
        keysDecapsulate: ['POST', '/v1/keys/kem/decapsulate', { ciphertext: kem }],
        keysPublicKey: ['GET', '/v1/keys/ed/public?format=jwk'],
        keysWrappingKey: ['GET', '/v1/sys/wrapping-key'],
        keysExport: ['POST', '/v1/keys/exp/export', { algorithm: 'ml-kem-768', wrappingKey }],
        keysImport: [
          'POST',
          '/v1/keys/imported/import',
          { type: 'aes256-gcm', algorithm: 'rsa-oaep-3072-aes-kwp', wrappedKey: 'AAAA' },
        ],
        random: ['POST', '/v1/random', { bytes: 8 }],
        auditKeys: ['GET', '/v1/audit/keys'],
        auditCheckpoint: ['GET', '/v1/audit/checkpoint'],
        auditRecords: ['GET', '/v1/audit/records?limit=1'],
        auditInclusionProof: ['GET', '/v1/audit/proofs/inclusion?index=0&size=1'],
        auditConsistencyProof: ['GET', '/v1/audit/proofs/consistency?from=1&to=1'],
        auditHash: ['POST', '/v1/audit/hash', { value: 'x' }],
        auditExport: ['POST', '/v1/audit/export', {}],
        approvalsList: ['GET', '/v1/approvals'],
        approvalsGet: ['GET', `/v1/approvals/${apr}`],
        approvalsApprove: ['POST', `/v1/approvals/${apr}/approve`, {}],
        approvalsDeny: ['POST', `/v1/approvals/${apr}/deny`, {}],
        // An approval that doesn't exist: the pipeline decides before it says so.
        approvalsExecute: ['POST', `/v1/approvals/${apr}/execute`, {}],
      };
      const authenticated = ROUTES.filter((r) => r.parkable ?? r.auth).map((r) => r.operationId);
      assert.deepEqual(
        authenticated.filter((id) => !requests[id]),
        [],
        'add a request for each new authenticated route',
      );
      for (const id of authenticated) {
        const [method, path, body] = requests[id]!;
        assert.equal(op(method, path), id);
        const r = await call(method, path, body, parker);
        assert.equal(r.status, 202, `${id}: ${r.status} ${JSON.stringify(r.body)}`);
        assert.equal(r.headers.get('location'), `/v1/approvals/${r.body.approvalId}`);
      }
      // Approved and executed, a parked request answers what its own route documents.
      const parked = await call('POST', '/v1/keys/aes/encrypt', { plaintext: b64('later') }, parker);
      const executed = await completeApproval(p, parked, parker, { plaintext: b64('later') });
      assert.equal(executed.status, 200, JSON.stringify(executed.body));
      assert.match(executed.body.ciphertext, /^kw:v1:/);
    } finally {
      await p.close();
    }
  });

  it('the check fails on an undocumented status, a missing or extra field, or an execute answering off its route', () => {
    const key = {
      name: 'k',
      type: 'aes256-gcm',
      exportable: false,
      verifyOnly: false,
      labels: {},
      latestVersion: 1,
      minDecryptionVersion: 1,
      deletionAllowed: false,
      requireLowS: false,
      deleteAfter: null,
      createdAt: '2026-01-01T00:00:00.000Z',
      versions: [],
    };
    checkResponse('GET', '/v1/keys/k', 200, key);
    checkResponse('GET', '/v1/keys/k', 500, { error: { code: 'INTERNAL', message: 'internal error' } });
    assert.throws(
      () => checkResponse('GET', '/v1/keys/k', 418, { error: { code: 'TEAPOT', message: '' } }),
      /not a documented status/,
    );
    assert.throws(() => checkResponse('GET', '/v1/keys/k', 201, key), /not a documented status/);
    assert.throws(() => checkResponse('GET', '/v1/keys/k', 200, { ...key, secret: 'x' }), /does not match.*secret/);
    assert.throws(
      () => checkResponse('GET', '/v1/keys/k', 200, { ...key, latestVersion: undefined }),
      /does not match.*latestVersion/,
    );
    assert.throws(() => checkResponse('GET', '/v1/keys/k', 200, { ...key, type: 'des' }), /does not match.*type/);
    assert.throws(
      () => checkResponse('GET', '/v1/keys/k', 404, { error: { code: 'KEY_NOT_FOUND' } }),
      /does not match.*message/,
    );
    assert.throws(
      () => checkResponse('POST', '/v1/keys/k/encrypt', 200, { ciphertext: 'plain', keyVersion: 1 }),
      /does not match.*ciphertext/,
    );
    const apr = 'apr_' + 'f'.repeat(32);
    checkResponse('POST', '/v1/keys/k/encrypt', 202, {
      approvalId: apr,
      required: 1,
      group: 'operator',
      reason: '',
      expiresAt: '2026-01-01T00:00:00.000Z',
    });
    checkResponse('POST', `/v1/approvals/${apr}/execute`, 200, { ciphertext: 'kw:v1:AAAA', keyVersion: 1 });
    assert.throws(
      () => checkResponse('POST', `/v1/approvals/${apr}/execute`, 200, { valid: true }),
      /executing keysEncrypt/,
    );
    assert.throws(
      () => checkResponse('POST', `/v1/approvals/${apr}/execute`, 201, { ciphertext: 'kw:v1:AAAA', keyVersion: 1 }),
      /not a documented success of keysEncrypt/,
    );
  });
});
