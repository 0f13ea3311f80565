/**
 * RFC 9162 (Certificate Transparency v2) Merkle tree hashing and proofs, over a tree stored as the
 * hashes of its *perfect* subtrees.
 *
 *   leaf hash   = SHA-256(0x00 ‖ leaf)                 (RFC 9162 §2.1.1)
 *   node hash   = SHA-256(0x01 ‖ left ‖ right)
 *   empty root  = SHA-256("")
 *   MTH(D[n])   = for n > 1, with k the largest power of two < n:
 *                 SHA-256(0x01 ‖ MTH(D[0:k]) ‖ MTH(D[k:n]))
 *
 * Storage model. Node (level, index) is the root of the perfect subtree over leaves
 * [index·2^level, (index+1)·2^level); level 0 nodes are the leaf hashes. Only perfect nodes are ever
 * stored, because they never change once the log has grown past them. A subtree the tree's right
 * edge cuts short (e.g. leaves [4, 7) of a 7-leaf tree) is never stored: it is *folded* from its
 * perfect decomposition, which for such a subtree is a list of perfect nodes of strictly decreasing
 * size p1, p2, …, pk (left to right), and
 *
 *   fold(p1, …, pk) = H(p1, H(p2, … H(pk-1, pk)))          (a right fold)
 *
 * which is exactly MTH of the cut-short subtree (MTH splits at the largest power of two, which is p1).
 *
 * The *compact range* of [0, size) (the "frontier") is the perfect decomposition of the whole tree:
 * one node per set bit of `size`, largest first. Its right fold is the root. Appending a leaf is a
 * binary increment: push it, and while the two rightmost nodes have the same level, merge them.
 *
 * The store keeps only the nodes of levels 0, 8, 16, … in C2SP tlog-tiles' tiles of 256 hashes
 * (`nodeTileSpan`, `nodeFromTile`): any other perfect node is the MTH of at most 128 hashes of one
 * tile, folded when a proof asks for it.
 *
 * Proofs are computed from perfect nodes only (through a `getNode` callback that may be async, so a
 * database can serve it in one batch: every node a proof needs is requested before any is awaited).
 * Verification follows RFC 9162 §2.1.3.2 and §2.1.4.2 and throws `AUDIT_PROOF_INVALID`.
 *
 * Sizes and indexes are JavaScript numbers up to 2^53 − 1. JavaScript's bitwise operators truncate to
 * 32 bits, so all "bit" arithmetic below is done with `%`, `/` and `Math.floor` instead.
 * @module
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { abytes, equalBytes, toHex } from '../../../lib/bytes.js';
import { aindex, auditError } from './errors.js';

/** Length of every hash in the tree (SHA-256). */
export const HASH_LEN = 32;

const LEAF_PREFIX = Uint8Array.of(0x00);
const NODE_PREFIX = Uint8Array.of(0x01);
const EMPTY = sha256(new Uint8Array(0));

/** MTH of the empty tree, SHA-256(""). A copy: mutating it changes nothing here. */
export const EMPTY_ROOT: Uint8Array = EMPTY.slice();

/** A perfect node: the subtree over leaves [index·2^level, (index+1)·2^level). */
export interface NodeId {
  level: number;
  index: number;
}

/** A perfect node and its hash, as `appendLeaves` hands them out for storage. */
export interface NodeHash extends NodeId {
  hash: Uint8Array;
}

/** Reads one stored perfect node; may return a promise. Must return its 32-byte hash. */
export type GetNode = (level: number, index: number) => Uint8Array | Promise<Uint8Array>;

/** RFC 9162 §2.1.1 leaf hash: SHA-256(0x00 ‖ leaf). */
export function leafHash(leaf: Uint8Array): Uint8Array {
  abytes(leaf, 'leaf');
  return sha256.create().update(LEAF_PREFIX).update(leaf).digest();
}

/** RFC 9162 §2.1.1 interior node hash: SHA-256(0x01 ‖ left ‖ right). */
export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  abytes(left, 'left', HASH_LEN);
  abytes(right, 'right', HASH_LEN);
  return hashChildren(left, right);
}

