/**
 * Verifies the stored log from record 0, as `keyward audit verify` and bench/audit do: every leaf is
 * canonical JSON and a valid record, indexes are contiguous, each chain value follows from the
 * previous one, and the leaf hashes fold into the RFC 9162 tree whose root must equal the signed
 * roots at their sizes.
 *
 * Speed (the target is 100,000 records/s): the per-record work — UTF-8, JSON, validation, the
 * canonical check, the leaf hash and the chain hash — is independent per record once the stored
 * chain value of the record before is known (chain_i = SHA-256(chain_{i-1} ‖ leafHash_i) checked
 * against stored chain_{i-1}: by induction, the first mismatch is the one a sequential walk would
 * find). So chunks go to worker threads, and the calling thread only checks contiguity and folds
 * the returned leaf hashes into the tree (one node hash per leaf on average), in order, so the
 * first failure reported is the first in index order.
 * @module
 */
import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import { KeywardError, isKeywardError, type KeywardCode } from '../../../lib/errors.js';
import { startWorker } from '../../workers.js';
import { EMPTY_ROOT, HASH_LEN, rootFromFrontier } from '../math/merkle.js';
import { MAX_LEAF_BYTES, decodeLeafText, isCanonicalRecordLeaf } from '../math/record.js';
import { sha256Into } from './sha256-fast.js';

/** A stored record as read from the database (bytes) or served by GET /v1/audit/records (text, hex). */
export interface StoredRecord {
  index: number;
  leaf: string | Uint8Array;
  chain: string | Uint8Array;
}

/** Why a chunk failed: the first bad record in it. */
export interface ChunkFailure {
  index: number;
  code: KeywardCode;
  message: string;
}

/** A chunk's leaf hashes (32 bytes each, in order), up to its first failure if any. */
export interface ChunkResult {
  hashes: Uint8Array;
  failure: ChunkFailure | undefined;
}

const CHAIN_SEED = new Uint8Array(32);
/** The verifier workers' young generation (V8's semi-spaces), in MiB. */
const YOUNG_GENERATION_MB = 48;
/** Most records per chunk sent to a worker. */
const CHUNK_MAX = 1024;
// ignoreBOM keeps a leading byte order mark in the text (by default TextDecoder drops it, and a leaf
// made of one and a canonical record passed, though the bytes hashed are not canonical JSON).
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const encoder = new TextEncoder();
/** String.prototype.isWellFormed (Node ≥ 20; not in the ES2023 typings): no lone surrogate. */
const isWellFormed = (s: string): boolean => (s as string & { isWellFormed(): boolean }).isWellFormed();

/** bytes[begin, end) in a buffer of its own (a Buffer's `slice` is a view, and may share a pooled one). */
function copy(bytes: Uint8Array, begin: number, end: number): Uint8Array {
  const out = new Uint8Array(end - begin);
  out.set(bytes.subarray(begin, end));
  return out;
}

function chainBytes(c: string | Uint8Array): Uint8Array | undefined {
  if (typeof c !== 'string') return c.length === HASH_LEN ? c : undefined;
  if (c.length !== 2 * HASH_LEN || !/^[0-9a-f]+$/.test(c)) return undefined;
  return Buffer.from(c, 'hex');
}

/**
 * Checks a run of consecutive records whose predecessor's stored chain value is `prevChain`: each
 * leaf's size, UTF-8, canonical form and validity, and its chain value. Pure; runs in workers.
 */
