import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { binaryUnit } from '../../../helpers/fast-check.js';
import { isKeywardError } from '../../../../lib/errors.js';
import {
  HMAC_FIELD_RE,
  MAX_LEAF_BYTES,
  decodeRecord,
  encodeRecord,
  encodeRecordText,
  hmacField,
  sha256Hex,
  validateRecord,
} from '../../../../engine/audit/math/record.js';
import type { AuditRecord } from '../../../../engine/audit/math/record.js';
import { enc, sampleRecord } from '../helpers.js';

const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const invalidField = (field: string) => (err: unknown) =>
  isKeywardError(err, 'AUDIT_RECORD_INVALID') && (err.details?.field as string) === field;
const notCanonical = (err: unknown) => isKeywardError(err, 'AUDIT_LEAF_NOT_CANONICAL');

const BASE: AuditRecord = {
  v: 1,
  time: '2026-01-01T00:00:00.000Z',
  node: 'n1',
  requestId: 'r1',
  principal: 'alice',
  operation: 'encrypt',
  key: 'payments',
  keyVersion: 3,
  policies: [{ sha256: 'a'.repeat(64), decision: 'allow', gas: 412 }],
  decision: 'allow',
  reason: null,
  approvalId: null,
  inputDigest: 'b'.repeat(64),
  status: 200,
  code: null,
  sizes: { in: 512, out: 545 },
  details: null,
};

