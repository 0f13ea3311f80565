import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
// The oracle: sigstore-js's own RFC 6962 inclusion verifier (CommonJS, not exported by the package
// index, so its dist file is imported directly; tests only).
import { verifyMerkleInclusion } from '@sigstore/verify/dist/tlog/merkle.js';
import { isKeywardError } from '../../../../lib/errors.js';
import {
  EMPTY_ROOT,
  HASH_LEN,
  appendLeaves,
  consistencyProof,
  consistencyProofNodes,
  frontierFromBytes,
  frontierNodes,
  frontierToBytes,
  inclusionProof,
  inclusionProofNodes,
  inclusionProofRanges,
  leafHash,
  nodeHash,
  rangeNodes,
  rangeProof,
  rootFromFrontier,
  rootFromRange,
  rootOf,
  verifyConsistency,
  verifyInclusion,
  verifyRange,
} from '../../../../engine/audit/math/merkle.js';
import type { GetNode } from '../../../../engine/audit/math/merkle.js';
import { MemoryLog, b64, bytesLog, enc, hex, mth, transparencyDevCases } from '../helpers.js';

const proofInvalid = (err: unknown): boolean => isKeywardError(err, 'AUDIT_PROOF_INVALID');

/**
 * That `fn` throws AUDIT_PROOF_INVALID, as assert.throws(fn, proofInvalid) does, with the error made
 * without a stack trace: the bit-flip property below makes about 200,000 of them, and capturing
 * their stacks took about 1 s of this file's CPU.
 */
function assertProofInvalid(fn: () => unknown): void {
  const limit = Error.stackTraceLimit;
  let threw = false;
  let err: unknown;
  Error.stackTraceLimit = 0;
  try {
    fn();
  } catch (e) {
    threw = true;
    err = e;
  } finally {
    Error.stackTraceLimit = limit;
  }
  assert.ok(threw, 'expected AUDIT_PROOF_INVALID, nothing was thrown');
  // Something else: again with stack traces, so the report says where it came from.
  if (!proofInvalid(err)) fn();
  assert.ok(proofInvalid(err), `expected AUDIT_PROOF_INVALID, got ${String(err)}`);
}

function flipBit(b: Uint8Array, bit: number): Uint8Array {
  const out = b.slice();
  out[bit >> 3]! ^= 1 << (bit & 7);
  return out;
}

