/**
 * canonicalBody: the RFC 8785 form of a parked request's body, which the approval's digest covers.
 * A client-chosen body nested deeply must canonicalize (canonicalize 4.0.0 threw RangeError there,
 * an unhandled error); the bytes of ordinary bodies are those canonicalize 4.0.0 gave
 * (test/fixtures/audit/canonical-json.json).
 * @module
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { canonicalBody } from '../../../engine/approvals/index.js';

const fixture = JSON.parse(
  readFileSync(new URL('../../fixtures/audit/canonical-json.json', import.meta.url), 'utf8'),
) as { json: Array<{ input: string; canonical: string }> };

describe('canonicalBody', () => {
  it('no body is {}; bodies get the bytes canonicalize 4.0.0 gave', () => {
    assert.equal(canonicalBody(undefined), '{}');
    for (const { input, canonical } of fixture.json) assert.equal(canonicalBody(JSON.parse(input)), canonical);
  });

  it('a body nested 20,000 deep canonicalizes (no RangeError)', () => {
    const n = 20_000;
    const text = '{"batch_input":' + '[{"x":'.repeat(n) + '1' + '}]'.repeat(n) + '}';
    assert.equal(canonicalBody(JSON.parse(text)), text);
  });

  it('a value with no JSON form is VALIDATION_FAILED, and a lone surrogate is refused', () => {
    assert.throws(
      () => canonicalBody(() => 1),
      (e: unknown) => (e as { code?: string }).code === 'VALIDATION_FAILED',
    );
    assert.throws(() => canonicalBody({ s: '\ud800' }), /Lone surrogate/);
  });
});
