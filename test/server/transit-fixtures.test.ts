/**
 * The Vault transit API's published samples (test/fixtures/vault-transit/, from Vault's
 * transit.mdx): each sample request is sent to a Keyward server and the response must have the
 * sample response's shape (same fields, same JSON types, `vault:v<N>:` values) inside Vault's
 * envelope; where Keyward answers differently the fixture says so and this checks that answer.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { devBootstrap } from '../../engine/dev.js';
import { approverTokens } from '../helpers/approvals.js';
import { startTestServer } from '../helpers/server.js';
import type { TestServer } from '../helpers/server.js';

interface Sample {
  section: string;
  method: string;
  path: string;
  request?: Record<string, unknown>;
  response?: Record<string, unknown>;
  keyward?: { status?: number };
}

const SAMPLES: Sample[] = JSON.parse(
  readFileSync(new URL('../fixtures/vault-transit/samples.json', import.meta.url), 'utf8'),
);
const sample = (section: string) => {
  const s = SAMPLES.find((x) => x.section === section);
  assert.ok(s, `no sample "${section}"`);
  return s;
};
const ENVELOPE = ['request_id', 'lease_id', 'renewable', 'lease_duration', 'data', 'wrap_info', 'warnings', 'auth'];

/** Every field of `expected` is in `got` with the same JSON type, recursively; vault:v<N>: stays so. */
function assertShape(got: unknown, expected: unknown, path = 'body'): void {
  if (expected === null) return;
  if (Array.isArray(expected)) {
    assert.ok(Array.isArray(got), `${path}: expected an array, got ${JSON.stringify(got)}`);
    assert.equal(got.length, expected.length, `${path}: length`);
    expected.forEach((e, i) => assertShape(got[i], e, `${path}[${i}]`));
    return;
  }
  if (typeof expected === 'object') {
    assert.ok(
      got !== null && typeof got === 'object' && !Array.isArray(got),
      `${path}: expected an object, got ${JSON.stringify(got)}`,
    );
    for (const [k, v] of Object.entries(expected as Record<string, unknown>)) {
      assert.ok(k in (got as object), `${path}.${k}: missing in ${JSON.stringify(got)}`);
      assertShape((got as Record<string, unknown>)[k], v, `${path}.${k}`);
    }
    return;
  }
  assert.equal(typeof got, typeof expected, `${path}: expected a ${typeof expected}, got ${JSON.stringify(got)}`);
  if (typeof expected === 'string' && expected.startsWith('vault:v'))
    assert.match(got as string, /^vault:v[1-9]\d*:[A-Za-z0-9+/=_-]+$/, path);
}

