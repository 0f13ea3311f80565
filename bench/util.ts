/** Timing, options and consistency checks shared by the benchmarks (bench/run.ts runs them). */
import { readFileSync } from 'node:fs';

export interface Stats {
  n: number;
  mean: number;
  p50: number;
  p99: number;
  min: number;
}

/** What bench/run.ts hands every bench's `main`. */
export interface BenchOptions {
  /** Print one JSON object of figures on stdout (progress on stderr) instead of tables. */
  json: boolean;
  /** The arguments after the bench's name (`--smoke`, `--duration=3`, ...). */
  args: string[];
}

/**
 * `--smoke`: a few seconds instead of minutes, through the same code paths and the same consistency
 * checks, so CI (`npm run bench:smoke`) fails when a bench breaks. Its figures mean nothing.
 */
export const isSmoke = (args: readonly string[]): boolean => args.includes('--smoke');

/** Runs `fn` `iterations` times after `warmup` runs; returns per-call milliseconds. */
export async function time(
  fn: () => unknown | Promise<unknown>,
  iterations: number,
  warmup = Math.min(3, iterations),
): Promise<Stats> {
  for (let i = 0; i < warmup; i++) await fn();
  const samples: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const t = process.hrtime.bigint();
    await fn();
    samples.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  samples.sort((a, b) => a - b);
  const q = (p: number) => samples[Math.min(samples.length - 1, Math.floor(p * samples.length))]!;
  return {
    n: samples.length,
    mean: samples.reduce((a, b) => a + b, 0) / samples.length,
    p50: q(0.5),
    p99: q(0.99),
    min: samples[0]!,
  };
}

/** The median of `xs` (the mean of the middle two for an even count); NaN for none. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return (s[(s.length - 1) >> 1]! + s[s.length >> 1]!) / 2;
}

/** A process's CPU seconds (user + system, all threads) from /proc/<pid>/stat, or undefined (not Linux, gone). */
export function procCpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) in parentheses: utime and stime are the 12th and 13th.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}
/** USER_HZ: 100 on every Linux platform Node runs on. */
const CLOCK_TICKS = 100;

export function table(rows: Array<Record<string, string | number>>): string {
  const cols = Object.keys(rows[0] ?? {});
  const fmt = (v: string | number) =>
    typeof v === 'number' ? (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toFixed(4)) : v;
  const cells = rows.map((r) => cols.map((c) => String(fmt(r[c]!))));
  const w = cols.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i]!.length)));
  const line = (vals: string[]) => vals.map((v, i) => v.padEnd(w[i]!)).join('  ');
  return [line(cols), line(w.map((n) => '-'.repeat(n))), ...cells.map(line)].join('\n');
}

/**
 * The text of `--name=value` or `--name value` in a bench's arguments: null when the option is absent,
 * undefined when `--name` is the last argument.
 */
function optionText(args: string[], name: string): string | null | undefined {
  const i = args.findIndex((x) => x === `--${name}` || x.startsWith(`--${name}=`));
  if (i < 0) return null;
  const a = args[i]!;
  return a.includes('=') ? a.slice(name.length + 3) : args[i + 1];
}

/**
 * A positive number given as `--name=value` (or `--name value`) in a bench's arguments; else, with
 * `--smoke`, `smoke` when given; else `dflt`.
 */
export function option(args: string[], name: string, dflt: number, smoke?: number): number {
  const text = optionText(args, name);
  if (text === null) return smoke !== undefined && isSmoke(args) ? smoke : dflt;
  const v = Number(text);
  if (text === undefined || text === '' || !Number.isFinite(v) || v <= 0)
    throw new RangeError(`--${name}: expected a positive number, got "${text ?? ''}"`);
  return v;
}

/**
 * `--name=16,64` (or `--name 16`): positive integers, each once, in the order given; `dflt` when absent.
 */
export function optionList(args: string[], name: string, dflt: readonly number[]): number[] {
  const found = optionText(args, name);
  if (found === null) return [...dflt];
  const text = found ?? '';
  const list = text.split(',').map((x) => Number(x.trim()));
  if (text === '' || list.some((n) => !Number.isSafeInteger(n) || n <= 0) || new Set(list).size !== list.length)
    throw new RangeError(`--${name}: expected positive integers separated by commas (e.g. 16,64), got "${text}"`);
  return list;
}

/** A consistency check that failed: the bench's figures cannot be trusted, and the run exits non-zero. */
export class BenchCheckFailed extends Error {
  constructor(readonly failures: readonly string[]) {
    super(`${failures.length} consistency check(s) failed:\n  - ${failures.join('\n  - ')}`);
    this.name = 'BenchCheckFailed';
  }
}

/**
 * Consistency checks of one run (every request answered 200, the log gap-free, the engines agree...).
 * A bench records them as it goes, prints its figures (the JSON carries `checks`), then calls
 * {@link Checks.assert}, which throws {@link BenchCheckFailed} when any failed.
 */
export class Checks {
  readonly failures: string[] = [];
  passed = 0;

  /** Records `what` as failed unless `ok`; returns `ok`. */
  that(ok: boolean, what: string): boolean {
    if (ok) this.passed++;
    else this.failures.push(what);
    return ok;
  }

  /**
   * A load's errors (wrong answers, failed calls) must be none; answers shed under overload (HTTP 503,
   * "retry shortly": bench/helpers/http.ts) at most 5% of the successes (and 20 at least are tolerated).
   */
  noErrors(what: string, r: { errors: number; firstError?: string; shed?: number; completed?: number }): boolean {
    const errorsOk = this.that(r.errors === 0, `${what}: ${r.errors} failed requests (first: ${r.firstError ?? '?'})`);
    const shed = r.shed ?? 0;
    const shedOk = this.that(
      shed <= Math.max(20, 0.05 * (r.completed ?? 0)),
      `${what}: ${shed} answers were 503 (load shed) for ${r.completed ?? '?'} successes`,
    );
    return errorsOk && shedOk;
  }

  toJSON(): { passed: number; failed: string[] } {
    return { passed: this.passed, failed: [...this.failures] };
  }

  assert(): void {
    if (this.failures.length > 0) throw new BenchCheckFailed(this.failures);
  }
}
