/**
 * The audit log's write side (docs/architecture.md, "The audit log"): a per-node queue that group-commits
 * records, the committed batch being the unit of storage (as in Certificate Transparency's tiled logs
 * and Tessera): one row and ONE statement per batch (≤ 256 records, or whatever queued while the
 * previous flush ran), with bounded waits.
 *
 * The chain values of the whole batch are computed here in Node, from the head (size, chain) the
 * node already knows, and the batch is written by compare-and-set on the head row
 * (`casAppendAuditBatch`): one round trip, no lock held while Node computes, no PL/pgSQL. The node
 * knows the head after its own previous flush (it predicts it when it sends one, so a second flush
 * can be in flight behind the first and wait on the head row's lock). A statement that finds the head
 * elsewhere writes nothing. When it was built on the predicted head of this node's previous flush and
 * that flush then lands exactly there, it had only overtaken it on another connection: it is sent
 * again unchanged, once (nothing to read or rebuild). Otherwise another node or an append inside a
 * transaction moved the head: the flush waits for its own earlier flush, reads the head and builds
 * again. After MAX_CAS_TRIES misses it takes the head
 * row's lock in a transaction, which always succeeds. Measured (bench/audit, PostgreSQL with fsync):
 * with one node every statement lands at the first try; the alternative, lock-then-write in an
 * explicit transaction, costs four round trips (BEGIN, SELECT … FOR UPDATE, INSERT, COMMIT) per
 * batch with the lock held across them, and the old SQL chain (keyward_audit_append) cost database
 * CPU per record. The policy inputs of a batch are deflated and encrypted once, one blob with one IV
 * (inputs.ts). The group commit's statement runs on the driver's client without drizzle's query
 * builder (`directAuditAppender`); appends inside a caller's transaction use the builder on `tx`.
 *
 * With slow statements and nothing in flight, a flush may wait, for at most half a statement's
 * latency after the previous one landed, for the clients that statement just answered to append again
 * (`lingerFor`: an adaptive linger, on PostgreSQL only); a lone request or an idle log never waits.
 *
 * `append` resolves only when the record is durable (its statement committed with
 * synchronous_commit on), so the pipeline can hold back output until then. It rejects with
 * AUDIT_UNAVAILABLE when the append misses its deadline or the database fails, and with
 * AUDIT_QUEUE_FULL at once when the queue is full: callers answer 503 and release nothing.
 * @module
 */
import { KeywardError } from '../../../lib/errors.js';
import type { AuditBatchAppender, AuditBatchWrite, AuditHead, Db } from '../../store/index.js';
import {
  casAppendAuditBatch,
  directAuditAppender,
  ensureAuditRows,
  readAuditHead,
  withTransaction,
} from '../../store/index.js';
import { encodeRecordText } from '../math/record.js';
import type { AuditRecord } from '../math/record.js';
import { CommittedBatches } from './committed.js';
import { leafHashesInto, sha256Into } from './digest.js';
import { batchInputsPath, packBatchInputs } from './inputs.js';
import type { AuditInput } from './inputs.js';

export const AUDIT_BATCH_MAX = 256;
export const AUDIT_DEADLINE_MS_DEFAULT = 2000;
export const AUDIT_QUEUE_MAX_DEFAULT = 10_000;
/** Compare-and-set misses before a flush takes the head row's lock instead. */
export const MAX_CAS_TRIES = 4;

/** Encrypts for storage (the barrier's `encrypt`): what the log seals a batch's policy inputs with. */
export interface InputSealer {
  encrypt(path: string, plaintext: Uint8Array): Uint8Array;
}

export interface AuditLogOptions {
  /** How long a request waits for its record to be durable before it fails with 503. */
  deadlineMs?: number;
  /** Records queued (not yet flushing) beyond which appends fail at once. */
  maxQueue?: number;
  /** Largest batch per statement. */
  batchMax?: number;
  /** Append statements kept in flight (default 1, which the server uses: with two, the second often misses its compare-and-set). */
  flushesInFlight?: number;
  /** Hears each group commit and each in-transaction append (metrics: engine/metrics.ts). */
  observer?: AuditObserver;
  /** Seals each batch's policy inputs (the barrier); without it, appends that carry an input are refused. */
  sealer?: InputSealer;
  /**
   * The adaptive linger's cap in ms (see `lingerFor`): 0 never holds a flush back. Default
   * LINGER_MAX_MS on PostgreSQL (a client with `unsafe`, postgres.js), LINGER_ON_THREAD_MS on PGlite,
   * whose statements run on this thread.
   */
  lingerMaxMs?: number;
}