describe('RFC 9162 hashing', () => {
  it('leaf, node and empty hashes match RFC 6962 / transparency-dev known values', () => {
    // transparency-dev rfc6962_test.go: the empty root, and the leaf hash of the empty leaf.
    assert.equal(hex(EMPTY_ROOT), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    assert.equal(hex(leafHash(new Uint8Array(0))), '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d');
    // tlog.RecordHash("testonly"), the root of torchwood's size-1 ML-DSA checkpoint.
    assert.equal(
      Buffer.from(leafHash(enc('testonly'))).toString('base64'),
      '+zoErtsZtGO6sfiSV/v4UJSIyowisE8hvjw0q5+bD38=',
    );
    assert.throws(() => nodeHash(new Uint8Array(31), new Uint8Array(32)), RangeError);
    assert.throws(() => leafHash('x' as unknown as Uint8Array), TypeError);
  });

  it('rootOf = recursive MTH, and appendLeaves in any batches gives the same root, frontier and nodes', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 200 }),
        fc.array(fc.integer({ min: 1, max: 40 }), { maxLength: 20 }),
        (n, cuts) => {
          const hashes = Array.from({ length: n }, (_, i) => leafHash(enc(`l${i}`)));
          const whole = appendLeaves([], 0, hashes);
          assert.equal(hex(rootOf(hashes)), hex(mth(hashes)));
          assert.equal(hex(whole.root), hex(mth(hashes)));
          let f: Uint8Array[] = [];
          let size = 0;
          const nodes: string[] = [];
          let i = 0;
          for (const c of [...cuts, n]) {
            const r = appendLeaves(f, size, hashes.slice(i, i + c));
            nodes.push(...r.newNodes.map((x) => `${x.level}:${x.index}:${hex(x.hash)}`));
            f = r.frontier;
            size = r.size;
            i += c;
            if (i >= n) break;
          }
          assert.equal(size, n);
          assert.deepEqual(f.map(hex), whole.frontier.map(hex));
          assert.deepEqual(
            nodes,
            whole.newNodes.map((x) => `${x.level}:${x.index}:${hex(x.hash)}`),
          );
          assert.equal(hex(rootFromFrontier(f, size)), hex(whole.root));
          // Every stored node is the hash of exactly the leaves it covers.
          for (const x of whole.newNodes) {
            assert.equal(hex(x.hash), hex(mth(hashes.slice(x.index * 2 ** x.level, (x.index + 1) * 2 ** x.level))));
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('frontier: one node per set bit, largest first; bytes round-trip; wrong shapes are refused', () => {
    assert.deepEqual(frontierNodes(13), [
      { level: 3, index: 0 },
      { level: 2, index: 2 },
      { level: 0, index: 12 },
    ]);
    assert.deepEqual(rangeNodes(3, 13), [
      { level: 0, index: 3 },
      { level: 2, index: 1 },
      { level: 2, index: 2 },
      { level: 0, index: 12 },
    ]);
    const log = bytesLog(13);
    const bytes = frontierToBytes(log.frontier);
    assert.equal(bytes.length, 3 * HASH_LEN);
    assert.deepEqual(frontierFromBytes(bytes, 13).map(hex), log.frontier.map(hex));
    assert.throws(() => frontierFromBytes(bytes, 12), /expected 64 bytes/);
    assert.throws(() => appendLeaves(log.frontier, 12, []), /expected 2 hashes for a tree of size 12/);
    assert.throws(() => appendLeaves([], 0, [new Uint8Array(31)]), /leafHashes\[0\]" expected Uint8Array of length 32/);
    assert.throws(() => rangeNodes(5, 4), RangeError);
  });
});

describe('transparency-dev proof vectors', () => {
  it('inclusion: every case (happy paths and every kind of wrong proof) gives the expected verdict', (t) => {
    let ok = 0;
    let rejected = 0;
    for (const { file, json: v } of transparencyDevCases('inclusion')) {
      const proof = Array.isArray(v.proof) ? v.proof.map(b64) : [];
      let err: unknown;
      try {
        verifyInclusion(b64(v.leafHash), v.leafIdx as number, v.treeSize as number, proof, b64(v.root));
      } catch (e) {
        err = e;
      }
      if (v.wantErr) {
        assert.ok(proofInvalid(err), `${file} (${String(v.desc)}): expected AUDIT_PROOF_INVALID, got ${String(err)}`);
        rejected++;
      } else {
        assert.equal(err, undefined, `${file} (${String(v.desc)}): ${String(err)}`);
        ok++;
      }
    }
    t.diagnostic(`transparency-dev inclusion: ${ok} accepted, ${rejected} rejected, ${ok + rejected} total`);
    assert.equal(ok + rejected, 98);
  });

  it('consistency: every case gives the expected verdict', (t) => {
    let ok = 0;
    let rejected = 0;
    for (const { file, json: v } of transparencyDevCases('consistency')) {
      const proof = Array.isArray(v.proof) ? v.proof.map(b64) : [];
      let err: unknown;
      try {
        verifyConsistency(v.size1 as number, v.size2 as number, proof, b64(v.root1), b64(v.root2));
      } catch (e) {
        err = e;
      }
      if (v.wantErr) {
        assert.ok(proofInvalid(err), `${file} (${String(v.desc)}): expected AUDIT_PROOF_INVALID, got ${String(err)}`);
        rejected++;
      } else {
        assert.equal(err, undefined, `${file} (${String(v.desc)}): ${String(err)}`);
        ok++;
      }
    }
    t.diagnostic(`transparency-dev consistency: ${ok} accepted, ${rejected} rejected, ${ok + rejected} total`);
    assert.equal(ok + rejected, 98);
  });

  it("our proofs over the vectors' reference tree are the published happy-path proofs", async (t) => {
    // transparency-dev's reference leaves: "", 0x00, 0x10, 0x2021, 0x3031, 0x40414243, …; a tree of
    // size n holds the first n.
    const leaves = [
      '',
      '00',
      '10',
      '2021',
      '3031',
      '40414243',
      '5051525354555657',
      '606162636465666768696a6b6c6d6e6f',
    ].map((h) => new Uint8Array(Buffer.from(h, 'hex')));
    const logOf = (n: number) => new MemoryLog().append(leaves.slice(0, n));
    let reproduced = 0;
    for (const { file, json: v } of transparencyDevCases('inclusion')) {
      if (v.wantErr || !file.endsWith('happy-path.json')) continue;
      const log = logOf(v.treeSize as number);
      assert.equal(hex(log.root), hex(b64(v.root)), file);
      const ours = await inclusionProof(v.leafIdx as number, log.size, log.getNode);
      assert.deepEqual(
        ours.map(hex),
        ((v.proof as string[] | null) ?? []).map((p) => hex(b64(p))),
        file,
      );
      reproduced++;
    }
    for (const { file, json: v } of transparencyDevCases('consistency')) {
      if (v.wantErr || !file.endsWith('happy-path.json')) continue;
      const log = logOf(v.size2 as number);
      assert.equal(hex(log.root), hex(b64(v.root2)), file);
      const ours = await consistencyProof(v.size1 as number, log.size, log.getNode);
      assert.deepEqual(
        ours.map(hex),
        ((v.proof as string[] | null) ?? []).map((p) => hex(b64(p))),
        file,
      );
      reproduced++;
    }
    t.diagnostic(`${reproduced} published happy-path proofs reproduced byte for byte from perfect-node storage`);
    assert.equal(reproduced, 10);
  });
});

describe('proofs from perfect-node storage', () => {
  it('inclusion proofs verify for every leaf of every size up to 70, and agree with @sigstore/verify', async (t) => {
    let checked = 0;
    for (let n = 1; n <= 70; n++) {
      const log = bytesLog(n);
      for (let i = 0; i < n; i++) {
        const proof = await inclusionProof(i, n, i % 2 ? log.getNodeAsync : log.getNode);
        verifyInclusion(leafHash(log.leaves[i]!), i, n, proof, log.root);
        // sigstore hashes the leaf itself (canonicalizedBody) and takes bigint sizes.
        verifyMerkleInclusion(
          {
            inclusionProof: { logIndex: String(i), hashes: proof.map((p) => Buffer.from(p)) },
            canonicalizedBody: Buffer.from(log.leaves[i]!),
          } as never,
          { logSize: BigInt(n), logHash: Buffer.from(log.root) } as never,
        );
        checked++;
      }
    }
    t.diagnostic(`${checked} inclusion proofs verified by both verifiers`);
  });

  it('inclusionProofRanges names the leaf range each proof element is the MTH of', async () => {
    for (let n = 1; n <= 40; n++) {
      const log = bytesLog(n);
      const hashes = log.leaves.map((l) => leafHash(l));
      for (let i = 0; i < n; i++) {
        const proof = await inclusionProof(i, n, log.getNode);
        const ranges = inclusionProofRanges(i, n);
        assert.equal(ranges.length, proof.length);
        ranges.forEach(([b, e], k) =>
          assert.deepEqual(mth(hashes.slice(b, e)), proof[k], `n=${n} i=${i} element ${k}`),
        );
      }
    }
    assert.throws(() => inclusionProofRanges(3, 3), RangeError);
  });

  it('sigstore rejects what we reject: a flipped proof bit, a wrong index', async () => {
    const log = bytesLog(21);
    const proof = await inclusionProof(6, 21, log.getNode);
    const bad = [flipBit(proof[1]!, 77), ...proof.slice(2)];
    bad.splice(0, 0, proof[0]!);
    assert.throws(() => verifyInclusion(leafHash(log.leaves[6]!), 6, 21, bad, log.root), proofInvalid);
    assert.throws(() =>
      verifyMerkleInclusion(
        {
          inclusionProof: { logIndex: '6', hashes: bad.map((p) => Buffer.from(p)) },
          canonicalizedBody: Buffer.from(log.leaves[6]!),
        } as never,
        { logSize: 21n, logHash: Buffer.from(log.root) } as never,
      ),
    );
    assert.throws(() => verifyInclusion(leafHash(log.leaves[6]!), 7, 21, proof, log.root), proofInvalid);
  });

  it('property: for random sizes, inclusion and consistency proofs verify, and every single bit flip fails', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc
          .integer({ min: 1, max: 300 })
          .chain((n) => fc.tuple(fc.constant(n), fc.nat({ max: n - 1 }), fc.integer({ min: 1, max: n }))),
        async ([n, index, m]) => {
          const log = bytesLog(n);
          const lh = leafHash(log.leaves[index]!);
          const proof = await inclusionProof(index, n, log.getNodeAsync);
          verifyInclusion(lh, index, n, proof, log.root);
          proof.forEach((p, j) => {
            for (let bit = 0; bit < 256; bit++) {
              const bad = proof.slice();
              bad[j] = flipBit(p, bit);
              assertProofInvalid(() => verifyInclusion(lh, index, n, bad, log.root));
            }
          });
          for (let bit = 0; bit < 256; bit += 7) {
            assertProofInvalid(() => verifyInclusion(flipBit(lh, bit), index, n, proof, log.root));
            assertProofInvalid(() => verifyInclusion(lh, index, n, proof, flipBit(log.root, bit)));
          }
          assert.throws(() => verifyInclusion(lh, index, n, [...proof, proof[0] ?? log.root], log.root), proofInvalid);
          if (proof.length > 0)
            assert.throws(() => verifyInclusion(lh, index, n, proof.slice(1), log.root), proofInvalid);

          const root1 = rootOf(log.leaves.slice(0, m).map(leafHash));
          const cproof = await consistencyProof(m, n, log.getNode);
          verifyConsistency(m, n, cproof, root1, log.root);
          cproof.forEach((p, j) => {
            for (let bit = 0; bit < 256; bit++) {
              const bad = cproof.slice();
              bad[j] = flipBit(p, bit);
              assertProofInvalid(() => verifyConsistency(m, n, bad, root1, log.root));
            }
          });
          if (m < n) {
            for (let bit = 0; bit < 256; bit += 5)
              assertProofInvalid(() => verifyConsistency(m, n, cproof, flipBit(root1, bit), log.root));
          }
        },
      ),
      { numRuns: 40 },
    );
  });

  it('proof nodes are perfect nodes only, fetched once each, never beyond the tree', async () => {
    const log = bytesLog(1000);
    for (const [i, n] of [
      [0, 1000],
      [999, 1000],
      [517, 777],
      [3, 5],
    ] as const) {
      for (const element of inclusionProofNodes(i, n)) {
        for (const node of element) assert.ok((node.index + 1) * 2 ** node.level <= n, `node beyond size ${n}`);
      }
    }
    const plan = consistencyProofNodes(333, 1000);
    assert.ok(plan.every((el) => el.length >= 1));
    log.reads = 0;
    await consistencyProof(333, 1000, log.getNode);
    const distinct = new Set(plan.flat().map((x) => `${x.level}:${x.index}`)).size;
    assert.equal(log.reads, distinct);
    assert.throws(() => inclusionProofNodes(5, 5), RangeError);
    assert.throws(() => consistencyProofNodes(0, 5), /meaningless/);
    assert.throws(() => consistencyProofNodes(6, 5), RangeError);
    assert.deepEqual(consistencyProofNodes(5, 5), []);
  });

  it('a getNode that returns something other than a 32-byte hash is reported', async () => {
    const bad: GetNode = () => new Uint8Array(31);
    await assert.rejects(inclusionProof(0, 2, bad), /getNode\(0, 1\) expected a 32-byte Uint8Array, got length=31/);
  });

  it('sizes far beyond 2^32: a uniform tree (all leaves equal) up to 2^53 − 1', async () => {
    // With every leaf equal, the perfect node at level l is the same hash H_l whatever its index,
    // so proofs over astronomically large trees can be served and checked. This exercises the
    // arithmetic past JavaScript's 32-bit bitwise operators.
    const H = [leafHash(enc('same'))];
    for (let l = 1; l <= 53; l++) H.push(nodeHash(H[l - 1]!, H[l - 1]!));
    const getNode: GetNode = (level) => H[level]!;
    const rootOfSize = (n: number) =>
      rootFromFrontier(
        frontierNodes(n).map((x) => H[x.level]!),
        n,
      );
    for (const n of [2 ** 32 + 3, 2 ** 40 - 1, 2 ** 52 + 12345, Number.MAX_SAFE_INTEGER]) {
      for (const i of [0, 1, 2 ** 31, 2 ** 32 + 1, n - 2, n - 1]) {
        verifyInclusion(H[0]!, i, n, await inclusionProof(i, n, getNode), rootOfSize(n));
      }
      for (const m of [1, 3, 2 ** 31 + 7, 2 ** 32, n - 1]) {
        verifyConsistency(m, n, await consistencyProof(m, n, getNode), rootOfSize(m), rootOfSize(n));
      }
      assert.throws(() => verifyInclusion(H[0]!, n, n, [], rootOfSize(n)), /not below the tree size/);
    }
    assert.throws(() => verifyInclusion(H[0]!, 2 ** 53, 2 ** 53 + 2, [], EMPTY_ROOT), /safe integer/);
  });
});