export function checkChunk(
  leaves: ReadonlyArray<string | Uint8Array>,
  chains: ReadonlyArray<string | Uint8Array>,
  firstIndex: number,
  prevChain: Uint8Array,
): ChunkResult {
  const n = leaves.length;
  // Never from Buffer's shared pool: the worker transfers this ArrayBuffer back.
  const hashes = Buffer.allocUnsafeSlow(n * HASH_LEN);
  const scratch = Buffer.allocUnsafe(MAX_LEAF_BYTES + 1 + 4);
  // prev chain ‖ leaf hash: the leaf hash is written in place, then copied out to `hashes`.
  const pair = Buffer.allocUnsafe(2 * HASH_LEN);
  const chain = Buffer.allocUnsafe(HASH_LEN);
  let prev = prevChain;
  for (let k = 0; k < n; k++) {
    const index = firstIndex + k;
    const fail = (code: KeywardCode, message: string): ChunkResult => ({
      hashes: hashes.subarray(0, k * HASH_LEN),
      failure: { index, code, message: `record ${index}: ${message}` },
    });
    const leaf = leaves[k]!;
    let text: string | undefined;
    let len: number;
    scratch[0] = 0x00; // RFC 9162 leaf prefix
    if (typeof leaf === 'string') {
      // Encoding at most MAX+1 bytes tells an oversized leaf without encoding all of it.
      const r = encoder.encodeInto(leaf, scratch.subarray(1, MAX_LEAF_BYTES + 2));
      if (r.read! < leaf.length) return fail('AUDIT_RECORD_INVALID', `leaf: expected at most ${MAX_LEAF_BYTES} bytes`);
      len = r.written!;
      text = leaf;
    } else {
      len = leaf.length;
      if (len > MAX_LEAF_BYTES)
        return fail('AUDIT_RECORD_INVALID', `leaf: expected at most ${MAX_LEAF_BYTES} bytes, got ${len}`);
      scratch.set(leaf, 1);
    }
    if (len > MAX_LEAF_BYTES)
      return fail('AUDIT_RECORD_INVALID', `leaf: expected at most ${MAX_LEAF_BYTES} bytes, got ${len}`);
    // The scanner reads the bytes hashed; a string's are those only if it is well-formed (encodeInto
    // writes U+FFFD for a lone surrogate). What it does not accept, decodeLeafText decides and words.
    const fast = (text === undefined || isWellFormed(text)) && isCanonicalRecordLeaf(scratch, 1, len + 1);
    if (!fast) {
      if (text === undefined) {
        try {
          text = utf8.decode(leaf as Uint8Array);
        } catch {
          return fail('AUDIT_LEAF_NOT_CANONICAL', 'leaf is not valid UTF-8');
        }
      }
      try {
        decodeLeafText(text);
      } catch (err) {
        if (!isKeywardError(err)) throw err;
        return fail(err.code, err.message);
      }
    }
    sha256Into(scratch.subarray(0, len + 1), pair, HASH_LEN);
    pair.copy(hashes, k * HASH_LEN, HASH_LEN);
    pair.set(prev, 0);
    const stored = chainBytes(chains[k]!);
    if (stored) sha256Into(pair, chain, 0);
    if (!stored || !chain.equals(stored))
      return fail('AUDIT_LOG_CORRUPT', 'chain mismatch (edited, reordered or deleted row)');
    prev = stored;
  }
  return { hashes, failure: undefined };
}

/** Leaf hashes, 32 bytes each, in growable 2 MiB chunks (no object per leaf). */
export class LeafHashes {
  static readonly #PER_CHUNK = 65_536;
  readonly #chunks: Buffer[] = [];
  length = 0;