// Unchecked, for the inner loops (inputs validated once at the API boundary). Verification loops
// call it on attacker-supplied proof hashes only after checking each is 32 bytes.
function hashChildren(left: Uint8Array, right: Uint8Array): Uint8Array {
  return sha256.create().update(NODE_PREFIX).update(left).update(right).digest();
}

// ---------------------------------------------------------------------------------------------
// Integer helpers on safe integers (no 32-bit bitwise operators).
// ---------------------------------------------------------------------------------------------

const isOdd = (n: number): boolean => n % 2 === 1;
const half = (n: number): number => Math.floor(n / 2);

/** Number of bits needed to write n (0 for 0). */
function bitLength(n: number): number {
  let b = 0;
  for (; n > 0; n = half(n)) b++;
  return b;
}

/** Number of set bits of n. */
function popCount(n: number): number {
  let c = 0;
  for (; n > 0; n = half(n)) c += n % 2;
  return c;
}

/** Number of trailing zero bits of n > 0. */
function trailingZeros(n: number): number {
  let z = 0;
  for (; n > 0 && !isOdd(n); n = half(n)) z++;
  return z;
}

/** bitLength(a XOR b): the level at which the paths to leaves a and b meet. */
function xorBitLength(a: number, b: number): number {
  let k = 0;
  for (; a !== b; a = half(a), b = half(b)) k++;
  return k;
}

/** Largest power of two strictly below n (n ≥ 2): RFC 9162's split point k. */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

// ---------------------------------------------------------------------------------------------
// Decompositions into perfect nodes.
// ---------------------------------------------------------------------------------------------

/**
 * The perfect decomposition of leaves [begin, end), left to right: greedily the largest perfect
 * node that starts at `begin` (aligned: begin is a multiple of its width) and fits before `end`.
 * The result is the compact range of [begin, end): node sizes first strictly increase, then
 * strictly decrease. For begin = 0 it is the frontier of a tree of size `end`.
 */
export function rangeNodes(begin: number, end: number): NodeId[] {
  aindex(begin, 'begin');
  aindex(end, 'end');
  if (begin > end) throw new RangeError(`"begin" expected at most end=${end}, got ${begin}`);
  const out: NodeId[] = [];
  while (begin < end) {
    let level = 0;
    let width = 1;
    while (begin % (width * 2) === 0 && begin + width * 2 <= end) {
      level++;
      width *= 2;
    }
    out.push({ level, index: begin / width });
    begin += width;
  }
  return out;
}

/** The perfect nodes of the frontier (compact range [0, size)), largest first. */
export function frontierNodes(size: number): NodeId[] {
  return rangeNodes(0, size);
}

/**
 * Right fold of perfect node hashes, left to right: H(h1, H(h2, … H(hk-1, hk))). For the perfect
 * decomposition of an RFC 9162 subtree (or of a whole tree, i.e. a frontier) this is its MTH.
 */
function foldRight(hashes: readonly Uint8Array[], hashPair: NodeHasher = hashChildren): Uint8Array {
  let h = hashes[hashes.length - 1]!;
  for (let i = hashes.length - 2; i >= 0; i--) h = hashPair(hashes[i]!, h);
  return h;
}

/**
 * The perfect nodes whose right fold is MTH of leaves [begin, end), where [begin, end) is a subtree
 * RFC 9162's recursion visits: `begin` is a multiple of the smallest power of two ≥ end − begin, so
 * the decomposition has only strictly decreasing sizes.
 */
function subtreeNodes(begin: number, end: number): NodeId[] {
  const nodes = rangeNodes(begin, end);
  for (let i = 1; i < nodes.length; i++) {
    if (nodes[i]!.level >= nodes[i - 1]!.level)
      throw new Error(`internal: [${begin}, ${end}) is not an RFC 9162 subtree`);
  }
  return nodes;
}

// ---------------------------------------------------------------------------------------------
// Building: root, append.
// ---------------------------------------------------------------------------------------------

/** MTH (RFC 9162 §2.1.1) of a list of leaf hashes. */
export function rootOf(leafHashes: readonly Uint8Array[]): Uint8Array {
  if (!Array.isArray(leafHashes))
    throw new TypeError(`"leafHashes" expected an array of Uint8Array, got ${typeof leafHashes}`);
  return appendLeaves([], 0, leafHashes).root;
}

