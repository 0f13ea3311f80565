import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EncryptItem, encryptItemFast } from '../../server/schemas.js';

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
    }
    // The usual bodies do take the fast path.
    assert.equal(fast, 9);
    for (const body of [{ plaintext: kib }, { plaintext: 'AAAA', aad: 'AQID' }, { plaintext: 'AB==' }])
      assert.notEqual(encryptItemFast(body), undefined);
  });
});
