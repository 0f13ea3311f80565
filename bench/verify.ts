/**
 * bench/verify: `keyward audit verify` over HTTP, the figure a user sees (issue 14: ≥ 50,000
 * records/s), next to a same-run baseline: fetching the same pages over HTTP without verifying them.
 *
 * For each database (in-memory PGlite, and PostgreSQL when there is one: KEYWARD_BENCH_DATABASE_URL,
 * else a throwaway fsync-on cluster from the local binaries, bench/helpers/pg.ts):
 * 1. a Keyward server in its own process (bench/helpers/audit-server.ts, auditing on, dev-bootstrapped);
 * 2. its log filled through the API, so the records are whatever the server writes today whatever
 *    the storage underneath: `--records` 1 KiB encrypts (app token, `--concurrency` in flight), one
 *    record each; then one GET /v1/audit/checkpoint, so the integration is done before the clock runs;
 * 3. alternately (`--runs` each): the CLI, `keyward audit verify --json` with an auditor token, in its
 *    own process (from dist/ when the build is fresh), its own records/s figure taken as printed (and
 *    its wall time, process start included, beside it); and the baseline: GET /v1/audit/records from
 *    0 to the head in the pages the CLI reads (the raw format, engine/audit/verifier/records-page.ts,
 *    10,000 a page), one page fetched ahead as the CLI does, nothing verified; and the same in JSON
 *    pages of 1,000 (what clients that don't ask for the raw format read, and what the CLI read
 *    before it). CLI ÷ fetch-only says what verification costs on top of the transport; the medians
 *    are the figures. With `--baseline-cli=FILE` (another build's dist/cli/main.js, e.g. main's), that
 *    CLI runs in the same slices against the same server: a same-run A/B.
 *
 * Every CLI run must exit 0 with `ok: true` and have checked at least every record written; every
 * fill request must answer 200: otherwise the run fails (exit 1).
 *
 * Options: --json, --smoke (1,000 records, one run each), --records=N (default 50000),
 * --concurrency=N (fill requests in flight, default 32), --runs=N (default 3),
 * --driver=pglite|postgres|both (default both; postgres only when a server is found), --dist | --tsx,
 * --baseline-cli=FILE.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client, keywardEntry, ROOT, round, startChild } from './helpers/http.js';
import type { Child, LoadResult } from './helpers/http.js';
import { benchPostgres } from './helpers/pg.js';
import type { BenchPostgres } from './helpers/pg.js';
import { Checks, isSmoke, option, table } from './util.js';
import type { BenchOptions } from './util.js';

const TARGET_RECORDS_PER_SEC = 50_000;
/** Records per JSON page (the server's maximum for JSON). */
const PAGE = 1000;
/** Records per raw page (what the CLI asks for; the server's maximum for the raw format). */
const RAW_PAGE = 10_000;
const RAW_TYPE = 'application/vnd.keyward.audit-records';

interface CliRun {
  /** The CLI's own figure (records checked ÷ its seconds from the checkpoint fetch to the end). */
  recordsPerSec: number;
  checked: number;
  wallSeconds: number;
}

interface CliFigures {
  recordsPerSec: number;
  wallRecordsPerSec: number;
  wallSeconds: number;
  runs: CliRun[];
}

interface FetchFigures {
  recordsPerSec: number;
  seconds: number;
  runs: number[];
}