/** The root of a tree given its frontier (see the module comment); EMPTY_ROOT when empty. */
export function rootFromFrontier(frontier: readonly Uint8Array[], size: number): Uint8Array {
  assertFrontier(frontier, size);
  return frontier.length === 0 ? EMPTY.slice() : foldRight(frontier);
}

/** What appending leaves produced: the new frontier, size and root, and the new nodes to store. */
export interface AppendResult {
  frontier: Uint8Array[];
  size: number;
  root: Uint8Array;
  /**
   * Every perfect node completed by this append, leaves (level 0) included, in creation order (only
   * those on the levels `keepLevel` accepts, when given).
   */
  newNodes: NodeHash[];
}

/**
 * SHA-256(0x01 ‖ left ‖ right) for 32-byte `left` and `right`, computed elsewhere: a caller that is
 * not in a browser may pass node:crypto's (the same value, faster than @noble's here).
 */
export type NodeHasher = (left: Uint8Array, right: Uint8Array) => Uint8Array;

export interface AppendOptions {
  /** The interior node hash (default @noble's); must compute exactly RFC 9162's. */
  hash?: NodeHasher;
  /** Which levels' new nodes to report in `newNodes` (default all). */
  keepLevel?: (level: number) => boolean;
}

/**
 * Appends leaf hashes to a tree given by its frontier (compact range [0, size), largest node
 * first) and returns the new frontier, size and root, and every perfect node the append completed
 * (for storage). The input frontier is not modified.
 *
 * Appending leaf `size`: it is node (0, size). While its index at the current level is odd, its
 * left sibling is the last frontier node: pop it, hash the two, and go up one level.
 */
export function appendLeaves(
  frontier: readonly Uint8Array[],
  size: number,
  leafHashes: readonly Uint8Array[],
  opts: AppendOptions = {},
): AppendResult {
  const hashPair = opts.hash ?? hashChildren;
  const keep = opts.keepLevel ?? (() => true);
  const keep0 = keep(0);
  assertFrontier(frontier, size);
  if (!Array.isArray(leafHashes))
    throw new TypeError(`"leafHashes" expected an array of Uint8Array, got ${typeof leafHashes}`);
  if (size + leafHashes.length > Number.MAX_SAFE_INTEGER) throw new RangeError(`tree size would exceed 2^53-1`);
  const f = frontier.slice();
  const newNodes: NodeHash[] = [];
  leafHashes.forEach((h, i) => abytes(h, `leafHashes[${i}]`, HASH_LEN));
  for (const lh of leafHashes) {
    let hash = lh;
    let level = 0;
    let index = size;
    if (keep0) newNodes.push({ level, index, hash });
    while (isOdd(index)) {
      hash = hashPair(f.pop()!, hash);
      index = half(index);
      level++;
      if (keep(level)) newNodes.push({ level, index, hash });
    }
    f.push(hash);
    size++;
  }
  return { frontier: f, size, root: f.length === 0 ? EMPTY.slice() : foldRight(f, hashPair), newNodes };
}

function assertFrontier(frontier: readonly Uint8Array[], size: number): void {
  aindex(size, 'size');
  if (!Array.isArray(frontier))
    throw new TypeError(`"frontier" expected an array of Uint8Array, got ${typeof frontier}`);
  const want = popCount(size);
  if (frontier.length !== want)
    throw new RangeError(
      `"frontier" expected ${want} hashes for a tree of size ${size} (one per set bit), got ${frontier.length}`,
    );
  frontier.forEach((h, i) => abytes(h, `frontier[${i}]`, HASH_LEN));
}

/** The frontier as one byte string (hashes concatenated, largest node first), for storage. */
export function frontierToBytes(frontier: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(frontier.length * HASH_LEN);
  frontier.forEach((h, i) => {
    abytes(h, `frontier[${i}]`, HASH_LEN);
    out.set(h, i * HASH_LEN);
  });
  return out;
}