describe('audit record encoding (RFC 8785)', () => {
  it('is the canonical JSON: keys sorted, no whitespace, every field present', () => {
    assert.equal(
      dec(encodeRecord(BASE)),
      '{"approvalId":null,"code":null,"decision":"allow","details":null,"inputDigest":"' +
        'b'.repeat(64) +
        '","key":"payments","keyVersion":3,"node":"n1","operation":"encrypt","policies":[{"decision":"allow","gas":412,"sha256":"' +
        'a'.repeat(64) +
        '"}],"principal":"alice","reason":null,"requestId":"r1","sizes":{"in":512,"out":545},"status":200,"time":"2026-01-01T00:00:00.000Z","v":1}',
    );
  });

  it('does not depend on the order the fields were written in', () => {
    const reversed = Object.fromEntries(Object.entries(BASE).reverse()) as unknown as AuditRecord;
    const a = encodeRecord({ ...BASE, details: { zeta: 1, alpha: 'x', Mid: true } });
    const b = encodeRecord({ ...reversed, details: { Mid: true, alpha: 'x', zeta: 1 } });
    assert.deepEqual(a, b);
    // RFC 8785 sorts by UTF-16 code units: uppercase before lowercase.
    assert.match(dec(a), /"details":\{"Mid":true,"alpha":"x","zeta":1\}/);
  });

  it('unicode: non-ASCII as raw UTF-8, control characters escaped, U+2028 raw, lone surrogates refused', () => {
    const leaf = encodeRecord({ ...BASE, principal: 'zoë ☃ 😀', reason: 'tab\there "q" \\ \u0001 \u2028 end' });
    const text = dec(leaf);
    assert.ok(text.includes('"principal":"zoë ☃ 😀"'));
    assert.ok(text.includes('"reason":"tab\\there \\"q\\" \\\\ \\u0001 \u2028 end"'));
    assert.equal(leaf.length, Buffer.byteLength(text, 'utf8'));
    assert.throws(() => encodeRecord({ ...BASE, reason: 'bad \ud800' }), invalidField('reason'));
  });

  it('numbers: safe integers only (no floats, NaN, Infinity, -0)', () => {
    assert.match(
      dec(encodeRecord({ ...BASE, details: { max: Number.MAX_SAFE_INTEGER, neg: -5 } })),
      /"max":9007199254740991,"neg":-5/,
    );
    for (const bad of [1.5, Number.NaN, Infinity, -0, 2 ** 53, -1]) {
      assert.throws(() => encodeRecord({ ...BASE, sizes: { in: bad, out: 0 } }), invalidField('sizes.in'), String(bad));
    }
    assert.throws(() => encodeRecord({ ...BASE, details: { x: 0.1 } }), invalidField('details.x'));
    assert.throws(() => encodeRecord({ ...BASE, status: 200.5 }), invalidField('status'));
  });

  it('decodeRecord round-trips, and property: any valid record round-trips byte for byte, and encodeRecordText is its leaf as text', () => {
    assert.deepEqual(decodeRecord(encodeRecord(BASE)), BASE);
    fc.assert(
      fc.property(
        fc.nat({ max: 10_000 }),
        fc.string({ unit: 'grapheme', maxLength: 40 }),
        fc.option(fc.string({ unit: binaryUnit, maxLength: 40 })),
        (i, principal, reason) => {
          const r = sampleRecord(i, {
            principal: principal === '' ? null : principal,
            reason: reason?.replace(/\p{Cs}/gu, '') ?? null,
          });
          const leaf = encodeRecord(r);
          const back = decodeRecord(leaf);
          assert.deepEqual(encodeRecord(back), leaf);
          // The text the audit log keeps until a batch is built is the leaf, decoded.
          assert.equal(encodeRecordText(r), new TextDecoder('utf-8', { fatal: true }).decode(leaf));
        },
      ),
    );
  });

  it('decodeRecord refuses every non-canonical spelling of a valid record', () => {
    const text = dec(encodeRecord({ ...BASE, principal: 'zoë' }));
    const variants: Array<[string, string]> = [
      ['whitespace', text.replace('"v":1', '"v": 1')],
      ['pretty-printed', JSON.stringify(JSON.parse(text), null, 2)],
      ['key order', JSON.stringify({ v: 1, ...JSON.parse(text) })],
      ['escaped non-ASCII', text.replace('zoë', 'zo\\u00eb')],
      ['escaped ASCII', text.replace('"alice"', '"\\u0061lice"').replace('"n1"', '"\\u006e1"')],
      ['number 1.0', text.replace('"v":1', '"v":1.0')],
      ['number 1e0', text.replace('"v":1', '"v":1e0')],
      ['duplicate key', text.replace('{"approvalId":null', '{"approvalId":"x","approvalId":null')],
      ['trailing newline', `${text}\n`],
      ['BOM', `\ufeff${text}`],
    ];
    for (const [what, v] of variants) assert.throws(() => decodeRecord(enc(v)), notCanonical, what);
    assert.throws(() => decodeRecord(Uint8Array.of(0x7b, 0xff, 0x7d)), /not valid UTF-8/);
    assert.throws(() => decodeRecord(enc('{"v":1')), /not JSON/);
    assert.throws(() => decodeRecord(enc('{"v":1e400}')), notCanonical);
    // Canonical, but not a record: the field is named.
    assert.throws(
      () => decodeRecord(enc(text.replace('{"approvalId":null,', '{"aaa":1,"approvalId":null,'))),
      /field "aaa" is not part of record format 1/,
    );
    assert.throws(() => decodeRecord(new Uint8Array(MAX_LEAF_BYTES + 1)), /at most 65536 bytes/);
  });

  it('validation names the first offending field and says what was expected', () => {
    const cases: Array<[string, Partial<Record<keyof AuditRecord, unknown>> | ((r: Record<string, unknown>) => void)]> =
      [
        ['v', { v: 2 }],
        ['time', { time: '2026-01-01T00:00:00Z' }],
        ['time', { time: '2026-02-30T00:00:00.000Z' }],
        ['time', { time: 1767225600000 }],
        ['time', { time: '' }],
        ['node', { node: '' }],
        ['requestId', { requestId: 'x'.repeat(129) }],
        ['principal', { principal: 'é'.repeat(129) }], // 258 UTF-8 bytes
        ['operation', { operation: null }],
        ['key', { key: '' }],
        ['keyVersion', { keyVersion: -1 }],
        ['keyVersion', { keyVersion: '3' }],
        ['policies', { policies: {} }],
        ['policies.0.sha256', { policies: [{ sha256: 'A'.repeat(64), decision: 'allow', gas: 1 }] }],
        ['policies.0.decision', { policies: [{ sha256: 'a'.repeat(64), decision: 'maybe', gas: 1 }] }],
        ['policies.0.gas', { policies: [{ sha256: 'a'.repeat(64), decision: 'allow', gas: 1.5 }] }],
        ['policies.0.extra', { policies: [{ sha256: 'a'.repeat(64), decision: 'allow', gas: 1, extra: 1 }] }],
        // A hole is no policy result (it was skipped, and the leaf listed one policy fewer than the array).
        ['policies.0', { policies: new Array(1) }],
        ['policies.1.gas', { policies: [BASE.policies[0], { sha256: 'a'.repeat(64), decision: 'allow', gas: -0 }] }],
        ['decision', { decision: 'fault' }],
        ['reason', { reason: 'x'.repeat(1025) }],
        ['approvalId', { approvalId: '' }],
        ['inputDigest', { inputDigest: 'b'.repeat(63) }],
        ['status', { status: 99 }],
        ['code', { code: 'lowercase' }],
        ['sizes', { sizes: [1, 2] }],
        ['sizes.out', { sizes: { in: 1 } }],
        ['details', { details: 'x' }],
        ['details.nested', { details: { nested: { a: 1 } } }],
        ['details', { details: { 'bad key': 1 } }],
        ['extra', (r) => (r.extra = 1)],
        ['reason', (r) => delete r.reason],
      ];
    for (const [field, change] of cases) {
      const r: Record<string, unknown> = { ...BASE };
      if (typeof change === 'function') change(r);
      else Object.assign(r, change);
      assert.throws(() => encodeRecord(r as unknown as AuditRecord), invalidField(field), `field ${field}`);
    }
    // Messages say what was expected, and never echo a string's content.
    assert.throws(
      () => encodeRecord({ ...BASE, principal: 'secret-token-'.repeat(30) }),
      /field "principal" expected a non-empty string of at most 256 UTF-8 bytes or null, got 390 bytes/,
    );
    assert.throws(
      () => encodeRecord({ ...BASE, decision: 'maybe' as 'allow' }),
      /field "decision" expected one of "allow", "deny", "require_approval", "none", got "maybe"/,
    );
    assert.throws(() => validateRecord([]), /expected a plain JSON object, got array/);
    assert.throws(() => validateRecord(new (class X {})()), /plain JSON object/);
  });

  it('a field inherited from Object.prototype is missing, not taken', () => {
    const { details: _, ...own } = BASE;
    Object.defineProperty(Object.prototype, 'details', { value: null, enumerable: true, configurable: true });
    try {
      assert.throws(() => encodeRecord(own as AuditRecord), invalidField('details'));
    } finally {
      delete (Object.prototype as { details?: unknown }).details;
    }
  });

  it('a toJSON or getter on the input cannot change the leaf', () => {
    const tricky = { ...BASE, toJSON: () => ({ v: 2 }) } as unknown as AuditRecord;
    assert.throws(() => encodeRecord(tricky), /field "toJSON" is not part of record format 1/);
    const withProto = Object.assign(Object.create({ extra: 1 }), BASE) as AuditRecord;
    assert.throws(() => encodeRecord(withProto), /plain JSON object/);
  });
});

