/**
 * server/transit/values.ts decodeB64 against its definition: what Vault's transit engine accepts for
 * a base64 field, `base64.StdEncoding.DecodeString(item.Plaintext)` (builtin/logical/transit/
 * path_encrypt.go), that is Go's encoding/base64 with the standard alphabet, padding required and
 * not strict (non-zero trailing bits are taken), '\r' and '\n' skipped anywhere. The reference
 * below is written from Go's decoder (decode.go `decodeQuantum`), state for state, and makes the
 * bytes itself, six bits at a time: it shares nothing with the production code (its regex or Node's
 * decoder), so a random walk over base64's characters, padding, line breaks and strangers compares
 * two independent implementations.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { KeywardError } from '../../lib/errors.js';
import { decodeB64 } from '../../server/transit/values.js';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** Go's base64.StdEncoding.DecodeString: the bytes, or undefined for a CorruptInputError. */
function goStdDecode(text: string): Buffer | undefined {
  const src = Buffer.from(text, 'utf8'); // Go strings are bytes
  const out: number[] = [];
  const isNewline = (c: number) => c === 0x0a || c === 0x0d;
  let si = 0;
  while (si < src.length) {
    // decodeQuantum
    const dbuf = [0, 0, 0, 0];
    let dlen = 4;
    let done = false;
    for (let j = 0; j < 4; j++) {
      if (si === src.length) {
        if (j === 0) return Buffer.from(out); // clean end between quanta
        return undefined; // j ≥ 1 with padding required: CorruptInputError
      }
      const c = src[si++]!;
      const v = ALPHABET.indexOf(String.fromCharCode(c));
      if (c < 0x80 && v >= 0) {
        dbuf[j] = v;
        continue;
      }
      if (isNewline(c)) {
        j--;
        continue;
      }
      if (c !== 0x3d) return undefined; // not '=': an illegal byte
      if (j === 0 || j === 1) return undefined; // incorrect padding
      if (j === 2) {
        // "==" expected; the first is consumed. Newlines may come between.
        while (si < src.length && isNewline(src[si]!)) si++;
        if (si === src.length) return undefined; // not enough padding
        if (src[si] !== 0x3d) return undefined; // incorrect padding
        si++;
      }
      while (si < src.length && isNewline(src[si]!)) si++;
      if (si < src.length) return undefined; // trailing garbage after the padding
      dlen = j;
      done = true;
      break;
    }
    const val = (dbuf[0]! << 18) | (dbuf[1]! << 12) | (dbuf[2]! << 6) | dbuf[3]!;
    const bytes = [(val >> 16) & 0xff, (val >> 8) & 0xff, val & 0xff];
    out.push(...bytes.slice(0, dlen - 1)); // not strict: the trailing bits are dropped unchecked
    if (done) break;
  }
  return Buffer.from(out);
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
  it('accepts and decodes exactly what Go StdEncoding (Vault transit) does', () => {
    const chars = 'AQgw+/=z9-_ \r\n\u00e9.';
    let accepted = 0;
    for (let t = 0; t < 20_000; t++) {
      const len = t % 13;
      let s = '';
      for (let i = 0; i < len; i++) s += chars[(Math.random() * chars.length) | 0];
      const want = goStdDecode(s);
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

  it("the reference is Go's decoder: its own edge cases", () => {
    // From Go's encoding/base64 tests and decode.go's branches.
    assert.deepEqual(goStdDecode(''), Buffer.alloc(0));
    assert.deepEqual(goStdDecode('Zm9vYmFy'), Buffer.from('foobar'));
    assert.deepEqual(goStdDecode('Zm9vYg=='), Buffer.from('foob'));
    assert.deepEqual(goStdDecode('Zm9vYmE='), Buffer.from('fooba'));
    assert.deepEqual(goStdDecode('Zm9v\r\nYmE\n='), Buffer.from('fooba'));
    assert.deepEqual(goStdDecode('adba32=='), Buffer.from([0x69, 0xd6, 0xda, 0xdf]));
    for (const bad of ['Zm9vYg', 'Zm9vYg=', 'Zm9vYg==Zm9v', '=', 'Z===', 'Zm9v=', 'Zm9vYmE=\nA', 'Zm9v Ym', 'Zm9vYm-_'])
      assert.equal(goStdDecode(bad), undefined, JSON.stringify(bad));
    // Against Node's encoder for every length of random bytes: canonical text decodes to its bytes.
    for (let n = 0; n < 40; n++) {
      const b = randomBytes(n);
      assert.deepEqual(goStdDecode(b.toString('base64')), b);
    }
  });
});
