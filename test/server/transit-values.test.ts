/**
 * server/transit/values.ts decodeB64 against its definition (Go's base64.StdEncoding after removing
 * CR and LF, as Vault reads a base64 field): the grammar as a regular expression, then the bytes
 * Node's decoder gives for a text it accepts. The decoder checks the form by decoding first, so a
 * random walk over base64's characters, padding, line breaks and strangers compares the two.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { KeywardError } from '../../lib/errors.js';
import { decodeB64 } from '../../server/transit/values.js';

const GRAMMAR = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function reference(text: string): Buffer | undefined {
  const clean = text.replace(/[\r\n]/g, '');
  return GRAMMAR.test(clean) ? Buffer.from(clean, 'base64') : undefined;
}

function actual(text: string): Buffer | undefined {
  try {
    return Buffer.from(decodeB64(text, 'plaintext'));
  } catch (err) {
    assert.ok(err instanceof KeywardError && err.code === 'VALIDATION_FAILED', String(err));
    assert.match(err.message, /^plaintext: expected standard base64/);
    return undefined;
  }
}

describe('transit decodeB64', () => {
  it('accepts and decodes exactly what Go StdEncoding (after CR/LF removal) does', () => {
    const chars = 'AQgw+/=z9-_ \r\n\u00e9.';
    let accepted = 0;
    for (let t = 0; t < 20_000; t++) {
      const len = t % 13;
      let s = '';
      for (let i = 0; i < len; i++) s += chars[(Math.random() * chars.length) | 0];
      const want = reference(s);
      const got = actual(s);
      assert.deepEqual(got, want, JSON.stringify(s));
      if (want) accepted++;
    }
    assert.ok(accepted > 100, `accepted ${accepted}`);
  });

  it('takes non-zero trailing bits (Vault docs: "adba32==") and line-wrapped text', () => {
    assert.deepEqual(actual('adba32=='), Buffer.from('adba32==', 'base64'));
    const bytes = randomBytes(300);
    const wrapped = bytes.toString('base64').replace(/.{76}/g, '$&\r\n');
    assert.deepEqual(actual(wrapped), bytes);
    assert.equal(actual('YQ'), undefined);
    assert.deepEqual(actual('YQ=\n='), Buffer.from('a'));
  });
});