describe('hmacField', () => {
  const key = new Uint8Array(32).fill(9);

  it('is hmac-sha256:<epoch>:<base64url of HMAC-SHA-256(key, UTF-8 value)>', () => {
    const want = createHmac('sha256', key).update('tok_live_abc', 'utf8').digest('base64url');
    const got = hmacField(key, 7, 'tok_live_abc');
    assert.equal(got, `hmac-sha256:7:${want}`);
    assert.match(got, HMAC_FIELD_RE);
    assert.equal(hmacField(key, 7, 'tok_live_abc'), got);
    // The epoch only labels the string: each epoch's key is derived by the caller (HKDF per epoch).
    assert.equal(hmacField(key, 8, 'tok_live_abc'), got.replace(':7:', ':8:'));
    assert.notEqual(hmacField(new Uint8Array(32).fill(10), 7, 'tok_live_abc'), got);
    // The result fits the principal field of a record.
    encodeRecord({ ...BASE, principal: got });
  });

  it('refuses a key that is not 32 bytes, a bad epoch or a non-string', () => {
    assert.throws(() => hmacField(new Uint8Array(16), 1, 'x'), /expected Uint8Array of length 32/);
    assert.throws(() => hmacField(key, -1, 'x'), RangeError);
    assert.throws(() => hmacField(key, 1.5, 'x'), RangeError);
    assert.throws(() => hmacField(key, 1, 5 as unknown as string), TypeError);
    assert.throws(() => hmacField(key, 1, '\udc00'), RangeError);
  });

  it('sha256Hex is lowercase hex SHA-256', () => {
    assert.equal(sha256Hex(enc('abc')), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
});

describe('fast canonical serializer', () => {
  it('gives exactly the bytes of the reference RFC 8785 implementation for any valid record', async () => {
    const { default: fc } = await import('fast-check');
    const { default: canonicalize } = await import('canonicalize');
    const { encodeRecord, decodeRecord } = await import('../../../../engine/audit/math/record.js');
    // Any Unicode, and ASCII alone (quotes, backslashes, control characters and DEL among printable
    // ones), which the serializer writes without JSON.stringify when nothing in it needs escaping.
    const text = fc
      .oneof(fc.string({ unit: binaryUnit, maxLength: 40 }), fc.string({ unit: 'binary-ascii', maxLength: 40 }))
      .filter((s) => s.length > 0 && (s as unknown as { isWellFormed(): boolean }).isWellFormed());
    const hex64 = fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 64, maxLength: 64 });
    const record = fc.record({
      v: fc.constant(1 as const),
      time: fc
        .date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2099-12-31T23:59:59Z'), noInvalidDate: true })
        .map((d) => d.toISOString()),
      node: text,
      requestId: text,
      principal: fc.option(text, { nil: null }),
      operation: text,
      key: fc.option(text, { nil: null }),
      keyVersion: fc.option(fc.integer({ min: 0, max: 1000 }), { nil: null }),
      policies: fc.array(
        fc.record({
          sha256: hex64,
          decision: fc.constantFrom('allow' as const, 'deny' as const, 'require_approval' as const, 'fault' as const),
          gas: fc.integer({ min: 0, max: 2 ** 40 }),
        }),
        { maxLength: 3 },
      ),
      decision: fc.constantFrom('allow' as const, 'deny' as const, 'require_approval' as const, 'none' as const),
      reason: fc.option(
        fc
          .oneof(fc.string({ unit: binaryUnit, maxLength: 40 }), fc.string({ unit: 'binary-ascii', maxLength: 40 }))
          .filter((s) => (s as unknown as { isWellFormed(): boolean }).isWellFormed()),
        { nil: null },
      ),
      approvalId: fc.option(text, { nil: null }),
      inputDigest: fc.option(hex64, { nil: null }),
      status: fc.integer({ min: 100, max: 599 }),
      code: fc.option(fc.constantFrom('POLICY_DENIED', 'KEY_NOT_FOUND', 'A1_B'), { nil: null }),
      sizes: fc.record({ in: fc.nat(), out: fc.nat() }),
      details: fc.option(
        fc.dictionary(
          fc.stringMatching(/^[A-Za-z][A-Za-z0-9_.-]{0,8}$/),
          fc.oneof(text, fc.integer(), fc.boolean(), fc.constant(null)),
          { maxKeys: 6 },
        ),
        { nil: null },
      ),
    });
    fc.assert(
      fc.property(record, (r) => {
        const leaf = encodeRecord(r);
        assert.equal(new TextDecoder().decode(leaf), canonicalize(r));
        assert.equal(canonicalize(decodeRecord(leaf)), canonicalize(r));
      }),
      { numRuns: 500 },
    );
  });
});