/** Splits a stored frontier back into hashes, checking it has one hash per set bit of `size`. */
export function frontierFromBytes(bytes: Uint8Array, size: number): Uint8Array[] {
  abytes(bytes, 'bytes');
  aindex(size, 'size');
  const want = popCount(size) * HASH_LEN;
  if (bytes.length !== want)
    throw new RangeError(
      `"bytes" expected ${want} bytes for the frontier of a tree of size ${size}, got ${bytes.length}`,
    );
  const out: Uint8Array[] = [];
  for (let off = 0; off < bytes.length; off += HASH_LEN) out.push(bytes.slice(off, off + HASH_LEN));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Tiles (C2SP tlog-tiles): how the perfect nodes are stored.
// ---------------------------------------------------------------------------------------------

/** Tree levels per tile: tiles hold the nodes of levels 0, 8, 16, … (C2SP tlog-tiles' height). */
export const TILE_HEIGHT = 8;
/** Hashes in a full tile, 2^TILE_HEIGHT. */
export const TILE_WIDTH = 256;

/** Where a perfect node's hash is folded from: hashes [start, start + count) of tile (level, index). */
export interface TileSpan {
  /** The tile level: the tile holds nodes of tree level TILE_HEIGHT · level. */
  level: number;
  index: number;
  start: number;
  /** 2^(node level − TILE_HEIGHT · level): 1 for a node stored as it is. */
  count: number;
}

/**
 * The tile hashes perfect node (level, index) is the MTH of: the 2^r nodes of tree level
 * TILE_HEIGHT·⌊level / TILE_HEIGHT⌋ below it (r = level mod TILE_HEIGHT), which lie in one tile.
 */
export function nodeTileSpan(level: number, index: number): TileSpan {
  aindex(level, 'level');
  aindex(index, 'index');
  const tileLevel = Math.floor(level / TILE_HEIGHT);
  const count = 2 ** (level - tileLevel * TILE_HEIGHT);
  const first = index * count;
  if (!Number.isSafeInteger(first)) throw new RangeError(`node (${level}, ${index}) is beyond 2^53 leaves`);
  return { level: tileLevel, index: Math.floor(first / TILE_WIDTH), start: first % TILE_WIDTH, count };
}

/**
 * The hash of the perfect node `span` names, folded from its tile's bytes (the tile's hashes
 * concatenated, as stored): undefined when the tile does not (yet) hold all of them.
 */
export function nodeFromTile(
  tile: Uint8Array,
  span: TileSpan,
  hashPair: NodeHasher = hashChildren,
): Uint8Array | undefined {
  abytes(tile, 'tile');
  if (tile.length % HASH_LEN !== 0 || (span.start + span.count) * HASH_LEN > tile.length) return undefined;
  let level: Uint8Array[] = [];
  for (let i = span.start; i < span.start + span.count; i++)
    level.push(tile.subarray(i * HASH_LEN, (i + 1) * HASH_LEN));
  while (level.length > 1) {
    const up: Uint8Array[] = [];
    for (let i = 0; i < level.length; i += 2) up.push(hashPair(level[i]!, level[i + 1]!));
    level = up;
  }
  return new Uint8Array(level[0]!); // a plain copy, whatever the hasher returns
}

// ---------------------------------------------------------------------------------------------
// Proof generation from perfect nodes.
// ---------------------------------------------------------------------------------------------

/**
 * RFC 9162 §2.1.3.1 PATH(m, D[start : start+n]) as leaf ranges, leaf to root. Each range is a
 * subtree whose MTH is one proof element.
 */
function pathRanges(m: number, start: number, n: number, out: Array<[number, number]>): void {
  if (n <= 1) return;
  const k = splitPoint(n);
  if (m < k) {
    pathRanges(m, start, k, out);
    out.push([start + k, start + n]);
  } else {
    pathRanges(m - k, start + k, n - k, out);
    out.push([start, start + k]);
  }
}

/** RFC 9162 §2.1.4.1 SUBPROOF(m, D[start : start+n], b) as leaf ranges, in proof order. */
function subproofRanges(m: number, start: number, n: number, b: boolean, out: Array<[number, number]>): void {
  if (m === n) {
    if (!b) out.push([start, start + n]);
    return;
  }
  const k = splitPoint(n);
  if (m <= k) {
    subproofRanges(m, start, k, b, out);
    out.push([start + k, start + n]);
  } else {
    subproofRanges(m - k, start + k, n - k, false, out);
    out.push([start, start + k]);
  }
}

/**
 * For each element of the inclusion proof of leaf `index` in a tree of `size` leaves, the perfect
 * nodes whose right fold is that element (one node, unless the element is a subtree the right
 * edge cuts short). Lets a store fetch everything in one query; {@link inclusionProof} uses it.
 */
export function inclusionProofNodes(index: number, size: number): NodeId[][] {
  return inclusionProofRanges(index, size).map(([b, e]) => subtreeNodes(b, e));
}

/**
 * The leaf ranges [begin, end) of the subtrees whose hashes are the inclusion proof of leaf `index`
 * in a tree of `size` leaves (RFC 9162 §2.1.3.1 PATH), leaf to root: proof element k is the MTH of
 * range k. A verifier holding the leaf hashes can so tell which subtree a mismatching element covers.
 */
export function inclusionProofRanges(index: number, size: number): Array<[number, number]> {
  aindex(index, 'index');
  aindex(size, 'size');
  if (index >= size) throw new RangeError(`"index" expected below size=${size}, got ${index}`);
  const ranges: Array<[number, number]> = [];
  pathRanges(index, 0, size, ranges);
  return ranges;
}

/**
 * Like {@link inclusionProofNodes}, for the consistency proof from size1 to size2
 * (0 < size1 ≤ size2; empty when the sizes are equal).
 */
export function consistencyProofNodes(size1: number, size2: number): NodeId[][] {
  aindex(size1, 'size1');
  aindex(size2, 'size2');
  if (size1 > size2) throw new RangeError(`"size1" expected at most size2=${size2}, got ${size1}`);
  if (size1 === 0)
    throw new RangeError(`"size1" expected at least 1: a consistency proof from the empty tree is meaningless`);
  const ranges: Array<[number, number]> = [];
  subproofRanges(size1, 0, size2, true, ranges);
  return ranges.map(([b, e]) => subtreeNodes(b, e));
}

/** Fetches every distinct node of `plan` through `getNode` at once, then folds each element. */
async function resolvePlan(plan: readonly NodeId[][], getNode: GetNode): Promise<Uint8Array[]> {
  if (typeof getNode !== 'function') throw new TypeError(`"getNode" expected a function, got ${typeof getNode}`);
  const wanted = new Map<string, NodeId>();
  for (const element of plan) for (const n of element) wanted.set(`${n.level}:${n.index}`, n);
  const entries = [...wanted.entries()];
  const hashes = await Promise.all(entries.map(([, n]) => getNode(n.level, n.index)));
  const byKey = new Map<string, Uint8Array>();
  entries.forEach(([key, n], i) => {
    const h = hashes[i];
    if (!(h instanceof Uint8Array) || h.length !== HASH_LEN) {
      throw new TypeError(
        `getNode(${n.level}, ${n.index}) expected a ${HASH_LEN}-byte Uint8Array, got ${h instanceof Uint8Array ? `length=${h.length}` : typeof h}`,
      );
    }
    byKey.set(key, h);
  });
  return plan.map((element) => foldRight(element.map((n) => byKey.get(`${n.level}:${n.index}`)!)));
}

/** RFC 9162 §2.1.3.1 inclusion proof (audit path) of leaf `index` in a tree of `size` leaves. */
export function inclusionProof(index: number, size: number, getNode: GetNode): Promise<Uint8Array[]> {
  return resolvePlan(inclusionProofNodes(index, size), getNode);
}

/** RFC 9162 §2.1.4.1 consistency proof from size1 to size2 (0 < size1 ≤ size2). */
export function consistencyProof(size1: number, size2: number, getNode: GetNode): Promise<Uint8Array[]> {
  return resolvePlan(consistencyProofNodes(size1, size2), getNode);
}

// ---------------------------------------------------------------------------------------------
// Verification (attacker input: every failure is a KeywardError AUDIT_PROOF_INVALID).
// ---------------------------------------------------------------------------------------------

function invalid(message: string, details?: Record<string, unknown>): never {
  throw auditError('AUDIT_PROOF_INVALID', message, details ? { details } : undefined);
}

function checkIndex(n: unknown, what: string, context: string): asserts n is number {
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
    invalid(`${context}: ${what} expected a non-negative safe integer, got ${typeof n === 'number' ? n : typeof n}`);
  }
}