  push(h: Uint8Array): void {
    const c = Math.floor(this.length / LeafHashes.#PER_CHUNK);
    if (c === this.#chunks.length) this.#chunks.push(Buffer.allocUnsafe(HASH_LEN * LeafHashes.#PER_CHUNK));
    this.#chunks[c]!.set(h, (this.length % LeafHashes.#PER_CHUNK) * HASH_LEN);
    this.length++;
  }

  get(i: number): Uint8Array {
    if (!Number.isSafeInteger(i) || i < 0 || i >= this.length)
      throw new RangeError(`leaf hash ${i}: expected 0 to ${this.length - 1}`);
    const off = (i % LeafHashes.#PER_CHUNK) * HASH_LEN;
    return this.#chunks[Math.floor(i / LeafHashes.#PER_CHUNK)]!.subarray(off, off + HASH_LEN);
  }

  slice(begin: number, end: number): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (let i = begin; i < end; i++) out.push(this.get(i));
    return out;
  }
}

/** A root the tree must have at `size` (`what` names it in the error). */
export interface RootCheck {
  size: number;
  root: Uint8Array;
  what: string;
}

/** Thrown when the tree's root at a checked size differs; `check` says which. */
export class RootMismatch extends KeywardError {
  readonly check: RootCheck;
  constructor(check: RootCheck) {
    super('AUDIT_LOG_CORRUPT', `records [0, ${check.size}) do not hash to ${check.what}`, {
      details: { size: check.size },
    });
    this.check = check;
  }
}

export interface LogVerifierOptions {
  /** Worker threads for the per-record checks (default: one per core, at most 4; 0 checks in this thread). */
  workers?: number;
  /** Roots to check when the tree reaches their sizes. */
  rootChecks?: readonly RootCheck[];
  /** Keep leaf hashes of records below this index (for locating a bad leaf by inclusion proofs). */
  keepLeafHashesBelow?: number;
  /** Chunks in flight per worker. */
  depth?: number;
  /** Worker threads to use (kept open by the caller, e.g. warm across runs); overrides `workers`. */
  pool?: VerifyPool;
  /**
   * The root checks and `keepLeafHashesBelow` come later, from `setChecks`: records added before it
   * are checked by the workers but nothing is folded until then (so `keyward audit verify` can send
   * the first page to the workers while it verifies the checkpoint's signatures).
   */
  checksLater?: boolean;
}

/**
 * Streams records in index order from 0 through `add`, and `finish` when done. Throws (from `add`
 * or `finish`) the first failure in index order: AUDIT_LOG_CORRUPT naming the record for gaps and
 * chain mismatches, the record's own code for a bad leaf, or a RootMismatch.
 */
export class LogVerifier {
  readonly leafHashes = new LeafHashes();
  #keepBelow: number;
  #checks: RootCheck[];
  /** Whether the checks are set (folding waits for them). */
  #checksSet: boolean;
  readonly #pool: VerifyPool | undefined;
  readonly #ownPool: boolean;
  readonly #depth: number;
  /** Chunks dispatched and not yet folded, in index order. */
  #pending: Array<Promise<ChunkResult>> = [];
  /** Next index expected from `add`. */
  #next = 0;
  /** The stored chain value of record #next − 1. */
  #prevChain: Uint8Array = CHAIN_SEED;
  // The tree: the frontier (perfect subtree roots, largest first; #subtrees of them) and its size. Each
  // depth has its own 32-byte buffer, written in place: folding allocates nothing per record.
  readonly #frontier: Buffer[] = Array.from({ length: 64 }, () => Buffer.alloc(HASH_LEN));
  #subtrees = 0;
  #size = 0;
  readonly #node = Buffer.allocUnsafe(1 + 2 * HASH_LEN);

  constructor(opts: LogVerifierOptions = {}) {
    // The calling thread only folds (about one node hash per record): a worker per core.
    const workers = opts.pool?.size ?? opts.workers ?? Math.min(4, availableParallelism());
    this.#ownPool = opts.pool === undefined && workers > 0;
    this.#pool = opts.pool ?? (workers > 0 ? new VerifyPool(workers) : undefined);
    this.#depth = Math.max(1, opts.depth ?? 3) * Math.max(1, workers);
    this.#keepBelow = opts.keepLeafHashesBelow ?? 0;
    this.#checks = [...(opts.rootChecks ?? [])].sort((a, b) => a.size - b.size);
    this.#checksSet = opts.checksLater !== true;
    this.#node[0] = 0x01;
    this.#checkRoots();
  }

  /**
   * The checks of a verifier made with `checksLater`, set before anything is folded: the roots to
   * check when the tree reaches their sizes, and the leaf hashes to keep.
   */
  setChecks(opts: { rootChecks?: readonly RootCheck[]; keepLeafHashesBelow?: number }): void {
    if (this.#checksSet) throw new Error('LogVerifier: the checks are already set');
    this.#checks = [...(opts.rootChecks ?? [])].sort((a, b) => a.size - b.size);
    this.#keepBelow = opts.keepLeafHashesBelow ?? 0;
    this.#checksSet = true;
    this.#checkRoots();
  }

  /** Records checked and folded so far. */
  get size(): number {
    return this.#size;
  }

  /** The RFC 9162 root of records [0, size). */
  root(): Uint8Array {
    // A copy: with one subtree the root is the frontier's own buffer, which the next fold overwrites.
    if (this.#size === 0) return EMPTY_ROOT.slice();
    return Uint8Array.from(rootFromFrontier(this.#frontier.slice(0, this.#subtrees), this.#size));
  }

  /** Adds the next records (indexes must continue from the last ones). */
  async add(rows: readonly StoredRecord[]): Promise<void> {
    if (rows.length === 0) return;
    for (let k = 0; k < rows.length; k++) {
      const r = rows[k]!;
      if (r.index !== this.#next + k) {
        // Check what comes before the gap first: an earlier failure is reported first.
        if (k > 0) await this.add(rows.slice(0, k));
        await this.finish();
        const expected = this.#next;
        throw new KeywardError(
          'AUDIT_LOG_CORRUPT',
          r.index > expected
            ? `record ${expected}: missing, the next stored record is ${r.index} (deleted row${r.index - expected > 1 ? 's' : ''})`
            : `record ${r.index}: served out of order after record ${expected - 1}`,
          { details: { index: expected } },
        );
      }
    }
    // Chunks small enough to spread a large page over the workers.
    for (let c = 0; c < rows.length; c += CHUNK_MAX) {
      const part = rows.length <= CHUNK_MAX ? rows : rows.slice(c, c + CHUNK_MAX);
      const leaves = part.map((r) => r.leaf);
      const chains = part.map((r) => r.chain);
      const first = this.#next;
      const prev = this.#prevChain;
      const result = this.#pool
        ? this.#pool.check(leaves, chains, first, prev)
        : Promise.resolve(checkChunk(leaves, chains, first, prev));
      result.catch(() => undefined); // chunks after a failure are never awaited; closing rejects them
      this.#pending.push(result);
      this.#next += part.length;
      // Where the next chunk's chain check starts (a malformed value fails that record's check there).
      this.#prevChain = chainBytes(chains[chains.length - 1]!) ?? new Uint8Array(HASH_LEN);
      while (this.#checksSet && this.#pending.length > this.#depth) await this.#settleOldest();
    }
  }

  /**
   * Adds the next `count` records from bytes (a raw page, ./records-page.ts): leaf i is
   * leaves[offsets[i], offsets[i + 1] - 1) (each followed by a line feed), its chain value
   * chains[32i, 32i + 32). Each chunk goes to a worker as views of the page when its bytes are in a
   * SharedArrayBuffer (`keyward audit verify` reads pages into one: the workers read them where they
   * are), else as two copied buffers; no object or string per record on this thread.
   */
  async addPage(page: {
    from: number;
    count: number;
    leaves: Uint8Array;
    offsets: Uint32Array;
    chains: Uint8Array;
  }): Promise<void> {
    const { from, count, leaves, offsets, chains } = page;
    if (count === 0) return;
    if (offsets.length !== count + 1 || chains.length !== HASH_LEN * count)
      throw new TypeError(`"offsets" and "chains" expected ${count + 1} offsets and ${HASH_LEN * count} bytes`);
    if (from !== this.#next) {
      await this.finish();
      const expected = this.#next;
      throw new KeywardError(
        'AUDIT_LOG_CORRUPT',
        from > expected
          ? `record ${expected}: missing, the next stored record is ${from} (deleted row${from - expected > 1 ? 's' : ''})`
          : `record ${from}: served out of order after record ${expected - 1}`,
        { details: { index: expected } },
      );
    }
    const shared = leaves.buffer instanceof SharedArrayBuffer && chains.buffer instanceof SharedArrayBuffer;
    const part = shared ? (bytes: Uint8Array, begin: number, end: number) => bytes.subarray(begin, end) : copy;
    for (let c = 0; c < count; c += CHUNK_MAX) {
      const k = Math.min(CHUNK_MAX, count - c);
      const base = offsets[c]!;
      const offs = new Uint32Array(k + 1);
      for (let i = 1; i <= k; i++) offs[i] = offsets[c + i]! - base;
      const chainOffs = new Uint32Array(k + 1);
      for (let i = 1; i <= k; i++) chainOffs[i] = HASH_LEN * i;
      const lp: Packed = { packed: true, bytes: part(leaves, base, offsets[c + k]!), offsets: offs, trim: 1 };
      const cp: Packed = {
        packed: true,
        bytes: part(chains, HASH_LEN * c, HASH_LEN * (c + k)),
        offsets: chainOffs,
      };
      const first = this.#next;
      const prev = this.#prevChain;
      // Where the next chunk's chain check starts.
      this.#prevChain = copy(chains, HASH_LEN * (c + k - 1), HASH_LEN * (c + k));
      const result = this.#pool
        ? this.#pool.checkPacked(lp, cp, first, prev)
        : Promise.resolve(checkChunk(unpack(lp), unpack(cp), first, prev));
      result.catch(() => undefined); // chunks after a failure are never awaited; closing rejects them
      this.#pending.push(result);
      this.#next += k;
      while (this.#checksSet && this.#pending.length > this.#depth) await this.#settleOldest();
    }
  }

  /** Waits for every chunk in flight; throws the first failure. */
  async finish(): Promise<void> {
    if (!this.#checksSet) throw new Error('LogVerifier: setChecks before finish, or before a gap in the records');
    while (this.#pending.length > 0) await this.#settleOldest();
  }

  /** Stops the workers it started (call when done, also after a failure). */
  async close(): Promise<void> {
    this.#pending = [];
    if (this.#ownPool) await this.#pool?.close();
  }

  async #settleOldest(): Promise<void> {
    const { hashes, failure } = await this.#pending.shift()!;
    const n = hashes.length / HASH_LEN;
    for (let k = 0; k < n; k++) this.#fold(hashes.subarray(k * HASH_LEN, (k + 1) * HASH_LEN));
    if (failure) {
      this.#pending = [];
      throw new KeywardError(failure.code, failure.message, { details: { index: failure.index } });
    }
  }

  #fold(lh: Uint8Array): void {
    if (this.#size < this.#keepBelow) this.leafHashes.push(lh);
    // Each set low bit of the size closes a subtree: its root, hashed with the one on the frontier
    // below it, replaces that one in place.
    let hash: Uint8Array = lh;
    for (let index = this.#size; index & 1; index = Math.floor(index / 2)) {
      const left = this.#frontier[--this.#subtrees]!;
      this.#node.set(left, 1);
      this.#node.set(hash, 1 + HASH_LEN);
      sha256Into(this.#node, left, 0);
      hash = left;
    }
    if (hash === lh) this.#frontier[this.#subtrees]!.set(lh);
    this.#subtrees++;
    this.#size++;
    if (this.#checks.length > 0 && this.#checks[0]!.size === this.#size) this.#checkRoots();
  }

  #checkRoots(): void {
    while (this.#checks.length > 0 && this.#checks[0]!.size <= this.#size) {
      const c = this.#checks.shift()!;
      if (c.size < this.#size) continue; // before the first record (size 0 is checked at construction)
      if (!Buffer.from(this.root()).equals(Buffer.from(c.root))) throw new RootMismatch(c);
    }
  }
}

/** Values as sent to a worker: byte strings packed into one buffer with offsets, or as they are. */
export type Packed =
  | {
      packed: true;
      bytes: Uint8Array;
      offsets: Uint32Array;
      /** bytes dropped from each item's end (a line feed) */ trim?: number;
    }
  | { packed: false; items: ReadonlyArray<string | Uint8Array> };

function pack(items: ReadonlyArray<string | Uint8Array>): Packed {
  let total = 0;
  for (const it of items) {
    if (typeof it === 'string') return { packed: false, items };
    total += it.length;
  }
  const bytes = new Uint8Array(total);
  const offsets = new Uint32Array(items.length + 1);
  let off = 0;
  items.forEach((it, i) => {
    bytes.set(it as Uint8Array, off);
    off += (it as Uint8Array).length;
    offsets[i + 1] = off;
  });
  return { packed: true, bytes, offsets };
}

/** The values `pack` packed (views into its buffer). */
export function unpack(p: Packed): ReadonlyArray<string | Uint8Array> {
  if (!p.packed) return p.items;
  const out: Uint8Array[] = new Array(p.offsets.length - 1);
  const trim = p.trim ?? 0;
  for (let i = 0; i < out.length; i++) out[i] = p.bytes.subarray(p.offsets[i]!, p.offsets[i + 1]! - trim);
  return out;
}

interface Job {
  resolve: (r: ChunkResult) => void;
  reject: (e: unknown) => void;
}

/**
 * Worker threads running `checkChunk`, round-robin; replies come back in order per worker. Several
 * verifiers may share one in turn (a verifier that failed leaves late replies its own promises
 * ignore). Idle workers don't keep the process alive; `close` ends them.
 */
export class VerifyPool {
  readonly #workers: Array<{ worker: Worker; jobs: Job[] }> = [];
  #turn = 0;
  #closing = false;
  readonly size: number;

  constructor(n: number = Math.min(4, availableParallelism())) {
    if (!Number.isSafeInteger(n) || n < 1 || n > 64)
      throw new RangeError(`"n" expected 1 to 64 worker threads, got ${String(n)}`);
    this.size = n;
    for (let i = 0; i < n; i++) {
      // A larger young generation: a chunk's records are short-lived objects, and with the default
      // the scavenger took about a fifth of a worker's time (bench/verify's profile).
      const worker = startWorker(import.meta.url, 'verify-worker', {
        resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB },
      });
      const slot = { worker, jobs: [] as Job[] };
      worker.on('message', (m: { hashes: Uint8Array; failure: ChunkFailure | undefined } | { error: string }) => {
        const job = slot.jobs.shift();
        // Idle workers don't keep the process alive (but a closing one must, until it has exited).
        if (slot.jobs.length === 0 && !this.#closing) worker.unref();
        if (!job) return;
        if ('error' in m) job.reject(new Error(`audit verify worker: ${m.error}`));
        else job.resolve({ hashes: m.hashes, failure: m.failure });
      });
      const fail = (err: unknown) => {
        for (const job of slot.jobs.splice(0)) job.reject(err instanceof Error ? err : new Error(String(err)));
      };
      worker.on('error', fail);
      worker.on('exit', (code) => fail(new Error(`audit verify worker exited (${code})`)));
      worker.unref();
      this.#workers.push(slot);
    }
  }

  check(
    leaves: ReadonlyArray<string | Uint8Array>,
    chains: ReadonlyArray<string | Uint8Array>,
    first: number,
    prev: Uint8Array,
  ): Promise<ChunkResult> {
    // Byte leaves and chains travel packed into one transferred buffer each: cloning thousands of
    // small Uint8Arrays one by one cost as much as checking them.
    return this.checkPacked(pack(leaves), pack(chains), first, prev);
  }

  /**
   * `check` of values already packed (their buffers are transferred: the caller must not reuse them;
   * a SharedArrayBuffer is shared, not transferred, and must not be written while checked).
   */
  checkPacked(leaves: Packed, chains: Packed, first: number, prev: Uint8Array): Promise<ChunkResult> {
    const slot = this.#workers[this.#turn++ % this.#workers.length]!;
    const msg = { first, prev, leaves, chains };
    const transfer = [leaves, chains]
      .flatMap((p) => (p.packed ? [p.bytes.buffer, p.offsets.buffer] : []))
      .filter((b): b is ArrayBuffer => !(b instanceof SharedArrayBuffer));
    return new Promise<ChunkResult>((resolve, reject) => {
      if (slot.jobs.push({ resolve, reject }) === 1) slot.worker.ref();
      slot.worker.postMessage(msg, transfer);
    });
  }

  async close(): Promise<void> {
    // Referenced while terminating: an unreferenced worker's exit doesn't keep the event loop alive.
    this.#closing = true;
    await Promise.all(this.#workers.map((w) => (w.worker.ref(), w.worker.terminate())));
  }
}
