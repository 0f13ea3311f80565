/**
 * engine/audit/log/digest.ts, the SHA-256 of the audit log's batch build and integrator round
 * (digests as text, written into buffers the caller holds): the same values as
 * engine/audit/verifier/sha256-fast.ts (nodeHashFast) and @noble's merkle.ts, for every leaf of
 * joined batches with multi-byte UTF-8, empty leaves and one larger than the reused scratch buffer,
 * with the leaf count a caller checks against the batch's n; nodes kept from one tree extension stay
 * intact across slabs.
 */
// keyward-test: own-process (the scratch buffer's sizes are met in order from its first, 16 KiB)
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { leafHashesInto, nodeHasher, sha256Into, sha256Is } from '../../../../engine/audit/log/digest.js';
import { leafHash, nodeHash } from '../../../../engine/audit/math/merkle.js';
import { nodeHashFast } from '../../../../engine/audit/verifier/sha256-fast.js';

const noble = (leaves: string[]) => Buffer.concat(leaves.map((l) => leafHash(new TextEncoder().encode(l))));

describe('audit log digests', () => {
  it('gives the leaf hash of every leaf, in order, where it was asked to write them', () => {
    const cases: string[][] = [
      ['{"a":1}'],
      [''],
      ['', ''],
      ['a', '', 'b'],
      ['ü€𝄞', 'x'.repeat(5000), '{"reason":"ça va"}', '\u0000', '𝄞'],
      Array.from({ length: 300 }, (_, i) => `leaf ${i} ${'é'.repeat(i % 13)}`),
      ['y'.repeat(2 * 1024 * 1024), 'z'], // past the scratch buffer's cap
      ['after the large one'],
    ];
    for (const leaves of cases) {
      const text = leaves.join('\n');
      const { hashes, count, bytes } = leafHashesInto(text);
      assert.equal(count, leaves.length);
      assert.equal(bytes, Buffer.byteLength(text));
      assert.deepEqual(hashes, noble(leaves), JSON.stringify(leaves).slice(0, 80));
      const out = Buffer.alloc(32 * (leaves.length + 2), 0xee);
      leafHashesInto(text, out, 32);
      assert.deepEqual(out.subarray(32, 32 * (leaves.length + 1)), hashes);
      assert.ok(out.subarray(0, 32).every((x) => x === 0xee) && out.subarray(-32).every((x) => x === 0xee));
    }
  });

  it("hashes a text that ends with a 4-byte character 3 bytes short of the scratch buffer's end, at every size it grows to", () => {
    // leafHashesInto writes straight into its scratch buffer and trusts the write when 4 bytes are
    // left over: here 3 are, because the last character did not fit, so it must count and write again.
    // The buffer starts at 16 KiB and doubles on such a text, so the sizes are met in order (this
    // file runs in a process of its own, where no other test has grown it first).
    for (let size = 16 * 1024; size <= 1024 * 1024; size *= 2) {
      const leaves = ['a', 'x'.repeat(size - 6) + '\u{1F600}'];
      const text = leaves.join('\n');
      assert.equal(Buffer.byteLength(text), size);
      const { hashes, count, bytes } = leafHashesInto(text);
      assert.deepEqual([count, bytes], [2, size]);
      assert.deepEqual(hashes, noble(leaves), `scratch ${size}`);
    }
  });

  it('counts the leaves a text holds, so a caller can check them against its n', () => {
    assert.equal(leafHashesInto('a\nb\nc').count, 3);
    assert.equal(leafHashesInto('a\n').count, 2);
    assert.equal(leafHashesInto('').count, 1);
  });

  it('refuses to write more leaf hashes than the buffer holds', () => {
    assert.throws(() => leafHashesInto('a\nb\nc', Buffer.alloc(64)), RangeError);
  });

  it('hashes into a buffer and checks a digest', () => {
    const data = Buffer.from('chain ‖ leaf hash');
    const out = Buffer.alloc(40);
    sha256Into(data, out, 8);
    const want = createHash('sha256').update(data).digest();
    assert.deepEqual(out.subarray(8), want);
    assert.equal(sha256Is(data, want), true);
    want.writeUInt8(want.readUInt8(31) ^ 1, 31);
    assert.equal(sha256Is(data, want), false);
  });

  it("gives RFC 9162's node hash, and nodes kept across slabs are not overwritten", () => {
    const hashNode = nodeHasher();
    const kept: [Uint8Array, Uint8Array, Uint8Array][] = [];
    for (let i = 0; i < 600; i++) {
      const l = createHash('sha256').update(`l${i}`).digest();
      const r = createHash('sha256').update(`r${i}`).digest();
      kept.push([l, r, hashNode(l, r)]);
    }
    for (const [l, r, h] of kept) {
      assert.deepEqual(Buffer.from(h), nodeHashFast(l, r));
      assert.deepEqual(new Uint8Array(h), nodeHash(l, r));
    }
    assert.throws(() => hashNode(new Uint8Array(31), new Uint8Array(32)), TypeError);
  });
});