/** The adaptive linger's default cap (PostgreSQL), ms: a safety bound; the statement's own latency sets the wait. */
export const LINGER_MAX_MS = 10;
/**
 * The linger's window on PGlite, ms: its statements run on this thread, so what a statement costs
 * is this thread's CPU, most of it per statement rather than per record (~80 µs on a quiet machine,
 * more under load). Holding a flush while the clients the last one answered come back spends no
 * CPU (this thread serves their requests meanwhile) and saves statements. Measured on the dev server
 * (autocannon -c 16, 1 KiB encrypts, alternating slices, 03:37–03:43 on 2026-12-06): records per
 * statement 10.6 → 14–15, server CPU per request 194–204 → 174–179 µs, req/s +8–13%; 2 and 4 ms
 * did the same.
 */
export const LINGER_ON_THREAD_MS = 2;
/**
 * Statements faster than this (EWMA, ms) never make a flush linger: the database is not what the batch
 * waits on (no WAL flush to wait for: synchronous_commit off, or no fsync, answers in well under a
 * millisecond). It was 4 ms, set on a disk whose flushes took 7-20 ms; on a fast one (fdatasync
 * ~110 µs) a durable statement takes 1.4-1.6 ms, so at 16 clients the linger never ran and the
 * halves of the clients kept their own statements. Measured at 1 ms against 4 ms (two audit-on
 * servers on PostgreSQL with fsync, 1 KiB encrypts from bench/helpers/http.ts's client in a closed
 * loop, 16 alternating slices of 2 s each, 12:50 on 2026-12-06, load average 4.4-5.7): records per statement 8.3 → 10.2,
 * req/s +11% (median of adjacent pairs +10%), server CPU per request −5%; at 64 clients, whose
 * statements were already slow enough, no change beyond the noise (req/s −2%, CPU −3%); at 4,
 * 2.1 → 2.5 records per statement, req/s +46%, CPU −21%; a lone client never lingers (unchanged).
 */
export const LINGER_MIN_STATEMENT_MS = 1;
/** A flush is held at most this fraction of the statement's latency (EWMA) after the previous one landed. */
export const LINGER_FRACTION = 0.5;

/** What `lingerFor` decides from: the queue now and the log's recent history. */
export interface LingerState {
  /** Records queued for the next flush. */
  queued: number;
  /** Records of the flush that landed last whose senders have not appended again since (see lingerFor). */
  returning: number;
  /** Time since that flush landed, ms. */
  sinceLandedMs: number;
  /** EWMA of the append statement's latency, ms. */
  statementMs: number;
  /**
   * The statements run on this thread (PGlite): their cost is CPU per statement, not time the
   * clients wait on, so the window is `maxWaitMs` whatever the statement's latency.
   */
  onThread?: boolean;
  batchMax: number;
  maxWaitMs: number;
}