describe('range proofs', () => {
  it('property: rangeProof round-trips for random from ≤ to ≤ size, and any change fails', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc
          .integer({ min: 0, max: 260 })
          .chain((n) => fc.tuple(fc.constant(n), fc.nat({ max: n }), fc.nat({ max: n })))
          .map(([n, a, b]) => [n, Math.min(a, b), Math.max(a, b)] as const),
        fc.nat(),
        async ([n, from, to], seed) => {
          const log = bytesLog(n);
          const hashes = log.leaves.slice(from, to).map(leafHash);
          const proof = await rangeProof(from, to, n, log.getNodeAsync);
          assert.equal(proof.left.length, frontierNodes(from).length);
          assert.equal(proof.right.length, rangeNodes(to, n).length);
          assert.equal(hex(rootFromRange(from, to, n, hashes, proof)), hex(log.root));
          verifyRange(from, to, n, hashes, proof, log.root);
          // Any flipped bit anywhere (a leaf, a left or right hash) fails.
          const all = [
            ...hashes.map((h, i) => ['leaf', i, h] as const),
            ...proof.left.map((h, i) => ['left', i, h] as const),
            ...proof.right.map((h, i) => ['right', i, h] as const),
          ];
          if (all.length > 0) {
            const [where, i, h] = all[seed % all.length]!;
            const bad = flipBit(h, seed % 256);
            const hs = hashes.slice();
            const p = { left: proof.left.slice(), right: proof.right.slice() };
            if (where === 'leaf') hs[i] = bad;
            else p[where][i] = bad;
            assert.throws(() => verifyRange(from, to, n, hs, p, log.root), proofInvalid);
          }
          // Shifting the claimed range by one (same leaves, other position) fails.
          if (to < n && from < to)
            assert.throws(() => verifyRange(from + 1, to + 1, n, hashes, proof, log.root), proofInvalid);
          // A missing or extra proof hash fails with a count message.
          if (proof.right.length > 0)
            assert.throws(
              () => rootFromRange(from, to, n, hashes, { left: proof.left, right: proof.right.slice(1) }),
              /right hashes/,
            );
          assert.throws(
            () => rootFromRange(from, to, n, hashes, { left: [...proof.left, log.root], right: proof.right }),
            /left hashes/,
          );
        },
      ),
      { numRuns: 150 },
    );
  });

  it('says what is wrong', async () => {
    const log = bytesLog(9);
    const proof = await rangeProof(2, 5, 9, log.getNode);
    const hashes = log.leaves.slice(2, 5).map(leafHash);
    assert.throws(
      () => verifyRange(2, 5, 9, hashes.slice(1), proof, log.root),
      /expected 3 leaf hashes for \[2, 5\), got 2/,
    );
    assert.throws(() => verifyRange(2, 5, 4, hashes, proof, log.root), /expected 0 ≤ from ≤ to ≤ size/);
    assert.throws(
      () => verifyRange(2, 5, 9, hashes, proof, EMPTY_ROOT),
      /computed root [0-9a-f]{64} does not match expected root e3b0c442/,
    );
    await assert.rejects(rangeProof(3, 2, 9, log.getNode), RangeError);
  });
});

