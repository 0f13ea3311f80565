/**
 * GET /v1/audit/records in the raw format (engine/audit/verifier/records-page.ts), asked for by
 * Accept: the same records as the JSON page, in larger pages; JSON stays what a client gets
 * without asking, and errors stay JSON.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { issueToken } from '../../engine/auth/tokens.js';
import { devBootstrap } from '../../engine/dev.js';
import { AUDIT_RAW_PAGE_MAX, AUDIT_PAGE_MAX } from '../../engine/audit/log/read.js';
import {
  AUDIT_RECORDS_MEDIA_TYPE,
  decodeRecordsPage,
  encodeRecordsPage,
} from '../../engine/audit/verifier/records-page.js';
import { readAuditRecords } from '../../engine/store/index.js';
import { startTestServer } from '../helpers/server.js';
import type { TestServer } from '../helpers/server.js';
import { assertError } from '../helpers/wire.js';

describe('GET /v1/audit/records, raw', { timeout: 120_000 }, () => {
  let s: TestServer;
  let auditor: string;

  before(async () => {
    s = await startTestServer();
    const root = (await devBootstrap(s.hsm)).rootToken;
    auditor = (await issueToken(s.hsm.store.db, { principal: 'eve-auditor', roles: ['auditor'], now: new Date() }))
      .token;
    // A few dozen records in several batches.
    for (let i = 0; i < 3; i++)
      await Promise.all(
        Array.from({ length: 10 }, () =>
          s.call('GET', '/v1/keys', { token: root }).then((r) => assert.equal(r.status, 200)),
        ),
      );
  });
  after(() => s.close());

  const raw = async (query: string, accept = AUDIT_RECORDS_MEDIA_TYPE) => {
    const res = await fetch(`${s.url}/v1/audit/records?${query}`, {
      headers: { authorization: `Bearer ${auditor}`, accept },
    });
    return { res, body: new Uint8Array(await res.arrayBuffer()) };
  };

  it('serves the JSON page’s records as stored, by Accept, and JSON without it', async () => {
    const json = await s.call('GET', '/v1/audit/records?from=3&limit=20', { token: auditor });
    assert.equal(json.status, 200);
    assert.match(json.headers.get('content-type')!, /^application\/json/);
    assert.match(json.headers.get('vary') ?? '', /Accept/i);
    const { res, body } = await raw('from=3&limit=20', `${AUDIT_RECORDS_MEDIA_TYPE}, application/json;q=0.5`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), AUDIT_RECORDS_MEDIA_TYPE);
    const p = decodeRecordsPage(body);
    assert.equal(p.from, 3);
    assert.equal(p.count, json.body.records.length);
    assert.equal(p.count, 20);
    assert.equal(p.next, 23);
    assert.ok(p.size >= json.body.size);
    json.body.records.forEach((r: { index: number; leaf: string; chain: string }, i: number) => {
      assert.equal(r.index, 3 + i);
      assert.equal(Buffer.from(p.leaves.subarray(p.offsets[i]!, p.offsets[i + 1]! - 1)).toString('utf8'), r.leaf);
      assert.equal(Buffer.from(p.chains.subarray(32 * i, 32 * i + 32)).toString('hex'), r.chain);
    });
    // JSON when the client prefers it.
    const pref = await raw('from=0&limit=2', `application/json, ${AUDIT_RECORDS_MEDIA_TYPE};q=0.5`);
    assert.match(pref.res.headers.get('content-type')!, /^application\/json/);
  });

  it('sends the bytes encodeRecordsPage gives for the stored records, under their Content-Length', async () => {
    for (const query of ['from=0', 'from=4&to=27', 'from=13&limit=1']) {
      const { res, body } = await raw(query);
      const p = decodeRecordsPage(body);
      const rows = await readAuditRecords(s.hsm.store.db, p.from, p.from + p.count);
      const want = encodeRecordsPage(
        p,
        Buffer.concat(rows.map((r) => r.chain)),
        Buffer.concat(rows.flatMap((r) => [r.leaf, Buffer.from('\n')])),
      );
      assert.ok(Buffer.from(body).equals(want), query);
      assert.equal(res.headers.get('content-length'), String(want.length));
      assert.equal(res.headers.get('transfer-encoding'), null);
    }
  });

  it('reads to the head, with `to`, and larger pages than JSON', async () => {
    assert.ok(AUDIT_RAW_PAGE_MAX > AUDIT_PAGE_MAX);
    const all = decodeRecordsPage((await raw(`from=0&limit=${AUDIT_RAW_PAGE_MAX + 5}`)).body);
    assert.equal(all.from, 0);
    assert.equal(all.count, all.size);
    assert.equal(all.next, null);
    const cut = decodeRecordsPage((await raw('from=2&to=5')).body);
    assert.deepEqual([cut.from, cut.count, cut.next], [2, 3, 5]);
    const beyond = decodeRecordsPage((await raw(`from=${all.size + 100}`)).body);
    assert.deepEqual([beyond.count, beyond.next], [0, null]);
  });

  it('answers errors as JSON', async () => {
    const { res, body } = await raw('from=5&to=2');
    assert.equal(res.status, 400);
    assert.equal(JSON.parse(Buffer.from(body).toString()).error.code, 'AUDIT_RANGE_INVALID');
    const anon = await fetch(`${s.url}/v1/audit/records`, { headers: { accept: AUDIT_RECORDS_MEDIA_TYPE } });
    assertError({ status: anon.status, body: await anon.json() }, 401, 'UNAUTHENTICATED');
  });

  it('is documented in the OpenAPI document beside the JSON page', async () => {
    const doc = (await (await fetch(`${s.url}/openapi.json`)).json()) as any;
    const content = doc.paths['/v1/audit/records'].get.responses['200'].content;
    assert.deepEqual(Object.keys(content), ['application/json', AUDIT_RECORDS_MEDIA_TYPE]);
    assert.equal(content[AUDIT_RECORDS_MEDIA_TYPE].schema.format, 'binary');
    assert.match(content[AUDIT_RECORDS_MEDIA_TYPE].schema.description, /count × 32 bytes of chain values/);
  });
});
