import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { toPublicKeyFile } from '../../ceremony/index.js';
import { pqBackend } from '../../engine/crypto/index.js';
import type { HolderKey, ShardFile } from '../../ceremony/index.js';
import { makeHolders, submissionFor } from '../helpers/ceremony.js';
import { startTestServer } from '../helpers/server.js';
import type { TestServer } from '../helpers/server.js';
import { assertError } from '../helpers/wire.js';

describe('/v1/sys over HTTP', () => {
  let s: TestServer;
  let holders: HolderKey[];
  let pubs: object[];
  let shards: ShardFile[];
  let rootToken: string;

  before(async () => {
    s = await startTestServer();
    holders = await makeHolders(['alice', 'bob', 'carol']);
    pubs = holders.map((h) => toPublicKeyFile(h));
  });
  after(() => s.close());

  it('health is 501 before init; seal status says so', async () => {
    const h = await s.call('GET', '/v1/sys/health');
    assert.equal(h.status, 501);
    assert.deepEqual(Object.keys(h.body).sort(), [
      'crypto',
      'initialized',
      'progress',
      'sealed',
      'shares',
      'storage',
      'threshold',
      'version',
    ]);
    assert.deepEqual(h.body.storage, { driver: s.hsm.store.driver, ok: true });
    assert.deepEqual(h.body.crypto, { postQuantum: pqBackend().name });
    assert.equal(h.body.initialized, false);
    const st = await s.call('GET', '/v1/sys/seal-status');
    assert.equal(st.status, 200);
    assert.equal(st.body.nonce, null);
  });

  it('authenticated routes say NOT_INITIALIZED before init', async () => {
    assertError(await s.call('POST', '/v1/sys/seal', { token: 'kwt_' + 'a'.repeat(43) }), 503, 'NOT_INITIALIZED');
  });

  const badInits: Array<[string, { body?: unknown; raw?: string; headers?: Record<string, string> }, number, string]> =
    [
      ['invalid JSON', { raw: '{"holders": [', headers: { 'content-type': 'application/json' } }, 400, 'INVALID_JSON'],
      [
        'truncated JSON',
        { raw: '{"holders":[],"thres', headers: { 'content-type': 'application/json' } },
        400,
        'INVALID_JSON',
      ],
      [
        'not JSON content type',
        { raw: 'holders=a', headers: { 'content-type': 'application/x-www-form-urlencoded' } },
        415,
        'UNSUPPORTED_MEDIA_TYPE',
      ],
      ['a JSON array', { body: [] }, 400, 'VALIDATION_FAILED'],
      ['missing threshold', { body: { holders: [] } }, 400, 'VALIDATION_FAILED'],
      ['threshold as string', { body: { holders: [], threshold: '2' } }, 400, 'VALIDATION_FAILED'],
      ['threshold fractional', { body: { holders: [], threshold: 1.5 } }, 400, 'VALIDATION_FAILED'],
      ['holders not an array', { body: { holders: 'alice.pub', threshold: 1 } }, 400, 'VALIDATION_FAILED'],
      ['unknown field', { body: { holders: [], threshold: 1, extra: true } }, 400, 'VALIDATION_FAILED'],
      ['empty body', { body: {} }, 400, 'VALIDATION_FAILED'],
    ];
  for (const [name, req, status, code] of badInits) {
    it(`init rejects ${name} with ${status} ${code}`, async () => {
      assertError(await s.call('POST', '/v1/sys/init', req), status, code);
    });
  }

  it('init rejects bad holder keys and parameters, naming the holder', async () => {
    const garbage = { ...pubs[0], publicKey: '!!!not base64!!!' };
    assertError(
      await s.call('POST', '/v1/sys/init', { body: { holders: [garbage], threshold: 1 } }),
      400,
      'VALIDATION_FAILED',
    );
    const short = { ...pubs[0], publicKey: Buffer.alloc(10).toString('base64') };
    // The ceremony's own schema reads each .pub file (lib/json.ts), so the API names the field the CLI names.
    const r = await s.call('POST', '/v1/sys/init', { body: { holders: [short], threshold: 1 } });
    assertError(r, 400, 'VALIDATION_FAILED');
    assert.match(r.body.error.message, /^holders\.0\.publicKey: expected 1216 bytes, got 10$/);
    const wrongPrint = { ...pubs[1], fingerprint: '0'.repeat(32) };
    const w = await s.call('POST', '/v1/sys/init', { body: { holders: [pubs[0], wrongPrint], threshold: 1 } });
    assertError(w, 400, 'VALIDATION_FAILED');
    assert.match(
      w.body.error.message,
      /^holders\.1\.fingerprint: expected [0-9a-f]{32} \(the fingerprint of publicKey\), got 0{32}$/,
    );
    assertError(
      await s.call('POST', '/v1/sys/init', { body: { holders: pubs, threshold: 4 } }),
      400,
      'CEREMONY_PARAMS_INVALID',
    );
    assertError(
      await s.call('POST', '/v1/sys/init', { body: { holders: [pubs[0], pubs[0]], threshold: 1 } }),
      400,
      'CEREMONY_PARAMS_INVALID',
    );
  });

  it('init rejects a holder file with a field the format lacks, naming it (as the CLI does)', async () => {
    // A .pub file is read strictly by the ceremony (unknown fields are not part of the format); the
    // server must not drop the field first and accept a file the CLI rejects.
    const extra = { ...pubs[1], comment: 'hello' };
    const r = await s.call('POST', '/v1/sys/init', { body: { holders: [pubs[0], extra], threshold: 1 } });
    assertError(r, 400, 'VALIDATION_FAILED');
    assert.match(r.body.error.message, /holders\.1: unknown field "comment"/);
    assert.equal((await s.call('GET', '/v1/sys/seal-status')).body.initialized, false);
  });

  it('refuses an oversized body with 413 and stays healthy', async () => {
    const big = JSON.stringify({ holders: [], threshold: 1, pad: 'x'.repeat(2 * 1024 * 1024) });
    assertError(
      await s.call('POST', '/v1/sys/init', { raw: big, headers: { 'content-type': 'application/json' } }),
      413,
      'BODY_TOO_LARGE',
    );
    assert.equal((await s.call('GET', '/v1/sys/health')).status, 501);
  });

  it('initializes 2-of-3 and returns sealed shards and a root token once', async () => {
    const r = await s.call('POST', '/v1/sys/init', { body: { holders: pubs, threshold: 2 } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    shards = r.body.shards;
    rootToken = r.body.rootToken;
    assert.match(rootToken, /^kwt_[A-Za-z0-9_-]{43}$/);
    assert.equal(shards.length, 3);
    assert.equal(shards[0]!.format, 'keyward.shard/v1');
    assertError(
      await s.call('POST', '/v1/sys/init', { body: { holders: pubs, threshold: 2 } }),
      409,
      'ALREADY_INITIALIZED',
    );
    assert.equal((await s.call('GET', '/v1/sys/health')).status, 503);
  });

  it('sealed: authenticated routes answer 503 SEALED', async () => {
    assertError(await s.call('GET', '/v1/auth/whoami', { token: rootToken }), 503, 'SEALED');
    assertError(await s.call('POST', '/v1/sys/rotate', { token: rootToken }), 503, 'SEALED');
  });

  const badSubs: Array<[string, unknown, number, string]> = [
    ['missing fields', {}, 400, 'VALIDATION_FAILED'],
    ['wrong types', { nonce: 1, enc: [], ciphertext: {} }, 400, 'VALIDATION_FAILED'],
    ['bad nonce', { nonce: 'xyz', enc: 'AAAA', ciphertext: 'AAAA' }, 400, 'VALIDATION_FAILED'],
    ['garbage base64', { nonce: '0'.repeat(32), enc: '%%%', ciphertext: 'AAAA' }, 400, 'VALIDATION_FAILED'],
    [
      'huge ciphertext',
      { nonce: '0'.repeat(32), enc: 'AAAA', ciphertext: 'A'.repeat(10_000) },
      400,
      'VALIDATION_FAILED',
    ],
    [
      'another session nonce',
      {
        nonce: '0'.repeat(32),
        enc: Buffer.alloc(1120, 1).toString('base64'),
        ciphertext: Buffer.alloc(80).toString('base64'),
      },
      409,
      'UNSEAL_NONCE_MISMATCH',
    ],
  ];
  for (const [name, body, status, code] of badSubs) {
    it(`unseal rejects ${name} with ${status} ${code}; progress unchanged`, async () => {
      assertError(await s.call('POST', '/v1/sys/unseal', { body }), status, code);
      assert.equal((await s.call('GET', '/v1/sys/seal-status')).body.progress, 0);
    });
  }

  it('unseal rejects garbage under the real nonce', async () => {
    const nonce = (await s.call('GET', '/v1/sys/seal-status')).body.nonce;
    const short = await s.call('POST', '/v1/sys/unseal', { body: { nonce, enc: 'AAAA', ciphertext: 'AAAA' } });
    assertError(short, 400, 'VALIDATION_FAILED');
    assert.match(
      short.body.error.message,
      /^enc: expected 1120 bytes, got 3; ciphertext: expected 16 to \d+ bytes, got 3$/,
    );
    const enc = Buffer.alloc(1120, 7).toString('base64');
    assertError(
      await s.call('POST', '/v1/sys/unseal', { body: { nonce, enc, ciphertext: Buffer.alloc(80).toString('base64') } }),
      400,
      'SUBMISSION_INVALID',
    );
  });

  it('unseals with 2 of 3 over HTTP; duplicate is 409', async () => {
    let st = (await s.call('GET', '/v1/sys/seal-status')).body;
    const r1 = await s.call('POST', '/v1/sys/unseal', { body: await submissionFor(holders[2]!, shards[2]!, st) });
    assert.equal(r1.status, 200);
    assert.equal(r1.body.progress, 1);
    assert.equal(r1.body.sealed, true);
    assertError(
      await s.call('POST', '/v1/sys/unseal', { body: await submissionFor(holders[2]!, shards[2]!, st) }),
      409,
      'SHARD_DUPLICATE',
    );
    st = (await s.call('GET', '/v1/sys/seal-status')).body;
    // Seal status names whose shards the session holds (the console's status page shows them).
    assert.deepEqual(st.submitted, [shards[2]!.index]);
    assert.equal(st.node, s.hsm.node);
    const r2 = await s.call('POST', '/v1/sys/unseal', { body: await submissionFor(holders[0]!, shards[0]!, st) });
    assert.equal(r2.status, 200);
    assert.equal(r2.body.sealed, false);
    assert.deepEqual((await s.call('GET', '/v1/sys/seal-status')).body.submitted, []);
    assert.equal((await s.call('GET', '/v1/sys/health')).status, 200);
  });

  it('authenticates: missing, malformed and unknown tokens are 401', async () => {
    assertError(await s.call('GET', '/v1/auth/whoami'), 401, 'UNAUTHENTICATED');
    assertError(
      await s.call('GET', '/v1/auth/whoami', { headers: { authorization: 'Basic abc' } }),
      401,
      'UNAUTHENTICATED',
    );
    assertError(await s.call('GET', '/v1/auth/whoami', { token: 'nope' }), 401, 'UNAUTHENTICATED');
    assertError(await s.call('GET', '/v1/auth/whoami', { token: 'kwt_' + 'A'.repeat(43) }), 401, 'UNAUTHENTICATED');
    const w = await s.call('GET', '/v1/auth/whoami', { token: rootToken });
    assert.equal(w.status, 200);
    assert.equal(w.body.principal, 'root');
    assert.deepEqual(w.body.roles, ['admin']);
  });

  it('rotates and seals with the root token; seal needs a token', async () => {
    const rot = await s.call('POST', '/v1/sys/rotate', { token: rootToken });
    assert.equal(rot.status, 200);
    assert.equal(rot.body.term, 2);
    assertError(await s.call('POST', '/v1/sys/seal'), 401, 'UNAUTHENTICATED');
    assertError(
      await s.call('POST', '/v1/sys/seal', { token: rootToken, body: { force: true } }),
      400,
      'VALIDATION_FAILED',
    );
    const sealed = await s.call('POST', '/v1/sys/seal', { token: rootToken });
    assert.equal(sealed.status, 200);
    assert.equal(sealed.body.sealed, true);
    assert.equal((await s.call('GET', '/v1/sys/health')).status, 503);
  });

  it('reset discards progress', async () => {
    const st = (await s.call('GET', '/v1/sys/seal-status')).body;
    await s.call('POST', '/v1/sys/unseal', { body: await submissionFor(holders[1]!, shards[1]!, st) });
    const r = await s.call('POST', '/v1/sys/unseal/reset');
    assert.equal(r.status, 200);
    assert.equal(r.body.progress, 0);
    assert.notEqual(r.body.nonce, st.nonce);
  });

  it('unknown routes are 404, wrong methods 405, both with codes', async () => {
    assertError(await s.call('GET', '/v1/nope'), 404, 'ROUTE_NOT_FOUND');
    assertError(await s.call('DELETE', '/v1/sys/health'), 405, 'METHOD_NOT_ALLOWED');
  });

  it('a restart is sealed and unseals again', async () => {
    await s.restart();
    assert.equal((await s.call('GET', '/v1/sys/health')).status, 503);
    for (const i of [1, 0]) {
      const st = (await s.call('GET', '/v1/sys/seal-status')).body;
      await s.call('POST', '/v1/sys/unseal', { body: await submissionFor(holders[i]!, shards[i]!, st) });
    }
    assert.equal((await s.call('GET', '/v1/sys/health')).status, 200);
  });
});

describe('ceremony rate limit', () => {
  it('answers 429 RATE_LIMITED with Retry-After past the burst, per client', async () => {
    const s = await startTestServer({ ceremonyRate: { burst: 3, perMinute: 1 } });
    try {
      for (let i = 0; i < 3; i++) assert.notEqual((await s.call('POST', '/v1/sys/unseal', { body: {} })).status, 429);
      const r = await s.call('POST', '/v1/sys/unseal', { body: {} });
      assertError(r, 429, 'RATE_LIMITED');
      assert.ok(Number(r.headers.get('retry-after')) >= 1);
      // health is not rate-limited
      assert.equal((await s.call('GET', '/v1/sys/health')).status, 501);
    } finally {
      await s.close();
    }
  });
});