/**
 * The adaptive linger of the group commit (issue 14): with nothing in flight and records queued, is
 * it worth holding the next flush back a little so that it takes more records? With many clients in
 * a closed loop and one statement in flight, batches alternate between two halves of the clients (one
 * half in the statement while the other's answers go out and their next requests come in), and each
 * request waits for two statements. The clients the last statement just answered (`returning`: its
 * records less what arrived since) are about to send again: holding the flush until they are back
 * merges the halves, and then keeps them merged (the first of them back waits for the others). That
 * pays only when the statement waits on the disk (EWMA ≥ LINGER_MIN_STATEMENT_MS: a durable PostgreSQL commit,
 * whose WAL flush is the append slot's cost), so the wait is relative to it: at most LINGER_FRACTION
 * of the statement's latency after the previous one landed (capped by `maxWaitMs`), and only while
 * the records expected would grow the batch by a quarter. On PGlite (`onThread`) the statement's cost
 * is this thread's CPU instead, so it pays whatever the latency: the window is `maxWaitMs`
 * (LINGER_ON_THREAD_MS). A lone request (-c 1) is its own returning
 * client: nothing else is expected, it never waits; neither does sparse traffic, whose arrivals since
 * the last landing already outnumber that flush's records. Measured against the previous rule (a
 * fixed 2 ms cap and ≥ 2 arrivals expected within it, which never held at these rates), same run,
 * fsync on, 2 loaded cores, statements of 7-20 ms: records per statement 8.4 → 12.8 at 16 clients and
 * 2.0 → 3.4 at 4, req/s +12% at both, server CPU per request −21% and −25%; -c 1 never lingered.
 * Returns the wait in ms (0: flush now) and the queue length that ends it early (everyone back,
 * capped by the largest batch).
 */
export function lingerFor(s: LingerState): { waitMs: number; target: number } {
  const none = { waitMs: 0, target: 0 };
  if (s.maxWaitMs <= 0 || s.queued === 0 || s.queued >= s.batchMax) return none;
  let window = s.maxWaitMs;
  if (!s.onThread) {
    if (!(s.statementMs >= LINGER_MIN_STATEMENT_MS)) return none;
    window = Math.min(s.maxWaitMs, s.statementMs * LINGER_FRACTION);
  }
  const waitMs = window - s.sinceLandedMs;
  if (!(waitMs > 0)) return none;
  if (!(s.returning >= 1 && s.returning >= s.queued / 4)) return none;
  return { waitMs, target: Math.min(s.batchMax, s.queued + s.returning) };
}

/** The linger's moving average of the statement's latency: the first sample, then 0.3 of each new one. */
function ewma(avg: number, sample: number): number {
  return avg === 0 ? sample : avg * 0.7 + sample * 0.3;
}

/** What the log reports for metrics: each group commit's size and time, and in-transaction appends. */
export interface AuditObserver {
  auditBatch(records: number, seconds: number, ok: boolean): void;
  auditInTransaction(records: number): void;
}

/** A batch built on a head, and the head after it. */
interface Built {
  batch: AuditBatchWrite;
  after: AuditHead;
  /** The records' leaf hashes (32 bytes each) and the leaves' UTF-8 length, kept in `committedBatches` when the batch lands. */
  hashes: Uint8Array;
  leafBytes: number;
}

interface Pending {
  leaf: string;
  input: AuditInput | undefined;
  resolve: (idx: number) => void;
  reject: (err: unknown) => void;
  /** performance.now() past which the append fails (see #expire). */
  deadline: number;
  settled: boolean;
}

export class AuditLog {
  readonly #db: Db;
  readonly #deadlineMs: number;
  readonly #maxQueue: number;
  readonly #batchMax: number;
  readonly #inFlight: number;
  readonly #observer: AuditObserver | undefined;
  readonly #sealer: InputSealer | undefined;
  /** The group commit's append statement: on the driver's client directly when it can (audit-repos.ts). */
  readonly #append: AuditBatchAppender;
  #queue: Pending[] = [];
  /**
   * Every append not yet settled when last looked at, in append order, which is deadline order (one
   * deadline for all): [#waitingFrom, length) holds them, settled ones included until #release or
   * #expire passes them. One timer (#timer) watches the oldest, instead of a timer per record:
   * creating and clearing a Timeout per request cost about 2% of the dev server's CPU (issue 14).
   */
  #waiting: (Pending | undefined)[] = [];
  #waitingFrom = 0;
  #timer: NodeJS.Timeout | undefined;
  /** The head after every flush this node sent, if they all land as built (undefined: read it). */
  #tip: AuditHead | undefined;
  /**
   * Flushes sent so far, and the newest one's settling: the head after it when it landed, else
   * undefined (a flush that missed waits for the one before it; see #flush).
   */
  #seq = 0;
  #lastFlush: Promise<AuditHead | undefined> = Promise.resolve(undefined);
  readonly #flushes = new Set<Promise<void>>();
  #scheduled = false;
  #closed = false;
  /**
   * The adaptive linger (lingerFor): its cap, the statement's EWMA, appends so far, the last landed
   * flush (when, its records, appends by then), and the held flush's timer and target.
   */
  readonly #lingerMaxMs: number;
  /** The statements run on this thread (PGlite; see lingerFor). */
  readonly #onThread: boolean;
  #statementMs = 0;
  #arrivals = 0;
  #landedAt = 0;
  #landedRecords = 0;
  #landedArrivals = 0;
  #lingerTimer: NodeJS.Timeout | undefined;
  #lingerTarget = 0;
  /** Flushes held back by the linger (for tests and the bench). */
  lingers = 0;
  /** Records this node committed, and statements it ran (for metrics and the bench). */
  committed = 0;
  statements = 0;
  /** Compare-and-set statements that found the head moved (another node or a transaction appended first). */
  conflicts = 0;
  /** Statements sent again unchanged after overtaking this node's previous flush (see #flush). */
  resends = 0;
  /** Policy inputs not kept because the HSM sealed before their batch was written (see #flush). */
  inputsDropped = 0;
  /** The batches this log's group commit landed lately, with their leaf hashes (for the integrator: committed.ts). */
  readonly committedBatches = new CommittedBatches();