describe('Vault transit: published samples', { timeout: 120_000 }, () => {
  let s: TestServer;
  let root: string;
  const send = (smp: Sample, over: { path?: string; body?: Record<string, unknown>; token?: string } = {}) =>
    s.call(
      smp.method === 'LIST' ? 'GET' : smp.method,
      (over.path ?? smp.path) + (smp.method === 'LIST' ? '?list=true' : ''),
      {
        headers: { 'x-vault-token': over.token ?? root },
        ...((over.body ?? smp.request) ? { body: over.body ?? smp.request } : {}),
      },
    );
  const ok = (res: { status: number; body: any }, smp: Sample, status = 200) => {
    assert.equal(res.status, status, `${smp.section}: ${JSON.stringify(res.body)}`);
    for (const k of ENVELOPE) assert.ok(k in res.body, `${smp.section}: envelope field ${k}`);
    if (smp.response) assertShape(res.body, smp.response);
    return res.body.data;
  };

  before(async () => {
    s = await startTestServer();
    root = (await devBootstrap(s.hsm)).rootToken;
  });
  after(() => s.close());

  it('create (derived refused), read, list, config, rotate', async () => {
    const create = sample('Create key');
    const refused = await send(create);
    assert.equal(refused.status, create.keyward!.status, JSON.stringify(refused.body));
    assert.match(refused.body.errors[0], /derived/);
    // Without `derived` the sample creates the key.
    ok(await send(create, { body: { type: 'ecdsa-p256' } }), create);
    ok(await send(create, { path: '/v1/transit/keys/foo', body: {} }), create);
    const read = ok(await send(sample('Read key'), { path: '/v1/transit/keys/foo' }), sample('Read key'));
    assert.equal(read.type, 'aes256-gcm96');
    assert.equal(read.name, 'foo');
    const list = ok(await send(sample('List keys')), sample('List keys'));
    assert.deepEqual(list.keys.sort(), ['foo', 'my-key']);
    const cfg = ok(await send(sample('Update key configuration')), sample('Update key configuration'));
    assert.equal(cfg.deletion_allowed, true);
    const rot = ok(await send(sample('Rotate key')), sample('Rotate key'));
    assert.equal(rot.latest_version, 2);
  });

  it('encrypt, decrypt and rewrap the sample plaintext', async () => {
    await send(sample('Create key'), { path: '/v1/transit/keys/aes', body: {} });
    const enc = ok(await send(sample('Encrypt data'), { path: '/v1/transit/encrypt/aes' }), sample('Encrypt data'));
    const dec = ok(
      await send(sample('Decrypt data'), { path: '/v1/transit/decrypt/aes', body: { ciphertext: enc.ciphertext } }),
      sample('Decrypt data'),
    );
    // Not just the shape: the published plaintext comes back.
    assert.equal(dec.plaintext, (sample('Decrypt data').response as any).data.plaintext);
    await s.call('POST', '/v1/transit/keys/aes/rotate', { headers: { 'x-vault-token': root } });
    const rw = ok(
      await send(sample('Rewrap data'), { path: '/v1/transit/rewrap/aes', body: { ciphertext: enc.ciphertext } }),
      sample('Rewrap data'),
    );
    assert.match(rw.ciphertext, /^vault:v2:/);
  });

  it('datakey: the sample context is refused; without it the sample shape', async () => {
    const smp = sample('Generate data key');
    await send(sample('Create key'), { path: '/v1/transit/keys/dk', body: {} });
    const refused = await send(smp, { path: '/v1/transit/datakey/plaintext/dk' });
    assert.equal(refused.status, 400);
    assert.match(refused.body.errors[0], /derivation/);
    const d = ok(await send(smp, { path: '/v1/transit/datakey/plaintext/dk', body: {} }), smp);
    assert.equal(Buffer.from(d.plaintext, 'base64').length, 32);
  });

  it('random and hash as published', async () => {
    const r = ok(await send(sample('Generate random bytes')), sample('Generate random bytes'));
    assert.match(r.random_bytes, /^[0-9a-f]{328}$/);
    const h = ok(await send(sample('Hash data')), sample('Hash data'));
    assert.equal(h.sum, createHash('sha512').update(Buffer.from('adba32==', 'base64')).digest('hex'));
  });

  it('hmac: sha2-512 refused; the batch sample (with its error item) as published', async () => {
    await send(sample('Create key'), { path: '/v1/transit/keys/mac', body: { type: 'hmac' } });
    const refused = await send(sample('Generate HMAC'), { path: '/v1/transit/hmac/mac/sha2-512' });
    assert.equal(refused.status, 400);
    // A batch with a failed item is a 400 that still carries batch_results (Vault's batchRequestResponse).
    const b = ok(
      await send(sample('Generate HMAC (batch_input)'), { path: '/v1/transit/hmac/mac' }),
      sample('Generate HMAC (batch_input)'),
      400,
    );
    assert.equal(b.batch_results[0].hmac, b.batch_results[1].hmac);
    assert.equal(b.batch_results[2].error, 'missing input for HMAC');
  });

  it('sign with sha2-512 and verify the sample payload; the derived batch sample gives error items', async () => {
    const sig = ok(await send(sample('Sign data')), sample('Sign data'));
    assert.match(sig.signature, /^vault:v2:ME/); // ASN.1 DER SEQUENCE, key rotated to v2 above
    const v = ok(
      await send(sample('Verify signed data'), { body: { input: 'adba32==', signature: sig.signature } }),
      sample('Verify signed data'),
    );
    assert.equal(v.valid, true);
    const other = ok(
      await send(sample('Verify signed data'), { body: { input: 'abcd13==', signature: sig.signature } }),
      sample('Verify signed data'),
    );
    assert.equal(other.valid, false);
    await send(sample('Create key'), { path: '/v1/transit/keys/ed', body: { type: 'ed25519' } });
    const batch = await send(sample('Sign data (batch_input)'), { path: '/v1/transit/sign/ed' });
    assert.equal(batch.status, 400, JSON.stringify(batch.body));
    const results = batch.body.data.batch_results;
    assert.equal(results.length, 3);
    assert.match(results[0].error, /derivation/);
    assert.equal(results[2].error, 'missing input');
  });

  it('export and delete park for two approvals, then execute with the sample shape', async () => {
    await send(sample('Create key'), { path: '/v1/transit/keys/exp', body: { exportable: true } });
    const smp = sample('Export key');
    const parked = await send(smp, { path: '/v1/transit/export/encryption-key/exp/1' });
    assert.equal(parked.status, smp.keyward!.status, JSON.stringify(parked.body));
    const id = parked.body.approval.approvalId as string;
    assert.ok(parked.body.errors[0].includes(id));
    for (const t of await approverTokens(s.hsm.store.db))
      assert.equal((await s.call('POST', `/v1/approvals/${id}/approve`, { token: t, body: {} })).status, 200);
    const done = await s.call('POST', `/v1/approvals/${id}/execute`, { token: root, body: {} });
    assert.equal(done.status, 200, JSON.stringify(done.body));
    assertShape(done.body, { data: { name: 'foo', keys: { '1': 'x' } } });
    assert.equal(Buffer.from(done.body.data.keys['1'], 'base64').length, 32);

    const del = sample('Delete key');
    const parkedDel = await send(del);
    assert.equal(parkedDel.status, del.keyward!.status, JSON.stringify(parkedDel.body));
    const did = parkedDel.body.approval.approvalId as string;
    for (const t of await approverTokens(s.hsm.store.db))
      assert.equal((await s.call('POST', `/v1/approvals/${did}/approve`, { token: t, body: {} })).status, 200);
    const gone = await s.call('POST', `/v1/approvals/${did}/execute`, { token: root, body: {} });
    assert.equal(gone.status, 204, JSON.stringify(gone.body));
  });
});
