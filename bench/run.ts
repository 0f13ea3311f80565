/**
 * `npm run bench -- <name> [--json] [--smoke] [options]`: runs bench/<name>.ts. Each bench prints a
 * table for people, or with --json one JSON object of its figures. Figures are ratios against a
 * baseline measured in the same run, because these machines are shared and noisy.
 *
 * - `--smoke`: seconds instead of minutes, through the same code paths and consistency checks
 *   (bench/util.ts); the figures mean nothing. A bench that throws or whose checks fail exits 1.
 * - `npm run bench -- all [--json] [--smoke] [--only=a,b] [--skip=a,b] [--timeout=SECONDS]`: every
 *   bench, one after another, each in its own process with --json; then issue 14's table
 *   (bench/helpers/figures.ts) with every figure's target and met/missed. With --json it prints one
 *   JSON object: the table (`figures`), each bench's outcome and its whole JSON (`benches`), the
 *   machine's load. Exits 1 when any bench failed (a missed target is not a failure).
 *   `npm run bench:smoke` is `all --smoke`, which .ci/run runs.
 */
import { spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { issueTable } from './helpers/figures.js';
import type { Figure } from './helpers/figures.js';
import { BenchCheckFailed, option, table } from './util.js';
import type { BenchOptions } from './util.js';

const dir = fileURLToPath(new URL('.', import.meta.url));
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const names = readdirSync(dir)
  .filter((f) => f.endsWith('.ts') && !['run.ts', 'util.ts'].includes(f))
  .map((f) => f.slice(0, -3));
/** The order `all` runs them in (quick ones first); benches not named here follow, by name. */
const ORDER = ['policy', 'unseal', 'flood', 'transit', 'crypto', 'api', 'audit', 'verify'];
const ordered = [...ORDER.filter((n) => names.includes(n)), ...names.filter((n) => !ORDER.includes(n)).sort()];

const [name, ...rest] = process.argv.slice(2);
if (!name || (name !== 'all' && !names.includes(name))) {
  console.error(`usage: npm run bench -- <${names.join('|')}|all> [--json] [--smoke] [options]`);
  process.exit(2);
}

if (name !== 'all') {
  const mod = (await import(`./${name}.ts`)) as { main(opts: BenchOptions): Promise<void> };
  try {
    await mod.main({ json: rest.includes('--json'), args: rest });
  } catch (err) {
    console.error(
      `\nbench/${name} FAILED: ${err instanceof BenchCheckFailed ? err.message : ((err as Error)?.stack ?? String(err))}`,
    );
    process.exit(1);
  }
  // Whatever a bench left open (a pool, a socket) must not keep the run alive.
  process.exit(process.exitCode ?? 0);
}

// ---------------------------------------------------------------------------------------------
// all

const json = rest.includes('--json');
const smoke = rest.includes('--smoke');
const list = (flag: string) =>
  rest
    .find((a) => a.startsWith(`--${flag}=`))
    ?.slice(flag.length + 3)
    .split(',')
    .filter(Boolean);
const only = list('only');
const skip = list('skip') ?? [];
for (const n of [...(only ?? []), ...skip])
  if (!names.includes(n)) {
    console.error(`all: no bench "${n}" (there are: ${names.join(', ')})`);
    process.exit(2);
  }
const timeoutS = option(rest, 'timeout', 1800, 600);
const say = (s: string) => console.error(s);

interface Outcome {
  ok: boolean;
  exitCode: number | null;
  seconds: number;
  error?: string;
  figures?: Record<string, unknown>;
}

/** Runs one bench in its own process with --json; its stderr goes to a log, shown when it fails. */
function runOne(bench: string, logPath: string): Promise<Outcome> {
  const began = performance.now();
  return new Promise((resolve) => {
    const log = createWriteStream(logPath);
    const child = spawn(
      process.execPath,
      [...process.execArgv, fileURLToPath(import.meta.url), bench, '--json', ...(smoke ? ['--smoke'] : [])],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    child.stderr.pipe(log);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
    }, timeoutS * 1000);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      log.end();
      const seconds = Math.round((performance.now() - began) / 100) / 10;
      let figures: Record<string, unknown> | undefined;
      try {
        figures = JSON.parse(out.trim()) as Record<string, unknown>;
      } catch {
        const last = out.trim().split('\n').at(-1);
        try {
          figures = last ? (JSON.parse(last) as Record<string, unknown>) : undefined;
        } catch {
          /* none */
        }
      }
      const ok = code === 0 && !timedOut && figures !== undefined;
      const tail = () => {
        try {
          return readFileSync(logPath, 'utf8').trim().split('\n').slice(-15).join('\n');
        } catch {
          return '';
        }
      };
      resolve({
        ok,
        exitCode: code,
        seconds,
        ...(ok
          ? {}
          : {
              error: timedOut
                ? `timed out after ${timeoutS} s`
                : code !== 0
                  ? `exit ${code ?? signal}: ${tail()}`
                  : 'printed no JSON object',
            }),
        ...(figures ? { figures } : {}),
      });
    });
  });
}

const began = performance.now();
const loadBefore = Math.round(loadavg()[0]! * 100) / 100;
const logDir = mkdtempSync(join(tmpdir(), 'keyward-bench-all-'));
const benches: Record<string, Outcome> = {};
const chosen = ordered.filter((n) => (!only || only.includes(n)) && !skip.includes(n));
try {
  for (const bench of chosen) {
    say(`bench/${bench}${smoke ? ' --smoke' : ''}...`);
    const r = await runOne(bench, join(logDir, `${bench}.log`));
    benches[bench] = r;
    say(`  ${r.ok ? 'ok' : 'FAILED'} in ${r.seconds} s${r.ok ? '' : `: ${r.error}`}`);
  }
} finally {
  rmSync(logDir, { recursive: true, force: true });
}
const figures = issueTable(benches);
const failed = Object.entries(benches).filter(([, r]) => !r.ok);
const result = {
  smoke,
  ok: failed.length === 0,
  cores: availableParallelism(),
  loadAverage1m: { before: loadBefore, after: Math.round(loadavg()[0]! * 100) / 100 },
  elapsedS: Math.round((performance.now() - began) / 100) / 10,
  figures,
  benches,
};
if (json) console.log(JSON.stringify(result));
else {
  const fmt = (f: Figure) => (f.value === null ? '—' : f.value >= 100 ? f.value.toFixed(0) : f.value.toFixed(3));
  console.log(
    `\n${smoke ? 'Smoke run (figures mean nothing): ' : ''}${chosen.length} benches in ${result.elapsedS} s; ${result.cores} cores, 1-minute load ${result.loadAverage1m.before} before, ${result.loadAverage1m.after} after\n`,
  );
  console.log(
    table(
      chosen.map((b) => ({
        bench: b,
        result: benches[b]!.ok ? 'ok' : 'FAILED',
        seconds: benches[b]!.seconds,
      })),
    ),
  );
  console.log('\nissue 14:');
  console.log(
    table(
      Object.values(figures).map((f) => ({
        figure: f.figure,
        value: fmt(f),
        target: f.target.replace('>=', '≥'),
        status: f.status,
        source: f.source,
      })),
    ),
  );
  const notes = Object.values(figures).filter((f) => f.note);
  if (notes.length) console.log('\n' + notes.map((f) => `${f.figure}: ${f.note}`).join('\n'));
}
if (failed.length) {
  console.error(`\n${failed.length} bench(es) FAILED: ${failed.map(([n]) => n).join(', ')}`);
  for (const [n, r] of failed) console.error(`\n--- bench/${n} ---\n${r.error}`);
}
process.exit(failed.length ? 1 : 0);
