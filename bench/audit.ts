/**
 * bench/audit: what the audit log costs, in one run on PostgreSQL (docs/architecture.md, "The audit log"; issue 5).
 *
 * 1. Durable appends/s. (a) Group commit: `concurrency` appenders (64) calling AuditLog.append with
 *    realistic records (an encrypt request's record, one in 20 a policy denial, each with its policy
 *    input), which the log flushes as one statement and one row per batch, the chain computed in Node
 *    and the batch's inputs packed (each against the one before it) and sealed as one blob (one
 *    statement in flight, as the server runs it). (b) One statement per record: the same appenders calling appendAuditLeaves (the SQL
 *    append, keyward_audit_append) with one leaf and its separately encrypted input each, every call
 *    its own autocommit transaction. Both encode the record the same way (encodeRecord). Measured in three
 *    alternating slices each; the ratio (a)/(b) is the figure. Then (a) again with two AuditLog
 *    instances on two stores ("nodes", each with its own connection pool) on the same database,
 *    half the appenders on each, after which the log is checked gap-free (rows = head size, indexes
 *    0..n-1, every index handed out once).
 *    (c) The group commit's statement alone (issue 14, item 1), one at a time on fresh databases
 *    (in-memory PGlite, and PostgreSQL when there is one): batches of 13 such records (the dev
 *    server's mean under 16 requests in flight) written as before issue 14 (format-1 inputs, the
 *    statement built by drizzle's query builder), with the inputs packed, on PGlite through its
 *    `query` as the previous release sent it (parsed and planned on every call, bytea as hex text),
 *    and as the log writes them now (packed, on the driver's client: on PGlite prepared once and
 *    bound with binary parameters, engine/store/pglite-wire.ts); µs and this process's CPU µs per
 *    statement, medians of four alternating slices. Then the log's statement at 4 and 16 records (the
 *    halves of 16 clients, and all of them), its cost fitted as fixed + per record × n: wall, this
 *    process's CPU, and on a local PostgreSQL its backend's CPU (from /proc: the commit's WAL write
 *    and flush included), which says what more records per statement would save.
 * 2. End-to-end 1 KiB encrypt (aes256-gcm) over real HTTP on loopback with audit on vs off: two
 *    servers in their own processes (bench/helpers/audit-server.ts; the off one is
 *    `Hsm.open({audit: false})`), each on its own database; an app-role token; 16 requests in
 *    flight on keep-alive connections (bench/helpers/load-client.ts, which says why not node:http's
 *    client; `--node-http` uses that one), or at each of the counts --http-concurrency lists, in
 *    turn within each group of slices; a warm-up, then three slices per side in alternating order
 *    (on, off, bare, bare, off, on, on, bare, off) so machine noise falls on all sides. The ratio
 *    on/off is the figure. The bare side is the bare Koa AES-GCM endpoint of bench/api
 *    (bench/helpers/bare-aead-server.ts: no auth, policy, audit or database): full pipeline (audit
 *    on) ÷ bare is issue 14's PostgreSQL figure. Then the same three servers under autocannon (an external load generator, as
 *    bench/api has beside its own client; issue 14, item 2), at each count: on, off, bare, bare, off,
 *    on, on, off, bare, a slice each (as many and as long as our client's); its ratios are printed
 *    and judged beside our client's (the two load the servers differently, see EncryptFigures.autocannon).
 *    The audit-on server's /metrics say how many append statements the slices
 *    took, with how many records each and how long one took. On Linux, /proc gives each server's
 *    CPU per request over its slices (on − off: what the audit log adds on the server's side) and,
 *    when the cluster runs on this machine, the CPU of the audit-on database's backends per append
 *    statement and per record.
 * 3. `audit verify` records/s over the log that part 1 (and a top-up to ≥ 50,000 records) wrote,
 *    after integrating it (AuditIntegrator, with Ed25519 + ML-DSA-44 checkpoint signing), with the
 *    engine's LogVerifier (engine/audit/verifier/verify-log.ts) that `keyward audit verify` runs: each leaf
 *    decoded (strict RFC 8785 + record validation), hashed and its chain value checked, in worker
 *    threads by chunk; the leaf hashes folded into the tree in order; the root compared with the
 *    signed checkpoint (whose signatures are checked) and the tree row. Measured in-process over
 *    rows already fetched (the pure verification work; also as CPU µs/record, which a busy machine
 *    distorts less), again with no worker threads, and end to end (fetching pages of 10,000 rows
 *    from the database while verifying). Each stage is also timed alone, to say where the time goes.
 *
 * Database: KEYWARD_BENCH_DATABASE_URL (a superuser URL; the bench creates and drops its own
 * databases), else a throwaway cluster from the local PostgreSQL binaries with fsync and
 * synchronous_commit on (bench/helpers/pg.ts), else PGlite in memory (loudly: no durability, no
 * second node). The server's fsync/synchronous_commit settings are reported with the figures: with
 * fsync off nothing is durable and the per-record baseline looks far better than it is.
 *
 * Targets (issue 5), reported as met/missed without failing the run: group commit ≥ 10× one
 * statement per record; encrypt with audit on ≥ 80% of off (issue 14; with our client, and apart
 * under autocannon); verification ≥ 100,000 records/s.
 * The run fails (exit 1) when a consistency check fails: an append or a request failed, the two-node
 * log is not gap-free, the audit-on log lacks records of acknowledged requests, or the verification
 * does not reach the tree row's root.
 *
 * Options: --json, --smoke (seconds per part, a 2,000-record log: the same code paths and checks),
 * --compare-flushes=N (a second audit-on server with N append statements in flight, in part 2's slices),
 * --compare-integrate-ms=N (the same with the integrator running every N ms: N = 600000 leaves it
 * out of the slices, which says what it costs), --compare-async-commit (the same on a database with
 * synchronous_commit off, for diagnosis only: its commits do not wait for the WAL flush, so nothing
 * it answers is durable; beside the audit-on server it says what waiting for the flush costs the
 * server's CPU),
 * --concurrency=N (appenders, default 64), --append-slice=SECONDS (each of the 3 slices per append
 * mode, default 1), --http-concurrency=N[,N…] (default 16; several, e.g. 16,64: part 2 at each count
 * on the same servers, the counts' slices interleaved, each figure printed; the targets judge the
 * figure at 16, issue 14's setting, when it is listed, else the first, and show the others beside
 * it), --slice=SECONDS (each of the 3 slices per side and count, default 3), --warmup=SECONDS
 * (default 1), --min-records=N (default 50000), --node-http (part 2's load with node:http's client).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import postgres from 'postgres';
import { AuditIntegrator } from '../engine/audit/log/integrator.js';
import type { CheckpointSigner } from '../engine/audit/log/integrator.js';
import { AuditLog } from '../engine/audit/log/log.js';
import { appendLeaves, leafHash } from '../engine/audit/math/merkle.js';
import { sha256Fast } from '../engine/audit/verifier/sha256-fast.js';
import { LogVerifier, VerifyPool } from '../engine/audit/verifier/verify-log.js';
import type { StoredRecord } from '../engine/audit/verifier/verify-log.js';
import {
  checkpointBody,
  ed25519Signer,
  mlDsa44CosignerSigner,
  parseVerifierKey,
  signNote,
  verifyNote,
} from '../engine/audit/math/note.js';
import { decodeRecord, encodeRecord } from '../engine/audit/math/record.js';
import { encodeBatchInputs, packBatchInputs } from '../engine/audit/log/inputs.js';
import type { AuditInput } from '../engine/audit/log/inputs.js';
import { encodePolicyInput } from '../engine/policy/sandbox/abi.js';
import { aeadSeal, label } from '../engine/seal/aead.js';
import type { AuditRecord } from '../engine/audit/math/record.js';
import {
  appendAuditLeaves,
  auditHeadSize,
  casAppendAuditBatch,
  directAuditAppender,
  ensureAuditRows,
  getAuditTree,
  latestAuditCheckpoint,
  openStore,
  queryRows,
  readAuditHead,
  readAuditRecords,
} from '../engine/store/index.js';
import type { AuditBatchWrite, AuditHead, AuditRecordRow, Db, Store, StoredInput } from '../engine/store/index.js';
import { CAS_APPEND_SQL, casAppendParams } from '../engine/store/audit-repos.js';
import { auditAppendConnection } from '../engine/store/driver.js';
import { Client, http200, load, round, startChild, summarize } from './helpers/http.js';
import type { Child, LoadResult, Slice } from './helpers/http.js';
import { loadClient } from './helpers/load-client.js';
import type { LoadClient } from './helpers/load-client.js';
import { cannon, summarizeCannon } from './helpers/autocannon.js';
import type { CannonResult, CannonSlice } from './helpers/autocannon.js';
import { benchPostgres, benchSql } from './helpers/pg.js';
import type { BenchPostgres } from './helpers/pg.js';
import { Checks, isSmoke, median, option, optionList, procCpuSeconds, table } from './util.js';
import type { BenchOptions } from './util.js';

const TARGETS = { groupOverSingle: 10, auditOnOverOff: 0.8, verifyRecordsPerSec: 100_000 } as const;
const PAGE = 10_000;
const decoder = new TextDecoder();

const status = (met: boolean) => (met ? 'met' : 'missed');

// ---------------------------------------------------------------------------------------------
// Realistic records: what the pipeline writes for an encrypt request (Hsm.request; the leaf of a
// real one is ~500 bytes), one in 20 a policy denial, each with its policy input (the ~100 bytes the
// pipeline encodes, engine/policy/sandbox/abi.ts; the log packs and seals a batch's inputs as one
// AES-256-GCM blob, as the barrier does). `stored` is one random 160-byte blob, what the one-statement-
// per-record baseline stores (no encryption counted on that side).

const POLICY_SHA256 = createHash('sha256').update('keyward/bench/default-policy').digest('hex');

/** Seals a batch's inputs as the barrier does (AES-256-GCM, path in the AAD), under a throwaway key. */
const benchSealer = (() => {
  const key = new Uint8Array(randomBytes(32));
  return { encrypt: (path: string, plaintext: Uint8Array) => aeadSeal(key, plaintext, label('keyward/bench', path)) };
})();