function checkHashes(proof: unknown, context: string): asserts proof is Uint8Array[] {
  if (!Array.isArray(proof))
    invalid(`${context}: expected an array of hashes, got ${proof === null ? 'null' : typeof proof}`);
  proof.forEach((h, i) => {
    if (!(h instanceof Uint8Array) || h.length !== HASH_LEN) {
      invalid(`${context}: hash ${i} expected ${HASH_LEN} bytes, got ${h instanceof Uint8Array ? h.length : typeof h}`);
    }
  });
}

function checkRoot(computed: Uint8Array, expected: Uint8Array, context: string): void {
  if (!equalBytes(computed, expected)) {
    invalid(`${context}: computed root ${toHex(computed)} does not match expected root ${toHex(expected)}`, {
      computed: toHex(computed),
      expected: toHex(expected),
    });
  }
}

/** Number of hashes in the inclusion proof of leaf `index` in a tree of `size` (index < size). */
function inclusionProofLength(index: number, size: number): number {
  const inner = xorBitLength(index, size - 1);
  let border = index;
  for (let i = 0; i < inner; i++) border = half(border);
  return inner + popCount(border);
}

/**
 * Verifies an RFC 9162 inclusion proof (§2.1.3.2): that `leafHash` is leaf `index` of the tree of
 * `size` leaves whose root is `root`. Returns nothing; throws `AUDIT_PROOF_INVALID` naming what is
 * wrong (index out of range, wrong number of hashes, root mismatch).
 */