interface DriverFigures {
  records: number;
  database: Record<string, unknown>;
  fill: LoadResult;
  integrateSeconds: number;
  cli: CliFigures;
  /** The `--baseline-cli` build, in the same slices. */
  baselineCli?: CliFigures;
  /** Raw pages, as the CLI reads them. */
  fetchOnly: FetchFigures;
  /** JSON pages of 1,000. */
  fetchOnlyJson: FetchFigures;
  cliOverFetchOnly: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;

/** `keyward audit verify --json` against `addr`; rejects on a non-zero exit or an answer that is not ok. */
function runCli(entry: string[], addr: URL, token: string, logDir: string): Promise<CliRun & { ok: boolean }> {
  const began = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...entry, 'audit', 'verify', '--json'], {
      cwd: ROOT,
      env: { ...process.env, KEYWARD_ADDR: addr.origin, KEYWARD_TOKEN: token, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
    child.once('error', reject);
    child.once('close', (code) => {
      const wallSeconds = (performance.now() - began) / 1000;
      if (code !== 0) return reject(new Error(`keyward audit verify exited ${code}: ${(err || out).slice(-1500)}`));
      try {
        const v = JSON.parse(out) as { ok?: boolean; checked?: number; recordsPerSecond?: number };
        resolve({
          ok: v.ok === true,
          recordsPerSec: Number(v.recordsPerSecond),
          checked: Number(v.checked),
          wallSeconds: round(wallSeconds, 3),
        });
      } catch {
        reject(new Error(`keyward audit verify printed no JSON: ${out.slice(0, 500)} ${err.slice(-500)} (${logDir})`));
      }
    });
  });
}

/**
 * GET /v1/audit/records from 0 to the head in raw pages of RAW_PAGE, one page ahead, nothing verified
 * beyond the page's framing (its header line and record count).
 */
async function fetchOnlyRaw(addr: URL, token: string): Promise<{ records: number; seconds: number }> {
  const page = async (from: number) => {
    const r = await fetch(new URL(`/v1/audit/records?from=${from}&limit=${RAW_PAGE}`, addr), {
      headers: { authorization: `Bearer ${token}`, accept: RAW_TYPE },
    });
    const body = Buffer.from(await r.arrayBuffer());
    if (r.status !== 200 || r.headers.get('content-type') !== RAW_TYPE)
      throw new Error(`GET /v1/audit/records?from=${from} (raw) → ${r.status}: ${body.toString('utf8').slice(0, 300)}`);
    const head = JSON.parse(body.toString('latin1', 0, body.indexOf(0x0a))) as {
      size: number;
      from: number;
      count: number;
    };
    return head;
  };
  const t = performance.now();
  let current = await page(0);
  const head = current.size;
  let seen = 0;
  for (;;) {
    seen += current.count;
    const next = current.from + current.count;
    if (current.count === 0 || next >= head) break;
    current = await page(next);
  }
  return { records: seen, seconds: (performance.now() - t) / 1000 };
}

/** GET /v1/audit/records from 0 to the head in JSON pages of PAGE, one page ahead, nothing verified. */
async function fetchOnly(c: Client): Promise<{ records: number; seconds: number }> {
  const page = async (from: number) => {
    const r = await c.send('GET', `/v1/audit/records?from=${from}&limit=${PAGE}`);
    if (r.status !== 200)
      throw new Error(`GET /v1/audit/records?from=${from} → ${r.status}: ${r.body.toString('utf8').slice(0, 300)}`);
    return JSON.parse(r.body.toString('utf8')) as { size: number; records: Array<{ index: number }> };
  };
  const t = performance.now();
  let current = await page(0);
  const head = current.size;
  let seen = 0;
  for (;;) {
    const n = current.records.length;
    seen += n;
    const next = n > 0 ? current.records[n - 1]!.index + 1 : head;
    if (n === 0 || next >= head) break;
    current = await page(next);
  }
  return { records: seen, seconds: (performance.now() - t) / 1000 };
}