function recordFactory(node: string): () => { record: AuditRecord; input: AuditInput; stored: StoredInput } {
  let i = 0;
  const prefix = randomBytes(4).toString('hex');
  const t0 = Date.now();
  return () => {
    i++;
    const denied = i % 20 === 0;
    const blob = randomBytes(160);
    // The policy input as the pipeline encodes it for an encrypt request (near-identical from one
    // request to the next: the time differs), so a batch's blob packs as the server's does.
    const bytes = encodePolicyInput({
      operation: 'encrypt',
      principal: 'bench-app',
      roles: ['app'],
      key: { name: 'bench-aes', type: 'aes256-gcm', version: 1, labels: {} },
      attributes: {},
      payloadBytes: 1024,
      time: t0 + i, // 1 ms apart (1,000 requests/s): every input in a batch differs, the worst case for packing
      approvals: 0,
    });
    const digest = createHash('sha256').update(bytes).digest('hex');
    const record: AuditRecord = {
      v: 1,
      time: new Date().toISOString(),
      node,
      requestId: prefix + i.toString(16).padStart(8, '0'),
      principal: 'bench-app',
      operation: 'encrypt',
      key: 'bench-aes',
      keyVersion: 1,
      policies: [{ sha256: POLICY_SHA256, decision: denied ? 'deny' : 'allow', gas: 1380 + (i % 97) }],
      decision: denied ? 'deny' : 'allow',
      reason: denied ? 'payload larger than the key policy allows' : 'role app',
      approvalId: null,
      inputDigest: digest,
      status: denied ? 403 : 200,
      code: denied ? 'POLICY_DENIED' : null,
      sizes: { in: 1026, out: 0 },
      details: null,
    };
    return { record, input: { digest, bytes }, stored: { digest, blob } };
  };
}

// ---------------------------------------------------------------------------------------------
// Part 1: appends

interface AppendFigures {
  groupCommit: LoadResult & { recordsPerStatement: number };
  oneStatementPerRecord: LoadResult;
  groupOverSingle: number;
  twoNodes: LoadResult & {
    perNode: [number, number];
    recordsPerStatement: number;
    gapFree: boolean;
    check: {
      rows: number;
      head: number;
      minIdx: number;
      maxIdx: number;
      indexesHandedOut: number;
      duplicates: number;
      outOfRange: number;
    };
  };
}

