/** Timing helpers shared by the benchmarks. */
export interface Stats {
  n: number;
  mean: number;
  p50: number;
  p99: number;
  min: number;
}

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

export function table(rows: Array<Record<string, string | number>>): string {
  const cols = Object.keys(rows[0] ?? {});
  const fmt = (v: string | number) =>
    typeof v === 'number' ? (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toFixed(4)) : v;
  const cells = rows.map((r) => cols.map((c) => String(fmt(r[c]!))));
  const w = cols.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i]!.length)));
  const line = (vals: string[]) => vals.map((v, i) => v.padEnd(w[i]!)).join('  ');
  return [line(cols), line(w.map((n) => '-'.repeat(n))), ...cells.map(line)].join('\n');
}

/** A positive number given as `--name=value` in a bench's arguments, else `dflt`. */
export function option(args: string[], name: string, dflt: number): number {
  const a = args.find((x) => x.startsWith(`--${name}=`));
  if (!a) return dflt;
  const v = Number(a.slice(name.length + 3));
  if (!Number.isFinite(v) || v <= 0) throw new RangeError(`--${name}: expected a positive number, got "${a}"`);
  return v;
}
