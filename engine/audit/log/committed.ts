/**
 * The batches this node's audit log committed lately, with the leaf hashes it computed while building
 * them (docs/architecture.md, "The audit log", step 3; issue 14): what lets the integrator extend the
 * tree without reading the batches' leaves back and hashing them again.
 *
 * The integrator may use an entry only for a stored batch with the same first index, record count
 * and leaf byte length, whose stored chain values are byte for byte the ones kept here. Those were
 * computed from the kept leaf hashes, each from the one before it, so only the batch's first chain
 * value in a round is checked against the record before it (one hash per batch, not per record).
 * Whatever does not match (a batch of another node or of an append inside a
 * transaction, a node restarted, a database reset underneath, or a stored row edited since) is read
 * back whole and re-hashed, which gives the verdict. Bounded: entries at or below the integrated size
 * are dropped by the integrator after each of its rounds, whichever node integrated them (so a node
 * that never wins the integrator lock keeps about a round's worth, not `maxRecords`), and past
 * `maxRecords` the oldest go first. A node whose integrator halted (AUDIT_LOG_CORRUPT: it integrates
 * nothing until restarted) keeps none (`stopKeeping`).
 * @module
 */

/** One committed batch: records [first, first + n). */
export interface CommittedBatch {
  readonly first: number;
  readonly n: number;
  /** The leaves' UTF-8 length, joined by "\n" as stored (`octet_length(leaves)`). */
  readonly leafBytes: number;
  /** n × 32 bytes: each record's RFC 9162 leaf hash. */
  readonly hashes: Uint8Array;
  /** n × 32 bytes: each record's chain value, as written. */
  readonly chains: Uint8Array;
}

/** Records kept by default: about 4 MiB of hashes, ten seconds of the dev server at full load. */
export const COMMITTED_MAX_RECORDS = 65_536;

export class CommittedBatches {
  readonly #maxRecords: number;
  readonly #byFirst = new Map<number, CommittedBatch>();
  /**
   * Entries in insertion order (commit order on one node), for dropping the oldest. An entry
   * replaced at the same first stays here but is skipped: only the map's own entry is dropped.
   */
  #order: CommittedBatch[] = [];
  #orderFrom = 0;
  #records = 0;
  #stopped = false;

  constructor(maxRecords: number = COMMITTED_MAX_RECORDS) {
    this.#maxRecords = maxRecords;
  }

  /** Records held. */
  get records(): number {
    return this.#records;
  }

  /**
   * Keeps `batch`'s hashes and chain values in one buffer of their own: as they are when they already
   * are the two halves of one (the log's #build allocates them so), else a copy (small slices of
   * Buffer's shared pool, kept for seconds each, would pin a whole 8 KiB pool slab). Kept as they
   * are means the caller must never write into that buffer again (log.ts's #build makes a new one
   * per batch). `batch.chains` must be the chain values computed from `batch.hashes` (the
   * integrator checks only a kept batch's first chain value, against the record before it).
   */
  add(batch: CommittedBatch): void {
    const { n } = batch;
    if (this.#stopped || n < 1 || batch.hashes.length !== 32 * n || batch.chains.length !== 32 * n) return;
    let { hashes, chains } = batch;
    if (!ownHalves(hashes, chains)) {
      const own = Buffer.allocUnsafeSlow(64 * n);
      own.set(hashes, 0);
      own.set(chains, 32 * n);
      hashes = own.subarray(0, 32 * n);
      chains = own.subarray(32 * n);
    }
    const entry: CommittedBatch = { first: batch.first, n, leafBytes: batch.leafBytes, hashes, chains };
    const replaced = this.#byFirst.get(batch.first);
    if (replaced) this.#drop(replaced);
    this.#byFirst.set(batch.first, entry);
    this.#order.push(entry);
    this.#records += n;
    while (this.#records > this.#maxRecords && this.#orderFrom < this.#order.length)
      this.#drop(this.#order[this.#orderFrom++]!);
    this.#compact();
  }

  /** The batch that starts at `first`, if kept. */
  get(first: number): CommittedBatch | undefined {
    return this.#byFirst.get(first);
  }

  /** The first indexes of the batches kept that start in [from, to), ascending. */
  firstsIn(from: number, to: number): number[] {
    const out: number[] = [];
    for (const first of this.#byFirst.keys()) if (first >= from && first < to) out.push(first);
    return out.sort((x, y) => x - y);
  }

  /** Drops every batch that ends at or before `size` (integrated). */
  forgetBefore(size: number): void {
    const o = this.#order;
    while (this.#orderFrom < o.length) {
      const b = o[this.#orderFrom]!;
      if (this.#byFirst.get(b.first) === b && b.first + b.n > size) break;
      this.#drop(b);
      this.#orderFrom++;
    }
    // Out of order only after a reset underneath: drop the rest that ended below `size` too.
    for (const b of this.#byFirst.values()) if (b.first + b.n <= size) this.#drop(b);
    this.#compact();
  }

  /** Drops everything and keeps nothing from now on: no round on this node will use it. */
  stopKeeping(): void {
    this.#stopped = true;
    this.clear();
  }

  clear(): void {
    this.#byFirst.clear();
    this.#order = [];
    this.#orderFrom = 0;
    this.#records = 0;
  }

  /** Drops `b` if it is still the entry at its first (a replaced one was dropped when replaced). */
  #drop(b: CommittedBatch): void {
    if (this.#byFirst.get(b.first) !== b) return;
    this.#byFirst.delete(b.first);
    this.#records -= b.n;
  }

  #compact(): void {
    if (this.#byFirst.size === 0) {
      this.#order = [];
      this.#orderFrom = 0;
    } else if (this.#orderFrom > 1024 && this.#orderFrom * 2 > this.#order.length) {
      this.#order = this.#order.slice(this.#orderFrom);
      this.#orderFrom = 0;
    }
  }
}

/** Whether `hashes` and `chains` are the first and second half of one ArrayBuffer, nothing else in it. */
function ownHalves(hashes: Uint8Array, chains: Uint8Array): boolean {
  const b = hashes.buffer;
  return (
    chains.buffer === b &&
    b.byteLength === hashes.length + chains.length &&
    hashes.byteOffset === 0 &&
    chains.byteOffset === hashes.length
  );
}