async function appends(
  storeA: Store,
  openSecond: (() => Promise<Store>) | undefined,
  o: { concurrency: number; sliceMs: number; warmupMs: number },
  log: (s: string) => void,
): Promise<{ figures: AppendFigures; logA: AuditLog; storeB?: Store }> {
  const db = storeA.db;
  // One append statement in flight, as Hsm.open runs the log.
  const flushesInFlight = 1;
  const logA = await AuditLog.open(db, { sealer: benchSealer, flushesInFlight });
  const genA = recordFactory('bench-node-a');
  const group = () => {
    const { record, input } = genA();
    return logA.append(record, input);
  };
  const single = async () => {
    const { record, stored } = genA();
    return (await appendAuditLeaves(db, [decoder.decode(encodeRecord(record))], [stored])).first;
  };
  log(
    `appends: ${o.concurrency} in flight, group commit vs one statement per record, 3 alternating slices of ${o.sliceMs / 1000} s each...`,
  );
  const g: Slice[] = [];
  const s: Slice[] = [];
  let stmts = 0;
  let committed = 0;
  for (let r = 0; r < 3; r++) {
    const warm = r === 0 ? Math.min(o.warmupMs, 500) : 100;
    const st0 = logA.statements;
    const c0 = logA.committed;
    g.push(await load(group, { concurrency: o.concurrency, warmupMs: warm, durationMs: o.sliceMs }));
    stmts += logA.statements - st0;
    committed += logA.committed - c0;
    s.push(await load(single, { concurrency: o.concurrency, warmupMs: warm, durationMs: o.sliceMs }));
  }
  const groupCommit = { ...summarize(g), recordsPerStatement: round(committed / Math.max(1, stmts), 1) };
  const oneStatementPerRecord = summarize(s);

  // Two nodes: two stores (two pools) on one database, an AuditLog on each.
  let twoNodes: AppendFigures['twoNodes'] | undefined;
  let storeB: Store | undefined;
  if (openSecond) {
    log(`appends: two nodes on one database, ${o.concurrency / 2} in flight on each, ${(o.sliceMs * 3) / 1000} s...`);
    storeB = await openSecond();
    const logB = await AuditLog.open(storeB.db, { sealer: benchSealer, flushesInFlight });
    const genB = recordFactory('bench-node-b');
    const before = await auditHeadSize(db);
    const got: number[] = [];
    // Collects the index beside the caller's await, adding no step to its path: an appender that
    // came back later than the flush's next kick would split the batches.
    const track = (p: Promise<number>) => {
      p.then(
        (i) => void got.push(i),
        () => {},
      );
      return p;
    };
    const onA = (async () => {
      const st0 = logA.statements;
      const c0 = logA.committed;
      const slice = await load(
        () => {
          const { record, input } = genA();
          return track(logA.append(record, input));
        },
        { concurrency: Math.ceil(o.concurrency / 2), warmupMs: 200, durationMs: o.sliceMs * 3 },
      );
      return { slice, statements: logA.statements - st0, committed: logA.committed - c0 };
    })();
    const onB = (async () => {
      const slice = await load(
        () => {
          const { record, input } = genB();
          return track(logB.append(record, input));
        },
        { concurrency: Math.floor(o.concurrency / 2), warmupMs: 200, durationMs: o.sliceMs * 3 },
      );
      return { slice, statements: logB.statements, committed: logB.committed };
    })();
    const [a, b] = await Promise.all([onA, onB]);
    await logB.close();
    const after = await auditHeadSize(db);
    const [row] = await queryRows<{ n: string | number; lo: string | number | null; hi: string | number | null }>(
      db,
      sql`select count(*)::bigint as n, min(idx) as lo, max(idx) as hi from audit_records`,
    );
    const rows = Number(row!.n);
    const minIdx = row!.lo === null ? -1 : Number(row!.lo);
    const maxIdx = row!.hi === null ? -1 : Number(row!.hi);
    const seen = new Set<number>();
    let duplicates = 0;
    let outOfRange = 0;
    for (const i of got) {
      if (seen.has(i)) duplicates++;
      seen.add(i);
      if (i < before || i >= after) outOfRange++;
    }
    // Reported even when every append failed (the cause is in firstError), so the run still ends with figures.
    const both: LoadResult =
      a.slice.completed + b.slice.completed > 0
        ? summarize([a.slice, b.slice])
        : {
            rps: 0,
            completed: 0,
            errors: a.slice.errors + b.slice.errors,
            firstError: a.slice.firstError ?? b.slice.firstError ?? 'none completed',
            n: 0,
            p50Ms: NaN,
            p99Ms: NaN,
            maxMs: NaN,
          };
    // Every index handed out in the window is unique and inside it; with no failed appends, the
    // window's indexes are exactly [before, after).
    const exact = a.slice.errors + b.slice.errors > 0 || seen.size === after - before;
    const gapFree =
      rows === after && minIdx === 0 && maxIdx === after - 1 && duplicates === 0 && outOfRange === 0 && exact;
    twoNodes = {
      ...both,
      perNode: [
        round(a.slice.completed / ((o.sliceMs * 3) / 1000), 1),
        round(b.slice.completed / ((o.sliceMs * 3) / 1000), 1),
      ],
      recordsPerStatement: round((a.committed + b.committed) / Math.max(1, a.statements + b.statements), 1),
      gapFree,
      check: { rows, head: after, minIdx, maxIdx, indexesHandedOut: got.length, duplicates, outOfRange },
    };
  }
  return {
    figures: {
      groupCommit,
      oneStatementPerRecord,
      groupOverSingle: round(groupCommit.rps / oneStatementPerRecord.rps, 2),
      ...(twoNodes ? { twoNodes } : {}),
    } as AppendFigures,
    logA,
    ...(storeB ? { storeB } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// Part 2: encrypt over HTTP, audit on vs off

interface EncryptFigures {
  /** Requests in flight on each side. */
  concurrency: number;
  on: LoadResult;
  off: LoadResult;
  onOverOff: number;
  /** The bare Koa AES-GCM endpoint (no database) and the full pipeline (audit on) ÷ it. */
  bare: LoadResult;
  onOverBare: number;
  /**
   * --compare-flushes=N / --compare-integrate-ms=N / --compare-async-commit: a second audit-on server
   * with N append statements in flight, its integrator every N ms, or its database's commits not
   * waiting for the WAL flush (not durable: diagnosis only), in slices among the others.
   */
  compared?: LoadResult & { flushes: number; integrateMs?: number; asyncCommit?: true };
  onOverCompared?: number;
  /**
   * The same three servers under autocannon (an external load generator, as bench/api has beside its
   * own client), at the same count in flight, after the own client's slices: CANNON_ORDER, each a
   * slice long. On two cores the load generator shares the machine with the servers and the
   * database. Both generators write whole prebuilt requests on plain sockets and load the servers
   * similarly (on ÷ off 0.816 with ours and 0.825 with autocannon on the same servers in one run);
   * node:http's client (`--node-http`) did not (0.699; bench/helpers/load-client.ts). A
   * lighter client gets fewer requests/s from the bare endpoint, not more: against it (16 in
   * flight, alternating slices, 2026-12-06) node:http's client spent 55–85 µs of CPU per request
   * and got 10,100–14,800 req/s at 69–89 µs of the endpoint's CPU per request; autocannon spent
   * 43–54 µs and got 8,800–10,500 at 97–120; ours 32 µs and 12,172 at 83 (against node:http's
   * 14,074 at 70 in the same run): on loopback each answer to a client asleep in epoll_wait costs the
   * server an interrupt to wake it (bench/helpers/load-client.ts has the measurements).
   * Both generators' figures are printed, each judged apart. Its slices were half as long and two
   * per side until the figures were seen to swing between runs (on ÷ off at 16: 0.73–0.91 in five
   * runs).
   */
  autocannon?: { on: CannonResult; off: CannonResult; bare: CannonResult; onOverOff: number; onOverBare: number };
  sliceOrder: string;
  /** Records in the audit-on server's log after the run (≥ its successful requests at every count). */
  recordsCommittedOn?: number;
  /** Every successful audit-on request in the windows has its record (records ≥ successes). */
  recordsCoverRequests?: boolean;
  serverLeafBytesMean?: number;
  /**
   * The audit-on server's group commits over the measured slices (its /metrics): statements, records
   * per statement, and the mean time of one append statement (round trip, execution and the commit's
   * WAL flush) — what an audited request waits for beyond the unaudited one.
   */
  appendsOn?: {
    statements: number;
    recordsPerStatement: number;
    meanStatementMs: number;
    /**
     * The share of the audit-on slices' time during which an append statement was in flight (one at
     * a time): near 1, throughput is bound by the statement's latency (round trip, execution, the
     * WAL flush) times records per statement; well below 1, by CPU.
     */
    busyFraction: number;
  };
  /**
   * PostgreSQL's WAL over the audit-on slices (pg_stat_wal; the flush time with track_wal_io_timing,
   * set on the audit-on database): how many WAL flushes (fdatasync) the statements waited for and
   * how long one took — the part of meanStatementMs that is the disk, the rest being the round trip,
   * execution and scheduling — and the WAL written per statement (the integrator's writes included).
   * Also for the compared server's slices.
   */
  walOn?: WalFigures;
  walCompared?: WalFigures;
  /**
   * CPU over the measured slices, from /proc/<pid>/stat (Linux; absent elsewhere): each server
   * process's CPU (all its threads) per successful request, and auditUsPerRequest = on − off, what
   * the audit log adds on the server's side; and, when the cluster runs on this machine, the CPU of
   * the audit-on database's PostgreSQL backends (its pool and append connection) per append
   * statement, per record and per request. On a machine where the server's event loop is the
   * bottleneck, on ÷ off follows these.
   */
  cpu?: CpuFigures;
}

interface CpuFigures {
  serverOnUsPerRequest: number;
  serverOffUsPerRequest: number;
  auditUsPerRequest: number;
  /** The compared server's CPU per request, when there is one (--compare-…). */
  serverComparedUsPerRequest?: number;
  postgresOn?: { usPerStatement?: number; usPerRecord?: number; usPerRequest: number; backends: number };
}

/**
 * The PostgreSQL backends serving database `name`'s connections from Keyward (application_name
 * 'keyward'), when they are processes of this machine: each pid is checked to be a postgres
 * process (a remote server's pids mean nothing here). Empty when none qualifies.
 */
async function localBackends(client: postgres.Sql, name: string): Promise<number[]> {
  try {
    const rows = await client<{ pid: number }[]>`
      select pid from pg_stat_activity where datname = ${name} and application_name = 'keyward'`;
    return rows
      .map((r) => r.pid)
      .filter((pid) => {
        try {
          return /postgres/.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
        } catch {
          return false;
        }
      });
  } catch {
    return [];
  }
}

interface WalFigures {
  flushes: number;
  /** Mean ms per WAL flush; undefined when the server would not time them (track_wal_io_timing). */
  meanFlushMs?: number;
  walKB: number;
}

/** pg_stat_wal's counters (PostgreSQL 14+), or undefined (an older server, or no access). */
async function walCounters(
  client: postgres.Sql,
): Promise<{ syncs: number; syncMs: number; bytes: number; timed: boolean } | undefined> {
  try {
    const [w] = await client<{ syncs: number; ms: number; bytes: number; timed: string }[]>`
      select wal_sync::float8 as syncs, wal_sync_time::float8 as ms, wal_bytes::float8 as bytes,
             current_setting('track_wal_io_timing') as timed from pg_stat_wal`;
    return w ? { syncs: w.syncs, syncMs: w.ms, bytes: w.bytes, timed: w.timed === 'on' } : undefined;
  } catch {
    return undefined;
  }
}

/** keyward_audit_append_duration_seconds and keyward_audit_batch_records (sums and counts) from /metrics text. */
function auditAppendMetrics(text: string): { seconds: number; statements: number; records: number } {
  const value = (name: string) => {
    const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'm').exec(text);
    return m ? Number(m[1]) : NaN;
  };
  return {
    seconds: value('keyward_audit_append_duration_seconds_sum'),
    statements: value('keyward_audit_append_duration_seconds_count'),
    records: value('keyward_audit_batch_records_sum'),
  };
}

/** autocannon's slices in part 2, at each count: three per side, as our client has, alternating. */
const CANNON_ORDER = ['on', 'off', 'bare', 'bare', 'off', 'on', 'on', 'off', 'bare'] as const;

async function encryptOnOff(
  pg: BenchPostgres | undefined,
  o: {
    concurrencies: readonly number[];
    sliceMs: number;
    warmupMs: number;
    flushes: number | undefined;
    compareFlushes: number | undefined;
    compareIntegrateMs: number | undefined;
    compareAsyncCommit: boolean;
    /** The bench's arguments (`--node-http`: {@link loadClient}). */
    args: readonly string[];
  },
  logDir: string,
  started: Child[],
  clients: Array<Client | LoadClient>,
  log: (s: string) => void,
): Promise<EncryptFigures[]> {
  const dbs = pg
    ? await Promise.all([pg.createDatabase('on'), pg.createDatabase('off'), pg.createDatabase('compared')])
    : undefined;
  const entry = ['--import', './scripts/register-ts.mjs', 'bench/helpers/audit-server.ts'];
  const where = (i: number) => (dbs ? ['--database-url', dbs[i]!.url] : ['--memory']);
  const comparing = o.compareFlushes !== undefined || o.compareIntegrateMs !== undefined || o.compareAsyncCommit;
  // Time the audit-on servers' WAL flushes (pg_stat_wal): set before they connect (a superuser may);
  // the client reading the counters connects after, so it reports the databases' setting.
  if (dbs) {
    const admin = await benchSql(dbs[0]!.url, { max: 1 });
    try {
      for (const d of [dbs[0]!, dbs[2]!])
        await admin.unsafe(`alter database "${d.name}" set track_wal_io_timing = on`).catch(() => {});
      // The compared database's commits do not wait for the WAL flush (diagnosis only: not durable).
      if (o.compareAsyncCommit) await admin.unsafe(`alter database "${dbs[2]!.name}" set synchronous_commit = off`);
    } finally {
      await admin.end({ timeout: 1 });
    }
  }
  const wal = dbs ? await benchSql(dbs[0]!.url, { max: 1 }) : undefined;
  log('encrypt: starting the audit-on and audit-off servers and the bare endpoint...');
  const both = await Promise.allSettled([
    startChild(
      'audit-on',
      [...entry, ...where(0), '--audit', 'on', ...(o.flushes ? ['--flushes', String(o.flushes)] : [])],
      logDir,
    ),
    startChild('audit-off', [...entry, ...where(1), '--audit', 'off'], logDir),
    startChild('bare', ['--import', './scripts/register-ts.mjs', 'bench/helpers/bare-aead-server.ts'], logDir),
    ...(comparing
      ? [
          startChild(
            'audit-on-compared',
            [
              ...entry,
              ...where(2),
              '--audit',
              'on',
              ...(o.compareFlushes ? ['--flushes', String(o.compareFlushes)] : []),
              ...(o.compareIntegrateMs ? ['--integrate-ms', String(o.compareIntegrateMs)] : []),
            ],
            logDir,
          ),
        ]
      : []),
  ]);
  for (const r of both) if (r.status === 'fulfilled') started.push(r.value);
  for (const r of both) if (r.status === 'rejected') throw r.reason;
  const [on, off, bare, compared] = both.map((r) => (r as PromiseFulfilledResult<Child>).value) as [
    Child,
    Child,
    Child,
    Child | undefined,
  ];

  const plaintext = randomBytes(1024).toString('base64');
  const body = Buffer.from(JSON.stringify({ plaintext }));
  const admins: Client[] = [];
  /** Each server's app-role token (for autocannon's requests). */
  const tokens = new Map<Child, string>();
  // An app-role token and the key on each server; then one client per count of requests in flight.
  const setup = async (c: Child) => {
    const admin = new Client(c.addr, 2, c.hello.rootToken as string);
    clients.push(admin);
    admins.push(admin);
    const { token } = await admin.json('POST', '/v1/auth/tokens', {
      principal: 'bench-app',
      roles: ['app'],
      ttl: '1h',
    });
    await admin.json('POST', '/v1/keys', { name: 'bench-aes', type: 'aes256-gcm' });
    tokens.set(c, token as string);
    return async (n: number) => {
      const app = loadClient(o.args, c.addr, n, token as string);
      clients.push(app);
      const r = await app.send('POST', '/v1/keys/bench-aes/encrypt', body);
      const v = JSON.parse(r.body.toString('utf8'));
      if (r.status !== 200 || typeof v.ciphertext !== 'string')
        throw new Error(`encrypt on ${c.addr} → ${r.status}: ${r.body.toString('utf8').slice(0, 300)}`);
      return () => app.send('POST', '/v1/keys/bench-aes/encrypt', body);
    };
  };
  const onAt = await setup(on);
  const offAt = await setup(off);
  const comparedAt = compared ? await setup(compared) : undefined;
  // The bare endpoint: no token, the same body; its answer checked like the servers'.
  const bareAt = async (n: number) => {
    const bareClient = loadClient(o.args, bare.addr, n);
    clients.push(bareClient);
    const callBare = () => bareClient.send('POST', '/encrypt', body);
    const r = await callBare();
    if (r.status !== 200 || !String(JSON.parse(r.body.toString('utf8')).ciphertext).startsWith('kw:v1:'))
      throw new Error(`bare encrypt → ${r.status}: ${r.body.toString('utf8').slice(0, 300)}`);
    return callBare;
  };
  // One level per count of requests in flight, all on the same servers: their calls, slices and sums.
  const levels: Level[] = [];
  for (const n of o.concurrencies) {
    levels.push({
      n,
      call: {
        on: await onAt(n),
        off: await offAt(n),
        bare: await bareAt(n),
        ...(comparedAt ? { cmp: await comparedAt(n) } : {}),
      },
      slices: { on: [], off: [], bare: [], cmp: [] },
      cpu: {
        on: 0,
        off: 0,
        cmp: 0,
        onDone: 0,
        offDone: 0,
        cmpDone: 0,
        pg: 0,
        pgStatements: 0,
        pgRecords: 0,
        backends: 0,
      },
      wal: { on: { syncs: 0, syncMs: 0, bytes: 0, timed: true }, cmp: { syncs: 0, syncMs: 0, bytes: 0, timed: true } },
      appends: { seconds: 0, statements: 0, records: 0 },
      cannon: { on: [], off: [], bare: [] },
    });
  }
  const triples = (
    comparedAt
      ? [
          ['on', 'cmp', 'off', 'bare'],
          ['bare', 'off', 'cmp', 'on'],
          ['on', 'cmp', 'bare', 'off'],
        ]
      : [
          ['on', 'off', 'bare'],
          ['bare', 'off', 'on'],
          ['on', 'bare', 'off'],
        ]
  ) as readonly (readonly Side[])[];
  // Each group of slices runs at every count before the next group: the counts' slices interleave,
  // so the machine's noise falls on all of them alike.
  const order: { level: Level; side: Side }[] = [];
  for (const t of triples) for (const level of levels) for (const side of t) order.push({ level, side });
  const sliceOrder = triples.map((t) => t.join(',')).join(',');
  const opts = (n: number, warmupMs: number) => ({ concurrency: n, warmupMs, durationMs: o.sliceMs, ok: http200 });
  log(
    `encrypt: ${o.concurrencies.join(' and ')} in flight, warm-up ${o.warmupMs / 1000} s each, then 3 slices of ${o.sliceMs / 1000} s per side${levels.length > 1 ? ' and count' : ''} (${sliceOrder}${levels.length > 1 ? `, each group at ${o.concurrencies.join(' then ')}` : ''})...`,
  );
  for (const level of levels)
    for (const side of ['on', 'off', 'bare', 'cmp'] as const) {
      const call = level.call[side];
      if (call) await load(call, { ...opts(level.n, o.warmupMs), durationMs: 1 });
    }
  const metricsOn = async () => {
    const r = await admins[0]!.send('GET', '/metrics');
    return r.status === 200 ? auditAppendMetrics(r.body.toString('utf8')) : undefined;
  };
  // pg_stat_wal is the cluster's: summed over each audit-on server's own slices (one loaded at a time).
  let walSeen = wal !== undefined;
  let metricsSeen = true;
  // CPU over the on and off slices (see EncryptFigures.cpu): the servers' processes, and the audit-on
  // database's backends with its statements (/metrics) over the same slices.
  let cpuSeen = procCpuSeconds(on.proc.pid) !== undefined && procCpuSeconds(off.proc.pid) !== undefined;
  let pgSeen = cpuSeen && wal !== undefined;
  try {
    for (const { level, side } of order) {
      const w0 = wal && (side === 'on' || side === 'cmp') ? await walCounters(wal) : undefined;
      const server = side === 'on' ? on : side === 'off' ? off : side === 'cmp' ? compared : undefined;
      const backends = side === 'on' && pgSeen ? await localBackends(wal!, dbs![0]!.name) : [];
      const pm0 = side === 'on' ? await metricsOn() : undefined;
      const b0 = backends.map((pid) => procCpuSeconds(pid));
      const c0 = procCpuSeconds(server?.proc.pid);
      const slice = await load(level.call[side]!, opts(level.n, 150));
      level.slices[side].push(slice);
      const c1 = procCpuSeconds(server?.proc.pid);
      const b1 = backends.map((pid) => procCpuSeconds(pid));
      const cpu = level.cpu;
      if (server && cpuSeen) {
        // The window's CPU over its successes; the server's CPU during warm-up and tail is included
        // (150 ms against slices of seconds), the same way on both sides.
        if (c0 === undefined || c1 === undefined) cpuSeen = false;
        else if (side === 'on') ((cpu.on += c1 - c0), (cpu.onDone += slice.completed));
        else if (side === 'off') ((cpu.off += c1 - c0), (cpu.offDone += slice.completed));
        else ((cpu.cmp += c1 - c0), (cpu.cmpDone += slice.completed));
      }
      if (side === 'on') {
        const pm1 = await metricsOn();
        if (!pm0 || !pm1) metricsSeen = pgSeen = false;
        else {
          level.appends.seconds += pm1.seconds - pm0.seconds;
          level.appends.statements += pm1.statements - pm0.statements;
          level.appends.records += pm1.records - pm0.records;
        }
        if (pgSeen) {
          if (backends.length === 0) pgSeen = false;
          else {
            // A backend that exited during the slice (idle timeout: 30 s, longer than a slice) is left out.
            for (let i = 0; i < backends.length; i++)
              if (b0[i] !== undefined && b1[i] !== undefined) cpu.pg += b1[i]! - b0[i]!;
            cpu.pgStatements += pm1!.statements - pm0!.statements;
            cpu.pgRecords += pm1!.records - pm0!.records;
            cpu.backends = Math.max(cpu.backends, backends.length);
          }
        }
      }
      if (side !== 'on' && side !== 'cmp') continue;
      const w1 = w0 ? await walCounters(wal!) : undefined;
      if (!w0 || !w1) {
        walSeen = false;
        continue;
      }
      const acc = level.wal[side];
      acc.syncs += w1.syncs - w0.syncs;
      acc.syncMs += w1.syncMs - w0.syncMs;
      acc.bytes += w1.bytes - w0.bytes;
      acc.timed &&= w0.timed && w1.timed;
    }
  } finally {
    await wal?.end({ timeout: 1 });
  }
  // The same servers under autocannon, at each count: a short warm-up each, then CANNON_ORDER.
  const cannonAt = (c: Child, n: number) => ({
    url: new URL(c === bare ? '/encrypt' : '/v1/keys/bench-aes/encrypt', c.addr).toString(),
    opts: {
      connections: n,
      method: 'POST' as const,
      headers: {
        'content-type': 'application/json',
        ...(c === bare ? {} : { authorization: `Bearer ${tokens.get(c)}` }),
      },
      body,
    },
  });
  const cannonS = o.sliceMs / 1000;
  log(
    `encrypt: the same under autocannon (${CANNON_ORDER.join(',')}, ${cannonS} s each, at ${o.concurrencies.join(' and ')})...`,
  );
  const servers = { on, off, bare } as const;
  for (const level of levels) {
    for (const side of ['on', 'off', 'bare'] as const) {
      const { url, opts } = cannonAt(servers[side], level.n);
      await cannon(url, { ...opts, seconds: Math.min(1, o.warmupMs / 1000) });
    }
    for (const side of CANNON_ORDER) {
      const { url, opts } = cannonAt(servers[side], level.n);
      level.cannon[side].push(await cannon(url, { ...opts, seconds: cannonS }));
    }
  }
  const all = levels.map((level) =>
    levelFigures(level, sliceOrder, {
      walSeen,
      cpuSeen,
      pgSeen,
      metricsSeen,
      compare: { flushes: o.compareFlushes, integrateMs: o.compareIntegrateMs, asyncCommit: o.compareAsyncCommit },
    }),
  );
  if (dbs) {
    const s = await openStore({ databaseUrl: dbs[0]!.url });
    try {
      // Every acknowledged audit-on request, at every count, has its record.
      const committed = await auditHeadSize(s.db);
      const acknowledged = acknowledgedOn(all);
      const [row] = await queryRows<{ b: string | number | null }>(
        s.db,
        sql`select avg(octet_length(leaf))::float8 as b from audit_records where leaf like '%"operation":"encrypt"%'`,
      );
      for (const f of all) {
        f.recordsCommittedOn = committed;
        f.recordsCoverRequests = committed >= acknowledged;
        if (row?.b !== null && row?.b !== undefined) f.serverLeafBytesMean = round(Number(row.b), 0);
      }
    } finally {
      await s.close();
    }
  }
  return all;
}

type Side = 'on' | 'off' | 'bare' | 'cmp';

/** The audit-on server's successful requests over part 2, at every count and by both load generators. */
function acknowledgedOn(all: readonly EncryptFigures[]): number {
  return all.reduce((t, f) => t + f.on.completed + (f.autocannon?.on.completed ?? 0), 0);
}

/** One count of requests in flight in part 2: its calls per side, its slices, and its sums over them. */
interface Level {
  n: number;
  call: Partial<Record<Side, () => Promise<{ status: number; body: Buffer }>>>;
  slices: Record<Side, Slice[]>;
  cpu: {
    on: number;
    off: number;
    cmp: number;
    onDone: number;
    offDone: number;
    cmpDone: number;
    pg: number;
    pgStatements: number;
    pgRecords: number;
    backends: number;
  };
  wal: Record<'on' | 'cmp', { syncs: number; syncMs: number; bytes: number; timed: boolean }>;
  /** The audit-on server's /metrics deltas over this level's audit-on slices. */
  appends: { seconds: number; statements: number; records: number };
  /** autocannon's slices per side (EncryptFigures.autocannon). */
  cannon: Record<'on' | 'off' | 'bare', CannonSlice[]>;
}

/** A level's figures (EncryptFigures), from its slices and sums. */
function levelFigures(
  level: Level,
  sliceOrder: string,
  seen: {
    walSeen: boolean;
    cpuSeen: boolean;
    pgSeen: boolean;
    metricsSeen: boolean;
    compare: { flushes: number | undefined; integrateMs: number | undefined; asyncCommit: boolean };
  },
): EncryptFigures {
  const onR = summarize(level.slices.on);
  const offR = summarize(level.slices.off);
  const bareR = summarize(level.slices.bare);
  const figures: EncryptFigures = {
    concurrency: level.n,
    on: onR,
    off: offR,
    onOverOff: round(onR.rps / offR.rps, 3),
    bare: bareR,
    onOverBare: round(onR.rps / bareR.rps, 3),
    sliceOrder,
  };
  if (level.cannon.on.length > 0) {
    const [cOn, cOff, cBare] = (['on', 'off', 'bare'] as const).map((side) => summarizeCannon(level.cannon[side]));
    figures.autocannon = {
      on: cOn!,
      off: cOff!,
      bare: cBare!,
      onOverOff: round(cOn!.rps / Math.max(cOff!.rps, 1e-9), 3),
      onOverBare: round(cOn!.rps / Math.max(cBare!.rps, 1e-9), 3),
    };
  }
  const sCompared = level.slices.cmp;
  if (sCompared.length > 0) {
    figures.compared = {
      ...summarize(sCompared),
      flushes: seen.compare.flushes ?? 1,
      ...(seen.compare.integrateMs ? { integrateMs: seen.compare.integrateMs } : {}),
      ...(seen.compare.asyncCommit ? { asyncCommit: true as const } : {}),
    };
    figures.onOverCompared = round(onR.rps / figures.compared.rps, 3);
  }
  if (seen.walSeen) {
    const walFigures = (w: Level['wal']['on']): WalFigures => ({
      flushes: w.syncs,
      ...(w.timed && w.syncs > 0 ? { meanFlushMs: round(w.syncMs / w.syncs, 3) } : {}),
      walKB: round(w.bytes / 1024, 0),
    });
    figures.walOn = walFigures(level.wal.on);
    if (sCompared.length > 0) figures.walCompared = walFigures(level.wal.cmp);
  }
  const cpu = level.cpu;
  if (seen.cpuSeen && cpu.onDone > 0 && cpu.offDone > 0) {
    const onUs = (cpu.on * 1e6) / cpu.onDone;
    const offUs = (cpu.off * 1e6) / cpu.offDone;
    figures.cpu = {
      serverOnUsPerRequest: round(onUs, 1),
      serverOffUsPerRequest: round(offUs, 1),
      auditUsPerRequest: round(onUs - offUs, 1),
      ...(cpu.cmpDone > 0 ? { serverComparedUsPerRequest: round((cpu.cmp * 1e6) / cpu.cmpDone, 1) } : {}),
      ...(seen.pgSeen && cpu.pgStatements > 0
        ? {
            postgresOn: {
              usPerStatement: round((cpu.pg * 1e6) / cpu.pgStatements, 1),
              usPerRecord: round((cpu.pg * 1e6) / cpu.pgRecords, 1),
              usPerRequest: round((cpu.pg * 1e6) / cpu.onDone, 1),
              backends: cpu.backends,
            },
          }
        : {}),
    };
  }
  const a = level.appends;
  if (seen.metricsSeen && a.statements > 0)
    figures.appendsOn = {
      statements: a.statements,
      recordsPerStatement: round(a.records / a.statements, 1),
      meanStatementMs: round((a.seconds * 1000) / a.statements, 3),
      // The slices' windows plus their 150 ms warm-ups, when the server also appended.
      busyFraction: round(a.seconds / level.slices.on.reduce((t, x) => t + (x.durationMs + 150) / 1000, 0), 2),
    };
  return figures;
}

// ---------------------------------------------------------------------------------------------
// Part 1b: the append statement alone (issue 14, item 1)

/** One batch as the log builds it (engine/audit/log/log.ts), chains random (only the head is compared). */
function statementBatch(
  gen: ReturnType<typeof recordFactory>,
  n: number,
  first: number,
  packed: boolean,
): AuditBatchWrite {
  const leaves: string[] = [];
  const inputs: AuditInput[] = [];
  for (let i = 0; i < n; i++) {
    const { record, input } = gen();
    leaves.push(new TextDecoder().decode(encodeRecord(record)));
    inputs.push(input);
  }
  const plain = packed ? packBatchInputs(inputs) : encodeBatchInputs(inputs);
  return {
    n,
    leaves: leaves.join('\n'),
    chains: randomBytes(32 * n),
    inputs: benchSealer.encrypt(`audit/inputs/${first}`, plain),
  };
}

interface StatementFigures {
  driver: string;
  recordsPerBatch: number;
  /** Per variant: median over its slices of wall and this process's CPU µs per statement, and the sealed inputs' bytes. */
  variants: { name: string; wallUs: number; cpuUs: number; sealedInputBytes: number }[];
  /** The log's statement (driver client) at SPLIT_SIZES records: its cost split into a fixed part and a part per record. */
  split?: StatementSplit;
}

/** Batch sizes of the split: the dev server's halves of 16 clients and all 16 merged, around them. */
const SPLIT_SIZES = [4, 16] as const;

/**
 * The append statement's cost as fixed + perRecord × n, from the medians at SPLIT_SIZES (issue 14:
 * what more records per statement would save). CPU µs: this process's (the statement, its parameters
 * and its syscalls; PGlite included on PGlite), and on a local PostgreSQL the append connection's
 * backend (from /proc; its commit's WAL write and flush included).
 */
interface StatementSplit {
  node: { fixedUs: number; perRecordUs: number };
  backend?: { fixedUs: number; perRecordUs: number };
  wall: { fixedUs: number; perRecordUs: number };
}

/**
 * The group commit's statement alone, one at a time, on a fresh database: a batch of `n` realistic
 * records (13: the dev server's mean batch under 16 requests in flight) written as before issue 14
 * (format-1 inputs, the statement built by drizzle's query builder), with the inputs packed (inputs.ts), and
 * as the log writes it now (packed, on the driver's client). Alternating slices; medians.
 */
async function appendStatement(
  store: Store,
  o: { n: number; sliceMs: number },
  log: (s: string) => void,
): Promise<StatementFigures> {
  const db = store.db;
  await ensureAuditRows(db);
  const direct = directAuditAppender(db);
  // On PGlite, the statement as the previous release ran it on the driver client: PGlite's `query`
  // (parsed and planned on every call, bytea sent as hex text); the log now prepares it once (pglite-wire.ts).
  const client = (db as { $client?: { query?: unknown } }).$client;
  const liteQuery =
    store.driver === 'pglite' && typeof client?.query === 'function'
      ? (client as { query(q: string, p: unknown[]): Promise<{ affectedRows?: number }> })
      : undefined;
  const variants: { name: string; packed: boolean; append: (h: AuditHead, b: AuditBatchWrite) => Promise<boolean> }[] =
    [
      {
        name: 'format-1 inputs, query builder (before)',
        packed: false,
        append: (h, b) => casAppendAuditBatch(db, h, b),
      },
      { name: 'packed inputs, query builder', packed: true, append: (h, b) => casAppendAuditBatch(db, h, b) },
      ...(liteQuery
        ? [
            {
              name: "packed inputs, PGlite's query (previous release)",
              packed: true,
              append: async (h: AuditHead, b: AuditBatchWrite) =>
                (await liteQuery.query(CAS_APPEND_SQL, casAppendParams(h, b))).affectedRows === 1,
            },
          ]
        : []),
      ...(direct
        ? [
            {
              name: `packed inputs, driver client${store.driver === 'pglite' ? ', prepared once' : ''} (now)`,
              packed: true,
              append: direct,
            },
          ]
        : []),
    ];
  log(
    `append statement on ${store.driver}: batches of ${o.n}, ${variants.length} ways, 4 alternating slices of ${o.sliceMs / 1000} s...`,
  );
  const gen = recordFactory('bench-statement');
  let head = await readAuditHead(db);
  const wall = new Map<string, number[]>();
  const cpu = new Map<string, number[]>();
  const sealed = new Map<string, number>();
  for (let slice = 0; slice < 4; slice++) {
    for (const v of slice % 2 ? [...variants].reverse() : variants) {
      // Built ahead (as the log builds while the previous statement runs): only the statement is timed.
      const batches = Array.from({ length: 64 }, () => statementBatch(gen, o.n, 0, v.packed));
      sealed.set(v.name, batches[0]!.inputs!.length);
      let count = 0;
      let wallMs = 0;
      let cpuUs = 0;
      const end = performance.now() + o.sliceMs;
      while (performance.now() < end || count === 0) {
        const b = batches[count % batches.length]!;
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        if (!(await v.append(head, b))) throw new Error('append statement: the head moved (nothing else writes here)');
        wallMs += performance.now() - t0;
        const c = process.cpuUsage(c0);
        cpuUs += c.user + c.system;
        head = { size: head.size + b.n, chain: b.chains.subarray(32 * (b.n - 1)) };
        count++;
      }
      (wall.get(v.name) ?? wall.set(v.name, []).get(v.name)!).push((wallMs * 1000) / count);
      (cpu.get(v.name) ?? cpu.set(v.name, []).get(v.name)!).push(cpuUs / count);
    }
  }
  // Longer slices than the variants': /proc counts a backend's CPU in 10 ms ticks.
  const split = direct ? await statementSplit(store, direct, gen, head, 2 * o.sliceMs) : undefined;
  return {
    driver: store.driver,
    recordsPerBatch: o.n,
    ...(split ? { split } : {}),
    variants: variants.map((v) => ({
      name: v.name,
      wallUs: round(median(wall.get(v.name)!), 0),
      cpuUs: round(median(cpu.get(v.name)!), 0),
      sealedInputBytes: sealed.get(v.name)!,
    })),
  };
}

/**
 * StatementSplit: the log's statement at each of SPLIT_SIZES records in 6 alternating slices; µs per
 * statement (medians) fitted as fixed + perRecord × n through the two sizes.
 */
async function statementSplit(
  store: Store,
  append: (h: AuditHead, b: AuditBatchWrite) => Promise<boolean>,
  gen: ReturnType<typeof recordFactory>,
  head: AuditHead,
  sliceMs: number,
): Promise<StatementSplit> {
  const backend = store.driver === 'postgres' ? await appendBackend(store.db) : undefined;
  const at = new Map<number, { wall: number[]; node: number[]; backend: number[] }>();
  for (let slice = 0; slice < 6; slice++) {
    for (const n of slice % 2 ? [...SPLIT_SIZES].reverse() : SPLIT_SIZES) {
      const batches = Array.from({ length: 32 }, () => statementBatch(gen, n, 0, true));
      let count = 0;
      let wallMs = 0;
      const c0 = process.cpuUsage();
      const b0 = procCpuSeconds(backend);
      const end = performance.now() + sliceMs;
      while (performance.now() < end || count === 0) {
        const b = batches[count % batches.length]!;
        const t0 = performance.now();
        if (!(await append(head, b))) throw new Error('append statement: the head moved (nothing else writes here)');
        wallMs += performance.now() - t0;
        head = { size: head.size + b.n, chain: b.chains.subarray(32 * (b.n - 1)) };
        count++;
      }
      const c = process.cpuUsage(c0);
      const b1 = procCpuSeconds(backend);
      const m = at.get(n) ?? at.set(n, { wall: [], node: [], backend: [] }).get(n)!;
      m.wall.push((wallMs * 1000) / count);
      m.node.push((c.user + c.system) / count);
      if (b0 !== undefined && b1 !== undefined) m.backend.push(((b1 - b0) * 1e6) / count);
    }
  }
  const [lo, hi] = SPLIT_SIZES;
  const fit = (pick: (m: { wall: number[]; node: number[]; backend: number[] }) => number[]) => {
    const a = median(pick(at.get(lo)!));
    const perRecord = (median(pick(at.get(hi)!)) - a) / (hi - lo);
    return { fixedUs: round(a - perRecord * lo, 0), perRecordUs: round(perRecord, 1) };
  };
  return {
    wall: fit((m) => m.wall),
    node: fit((m) => m.node),
    ...(at.get(lo)!.backend.length > 0 ? { backend: fit((m) => m.backend) } : {}),
  };
}

/** The pid of the backend serving the store's append connection, when it is a postgres process of this machine. */
async function appendBackend(db: Db): Promise<number | undefined> {
  const conn = auditAppendConnection((db as { $client?: object }).$client ?? {});
  if (!conn) return undefined;
  const [row] = await conn<{ pid: number }[]>`select pg_backend_pid() as pid`;
  try {
    return row && /postgres/.test(readFileSync(`/proc/${row.pid}/cmdline`, 'utf8')) ? row.pid : undefined;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Part 3: verification

/** The checkpoint signer the integrator uses here: the same note format as loadAuditSigner's, fresh keys. */
function benchSigner(): CheckpointSigner & { trusted: string[] } {
  const origin = `keyward/bench/${randomBytes(4).toString('hex')}`;
  const signers = [
    ed25519Signer(origin, new Uint8Array(randomBytes(32))),
    mlDsa44CosignerSigner(`${origin}/ml-dsa-44`, new Uint8Array(randomBytes(32))),
  ];
  return {
    origin,
    trusted: signers.map((s) => s.verifierKey),
    sign: (size, root, now) =>
      signNote(checkpointBody({ origin, size, root }), signers, { time: Math.floor(now.getTime() / 1000) }),
  };
}

const LEAF_PREFIX = Buffer.of(0x00);
/** RFC 9162 leaf hash with node:crypto's one-shot hash, as the log verifier computes it (merkle's leafHash is @noble's). */
const leafHashNode = (leaf: Uint8Array) => sha256Fast(Buffer.concat([LEAF_PREFIX, leaf]));
const stored = (rows: readonly AuditRecordRow[]): StoredRecord[] =>
  rows.map((r) => ({ index: r.idx, leaf: r.leaf, chain: r.chain }));

interface VerifyFigures {
  records: number;
  leafBytesMean: number;
  integrate: { seconds: number; recordsPerSec: number };
  inProcess: { recordsPerSec: number; seconds: number; runs: number; cpuUsPerRecord: number; workers: number };
  /** The same with the per-record checks in the calling thread (workers: 0). */
  inProcessOneThread: { recordsPerSec: number; seconds: number; cpuUsPerRecord: number };
  endToEnd: {
    recordsPerSec: number;
    seconds: number;
    pageRows: number;
    fetchOnlyRecordsPerSec: number;
    /** This process's CPU (all threads) per record: less distorted by a busy machine than records/s. */
    cpuUsPerRecord: number;
    fetchOnlyCpuUsPerRecord: number;
  };
  /** Each stage alone over the same rows, records/s (what the in-process figure is made of). */
  stages: {
    decodeRecord: number;
    leafHashNodeCrypto: number;
    leafHashNoble: number;
    chain: number;
    appendLeaves: number;
  };
  implementation: string;
  rootMatchesTree: boolean;
  checkpointVerified: boolean;
}

async function verification(db: Db, o: { minRecords: number }, log: (s: string) => void): Promise<VerifyFigures> {
  let head = await auditHeadSize(db);
  if (head < o.minRecords) {
    // Not measured: the same append function and leaf encoding, in batches of 256 (4 in flight).
    log(`verify: topping the log up from ${head} to ${o.minRecords} records...`);
    const gen = recordFactory('bench-node-a');
    let left = o.minRecords - head;
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (left > 0) {
          const n = Math.min(256, left);
          left -= n;
          const batch = Array.from({ length: n }, gen);
          await appendAuditLeaves(
            db,
            batch.map((b) => decoder.decode(encodeRecord(b.record))),
            batch.map((b) => b.stored),
          );
        }
      }),
    );
    head = await auditHeadSize(db);
  }
  log(`verify: integrating ${head} records (AuditIntegrator, Ed25519 + ML-DSA-44 checkpoints)...`);
  const signer = benchSigner();
  const integrator = new AuditIntegrator(db, { signer: async () => signer });
  let t = performance.now();
  await integrator.integrate();
  const integrateS = (performance.now() - t) / 1000;
  const tree = await getAuditTree(db);
  const cp = await latestAuditCheckpoint(db);
  if (!cp || tree.size !== head) throw new Error(`integration stopped at ${tree.size} of ${head} records`);
  const trusted = signer.trusted.map(parseVerifierKey);

  const checked = verifyNote(cp.note, trusted);
  if (checked.size !== tree.size || !Buffer.from(checked.root).equals(tree.root))
    throw new Error('the signed checkpoint does not match the tree row');
  const rootChecks = [{ size: checked.size, root: checked.root, what: 'the signed checkpoint' }];
  /** Runs the engine's LogVerifier over pages (fetched by `next`), as `keyward audit verify` does. */
  // One pool for every run with workers, so runs after the first find them started and warm (a
  // CLI run starts its own: about 0.3 s of thread start-up and JIT warm-up before it is at speed).
  const pool = new VerifyPool();
  const verifyAll = async (
    workers: number | undefined,
    next: (i: number) => Promise<StoredRecord[]> | StoredRecord[],
  ) => {
    const v = new LogVerifier({ rootChecks, ...(workers === 0 ? { workers } : { pool }) });
    try {
      for (let i = 0; i * PAGE < tree.size; i++) await v.add(await next(i));
      await v.finish();
      if (v.size !== tree.size || !Buffer.from(v.root()).equals(tree.root))
        throw new Error(`verification folded ${v.size} records to a root other than the tree row's`);
    } finally {
      await v.close();
    }
  };
  const ok = { rootMatchesTree: true, checkpointVerified: true };

  // End to end: fetch pages of PAGE rows, verifying while the next is fetched.
  log(`verify: fetch + verify ${tree.size} records end to end...`);
  const pages: StoredRecord[][] = [];
  let cpu0 = process.cpuUsage();
  t = performance.now();
  let pending = readAuditRecords(db, 0, Math.min(PAGE, tree.size));
  await verifyAll(undefined, async (i) => {
    const rows = stored(await pending);
    const nextFrom = (i + 1) * PAGE;
    if (nextFrom < tree.size) pending = readAuditRecords(db, nextFrom, Math.min(nextFrom + PAGE, tree.size));
    pages.push(rows);
    return rows;
  });
  const e2eS = (performance.now() - t) / 1000;
  let cpu = process.cpuUsage(cpu0);
  const e2eCpuUs = (cpu.user + cpu.system) / tree.size;

  // Fetch alone, for the split.
  cpu0 = process.cpuUsage();
  t = performance.now();
  for (let from = 0; from < tree.size; from += PAGE) await readAuditRecords(db, from, Math.min(from + PAGE, tree.size));
  const fetchS = (performance.now() - t) / 1000;
  cpu = process.cpuUsage(cpu0);
  const fetchCpuUs = (cpu.user + cpu.system) / tree.size;

  // In-process: the same rows, already fetched. Median of 3 runs (2 when one takes over 2 s); then
  // with the per-record checks in this thread only, to show what the worker threads add.
  log('verify: in-process verification of the fetched rows, then each stage alone...');
  const inProcess = async (workers: number | undefined) => {
    const runs: number[] = [];
    const cpu0 = process.cpuUsage();
    for (let r = 0; r < 3 && !(r === 2 && runs[0]! > 2); r++) {
      t = performance.now();
      await verifyAll(workers, (i) => pages[i]!);
      runs.push((performance.now() - t) / 1000);
    }
    const cpu = process.cpuUsage(cpu0);
    runs.sort((a, b) => a - b);
    return {
      seconds: runs[Math.floor((runs.length - 1) / 2)]!,
      runs: runs.length,
      cpuUs: (cpu.user + cpu.system) / (runs.length * tree.size),
    };
  };
  const par = await inProcess(undefined);
  const one = await inProcess(0);
  await pool.close();
  const inS = par.seconds;

  // Stages alone, over the same rows.
  const all = pages.flat().map((r) => ({ idx: r.index, leaf: r.leaf as Uint8Array, chain: r.chain as Uint8Array }));
  const stage = (fn: () => void) => {
    const s = performance.now();
    fn();
    return round(all.length / ((performance.now() - s) / 1000), 0);
  };
  const decodeRate = stage(() => {
    for (const r of all) decodeRecord(r.leaf);
  });
  const hashes: Uint8Array[] = new Array(all.length);
  const leafNodeRate = stage(() => {
    for (let i = 0; i < all.length; i++) hashes[i] = leafHashNode(all[i]!.leaf);
  });
  const leafNobleRate = stage(() => {
    for (let i = 0; i < all.length; i++) leafHash(all[i]!.leaf);
  });
  const chainRate = stage(() => {
    let prev: Uint8Array = new Uint8Array(32);
    for (let i = 0; i < all.length; i++) {
      const c = sha256Fast(Buffer.concat([prev, hashes[i]!]));
      if (!c.equals(all[i]!.chain)) throw new Error(`chain ${i}`);
      prev = all[i]!.chain;
    }
  });
  const foldRate = stage(() => {
    let f: Uint8Array[] = [];
    for (let i = 0; i < all.length; i += PAGE) f = appendLeaves(f, i, hashes.slice(i, i + PAGE)).frontier;
  });
  const leafBytes = all.reduce((n, r) => n + r.leaf.length, 0) / all.length;

  return {
    records: tree.size,
    leafBytesMean: round(leafBytes, 0),
    integrate: { seconds: round(integrateS, 2), recordsPerSec: round(tree.size / integrateS, 0) },
    inProcess: {
      recordsPerSec: round(tree.size / inS, 0),
      seconds: round(inS, 3),
      runs: par.runs,
      cpuUsPerRecord: round(par.cpuUs, 2),
      workers: pool.size,
    },
    inProcessOneThread: {
      recordsPerSec: round(tree.size / one.seconds, 0),
      seconds: round(one.seconds, 3),
      cpuUsPerRecord: round(one.cpuUs, 2),
    },
    endToEnd: {
      recordsPerSec: round(tree.size / e2eS, 0),
      seconds: round(e2eS, 3),
      pageRows: PAGE,
      fetchOnlyRecordsPerSec: round(tree.size / fetchS, 0),
      cpuUsPerRecord: round(e2eCpuUs, 2),
      fetchOnlyCpuUsPerRecord: round(fetchCpuUs, 2),
    },
    stages: {
      decodeRecord: decodeRate,
      leafHashNodeCrypto: leafNodeRate,
      leafHashNoble: leafNobleRate,
      chain: chainRate,
      appendLeaves: foldRate,
    },
    implementation:
      "engine/audit/verifier/verify-log.ts's LogVerifier, as `keyward audit verify` runs it: per-record checks (size, UTF-8, canonical form and validation, node:crypto leaf and chain hashes against the stored chain) in worker threads by chunk, the tree folded in order in the calling thread; the root checked against the verified checkpoint and the tree row",
    ...ok,
  };
}

// ---------------------------------------------------------------------------------------------

export async function main({ json, args }: BenchOptions): Promise<void> {
  // --smoke: the option defaults shrink (explicit options still win).
  const smoke = isSmoke(args);
  const concurrency = Math.floor(option(args, 'concurrency', 64));
  const appendSliceMs = option(args, 'append-slice', 1, 0.25) * 1000;
  const httpConcurrencies = optionList(args, 'http-concurrency', [16]);
  const sliceMs = option(args, 'slice', 3, 0.4) * 1000;
  const warmupMs = option(args, 'warmup', 1, 0.2) * 1000;
  const minRecords = Math.floor(option(args, 'min-records', 50_000, 2_000));
  // The audit-on server's append statements in flight (default: the engine's choice for PostgreSQL).
  const flushes = option(args, 'flushes', 0) || undefined;
  // A second audit-on server with this many statements in flight, in slices among the others (same-run A/B).
  const compareFlushes = option(args, 'compare-flushes', 0) || undefined;
  const compareIntegrateMs = option(args, 'compare-integrate-ms', 0) || undefined;
  const compareAsyncCommit = args.includes('--compare-async-commit');
  const log = (s: string) => {
    if (!json) console.error(s);
  };
  const began = performance.now();
  const loadBefore = round(loadavg()[0]!, 2);
  const logDir = mkdtempSync(join(tmpdir(), 'keyward-bench-audit-'));
  const started: Child[] = [];
  const clients: Array<Client | LoadClient> = [];
  const stores: Store[] = [];
  let pg: BenchPostgres | undefined;
  try {
    pg = await benchPostgres(log);
    // Only PostgreSQL has a commit that waits for the WAL flush to compare against.
    if (!pg && compareAsyncCommit)
      throw new Error('--compare-async-commit needs PostgreSQL (KEYWARD_BENCH_DATABASE_URL or server binaries)');
    if (!pg) {
      console.error(
        '\n!!! bench/audit: no PostgreSQL (KEYWARD_BENCH_DATABASE_URL unset and no server binaries found).\n' +
          '!!! Falling back to in-memory PGlite: nothing is durable, there is no second node, and the\n' +
          '!!! figures say nothing about PostgreSQL. Set KEYWARD_BENCH_DATABASE_URL for real figures.\n',
      );
    } else {
      log(
        `PostgreSQL ${pg.settings.version}: ${pg.where}; fsync=${pg.settings.fsync}, synchronous_commit=${pg.settings.synchronousCommit}, wal_sync_method=${pg.settings.walSyncMethod}`,
      );
      if (pg.settings.fsync !== 'on' || pg.settings.synchronousCommit !== 'on') {
        console.error(
          `!!! this server has fsync=${pg.settings.fsync}, synchronous_commit=${pg.settings.synchronousCommit}: commits are not durable, so the figures flatter the one-statement-per-record baseline and audit-on latency.`,
        );
      }
    }
    const logDb = pg ? await pg.createDatabase('log') : undefined;
    const open = () => openStore(logDb ? { databaseUrl: logDb.url } : { memory: true });
    const storeA = await open();
    stores.push(storeA);

    const part1 = await appends(
      storeA,
      logDb
        ? async () => {
            const s = await open();
            stores.push(s);
            return s;
          }
        : undefined,
      { concurrency, sliceMs: appendSliceMs, warmupMs },
      log,
    );
    const part2All = await encryptOnOff(
      pg,
      {
        concurrencies: httpConcurrencies,
        sliceMs,
        warmupMs,
        flushes,
        compareFlushes,
        compareIntegrateMs,
        compareAsyncCommit,
        args,
      },
      logDir,
      started,
      clients,
      log,
    );
    for (const c of started) await c.stop();
    await part1.logA.close();
    // The statement alone, on fresh databases: PGlite in memory, and PostgreSQL when there is one.
    const statement: StatementFigures[] = [];
    for (const where of pg ? ['memory', 'postgres'] : ['memory']) {
      const sdb = where === 'postgres' ? await pg!.createDatabase('statement') : undefined;
      const s = await openStore(sdb ? { databaseUrl: sdb.url } : { memory: true });
      try {
        statement.push(await appendStatement(s, { n: 13, sliceMs: appendSliceMs / 2 }, log));
      } finally {
        await s.close();
        await sdb?.drop();
      }
    }
    const part3 = await verification(storeA.db, { minRecords }, log);

    // Issue 14's figure is at 16 in flight: the headline (targets, encrypt1k) when 16 is among the counts.
    const part2 = part2All.find((f) => f.concurrency === 16) ?? part2All[0]!;
    const others = part2All.filter((f) => f !== part2);
    const a = part1.figures;
    const checks = consistency(part1.figures, part2All, part3);
    /** An audit on ÷ off target, judged at the headline count, with the same figure at the others beside it (not judged). */
    const onOverOffTarget = (value: number, at: (f: EncryptFigures) => number | undefined) => ({
      value,
      target: `>= ${TARGETS.auditOnOverOff}`,
      status: status(value >= TARGETS.auditOnOverOff),
      concurrency: part2.concurrency,
      ...(others.length > 0
        ? { atOtherCounts: Object.fromEntries(others.map((f) => [String(f.concurrency), at(f)])) }
        : {}),
    });
    const figures = {
      smoke,
      database: pg
        ? { driver: 'postgres', source: pg.source, ...pg.settings }
        : { driver: 'pglite', source: 'memory', note: 'no PostgreSQL: not durable, one node only' },
      cores: availableParallelism(),
      appends: { concurrency, sliceMs: appendSliceMs, slices: 3, ...a },
      appendStatement: statement,
      encrypt1k: { sliceMs, slicesPerSide: 3, warmupMs, ...part2 },
      ...(others.length > 0
        ? { encrypt1kAtOtherCounts: others.map((f) => ({ sliceMs, slicesPerSide: 3, warmupMs, ...f })) }
        : {}),
      verify: part3,
      targets: {
        groupCommitOverOneStatementPerRecord: {
          value: a.groupOverSingle,
          target: `>= ${TARGETS.groupOverSingle}`,
          status: status(a.groupOverSingle >= TARGETS.groupOverSingle),
        },
        encryptAuditOnOverOff: onOverOffTarget(part2.onOverOff, (f) => f.onOverOff),
        // The same under autocannon (issue 14, item 2: an external load generator beside ours), judged apart.
        ...(part2.autocannon
          ? {
              encryptAuditOnOverOffAutocannon: onOverOffTarget(
                part2.autocannon.onOverOff,
                (f) => f.autocannon?.onOverOff,
              ),
            }
          : {}),
        verifyRecordsPerSecInProcess: {
          value: part3.inProcess.recordsPerSec,
          target: `>= ${TARGETS.verifyRecordsPerSec}`,
          status: status(part3.inProcess.recordsPerSec >= TARGETS.verifyRecordsPerSec),
        },
        verifyRecordsPerSecEndToEnd: {
          value: part3.endToEnd.recordsPerSec,
          target: `>= ${TARGETS.verifyRecordsPerSec}`,
          status: status(part3.endToEnd.recordsPerSec >= TARGETS.verifyRecordsPerSec),
        },
        ...(a.twoNodes
          ? { twoNodesGapFree: { value: a.twoNodes.gapFree, target: 'true', status: status(a.twoNodes.gapFree) } }
          : {}),
      },
      loadAverage1m: { before: loadBefore, after: round(loadavg()[0]!, 2) },
      elapsedS: round((performance.now() - began) / 1000, 1),
    };

    if (json) {
      console.log(JSON.stringify({ ...figures, checks }));
      checks.assert();
      return;
    }
    const db = figures.database as Record<string, unknown>;
    console.log(
      `\nKeyward audit log on ${db.driver === 'postgres' ? `PostgreSQL ${db.version} (${pg!.source === 'url' ? 'KEYWARD_BENCH_DATABASE_URL' : 'throwaway cluster'}; fsync=${db.fsync}, synchronous_commit=${db.synchronousCommit})` : 'in-memory PGlite (NOT PostgreSQL)'}; ${figures.cores} cores.\n`,
    );
    const row = (what: string, r: LoadResult, extra: Record<string, string | number> = {}) => ({
      what,
      'records/s': r.rps,
      'p50 ms': r.p50Ms,
      'p99 ms': r.p99Ms,
      errors: String(r.errors),
      ...extra,
    });
    const appendRows = [
      row(`group commit (AuditLog.append, ${concurrency} in flight)`, a.groupCommit, {
        'records/stmt': a.groupCommit.recordsPerStatement,
      }),
      row(`one statement per record (${concurrency} in flight)`, a.oneStatementPerRecord, { 'records/stmt': 1 }),
    ];
    if (a.twoNodes)
      appendRows.push(
        row(
          `group commit, 2 nodes (${Math.ceil(concurrency / 2)} + ${Math.floor(concurrency / 2)} in flight)`,
          a.twoNodes,
          { 'records/stmt': a.twoNodes.recordsPerStatement },
        ),
      );
    console.log('Durable appends (3 alternating slices each):');
    console.log(table(appendRows));
    for (const [what, r] of [
      ['group commit', a.groupCommit],
      ['one statement per record', a.oneStatementPerRecord],
      ['2 nodes', a.twoNodes],
    ] as const) {
      if (r?.firstError) console.log(`first error (${what}, ${r.errors} in all): ${r.firstError}`);
    }
    console.log(`group commit / one statement per record: ${a.groupOverSingle}×`);
    if (a.twoNodes) {
      const c = a.twoNodes.check;
      console.log(
        `two nodes: ${a.twoNodes.perNode[0]} + ${a.twoNodes.perNode[1]} records/s; log ${a.twoNodes.gapFree ? 'gap-free' : 'NOT GAP-FREE'}: ${c.rows} rows, head ${c.head}, indexes ${c.minIdx}..${c.maxIdx}, ${c.indexesHandedOut} handed out in the window, ${c.duplicates} duplicates, ${c.outOfRange} out of range`,
      );
    }
    for (const st of statement) {
      console.log(
        `\nthe append statement alone, ${st.recordsPerBatch} records per batch, one at a time, on ${st.driver === 'postgres' ? 'PostgreSQL' : 'in-memory PGlite'} (medians of alternating slices; CPU: this process${st.driver === 'postgres' ? ', not the database server' : ', PGlite included'}):`,
      );
      console.log(
        table(
          st.variants.map((v) => ({
            how: v.name,
            'µs per statement': v.wallUs,
            'CPU µs per statement': v.cpuUs,
            'sealed inputs, bytes': v.sealedInputBytes,
          })),
        ),
      );
      if (st.split) {
        const f = (x: { fixedUs: number; perRecordUs: number }) => `${x.fixedUs} + ${x.perRecordUs} × n`;
        const sp = st.split;
        console.log(
          `the log's statement at ${SPLIT_SIZES.join(' and ')} records, µs as fixed + per record × n: wall ${f(sp.wall)}; CPU of this process ${f(sp.node)}${sp.backend ? `; of its PostgreSQL backend ${f(sp.backend)}` : ''}`,
        );
      }
    }
    for (const f of part2All) printEncrypt(f, sliceMs);
    const v = part3;
    console.log(
      `\naudit verify over ${v.records} records (leaves ${v.leafBytesMean} bytes on average).\nImplementation: ${v.implementation}.`,
    );
    console.log(
      table([
        {
          what: `in-process, rows already fetched, ${v.inProcess.workers} worker threads (median of ${v.inProcess.runs}; ${v.inProcess.cpuUsPerRecord} µs CPU/record)`,
          'records/s': v.inProcess.recordsPerSec,
          seconds: v.inProcess.seconds,
        },
        {
          what: `in-process, one thread (${v.inProcessOneThread.cpuUsPerRecord} µs CPU/record)`,
          'records/s': v.inProcessOneThread.recordsPerSec,
          seconds: v.inProcessOneThread.seconds,
        },
        {
          what: `end to end: fetch pages of ${v.endToEnd.pageRows} + verify (${v.endToEnd.cpuUsPerRecord} µs CPU/record)`,
          'records/s': v.endToEnd.recordsPerSec,
          seconds: v.endToEnd.seconds,
        },
        {
          what: `fetch only (readAuditRecords; ${v.endToEnd.fetchOnlyCpuUsPerRecord} µs CPU/record)`,
          'records/s': v.endToEnd.fetchOnlyRecordsPerSec,
          seconds: round(v.records / v.endToEnd.fetchOnlyRecordsPerSec, 3),
        },
        {
          what: 'stage: decodeRecord',
          'records/s': v.stages.decodeRecord,
          seconds: round(v.records / v.stages.decodeRecord, 3),
        },
        {
          what: 'stage: leaf hash (node:crypto one-shot, as the verifier)',
          'records/s': v.stages.leafHashNodeCrypto,
          seconds: round(v.records / v.stages.leafHashNodeCrypto, 3),
        },
        {
          what: "stage: leaf hash (merkle's leafHash, @noble)",
          'records/s': v.stages.leafHashNoble,
          seconds: round(v.records / v.stages.leafHashNoble, 3),
        },
        {
          what: 'stage: chain (node:crypto)',
          'records/s': v.stages.chain,
          seconds: round(v.records / v.stages.chain, 3),
        },
        {
          what: 'stage: appendLeaves (Merkle fold)',
          'records/s': v.stages.appendLeaves,
          seconds: round(v.records / v.stages.appendLeaves, 3),
        },
        {
          what: 'integration (AuditIntegrator, for reference)',
          'records/s': v.integrate.recordsPerSec,
          seconds: v.integrate.seconds,
        },
      ]),
    );
    console.log(
      `root = tree row: ${v.rootMatchesTree}; checkpoint signatures and root verified: ${v.checkpointVerified}`,
    );
    console.log('\ntargets (issue 5):');
    const t = figures.targets;
    console.log(
      `  group commit / one statement per record   ${a.groupOverSingle}×  (target ≥ ${TARGETS.groupOverSingle}×)  ${t.groupCommitOverOneStatementPerRecord.status}`,
    );
    const printOnOverOff = (what: string, target: ReturnType<typeof onOverOffTarget>) =>
      console.log(
        `  ${what.padEnd(42)}${target.value.toFixed(3)}  (target ≥ ${TARGETS.auditOnOverOff})  ${target.status}` +
          others
            .map((f) => `;  at ${f.concurrency} in flight: ${target.atOtherCounts?.[f.concurrency]?.toFixed(3)}`)
            .join(''),
      );
    printOnOverOff(`encrypt, audit on / off (${part2.concurrency} in flight)`, t.encryptAuditOnOverOff);
    if (t.encryptAuditOnOverOffAutocannon)
      printOnOverOff('the same under autocannon', t.encryptAuditOnOverOffAutocannon);
    console.log(
      `  verify records/s, in-process              ${v.inProcess.recordsPerSec}  (target ≥ ${TARGETS.verifyRecordsPerSec})  ${t.verifyRecordsPerSecInProcess.status}`,
    );
    console.log(
      `  verify records/s, fetch + verify          ${v.endToEnd.recordsPerSec}  (target ≥ ${TARGETS.verifyRecordsPerSec})  ${t.verifyRecordsPerSecEndToEnd.status}`,
    );
    if (a.twoNodes)
      console.log(`  two nodes, one gap-free log               ${a.twoNodes.gapFree}  ${t.twoNodesGapFree!.status}`);
    const busy = Math.max(figures.loadAverage1m.before, figures.loadAverage1m.after) > figures.cores;
    console.log(
      `\n(${figures.elapsedS} s; 1-minute load average ${figures.loadAverage1m.before} before, ${figures.loadAverage1m.after} after${busy ? ` — more than ${figures.cores} cores: other work shared the machine, figures are noisy` : ''})`,
    );
    checks.assert();
  } finally {
    for (const c of clients) c.close();
    await Promise.all(started.map((c) => c.stop()));
    for (const s of stores) await s.close().catch(() => {});
    await pg?.close();
    rmSync(logDir, { recursive: true, force: true });
  }
}

/** Part 2's text at one count of requests in flight. */
function printEncrypt(part2: EncryptFigures, sliceMs: number): void {
  console.log(
    `\n1 KiB encrypt over HTTP, ${part2.concurrency} in flight (slices ${part2.sliceOrder}, ${sliceMs / 1000} s each):`,
  );
  console.log(
    table([
      {
        audit: 'on',
        'req/s': part2.on.rps,
        'p50 ms': part2.on.p50Ms,
        'p99 ms': part2.on.p99Ms,
        errors: String(part2.on.errors),
      },
      {
        audit: 'off (Hsm.open({audit: false}))',
        'req/s': part2.off.rps,
        'p50 ms': part2.off.p50Ms,
        'p99 ms': part2.off.p99Ms,
        errors: String(part2.off.errors),
      },
      {
        audit: 'bare Koa AES-GCM endpoint (no auth, policy, audit, database)',
        'req/s': part2.bare.rps,
        'p50 ms': part2.bare.p50Ms,
        'p99 ms': part2.bare.p99Ms,
        errors: String(part2.bare.errors),
      },
      ...(part2.compared
        ? [
            {
              audit: `on, ${part2.compared.flushes} statements in flight${part2.compared.integrateMs ? `, integrator every ${part2.compared.integrateMs} ms` : ''}${part2.compared.asyncCommit ? ', synchronous_commit off (NOT durable)' : ''} (--compare-…)`,
              'req/s': part2.compared.rps,
              'p50 ms': part2.compared.p50Ms,
              'p99 ms': part2.compared.p99Ms,
              errors: String(part2.compared.errors),
            },
          ]
        : []),
    ]),
  );
  if (part2.onOverCompared !== undefined) console.log(`on / on compared (--compare-…): ${part2.onOverCompared}`);
  console.log(`full pipeline (audit on) / bare: ${part2.onOverBare}`);
  if (part2.autocannon) {
    const c = part2.autocannon;
    console.log(
      `under autocannon (-c ${part2.concurrency}; ${CANNON_ORDER.join(',')}): on ${c.on.rps}, off ${c.off.rps}, bare ${c.bare.rps} req/s (p99 ${c.on.p99Ms} / ${c.off.p99Ms} / ${c.bare.p99Ms} ms): on / off ${c.onOverOff}, on / bare ${c.onOverBare}`,
    );
  }
  for (const [what, r] of [
    ['on', part2.on],
    ['off', part2.off],
  ] as const)
    if (r.firstError) console.log(`first error (audit ${what}, ${r.errors} in all): ${r.firstError}`);
  console.log(
    `on / off: ${part2.onOverOff}` +
      (part2.recordsCommittedOn !== undefined
        ? `  (audit-on log, whole run: ${part2.recordsCommittedOn} records, encrypt leaves ${part2.serverLeafBytesMean ?? '?'} bytes on average)`
        : ''),
  );
  if (part2.appendsOn)
    console.log(
      `audit on, group commits in the measured slices (/metrics): ${part2.appendsOn.statements} statements, ${part2.appendsOn.recordsPerStatement} records each, ${part2.appendsOn.meanStatementMs} ms per statement, one in flight ${Math.round(part2.appendsOn.busyFraction * 100)}% of the time`,
    );
  if (part2.cpu) {
    const c = part2.cpu;
    console.log(
      `server CPU per request (/proc, all threads): audit on ${c.serverOnUsPerRequest} µs, off ${c.serverOffUsPerRequest} µs: the audit log adds ${c.auditUsPerRequest} µs` +
        (c.serverComparedUsPerRequest !== undefined
          ? `; audit on compared (--compare-…) ${c.serverComparedUsPerRequest} µs`
          : ''),
    );
    if (c.postgresOn)
      console.log(
        `audit on, PostgreSQL backends' CPU (${c.postgresOn.backends} backends): ${c.postgresOn.usPerStatement} µs per append statement, ${c.postgresOn.usPerRecord} µs per record, ${c.postgresOn.usPerRequest} µs per request (the pool's other statements and the integrator's included)`,
      );
  }
  for (const [what, w] of [
    ['audit on', part2.walOn],
    ['compared', part2.walCompared],
  ] as const)
    if (w)
      console.log(
        `${what}, PostgreSQL WAL over its slices (pg_stat_wal): ${w.flushes} flushes${w.meanFlushMs !== undefined ? `, ${w.meanFlushMs} ms each` : ' (not timed: track_wal_io_timing off)'}, ${w.walKB} KB written (integrator included)`,
      );
}

// ---------------------------------------------------------------------------------------------
// Consistency checks: a run that fails one exits 1 (`npm run bench:smoke` runs this bench in CI).

function consistency(a: AppendFigures, all: readonly EncryptFigures[], v: VerifyFigures): Checks {
  const c = new Checks();
  c.noErrors('appends, group commit', a.groupCommit);
  c.noErrors('appends, one statement per record', a.oneStatementPerRecord);
  if (a.twoNodes) {
    c.noErrors('appends, two nodes', a.twoNodes);
    c.that(a.twoNodes.gapFree, `two nodes: the log is not gap-free (${JSON.stringify(a.twoNodes.check)})`);
  }
  for (const e of all) {
    const at = all.length > 1 ? `, ${e.concurrency} in flight` : '';
    c.noErrors(`encrypt, audit on${at}`, e.on);
    c.noErrors(`encrypt, audit off${at}`, e.off);
    c.noErrors(`encrypt, bare endpoint${at}`, e.bare);
    if (e.autocannon) {
      c.noErrors(`autocannon, encrypt, audit on${at}`, e.autocannon.on);
      c.noErrors(`autocannon, encrypt, audit off${at}`, e.autocannon.off);
      c.noErrors(`autocannon, encrypt, bare endpoint${at}`, e.autocannon.bare);
      c.that(
        e.autocannon.on.completed > 0 && e.autocannon.off.completed > 0 && e.autocannon.bare.completed > 0,
        `autocannon${at}: no request completed on a side`,
      );
    }
  }
  const e = all[0]!;
  if (e.recordsCoverRequests !== undefined)
    c.that(
      e.recordsCoverRequests,
      `the audit-on log has ${e.recordsCommittedOn} records for ${acknowledgedOn(all)} acknowledged requests`,
    );
  c.that(v.rootMatchesTree && v.checkpointVerified, 'verification: the root or the checkpoint did not check out');
  return c;
}