async function oneDriver(
  driver: 'pglite' | 'postgres',
  pg: BenchPostgres | undefined,
  o: { records: number; concurrency: number; runs: number; entry: string[]; baseline: string[] | undefined },
  logDir: string,
  started: Child[],
  clients: Client[],
  checks: Checks,
  log: (s: string) => void,
): Promise<DriverFigures> {
  const db = pg ? await pg.createDatabase('verify') : undefined;
  log(`${driver}: starting the server...`);
  const server = await startChild(
    `verify-${driver}`,
    [
      '--import',
      './scripts/register-ts.mjs',
      'bench/helpers/audit-server.ts',
      ...(db ? ['--database-url', db.url] : ['--memory']),
      '--audit',
      'on',
    ],
    logDir,
  );
  started.push(server);
  const admin = new Client(server.addr, 2, server.hello.rootToken as string);
  clients.push(admin);
  const token = async (roles: string[]) =>
    (await admin.json('POST', '/v1/auth/tokens', { principal: `bench-${roles[0]}`, roles, ttl: '1h' })).token as string;
  const appToken = await token(['app']);
  const auditorToken = await token(['auditor']);
  await admin.json('POST', '/v1/keys', { name: 'bench-aes', type: 'aes256-gcm' });

  // Fill: `records` encrypts, `concurrency` in flight.
  log(`${driver}: writing ${o.records} records through the API (1 KiB encrypts, ${o.concurrency} in flight)...`);
  const app = new Client(server.addr, o.concurrency, appToken);
  clients.push(app);
  const body = Buffer.from(JSON.stringify({ plaintext: randomBytes(1024).toString('base64') }));
  const t0 = performance.now();
  // Plain loops (not load(), which measures a window): every request is one record.
  let failed = 0;
  let shed = 0;
  let firstError: string | undefined;
  let sent = 0;
  const fillLoop = async () => {
    while (sent < o.records) {
      sent++;
      const r = await app.send('POST', '/v1/keys/bench-aes/encrypt', body).catch((e: Error) => ({
        status: 0,
        body: Buffer.from(e.message),
      }));
      if (r.status === 503) {
        // Shed under overload ("retry shortly"; bench/helpers/http.ts): sent again, bounded by the check.
        shed++;
        if (shed <= Math.max(20, o.records / 20)) sent--;
        continue;
      }
      if (r.status !== 200) {
        failed++;
        firstError ??= `${r.status} ${r.body.toString('utf8').slice(0, 200)}`;
      }
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, fillLoop));
  const fillS = (performance.now() - t0) / 1000;
  const fill: LoadResult = {
    rps: round(o.records / fillS, 1),
    completed: o.records - failed,
    errors: failed,
    ...(shed ? { shed } : {}),
    ...(firstError ? { firstError } : {}),
    n: 0,
    p50Ms: NaN,
    p99Ms: NaN,
    maxMs: NaN,
  };
  checks.noErrors(`${driver}: filling the log`, fill);

  // Integration before the clock runs (the CLI's first request would otherwise pay for it).
  const auditor = new Client(server.addr, 2, auditorToken);
  clients.push(auditor);
  const ti = performance.now();
  const cp = await auditor.json('GET', '/v1/audit/checkpoint');
  const integrateSeconds = round((performance.now() - ti) / 1000, 3);
  checks.that(
    cp.size >= o.records,
    `${driver}: the checkpoint covers ${cp.size} records, fewer than the ${o.records} written`,
  );

  log(`${driver}: keyward audit verify and the fetch-only baselines, ${o.runs} run(s) each, alternating...`);
  const cliRuns: CliRun[] = [];
  const baseRuns: CliRun[] = [];
  const fetchRuns: Array<{ records: number; seconds: number }> = [];
  const jsonRuns: Array<{ records: number; seconds: number }> = [];
  const cli = async (entry: string[], what: string, into: CliRun[]) => {
    const r = await runCli(entry, server.addr, auditorToken, logDir);
    checks.that(r.ok, `${driver}: ${what} answered ok: false`);
    checks.that(r.checked >= o.records, `${driver}: ${what} checked ${r.checked} of ≥ ${o.records} records`);
    into.push({ recordsPerSec: r.recordsPerSec, checked: r.checked, wallSeconds: r.wallSeconds });
  };
  for (let i = 0; i < o.runs; i++) {
    // The A/B order flips every slice, so neither CLI always runs on a log one run longer.
    if (o.baseline && i % 2 === 0) await cli(o.baseline, 'the baseline CLI', baseRuns);
    await cli(o.entry, 'keyward audit verify', cliRuns);
    if (o.baseline && i % 2 === 1) await cli(o.baseline, 'the baseline CLI', baseRuns);
    const f = await fetchOnlyRaw(server.addr, auditorToken);
    checks.that(f.records >= o.records, `${driver}: the raw pages held ${f.records} of ≥ ${o.records} records`);
    fetchRuns.push(f);
    // A fresh connection: one idle through the CLI runs may be closed by the server as it is reused.
    const pager = new Client(server.addr, 2, auditorToken);
    const j = await fetchOnly(pager).finally(() => pager.close());
    checks.that(j.records >= o.records, `${driver}: the JSON pages held ${j.records} of ≥ ${o.records} records`);
    jsonRuns.push(j);
  }
  await server.stop();
  await db?.drop();
  const cliFigures = (runs: CliRun[]) => {
    const wall = median(runs.map((r) => r.wallSeconds));
    return {
      recordsPerSec: median(runs.map((r) => r.recordsPerSec)),
      wallRecordsPerSec: round(median(runs.map((r) => r.checked)) / wall, 0),
      wallSeconds: wall,
      runs,
    };
  };
  const fetchFigures = (runs: Array<{ records: number; seconds: number }>) => {
    const rates = runs.map((f) => round(f.records / f.seconds, 0));
    return { recordsPerSec: median(rates), seconds: round(median(runs.map((f) => f.seconds)), 3), runs: rates };
  };
  const c = cliFigures(cliRuns);
  const fetchOnlyFigures = fetchFigures(fetchRuns);
  return {
    records: median(cliRuns.map((r) => r.checked)),
    database: pg ? { driver: 'postgres', source: pg.source, ...pg.settings } : { driver: 'pglite', source: 'memory' },
    fill,
    integrateSeconds,
    cli: c,
    ...(o.baseline ? { baselineCli: cliFigures(baseRuns) } : {}),
    fetchOnly: fetchOnlyFigures,
    fetchOnlyJson: fetchFigures(jsonRuns),
    cliOverFetchOnly: round(c.recordsPerSec / fetchOnlyFigures.recordsPerSec, 3),
  };
}

