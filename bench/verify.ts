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
 *    its wall time, process start included, beside it); and the baseline: GET /v1/audit/records pages
 *    of 1,000 (the server's maximum, what the CLI asks for) from 0 to the head, one page fetched ahead
 *    as the CLI does, nothing verified. CLI ÷ fetch-only says what verification costs on top of the
 *    transport; the medians are the figures.
 *
 * Every CLI run must exit 0 with `ok: true` and have checked at least every record written; every
 * fill request must answer 200: otherwise the run fails (exit 1).
 *
 * Options: --json, --smoke (1,000 records, one run each), --records=N (default 50000),
 * --concurrency=N (fill requests in flight, default 32), --runs=N (default 3),
 * --driver=pglite|postgres|both (default both; postgres only when a server is found), --dist | --tsx.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, keywardEntry, ROOT, round, startChild } from './helpers/http.js';
import type { Child, LoadResult } from './helpers/http.js';
import { benchPostgres } from './helpers/pg.js';
import type { BenchPostgres } from './helpers/pg.js';
import { Checks, isSmoke, option, table } from './util.js';
import type { BenchOptions } from './util.js';

const TARGET_RECORDS_PER_SEC = 50_000;
const PAGE = 1000;

interface CliRun {
  /** The CLI's own figure (records checked ÷ its seconds from the checkpoint fetch to the end). */
  recordsPerSec: number;
  checked: number;
  wallSeconds: number;
}

interface DriverFigures {
  records: number;
  database: Record<string, unknown>;
  fill: LoadResult;
  integrateSeconds: number;
  cli: { recordsPerSec: number; wallRecordsPerSec: number; wallSeconds: number; runs: CliRun[] };
  fetchOnly: { recordsPerSec: number; seconds: number; runs: number[] };
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

/** GET /v1/audit/records from 0 to the head in pages of PAGE, one page ahead, nothing verified. */
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
  o: { records: number; concurrency: number; runs: number; entry: string[] },
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

  log(`${driver}: keyward audit verify and the fetch-only baseline, ${o.runs} run(s) each, alternating...`);
  const cliRuns: CliRun[] = [];
  const fetchRuns: Array<{ records: number; seconds: number }> = [];
  for (let i = 0; i < o.runs; i++) {
    const r = await runCli(o.entry, server.addr, auditorToken, logDir);
    checks.that(r.ok, `${driver}: keyward audit verify answered ok: false`);
    checks.that(
      r.checked >= o.records,
      `${driver}: keyward audit verify checked ${r.checked} of ≥ ${o.records} records`,
    );
    cliRuns.push({ recordsPerSec: r.recordsPerSec, checked: r.checked, wallSeconds: r.wallSeconds });
    const f = await fetchOnly(auditor);
    checks.that(f.records >= o.records, `${driver}: the record pages held ${f.records} of ≥ ${o.records} records`);
    fetchRuns.push(f);
  }
  await server.stop();
  await db?.drop();
  const cliRate = median(cliRuns.map((r) => r.recordsPerSec));
  const wall = median(cliRuns.map((r) => r.wallSeconds));
  const fetchRates = fetchRuns.map((f) => round(f.records / f.seconds, 0));
  const fetchRate = median(fetchRates);
  return {
    records: median(cliRuns.map((r) => r.checked)),
    database: pg ? { driver: 'postgres', source: pg.source, ...pg.settings } : { driver: 'pglite', source: 'memory' },
    fill,
    integrateSeconds,
    cli: {
      recordsPerSec: cliRate,
      wallRecordsPerSec: round(median(cliRuns.map((r) => r.checked)) / wall, 0),
      wallSeconds: wall,
      runs: cliRuns,
    },
    fetchOnly: {
      recordsPerSec: fetchRate,
      seconds: round(median(fetchRuns.map((f) => f.seconds)), 3),
      runs: fetchRates,
    },
    cliOverFetchOnly: round(cliRate / fetchRate, 3),
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
    const o = { records, concurrency, runs, entry };
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
      pageRecords: PAGE,
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
      `\nkeyward audit verify over HTTP (CLI from ${mode}), ${runs} run(s) each, medians; pages of ${PAGE}; ${figures.cores} cores.\n`,
    );
    console.log(
      table(
        Object.entries(drivers).map(([d, f]) => ({
          server: d === 'postgres' ? `PostgreSQL ${(f.database as { version?: string }).version}` : 'PGlite (memory)',
          records: f.records,
          'verify records/s (CLI)': f.cli.recordsPerSec,
          'CLI wall s': f.cli.wallSeconds,
          'fetch-only records/s': f.fetchOnly.recordsPerSec,
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
