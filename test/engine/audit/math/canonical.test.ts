/**
 * RFC 8785 canonical JSON across the move from canonicalize 4.0.0 to 5.x: the same bytes for the
 * outputs 4.0.0 and the audit encoder wrote before the move (test/fixtures/audit/canonical-json.json,
 * which also holds the RFC's own §3.2.2/§3.2.3 examples), and no stack overflow on deep nesting
 * (4.0.0 recursed and threw RangeError at ~10,000 levels; 5.x keeps an explicit stack).
 * @module
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import canonicalize from 'canonicalize';
import { isKeywardError } from '../../../../lib/errors.js';
import { decodeRecord, encodeRecord } from '../../../../engine/audit/math/record.js';
import type { AuditRecord } from '../../../../engine/audit/math/record.js';
import { enc } from '../helpers.js';

interface Fixture {
  json: Array<{ input: string; canonical: string }>;
  records: Array<{ record: AuditRecord; leaf: string; canonical: string }>;
}
const fixture = JSON.parse(
  readFileSync(new URL('../../../fixtures/audit/canonical-json.json', import.meta.url), 'utf8'),
) as Fixture;
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const DEPTH = 20_000;

describe('canonical JSON (canonicalize 5.x)', () => {
  it('gives the RFC 8785 §3.2.2 and §3.2.3 outputs', () => {
    // Expected strings copied from RFC 8785 itself, not from any implementation.
    assert.equal(
      canonicalize(JSON.parse(fixture.json[0]!.input)),
      '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
    );
    assert.equal(
      canonicalize(JSON.parse(fixture.json[1]!.input)),
      '{"\\r":"Carriage Return","1":"One","\u0080":"Control","ö":"Latin Small Letter O With Diaeresis","€":"Euro Sign",' +
        '"😀":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
    );
  });

  it('gives byte for byte what canonicalize 4.0.0 gave for every recorded input', () => {
    assert.equal(fixture.json.length, 7);
    for (const { input, canonical } of fixture.json) assert.equal(canonicalize(JSON.parse(input)), canonical, input);
  });

  it('audit records written before the move encode to the same leaves, which decode and match the reference', () => {
    assert.equal(fixture.records.length, 11);
    for (const { record, leaf, canonical } of fixture.records) {
      assert.equal(dec(encodeRecord(record)), leaf);
      assert.equal(canonicalize(record), canonical);
      assert.equal(leaf, canonical);
      assert.deepEqual(decodeRecord(enc(leaf)), record);
    }
  });

  it(`serializes JSON nested ${DEPTH} deep (arrays and objects) without RangeError`, () => {
    const arrays = '['.repeat(DEPTH) + ']'.repeat(DEPTH);
    assert.equal(canonicalize(JSON.parse(arrays)), arrays);
    const objects = '{"a":'.repeat(DEPTH) + '{"b":1,"c":[]}' + '}'.repeat(DEPTH);
    assert.equal(canonicalize(JSON.parse(objects.replace('{"b":1,"c":[]}', '{"c":[],"b":1}'))), objects);
  });

  it(`decodeRecord: a canonical leaf nested ${DEPTH} deep is an invalid record, not a crash or "not canonical"`, () => {
    // 4.0.0 overflowed the stack here, which read as AUDIT_LEAF_NOT_CANONICAL ("no canonical form").
    const deep = `{"v":${'['.repeat(DEPTH)}${']'.repeat(DEPTH)}}`;
    assert.throws(
      () => decodeRecord(enc(deep)),
      (e: unknown) => isKeywardError(e, 'AUDIT_RECORD_INVALID'),
    );
    // The same value written non-canonically is still caught as such.
    const spaced = `{"v": ${'['.repeat(DEPTH)}${']'.repeat(DEPTH)}}`;
    assert.throws(
      () => decodeRecord(enc(spaced)),
      (e: unknown) => isKeywardError(e, 'AUDIT_LEAF_NOT_CANONICAL'),
    );
  });
});