export async function main({ json, args }: BenchOptions): Promise<void> {
  const smoke = isSmoke(args);
  const records = Math.floor(option(args, 'records', 50_000, 1_000));
  const concurrency = Math.floor(option(args, 'concurrency', 32));
  const runs = Math.floor(option(args, 'runs', 3, 1));
  const driverArg = args.find((a) => a.startsWith('--driver='))?.slice('--driver='.length) ?? 'both';
  if (!['pglite', 'postgres', 'both'].includes(driverArg))
    throw new RangeError(`--driver: expected pglite, postgres or both, got "${driverArg}"`);
  const forced = args.includes('--dist') ? 'dist' : args.includes('--tsx') ? 'tsx' : undefined;
  const { mode, args: entry } = keywardEntry(forced);
  const baselineArg = args.find((a) => a.startsWith('--baseline-cli='))?.slice('--baseline-cli='.length);
  if (baselineArg !== undefined && !existsSync(baselineArg))
    throw new RangeError(`--baseline-cli: expected another build's dist/cli/main.js, "${baselineArg}" does not exist`);
  const baseline = baselineArg === undefined ? undefined : [resolve(baselineArg)];
  const log = (s: string) => {
    if (!json) console.error(s);
  };
  const began = performance.now();
  const loadBefore = round(loadavg()[0]!, 2);
  const logDir = mkdtempSync(join(tmpdir(), 'keyward-bench-verify-'));
  const started: Child[] = [];
  const clients: Client[] = [];
  const checks = new Checks();
  let pg: BenchPostgres | undefined;
  try {
    const drivers: Partial<Record<'pglite' | 'postgres', DriverFigures>> = {};
    const o = { records, concurrency, runs, entry, baseline };
    if (driverArg !== 'postgres')
      drivers.pglite = await oneDriver('pglite', undefined, o, logDir, started, clients, checks, log);
    if (driverArg !== 'pglite') {
      pg = await benchPostgres(log);
      if (pg) drivers.postgres = await oneDriver('postgres', pg, o, logDir, started, clients, checks, log);
      else if (driverArg === 'postgres')
        throw new Error(
          '--driver=postgres: no PostgreSQL (KEYWARD_BENCH_DATABASE_URL unset and no server binaries found)',
        );
      else log('no PostgreSQL (KEYWARD_BENCH_DATABASE_URL unset and no server binaries found): PGlite only');
    }
    const status = (v: number) => (v >= TARGET_RECORDS_PER_SEC ? 'met' : 'missed');
    const figures = {
      smoke,
      cli: mode,
      cores: availableParallelism(),
      recordsWritten: records,
      pageRecords: { raw: RAW_PAGE, json: PAGE },
      ...(baselineArg !== undefined ? { baselineCli: baselineArg } : {}),
      drivers,
      targets: Object.fromEntries(
        Object.entries(drivers).map(([d, f]) => [
          `cliRecordsPerSec_${d}`,
          { value: f.cli.recordsPerSec, target: `>= ${TARGET_RECORDS_PER_SEC}`, status: status(f.cli.recordsPerSec) },
        ]),
      ),
      loadAverage1m: { before: loadBefore, after: round(loadavg()[0]!, 2) },
      elapsedS: round((performance.now() - began) / 1000, 1),
    };
    if (json) {
      console.log(JSON.stringify({ ...figures, checks }));
      checks.assert();
      return;
    }
    console.log(
      `\nkeyward audit verify over HTTP (CLI from ${mode}), ${runs} run(s) each, medians; raw pages of ${RAW_PAGE}, JSON pages of ${PAGE}; ${figures.cores} cores.\n`,
    );
    console.log(
      table(
        Object.entries(drivers).map(([d, f]) => ({
          server: d === 'postgres' ? `PostgreSQL ${(f.database as { version?: string }).version}` : 'PGlite (memory)',
          records: f.records,
          'verify records/s (CLI)': f.cli.recordsPerSec,
          'CLI wall s': f.cli.wallSeconds,
          ...(f.baselineCli
            ? {
                'baseline CLI records/s': f.baselineCli.recordsPerSec,
                'baseline wall s': f.baselineCli.wallSeconds,
                'CLI / baseline': round(f.cli.recordsPerSec / f.baselineCli.recordsPerSec, 3),
              }
            : {}),
          'fetch-only raw records/s': f.fetchOnly.recordsPerSec,
          'fetch-only JSON records/s': f.fetchOnlyJson.recordsPerSec,
          'CLI / fetch-only': f.cliOverFetchOnly,
          'fill req/s': f.fill.rps,
          'integrate s': f.integrateSeconds,
        })),
      ),
    );
    console.log(`\ntarget (issue 14): keyward audit verify over HTTP ≥ ${TARGET_RECORDS_PER_SEC} records/s`);
    for (const [d, f] of Object.entries(drivers))
      console.log(`  ${d.padEnd(8)} ${f.cli.recordsPerSec} records/s  ${status(f.cli.recordsPerSec)}`);
    const busy = Math.max(figures.loadAverage1m.before, figures.loadAverage1m.after) > figures.cores;
    console.log(
      `\n(${figures.elapsedS} s; 1-minute load average ${figures.loadAverage1m.before} before, ${figures.loadAverage1m.after} after${busy ? ` — more than ${figures.cores} cores: other work shared the machine, figures are noisy` : ''})`,
    );
    checks.assert();
  } finally {
    for (const c of clients) c.close();
    await Promise.all(started.map((c) => c.stop()));
    await pg?.close();
    rmSync(logDir, { recursive: true, force: true });
  }
}
