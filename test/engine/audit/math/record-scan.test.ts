/**
 * The leaf scanner (isCanonicalRecordLeaf, engine/audit/math/record.ts), the verifiers' fast accept
 * path, against the reference (decodeRecord): the same answer on every leaf, valid records of every
 * field variant and mutations of them (test/engine/audit/leaf-cases.ts). test/fuzz/leaf.fuzz.ts runs
 * the same property longer.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import canonicalize from 'canonicalize';
import { MAX_LEAF_BYTES, encodeRecord, isCanonicalRecordLeaf } from '../../../../engine/audit/math/record.js';
import { enc, sampleRecord } from '../helpers.js';
import {
  INSERTS,
  leafOf,
  records,
  referenceAccepts,
  respellings,
  scannerAccepts,
  scannerAgrees,
  splice,
} from '../leaf-cases.js';

describe('isCanonicalRecordLeaf', () => {
  it('accepts every leaf the encoder writes, and only those the reference accepts', () => {
    let valid = 0;
    fc.assert(
      fc.property(records, fc.uint8Array({ maxLength: 8 }), (r, junk) => {
        const leaf = leafOf(r);
        const ref = referenceAccepts(leaf);
        if (ref) valid++;
        assert.equal(scannerAccepts(leaf, junk), ref, new TextDecoder().decode(leaf));
      }),
      { numRuns: 200, seed: 14 },
    );
    assert.ok(valid > 100, `only ${valid} of 200 generated records were valid`);
  });

  it('gives the reference answer on every respelling, and on insertions, deletions and flips all over one leaf', () => {
    const none = new Uint8Array(0);
    const same = (leaf: Uint8Array, what: string) =>
      assert.equal(scannerAccepts(leaf, none), referenceAccepts(leaf), what);
    const bases = [
      sampleRecord(1),
      sampleRecord(5, { keyVersion: null, code: 'E_1', details: { A: -9007199254740991, a: '', a_b: true, b: null } }),
      sampleRecord(8, { reason: 'tab\t "q" \\ \u0001 \u007f \u2028 é 😀', approvalId: 'ap', key: null }),
      sampleRecord(9, { policies: [], details: {} }),
    ];
    for (const r of bases) {
      const leaf = encodeRecord(r);
      for (const [k, v] of respellings(leaf).entries()) same(v, `respelling ${k} of ${leaf.length}-byte leaf`);
    }
    const leaf = encodeRecord(bases[2]!);
    for (let i = 0; i <= leaf.length; i++) {
      // Each insertion at every third byte (a third of the cost; the positions differ per insertion).
      INSERTS.forEach((ins, k) => (i + k) % 3 === 0 && same(splice(leaf, i, 0, ins), `insert ${k} at ${i}`));
      same(splice(leaf, i, 1, none), `delete at ${i}`);
      if (i < leaf.length)
        for (const x of [0x01, 0x20, 0x80]) same(splice(leaf, i, 1, Uint8Array.of(leaf[i]! ^ x)), `flip at ${i}`);
    }
  });

  it('gives the reference answer on mutated leaves', () => {
    const accepted = scannerAgrees(400, 1405);
    assert.ok(accepted > 60 && accepted < 340, `${accepted} of 400 accepted: the mix is off`);
  });

  it('refuses what it cannot see whole: a leaf cut short, trailing bytes, an oversized leaf', () => {
    const leaf = encodeRecord(sampleRecord(7, { details: { a: 1, b: 'x' } }));
    assert.equal(isCanonicalRecordLeaf(leaf), true);
    for (let n = 0; n < leaf.length; n++) assert.equal(isCanonicalRecordLeaf(leaf, 0, n), false, `first ${n} bytes`);
    assert.equal(isCanonicalRecordLeaf(Uint8Array.from([...leaf, 0x20])), false);
    // Over MAX_LEAF_BYTES: 32 details of 1,024 control characters, each written as 6 bytes.
    const value = JSON.parse(new TextDecoder().decode(leaf)) as Record<string, unknown>;
    value.details = Object.fromEntries(Array.from({ length: 32 }, (_, i) => [`k${i + 10}`, '\u0001'.repeat(1024)]));
    const huge = enc(canonicalize(value)!);
    assert.ok(huge.length > MAX_LEAF_BYTES);
    assert.equal(referenceAccepts(huge), false);
    assert.equal(isCanonicalRecordLeaf(huge), false);
  });
});
