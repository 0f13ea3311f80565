/**
 * leafHashesOfJoined (engine/audit/verifier/sha256-fast.ts), which the audit log's batch build and
 * the integrator hash every leaf with: the same RFC 9162 leaf hashes as @noble's (merkle.ts's
 * `leafHash`, an implementation of its own) for each leaf of a joined batch, with multi-byte UTF-8,
 * empty leaves, and a batch of one; and the leaf count a caller checks against the batch's n.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { leafHash } from '../../../../engine/audit/math/merkle.js';
import { leafHashesOfJoined } from '../../../../engine/audit/verifier/sha256-fast.js';

const noble = (leaves: string[]) => Buffer.concat(leaves.map((l) => leafHash(new TextEncoder().encode(l))));

describe('leafHashesOfJoined', () => {
  it("gives @noble's leaf hash of every leaf, in order", () => {
    const cases: string[][] = [
      ['{"a":1}'],
      [''],
      ['', ''],
      ['a', '', 'b'],
      ['ü€𝄞', 'x'.repeat(5000), '{"reason":"ça va"}', '\u0000', '𝄞'],
      Array.from({ length: 300 }, (_, i) => `leaf ${i} ${'é'.repeat(i % 13)}`),
    ];
    for (const leaves of cases) {
      const { hashes, count } = leafHashesOfJoined(leaves.join('\n'));
      assert.equal(count, leaves.length);
      assert.deepEqual(hashes, noble(leaves), JSON.stringify(leaves).slice(0, 80));
    }
  });

  it('counts the leaves a text holds, so a caller can check them against its n', () => {
    assert.equal(leafHashesOfJoined('a\nb\nc').count, 3);
    assert.equal(leafHashesOfJoined('a\n').count, 2);
    assert.equal(leafHashesOfJoined('').count, 1);
  });
});