  private constructor(db: Db, opts: AuditLogOptions) {
    this.#db = db;
    this.#deadlineMs = opts.deadlineMs ?? AUDIT_DEADLINE_MS_DEFAULT;
    this.#maxQueue = opts.maxQueue ?? AUDIT_QUEUE_MAX_DEFAULT;
    this.#batchMax = Math.max(1, Math.min(opts.batchMax ?? AUDIT_BATCH_MAX, AUDIT_BATCH_MAX));
    this.#inFlight = Math.max(1, Math.min(opts.flushesInFlight ?? 1, 4));
    this.#observer = opts.observer;
    this.#sealer = opts.sealer;
    this.#append = directAuditAppender(db) ?? ((base, b) => casAppendAuditBatch(db, base, b));
    const client = (db as { $client?: { unsafe?: unknown } }).$client;
    const postgresJs = typeof client?.unsafe === 'function';
    // The other driver, PGlite, runs its statements on this thread.
    this.#onThread = !postgresJs;
    this.#lingerMaxMs = Math.max(
      0,
      Math.min(opts.lingerMaxMs ?? (postgresJs ? LINGER_MAX_MS : LINGER_ON_THREAD_MS), 20),
    );
  }

  /** Records waiting for a flush (not yet in a statement). */
  get queued(): number {
    return this.#queue.length;
  }

  static async open(db: Db, opts: AuditLogOptions = {}): Promise<AuditLog> {
    await ensureAuditRows(db);
    return new AuditLog(db, opts);
  }

  /**
   * Queues a record (and optionally its encrypted policy input) and resolves with its index once it
   * is durable. The record is validated and canonicalized here, so a bad record fails its caller only.
   */
  append(record: AuditRecord, input?: AuditInput): Promise<number> {
    if (this.#closed)
      return Promise.reject(new KeywardError('AUDIT_UNAVAILABLE', 'the audit log is closed; nothing can be recorded'));
    if (input && !this.#sealer)
      return Promise.reject(new TypeError('this audit log was opened without a sealer: it cannot keep policy inputs'));
    const leaf = encodeRecordText(record);
    if (this.#queue.length >= this.#maxQueue) {
      return Promise.reject(
        new KeywardError(
          'AUDIT_QUEUE_FULL',
          `the audit queue is full (${this.#maxQueue} records waiting); retry shortly`,
          { details: { retryAfter: 1 } },
        ),
      );
    }
    return new Promise<number>((resolve, reject) => {
      const deadline = performance.now() + this.#deadlineMs;
      const p: Pending = { leaf, input, resolve, reject, deadline, settled: false };
      this.#waiting.push(p);
      this.#timer ??= setTimeout(() => this.#expire(), this.#deadlineMs);
      this.#queue.push(p);
      this.#arrivals++;
      if (this.#lingerTimer) {
        if (this.#queue.length >= this.#lingerTarget) this.#endLinger();
      } else this.#kick(true);
    });
  }

  /**
   * The deadline timer fired: fails every append past its deadline with AUDIT_UNAVAILABLE, and
   * watches the oldest one left. One still queued is dropped, so it never commits after its request
   * failed; one already flushing may still commit, which records a request that answered 503 — the
   * safe side.
   */
  #expire(): void {
    this.#timer = undefined;
    const now = performance.now();
    const w = this.#waiting;
    let i = this.#waitingFrom;
    let expired: Set<Pending> | undefined;
    for (; i < w.length; i++) {
      const p = w[i]!;
      if (!p.settled) {
        if (p.deadline > now) break;
        p.settled = true;
        (expired ??= new Set()).add(p);
        p.reject(
          new KeywardError(
            'AUDIT_UNAVAILABLE',
            `the audit record was not durable within ${this.#deadlineMs} ms; nothing was released, retry shortly`,
            { details: { retryAfter: 1 } },
          ),
        );
      }
      w[i] = undefined;
    }
    if (expired) this.#queue = this.#queue.filter((p) => !expired.has(p));
    this.#waitingFrom = i;
    this.#release();
    const oldest = this.#waiting[this.#waitingFrom];
    if (oldest) {
      // Timers may fire up to a millisecond early against performance.now(): never re-arm for 0.
      const next = oldest.deadline - now;
      this.#timer = setTimeout(() => this.#expire(), Math.max(1, Math.ceil(next)));
    }
  }

  /**
   * Forgets the settled appends at the front of #waiting (a flush settles its batch in append order),
   * so they are garbage at once, and stops the timer when nothing waits: an idle log holds no timer
   * that would keep the process alive.
   */
  #release(): void {
    const w = this.#waiting;
    let i = this.#waitingFrom;
    while (i < w.length && w[i]!.settled) w[i++] = undefined;
    if (i === w.length) {
      this.#waiting = [];
      this.#waitingFrom = 0;
      if (this.#timer) clearTimeout(this.#timer);
      this.#timer = undefined;
    } else if (i > 1024 && i * 2 > w.length) {
      this.#waiting = w.slice(i);
      this.#waitingFrom = 0;
    } else this.#waitingFrom = i;
  }

  /**
   * Appends records inside the caller's transaction, so a state change and its record commit or
   * roll back together: takes the head row's lock (held until that transaction ends), builds the
   * batch on the locked head and writes it. Two statements, both inside the caller's transaction.
   */
  async appendInTransaction(
    tx: Db,
    records: readonly AuditRecord[],
    inputs: readonly AuditInput[] = [],
  ): Promise<number> {
    if (records.length === 0) throw new TypeError('"records" expected at least one record');
    const items = records.map((r) => ({ leaf: encodeRecordText(r) }));
    const head = await readAuditHead(tx, { lock: true });
    const { batch } = this.#build(head, items, inputs);
    if (!(await casAppendAuditBatch(tx, head, batch)))
      throw new Error('the audit head moved while its row was locked (is the audit_head row missing?)');
    this.#observer?.auditInTransaction(records.length);
    return head.size;
  }

  /**
   * The batch of `items` on `base`: each record's chain value, chain_i = SHA-256(chain_{i-1} ‖
   * SHA-256(0x00 ‖ leaf_i)), the leaves joined by "\n", and the inputs sealed as one blob at the
   * batch's path. The leaves are encoded to UTF-8 once for the whole batch and hashed in place
   * (`leafHashesInto`); the leaf hashes and chain values share one buffer of their own, which
   * `committedBatches` keeps as it is. Throws what the sealer throws (SEALED).
   */
  #build(base: AuditHead, items: readonly { leaf: string }[], inputs: readonly AuditInput[]): Built {
    const n = items.length;
    let leaves = items[0]!.leaf;
    for (let i = 1; i < n; i++) leaves += '\n' + items[i]!.leaf;
    const own = Buffer.allocUnsafeSlow(64 * n);
    const { count, bytes } = leafHashesInto(leaves, own, 0);
    if (count !== n) throw new Error(`internal: ${n} audit records joined into ${count} leaves`);
    const hashes = own.subarray(0, 32 * n);
    const chains = own.subarray(32 * n);
    const pair = chainInput;
    pair.set(base.chain, 0);
    for (let i = 0; i < n; i++) {
      pair.set(hashes.subarray(32 * i, 32 * i + 32), 32);
      sha256Into(pair, chains, 32 * i);
      pair.set(chains.subarray(32 * i, 32 * i + 32), 0);
    }
    let sealed: Uint8Array | null = null;
    if (inputs.length > 0) {
      if (!this.#sealer)
        throw new TypeError('this audit log was opened without a sealer: it cannot keep policy inputs');
      sealed = this.#sealer.encrypt(batchInputsPath(base.size), packBatchInputs(inputs));
    }
    return {
      batch: { n, leaves, chains, inputs: sealed },
      after: { size: base.size + n, chain: chains.subarray(32 * (n - 1)) },
      hashes,
      leafBytes: bytes,
    };
  }

  /**
   * #build for the records of a flush. When the inputs cannot be sealed (the HSM sealed after these
   * requests were decided: a `sys.seal` request's own record is one), the records still commit —
   * they are what must be durable — without the inputs, which are only kept for replay, and are counted.
   */
  #buildLive(base: AuditHead, live: Pending[]): Built {
    try {
      return this.#build(base, live, inputsOf(live));
    } catch {
      this.inputsDropped += live.filter((p) => p.input).length;
      for (const p of live) p.input = undefined;
      return this.#build(base, live, []);
    }
  }

  /**
   * Starts a flush when there is work and fewer than `flushesInFlight` are running: the next
   * batch's statement is already waiting on the head row's lock when the previous one commits, which
   * saves a round trip per batch on PostgreSQL. The lock keeps commit order = index order. With
   * nothing in flight, `mayLinger` lets the adaptive linger hold it back (lingerFor).
   */
  #kick(mayLinger: boolean): void {
    if (this.#scheduled || this.#lingerTimer) return;
    if (this.#flushes.size >= this.#inFlight || this.#queue.length === 0) return;
    // Closing: no linger, so close() (which waits for flushes in flight and scheduled) drains the queue.
    if (mayLinger && !this.#closed && this.#lingerMaxMs > 0 && this.#flushes.size === 0) {
      const { waitMs, target } = lingerFor({
        queued: this.#queue.length,
        returning: Math.max(0, this.#landedRecords - (this.#arrivals - this.#landedArrivals)),
        sinceLandedMs: performance.now() - this.#landedAt,
        statementMs: this.#statementMs,
        onThread: this.#onThread,
        batchMax: this.#batchMax,
        maxWaitMs: this.#lingerMaxMs,
      });
      if (waitMs > 0) {
        this.lingers++;
        this.#lingerTarget = target;
        this.#lingerTimer = setTimeout(() => this.#endLinger(), waitMs);
        return;
      }
    }
    // Start on the next turn of the event loop, not now: the requests whose I/O arrived in this
    // turn queue their records first and share the statement. Without this, on PGlite (whose queries
    // run on this thread) every flush took one record and the dev server managed ~125 req/s.
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      while (this.#flushes.size < this.#inFlight && this.#queue.length > 0) {
        const f: Promise<void> = this.#flush().finally(() => {
          this.#flushes.delete(f);
          this.#kick(true);
        });
        this.#flushes.add(f);
      }
    });
  }

  /** The linger ends (its time passed or the queue reached its target): flush now. */
  #endLinger(): void {
    if (this.#lingerTimer) clearTimeout(this.#lingerTimer);
    this.#lingerTimer = undefined;
    this.#kick(false);
  }

  async #flush(): Promise<void> {
    const batch = this.#queue.splice(0, this.#batchMax);
    let live = batch.filter((p) => !p.settled);
    if (live.length === 0) return;
    const start = this.#observer ? performance.now() : 0;
    let ok = true;
    const seq = ++this.#seq;
    const before = this.#lastFlush;
    let settled!: (after: AuditHead | undefined) => void;
    this.#lastFlush = new Promise<AuditHead | undefined>((r) => (settled = r));
    let landedAt: AuditHead | undefined;
    try {
      let base = this.#tip ?? (await readAuditHead(this.#db));
      let built = this.#buildLive(base, live);
      let resent = false;
      for (let attempt = 1; ; attempt++) {
        // The next flush builds on this one (it waits on the head row's lock behind it).
        if (seq === this.#seq) this.#tip = built.after;
        let landed: boolean;
        if (attempt > MAX_CAS_TRIES) {
          landed = await withTransaction(this.#db, async (tx) => {
            const locked = await readAuditHead(tx, { lock: true });
            if (!sameHead(locked, base)) {
              base = locked;
              built = this.#buildLive(base, live);
              if (seq === this.#seq) this.#tip = built.after;
            }
            return casAppendAuditBatch(tx, base, built.batch);
          });
          if (!landed) throw new Error('the audit head moved while its row was locked');
        } else {
          const t0 = performance.now();
          landed = await this.#append(base, built.batch);
          this.#statementMs = ewma(this.#statementMs, performance.now() - t0);
        }
        this.statements++;
        if (landed) {
          this.committed += live.length;
          landedAt = built.after;
          const first = base.size;
          const { batch, hashes, leafBytes } = built;
          this.committedBatches.add({ first, n: batch.n, leafBytes, hashes, chains: batch.chains });
          for (let i = 0; i < live.length; i++) if (claim(live[i]!)) live[i]!.resolve(first + i);
          this.#landedAt = performance.now();
          this.#landedRecords = live.length;
          this.#landedArrivals = this.#arrivals;
          this.#release();
          return;
        }
        this.conflicts++;
        // The head was not `base`. Built on the predicted head of this node's previous flush, the
        // statement may only have overtaken that flush (another connection) while it was still in
        // flight: wait for it, and when it landed exactly on `base`, send the SAME statement again
        // (once) — nothing to read or rebuild. Otherwise another node or a transaction appended:
        // read the head and build again.
        const prev = await before;
        if (!resent && prev !== undefined && sameHead(prev, base)) {
          resent = true;
          this.resends++;
          continue;
        }
        base = await readAuditHead(this.#db);
        built = this.#buildLive(base, live);
      }
    } catch (err) {
      ok = false;
      if (seq === this.#seq) this.#tip = undefined;
      const cause = err instanceof Error ? err : new Error(String(err));
      for (const p of live) if (claim(p)) p.reject(unavailable(cause));
      this.#release();
    } finally {
      settled(landedAt);
      this.#observer?.auditBatch(live.length, (performance.now() - start) / 1000, ok);
    }
  }

  /** Waits for queued records to flush, then refuses new ones. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#lingerTimer) this.#endLinger();
    while (this.#flushes.size > 0 || this.#scheduled) {
      if (this.#flushes.size > 0) await Promise.all([...this.#flushes]);
      else await new Promise((r) => setImmediate(r));
    }
  }
}

/** chain_{i-1} ‖ leaf hash_i, for #build (synchronous, so one buffer serves every batch). */
const chainInput = Buffer.allocUnsafeSlow(64);

function sameHead(a: AuditHead, b: AuditHead): boolean {
  return a.size === b.size && Buffer.from(a.chain.buffer, a.chain.byteOffset, a.chain.byteLength).equals(b.chain);
}

function inputsOf(live: readonly Pending[]): AuditInput[] {
  const out: AuditInput[] = [];
  for (const p of live) if (p.input) out.push(p.input);
  return out;
}

function unavailable(cause: Error): KeywardError {
  return new KeywardError(
    'AUDIT_UNAVAILABLE',
    'the audit record could not be committed; nothing was released, retry shortly',
    {
      cause,
      details: { retryAfter: 1 },
    },
  );
}

/**
 * Marks an append settled, so that it is answered once; false when it already was (its deadline
 * came first). No callback: a flush settles every record of its batch, and a closure per record
 * cost more than the settling.
 */
function claim(p: Pending): boolean {
  if (p.settled) return false;
  p.settled = true;
  return true;
}
