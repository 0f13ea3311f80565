import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fromBase64 } from '../../lib/bytes.js';
import { EncryptItem, encryptItemFast, takeDecodedPlaintext } from '../../server/schemas.js';
import { encryptBodyFast, transitEncryptSchemas } from '../../server/routes/transit.js';

/**
 * encryptItemFast stands in for EncryptItem on the encrypt route's usual body: whatever it accepts
 * must be exactly what the schema gives, and whatever the schema refuses it must leave to the schema.
 */
describe('encryptItemFast (EncryptItem without zod)', () => {
  const kib = Buffer.alloc(1024, 7).toString('base64');
  const nullProto = Object.assign(Object.create(null) as object, { plaintext: 'AAAA' });
  const bodies: unknown[] = [
    { plaintext: kib },
    { plaintext: '' },
    { plaintext: 'AAAA', aad: 'AQID' },
    { aad: 'AQID', plaintext: 'AAAA' },
    { plaintext: 'AAAA', aad: '' },
    { plaintext: 'AB==' }, // not canonical (unused bits set): base64 characters, accepted here, refused by the decoder
    { plaintext: 'A===' },
    { plaintext: 'AAA' },
    { plaintext: 'AA AA' },
    { plaintext: 'AA-_' },
    { plaintext: 'A'.repeat(700_000) },
    { plaintext: 'A'.repeat(700_004) },
    { plaintext: 'AAAA', aad: 'A'.repeat(8192) },
    { plaintext: 'AAAA', aad: 'A'.repeat(8196) },
    { plaintext: 'AAAA', aad: null },
    { plaintext: 'AAAA', aad: 5 },
    { plaintext: 5 },
    { plaintext: null },
    { plaintext: ['AAAA'] },
    {},
    { aad: 'AAAA' },
    { plaintext: 'AAAA', extra: 1 },
    { plaintext: 'AAAA', batch: [] },
    JSON.parse('{"plaintext":"AAAA","__proto__":{"x":1}}'),
    JSON.parse('{"__proto__":null,"plaintext":"AAAA"}'),
    nullProto,
    Object.assign(Object.create({ aad: 'AAAA' }) as object, { plaintext: 'AAAA' }),
    [],
    ['AAAA'],
    'AAAA',
    null,
    7,
  ];
  it('gives what the schema gives, or leaves the body to the schema', () => {
    let fast = 0;
    for (const body of bodies) {
      const got = encryptItemFast(body);
      const want = EncryptItem.safeParse(body);
      if (got === undefined) continue;
      fast++;
      assert.ok(want.success, `fast path accepted what the schema refuses: ${JSON.stringify(body)?.slice(0, 80)}`);
      assert.deepEqual(got, want.data);
      assert.deepEqual(Object.keys(got), Object.keys(want.data));
      // The bytes kept are the route's own decode of the plaintext, given once; none for a text it refuses.
      let own: Uint8Array | undefined;
      try {
        own = fromBase64(got.plaintext, 'plaintext');
      } catch {
        own = undefined;
      }
      assert.deepEqual(takeDecodedPlaintext(got), own);
      assert.equal(takeDecodedPlaintext(got), undefined);
    }
    assert.equal(takeDecodedPlaintext({ plaintext: kib }), undefined);
    // The usual bodies do take the fast path.
    assert.equal(fast, 9);
    for (const body of [{ plaintext: kib }, { plaintext: 'AAAA', aad: 'AQID' }, { plaintext: 'AB==' }])
      assert.notEqual(encryptItemFast(body), undefined);
  });
});

describe('encryptBodyFast (the Vault transit encrypt body without zod)', () => {
  const kib = Buffer.alloc(1024, 7).toString('base64');
  const bodies: Record<string, unknown>[] = [
    { plaintext: kib },
    { plaintext: '' },
    { plaintext: 'not base64 at all' }, // the route's decode refuses it, as before
    { plaintext: 'AAAA', associated_data: 'AQID' },
    { associated_data: 'AQID', plaintext: 'AAAA' },
    { plaintext: 'A'.repeat(700_000) },
    { plaintext: 'A'.repeat(700_001) },
    { plaintext: 'AAAA', associated_data: 'A'.repeat(8192) },
    { plaintext: 'AAAA', associated_data: 'A'.repeat(8193) },
    { plaintext: 'AAAA', associated_data: null },
    { plaintext: 5 },
    { plaintext: null },
    {},
    { associated_data: 'AAAA' },
    { plaintext: 'AAAA', context: '' },
    { plaintext: 'AAAA', key_version: 1 },
    { plaintext: 'AAAA', batch_input: [] },
    { plaintext: 'AAAA', extra: 1 },
    JSON.parse('{"plaintext":"AAAA","__proto__":{"x":1}}'),
    Object.assign(Object.create(null) as object, { plaintext: 'AAAA' }),
    Object.assign(Object.create({ type: 'rsa-2048' }) as object, { plaintext: 'AAAA' }),
  ];
  it('gives what EncryptBody and EncryptItem give, with no warning, or leaves the body to them', () => {
    let fast = 0;
    for (const body of bodies) {
      const got = encryptBodyFast(body);
      if (got === undefined) continue;
      fast++;
      const asBody = transitEncryptSchemas.body.safeParse(body);
      const asItem = transitEncryptSchemas.item.safeParse(body);
      assert.ok(asBody.success && asItem.success, JSON.stringify(body).slice(0, 80));
      assert.deepEqual(got, asBody.data);
      assert.deepEqual(got, asItem.data);
      // No field the schemas don't know (which would be Vault's warning).
      for (const k of Object.keys(body)) assert.ok(k in transitEncryptSchemas.body.shape, k);
    }
    assert.equal(fast, 7);
  });
});
