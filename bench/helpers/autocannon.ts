/**
 * autocannon (https://github.com/mcollina/autocannon), an external HTTP load generator, for benches
 * that measure a server with our own generator (bench/helpers/http.ts) and want a second opinion
 * from code that is not ours: the same request, `connections` in flight, one slice per call.
 * Not a benchmark itself (bench/run.ts only lists bench/*.ts).
 */
import autocannon from 'autocannon';
import { round } from './http.js';

export interface CannonSlice {
  /** 2xx answers. */
  ok: number;
  /** Everything else: non-2xx answers, connection errors and timeouts. */
  errors: number;
  /** 503 answers (load shed). */
  shed: number;
  firstError?: string;
  seconds: number;
  p50Ms: number;
  p99Ms: number;
}

export interface CannonResult {
  rps: number;
  completed: number;
  errors: number;
  shed: number;
  firstError?: string;
  /** Means of the slices' percentiles (autocannon keeps one histogram per run). */
  p50Ms: number;
  p99Ms: number;
  slices: number;
}

/** One autocannon run of `seconds` against `url`. */
export async function cannon(
  url: string,
  o: { connections: number; seconds: number; method?: 'POST' | 'GET'; headers?: Record<string, string>; body?: Buffer },
): Promise<CannonSlice> {
  const r = await autocannon({
    url,
    connections: o.connections,
    duration: o.seconds,
    method: o.method ?? 'GET',
    ...(o.headers ? { headers: o.headers } : {}),
    ...(o.body ? { body: o.body } : {}),
  });
  const stats = (r as unknown as { statusCodeStats?: Record<string, { count: number }> }).statusCodeStats ?? {};
  // 503: the server shedding load ("retry shortly"), counted apart as bench/helpers/http.ts does.
  const shed = stats['503']?.count ?? 0;
  const errors = r.non2xx - shed + r.errors + r.timeouts;
  const codes = Object.entries(stats)
    .filter(([c]) => !c.startsWith('2') && c !== '503')
    .map(([c, s]) => `${s.count} × ${c}`);
  return {
    ok: r['2xx'],
    errors,
    shed,
    ...(errors
      ? { firstError: `autocannon: ${[...codes, `${r.errors} errors`, `${r.timeouts} timeouts`].join(', ')}` }
      : {}),
    seconds: r.duration,
    p50Ms: r.latency.p50,
    p99Ms: r.latency.p99,
  };
}

export function summarizeCannon(slices: CannonSlice[]): CannonResult {
  const ok = slices.reduce((n, s) => n + s.ok, 0);
  const seconds = slices.reduce((n, s) => n + s.seconds, 0);
  const errors = slices.reduce((n, s) => n + s.errors, 0);
  const shed = slices.reduce((n, s) => n + s.shed, 0);
  const firstError = slices.find((s) => s.firstError)?.firstError;
  const mean = (f: (s: CannonSlice) => number) => round(slices.reduce((n, s) => n + f(s), 0) / slices.length, 3);
  return {
    rps: round(ok / Math.max(seconds, 1e-9), 1),
    completed: ok,
    errors,
    shed,
    ...(firstError ? { firstError } : {}),
    p50Ms: mean((s) => s.p50Ms),
    p99Ms: mean((s) => s.p99Ms),
    slices: slices.length,
  };
}