describe('tiles (C2SP tlog-tiles layout: levels 0, 8, 16 stored, the rest folded)', () => {
  it('folds every perfect node from its tile, across three tile levels, with node:crypto or @noble', async () => {
    const { createHash } = await import('node:crypto');
    const { TILE_HEIGHT, TILE_WIDTH, nodeFromTile, nodeTileSpan } =
      await import('../../../../engine/audit/math/merkle.js');
    const { nodeHashFast } = await import('../../../../engine/audit/verifier/sha256-fast.js');
    const h = (...parts: Uint8Array[]) => {
      const x = createHash('sha256');
      for (const p of parts) x.update(p);
      return new Uint8Array(x.digest());
    };
    // node:crypto's node hash against RFC 9162's definition, independently.
    const a = h(Uint8Array.of(1));
    const b = h(Uint8Array.of(2));
    assert.deepEqual(new Uint8Array(nodeHashFast(a, b)), h(Uint8Array.of(1), a, b));
    assert.deepEqual(new Uint8Array(nodeHashFast(a, b)), nodeHash(a, b));

    const n = 2 * 65536 + 300; // two full level 16 nodes: tiles on levels 0, 8 and 16
    const leaves = Array.from({ length: n }, (_, i) => h(Uint8Array.of(0), new TextEncoder().encode(`leaf ${i}`)));
    const all = appendLeaves([], 0, leaves, { hash: nodeHashFast });
    const kept = appendLeaves([], 0, leaves.slice(0, 3000), { keepLevel: (l) => l % TILE_HEIGHT === 0 });
    assert.deepEqual(kept.root, appendLeaves([], 0, leaves.slice(0, 3000)).root, '@noble and node:crypto agree');
    assert.ok(kept.newNodes.every((x) => x.level % TILE_HEIGHT === 0));
    assert.equal(kept.newNodes.filter((x) => x.level === 8).length, 11);
    const tiles = new Map<string, Uint8Array[]>();
    for (const x of all.newNodes.filter((y) => y.level % TILE_HEIGHT === 0)) {
      const key = `${x.level / TILE_HEIGHT}:${Math.floor(x.index / TILE_WIDTH)}`;
      tiles.set(key, [...(tiles.get(key) ?? []), x.hash]);
    }
    const bytesOf = (key: string) => Buffer.concat(tiles.get(key) ?? []);
    assert.equal(tiles.get('2:0')!.length, 2, 'the level 16 tile holds the two full level 16 nodes');
    let checked = 0;
    for (const [i, x] of all.newNodes.entries()) {
      if (x.level < 8 && i % 97 !== 0) continue; // low levels sampled: each folds up to 128 hashes
      const span = nodeTileSpan(x.level, x.index);
      const got = nodeFromTile(bytesOf(`${span.level}:${span.index}`), span, x.level % 2 ? nodeHashFast : undefined);
      assert.deepEqual(got, new Uint8Array(x.hash), `node (${x.level}, ${x.index})`);
      checked++;
    }
    assert.ok(checked > 3000, `${checked} nodes checked`);
    // A tile that does not (yet) hold a node's hashes gives undefined, never a wrong hash.
    const partial = bytesOf('0:512').subarray(0, 32 * 100);
    assert.equal(nodeFromTile(partial, nodeTileSpan(7, 1024)), undefined);
    assert.deepEqual(nodeTileSpan(11, 3), { level: 1, index: 0, start: 24, count: 8 });
    assert.deepEqual(nodeTileSpan(16, 1), { level: 2, index: 0, start: 1, count: 1 });
  });
});