export function verifyInclusion(
  leafHash: Uint8Array,
  index: number,
  size: number,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): void {
  const ctx = 'inclusion proof';
  checkIndex(index, 'leaf index', ctx);
  checkIndex(size, 'tree size', ctx);
  if (!(leafHash instanceof Uint8Array) || leafHash.length !== HASH_LEN)
    invalid(`${ctx}: leaf hash expected ${HASH_LEN} bytes`);
  if (!(root instanceof Uint8Array)) invalid(`${ctx}: root expected bytes, got ${typeof root}`);
  checkHashes(proof, ctx);
  if (index >= size) invalid(`${ctx}: leaf index ${index} is not below the tree size ${size}`);
  const want = inclusionProofLength(index, size);
  if (proof.length !== want)
    invalid(`${ctx}: expected ${want} hashes for leaf ${index} of a tree of size ${size}, got ${proof.length}`);

  // RFC 9162 §2.1.3.2, steps 1-5.
  let fn = index;
  let sn = size - 1;
  let r = leafHash;
  for (const p of proof) {
    if (sn === 0) invalid(`${ctx}: more hashes than the path to the root`);
    if (isOdd(fn) || fn === sn) {
      r = hashChildren(p, r);
      if (!isOdd(fn)) {
        while (!isOdd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      r = hashChildren(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  if (sn !== 0) invalid(`${ctx}: fewer hashes than the path to the root`);
  checkRoot(r, root, ctx);
}

/**
 * Verifies an RFC 9162 consistency proof (§2.1.4.2): that the tree of size2 with root2 extends the
 * tree of size1 with root1. Equal sizes need an empty proof and equal roots; a proof from the empty
 * tree (size1 = 0 < size2) is meaningless and rejected. Throws `AUDIT_PROOF_INVALID`.
 */
export function verifyConsistency(
  size1: number,
  size2: number,
  proof: readonly Uint8Array[],
  root1: Uint8Array,
  root2: Uint8Array,
): void {
  const ctx = 'consistency proof';
  checkIndex(size1, 'first size', ctx);
  checkIndex(size2, 'second size', ctx);
  if (!(root1 instanceof Uint8Array)) invalid(`${ctx}: first root expected bytes, got ${typeof root1}`);
  if (!(root2 instanceof Uint8Array)) invalid(`${ctx}: second root expected bytes, got ${typeof root2}`);
  checkHashes(proof, ctx);
  if (size2 < size1) invalid(`${ctx}: second size ${size2} is below the first size ${size1}`);
  if (size1 === size2) {
    if (proof.length !== 0) invalid(`${ctx}: expected no hashes for equal sizes, got ${proof.length}`);
    if (!equalBytes(root1, root2)) invalid(`${ctx}: the sizes are equal (${size1}) but the roots differ`);
    // The empty tree has one possible root, so at size 0 anything else is a wrong root.
    if (size1 === 0 && !equalBytes(root1, EMPTY))
      invalid(`${ctx}: the root of the empty tree must be SHA-256(""), got ${toHex(root1)}`);
    return;
  }
  if (size1 === 0) invalid(`${ctx}: a proof from the empty tree is meaningless`);
  if (root1.length !== HASH_LEN) invalid(`${ctx}: first root expected ${HASH_LEN} bytes, got ${root1.length}`);

  // Expected length: the inclusion path of leaf size1-1 in size2, minus the levels below the
  // largest perfect subtree ending at size1, plus that subtree's hash unless it is all of size1.
  const shift = trailingZeros(size1);
  const isPerfect = size1 === 2 ** shift;
  const want = inclusionProofLength(size1 - 1, size2) - shift + (isPerfect ? 0 : 1);
  if (proof.length !== want)
    invalid(`${ctx}: expected ${want} hashes from size ${size1} to size ${size2}, got ${proof.length}`);

  // RFC 9162 §2.1.4.2, steps 1-7.
  const path = isPerfect ? [root1, ...proof] : proof; // step 2
  let fn = size1 - 1; // step 3
  let sn = size2 - 1;
  while (isOdd(fn)) {
    // step 4
    fn = half(fn);
    sn = half(sn);
  }
  let fr = path[0]!; // step 5
  let sr = path[0]!;
  for (const c of path.slice(1)) {
    // step 6
    if (sn === 0) invalid(`${ctx}: more hashes than the path to the root`);
    if (isOdd(fn) || fn === sn) {
      fr = hashChildren(c, fr);
      sr = hashChildren(c, sr);
      if (!isOdd(fn)) {
        while (!isOdd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      sr = hashChildren(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  if (sn !== 0) invalid(`${ctx}: fewer hashes than the path to the root`); // step 7
  checkRoot(fr, root1, `${ctx} (first tree)`);
  checkRoot(sr, root2, `${ctx} (second tree)`);
}

// ---------------------------------------------------------------------------------------------
// Range proofs: a contiguous run of leaves [from, to) against the root of a tree of `size`.
// ---------------------------------------------------------------------------------------------

/** Hashes that, with the leaf hashes of [from, to), recompute the root of a tree of `size`. */
export interface RangeProof {
  /** The compact range of [0, from): one perfect node per set bit of `from`, largest first. */
  left: Uint8Array[];
  /** The perfect decomposition of [to, size), left to right (`rangeNodes(to, size)`). */
  right: Uint8Array[];
}

/**
 * The range proof for leaves [from, to) of a tree of `size` leaves, read from perfect nodes.
 * `left` = hashes of `frontierNodes(from)`, `right` = hashes of `rangeNodes(to, size)`; see
 * {@link rootFromRange} for how a verifier folds them.
 */
export async function rangeProof(from: number, to: number, size: number, getNode: GetNode): Promise<RangeProof> {
  assertRange(from, to, size);
  const leftNodes = frontierNodes(from);
  const rightNodes = rangeNodes(to, size);
  const hashes = await resolvePlan(
    [...leftNodes, ...rightNodes].map((n) => [n]),
    getNode,
  );
  return { left: hashes.slice(0, leftNodes.length), right: hashes.slice(leftNodes.length) };
}

function assertRange(from: number, to: number, size: number): void {
  aindex(from, 'from');
  aindex(to, 'to');
  aindex(size, 'size');
  if (from > to || to > size)
    throw new RangeError(`expected 0 ≤ from ≤ to ≤ size, got from=${from} to=${to} size=${size}`);
}

/**
 * Merges perfect node `hash` at `level` onto the compact range `f` of [0, pos) (pos a multiple of
 * 2^level), giving the compact range of [0, pos + 2^level). Binary addition: while the node's index
 * at its level is odd, its left sibling is the last node of `f`; pop it and hash the two.
 */
function mergeNode(f: Uint8Array[], pos: number, level: number, hash: Uint8Array): void {
  let index = pos / 2 ** level;
  while (isOdd(index)) {
    hash = hashChildren(f.pop()!, hash);
    index = half(index);
  }
  f.push(hash);
}

/**
 * Recomputes the root of a tree of `size` leaves from the leaf hashes of [from, to) and a range
 * proof. The folding, step by step:
 *
 *   1. f := proof.left (the compact range of [0, from); must hold popcount(from) hashes); pos := from.
 *   2. For each leaf hash h of [from, to), in order: merge (level 0, h) onto f; pos += 1.
 *   3. For each node (level, index) of rangeNodes(to, size), in order, with the next hash h of
 *      proof.right (which must hold exactly that many): merge (level, h) onto f; pos += 2^level.
 *      (Every such node starts at pos, and pos is a multiple of its width, so merging is defined.)
 *   4. Now f is the compact range of [0, size): root := H(f1, H(f2, … H(fk-1, fk))), or
 *      SHA-256("") when size = 0.
 *
 * "Merge (level, h) onto f at pos": i := pos / 2^level; while i is odd: h := H(f.pop(), h),
 * i := ⌊i/2⌋; then push h.
 *
 * Throws `AUDIT_PROOF_INVALID` when the sizes or the number of hashes are wrong.
 */
export function rootFromRange(
  from: number,
  to: number,
  size: number,
  leafHashes: readonly Uint8Array[],
  proof: RangeProof,
): Uint8Array {
  const ctx = 'range proof';
  checkIndex(from, 'from', ctx);
  checkIndex(to, 'to', ctx);
  checkIndex(size, 'tree size', ctx);
  if (from > to || to > size) invalid(`${ctx}: expected 0 ≤ from ≤ to ≤ size, got from=${from} to=${to} size=${size}`);
  if (typeof proof !== 'object' || proof === null)
    invalid(`${ctx}: expected {left, right}, got ${proof === null ? 'null' : typeof proof}`);
  checkHashes(leafHashes, `${ctx} leaves`);
  checkHashes(proof.left, `${ctx} left`);
  checkHashes(proof.right, `${ctx} right`);
  if (leafHashes.length !== to - from)
    invalid(`${ctx}: expected ${to - from} leaf hashes for [${from}, ${to}), got ${leafHashes.length}`);
  const wantLeft = popCount(from);
  if (proof.left.length !== wantLeft)
    invalid(`${ctx}: expected ${wantLeft} left hashes (the compact range of [0, ${from})), got ${proof.left.length}`);
  const rightNodes = rangeNodes(to, size);
  if (proof.right.length !== rightNodes.length) {
    invalid(
      `${ctx}: expected ${rightNodes.length} right hashes (the perfect subtrees of [${to}, ${size})), got ${proof.right.length}`,
    );
  }

  const f = proof.left.slice();
  let pos = from;
  for (const h of leafHashes) {
    mergeNode(f, pos, 0, h);
    pos += 1;
  }
  rightNodes.forEach((n, i) => {
    mergeNode(f, pos, n.level, proof.right[i]!);
    pos += 2 ** n.level;
  });
  return f.length === 0 ? EMPTY.slice() : foldRight(f);
}

/**
 * Verifies that the leaf hashes are leaves [from, to) of the tree of `size` leaves with `root`
 * (see {@link rootFromRange}). Throws `AUDIT_PROOF_INVALID`.
 */
export function verifyRange(
  from: number,
  to: number,
  size: number,
  leafHashes: readonly Uint8Array[],
  proof: RangeProof,
  root: Uint8Array,
): void {
  if (!(root instanceof Uint8Array)) invalid(`range proof: root expected bytes, got ${typeof root}`);
  checkRoot(rootFromRange(from, to, size, leafHashes, proof), root, 'range proof');
}
