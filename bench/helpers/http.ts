/**
 * HTTP load over loopback and server child processes, for benchmarks that measure a server in its
 * own process (so the load generator and the server never share an event loop). `load` keeps a fixed
 * number of requests in flight: a warm-up, then a window; requests/s counts 200s completed in the
 * window, latency is per request started and finished in it. Its requests go through
 * bench/helpers/load-client.ts; `Client` here (node:http, a keep-alive Agent) makes the setup calls
 * and probes, and the load with `--node-http`.
 * Children are killed on exit, error or signal.
 * Not a benchmark itself (bench/run.ts only lists bench/*.ts).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DIST_MAIN, distIsFresh } from '../../scripts/dist-fresh.mjs';
import { atExit } from './exit.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export const round = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits;

export interface Latency {
  n: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export function latency(samples: number[]): Latency {
  const s = Float64Array.from(samples).sort();
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? NaN;
  return { n: s.length, p50Ms: round(q(0.5), 3), p99Ms: round(q(0.99), 3), maxMs: round(s[s.length - 1] ?? NaN, 3) };
}

// ---------------------------------------------------------------------------------------------
// Child processes

/**
 * How to start `keyward` (its CLI, e.g. `server --dev` or `audit verify`): from dist/ when the build is
 * newer than every source file, else from the sources under tsx; `mode` forces one (`--dist`/`--tsx`).
 */
export function keywardEntry(mode?: 'dist' | 'tsx'): { mode: 'dist' | 'tsx'; args: string[] } {
  const use = mode ?? (distIsFresh() ? 'dist' : 'tsx');
  if (use === 'dist') {
    if (!existsSync(DIST_MAIN)) throw new Error('--dist: dist/cli/main.js is missing; run npm run build');
    return { mode: 'dist', args: [DIST_MAIN] };
  }
  return {
    mode: 'tsx',
    args: ['--conditions=keyward-source', '--import', './scripts/register-ts.mjs', 'cli/main.ts'],
  };
}

const children = new Set<ChildProcess>();
atExit(() => {
  for (const c of children) c.kill('SIGKILL');
});

export interface Child {
  proc: ChildProcess;
  addr: URL;
  /** The JSON object it printed on stdout when ready. */
  hello: Record<string, unknown>;
  logPath: string;
  /** The last 2,000 characters of its stderr. */
  tail(): string;
  stop(): Promise<void>;
}

/**
 * Spawns `node ...args` in the repo root (stderr to `<logDir>/<name>.log`) and waits for one JSON
 * object with `addr` on its stdout.
 */
export async function startChild(
  name: string,
  args: string[],
  logDir: string,
  opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<Child> {
  const timeoutMs = opts.timeoutMs ?? 90_000;
  const logPath = join(logDir, `${name}.log`);
  const logFd = openSync(logPath, 'w');
  const proc = spawn(process.execPath, args, {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', logFd],
    env: opts.env ?? process.env,
  });
  closeSync(logFd);
  children.add(proc);
  const tail = () => {
    try {
      return readFileSync(logPath, 'utf8').slice(-2000);
    } catch {
      return '';
    }
  };
  const stop = async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return void children.delete(proc);
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
    children.delete(proc);
  };
  try {
    const hello = await new Promise<Record<string, unknown>>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(
        () => reject(new Error(`${name} did not start within ${timeoutMs / 1000} s\n${tail()}`)),
        timeoutMs,
      );
      proc.stdout!.setEncoding('utf8');
      proc.stdout!.on('data', (chunk: string) => {
        out += chunk;
        const start = out.indexOf('{');
        if (start < 0) return;
        try {
          const v = JSON.parse(out.slice(start)) as Record<string, unknown>;
          clearTimeout(timer);
          resolve(v);
        } catch {
          /* incomplete */
        }
      });
      proc.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`${name} exited (${code ?? signal}) before listening\n${tail()}`));
      });
      proc.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    proc.stdout!.resume();
    if (typeof hello.addr !== 'string') throw new Error(`${name} printed no addr: ${JSON.stringify(hello)}`);
    return { proc, addr: new URL(hello.addr), hello, logPath, tail, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// HTTP client

export interface Res {
  status: number;
  body: Buffer;
}

export class Client {
  readonly agent: Agent;
  constructor(
    readonly base: URL,
    sockets: number,
    readonly token?: string,
  ) {
    this.agent = new Agent({ keepAlive: true, maxSockets: sockets, maxFreeSockets: sockets });
  }

  send(method: string, path: string, body?: Buffer, token = this.token, timeoutMs = 60_000): Promise<Res> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string | number> = {};
      if (body) {
        headers['content-type'] = 'application/json';
        headers['content-length'] = body.length;
      }
      if (token) headers.authorization = `Bearer ${token}`;
      const req = httpRequest(
        { agent: this.agent, host: this.base.hostname, port: this.base.port, method, path, headers },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
          res.on('error', reject);
        },
      );
      req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${path}: no answer within ${timeoutMs} ms`)));
      req.on('error', reject);
      req.end(body);
    });
  }

  /** One JSON call; throws on a non-2xx answer. */
  async json(method: string, path: string, body?: unknown, token = this.token): Promise<any> {
    const res = await this.send(
      method,
      path,
      body === undefined ? undefined : Buffer.from(JSON.stringify(body)),
      token,
    );
    const text = res.body.toString('utf8');
    if (res.status < 200 || res.status >= 300)
      throw new Error(`${method} ${path} → ${res.status}: ${text.slice(0, 300)}`);
    return text ? JSON.parse(text) : undefined;
  }

  close(): void {
    this.agent.destroy();
  }
}

// ---------------------------------------------------------------------------------------------
// Load

/** One slice of load: raw samples, merged across slices by {@link summarize}. */
export interface Slice {
  samples: number[];
  completed: number;
  errors: number;
  /** HTTP 503 answers: the server shedding load (its storage or audit deadline passed), not failures. */
  shed: number;
  firstError?: string;
  durationMs: number;
}

export interface LoadResult extends Latency {
  rps: number;
  completed: number;
  errors: number;
  /** HTTP 503 answers (load shed: "retry shortly"), counted apart from errors; see {@link load}. */
  shed?: number;
  firstError?: string;
}

/**
 * `concurrency` loops running `call()` back to back: `warmupMs`, then a `durationMs` window.
 * Throughput counts successes (`ok`) completed in the window; latency, calls started and finished in it.
 * A window in which nothing has succeeded yet (and nothing failed) stretches to its first success,
 * at most `stretchMs` (default 120 s) past its end: on a loaded machine a short (smoke) window can
 * otherwise close before the slowest case answers once, and the bench would fail on nothing. The
 * slice's `durationMs` is the window it really had. An HTTP 503 answer (the server shedding load when
 * its database or audit log misses its deadline: nothing released, "retry shortly") is counted as
 * `shed`, neither a success nor an error: a loaded shared machine makes a few, and the checks
 * (bench/util.ts) bound them instead of failing on one.
 */
export async function load<T>(
  call: () => Promise<T>,
  opts: {
    concurrency: number;
    warmupMs: number;
    durationMs: number;
    ok?: (v: T) => string | undefined;
    stretchMs?: number;
  },
): Promise<Slice> {
  const samples: number[] = [];
  let completed = 0;
  let errors = 0;
  let shed = 0;
  let firstError: string | undefined;
  const from = performance.now() + opts.warmupMs;
  let end = from + opts.durationMs;
  const latest = end + (opts.stretchMs ?? 120_000);
  const waiting = (t: number) => completed === 0 && errors === 0 && t < latest;
  const loop = async () => {
    for (;;) {
      const s = performance.now();
      if (s >= end && !waiting(s)) return;
      let v: T;
      try {
        v = await call();
      } catch (err) {
        errors++;
        const cause = (err as Error).cause;
        firstError ??= (err as Error).message + (cause instanceof Error ? ` (cause: ${cause.message})` : '');
        continue;
      }
      const e = performance.now();
      if ((v as { status?: unknown } | null)?.status === 503) {
        shed++;
        continue;
      }
      const bad = opts.ok?.(v);
      if (bad !== undefined) {
        errors++;
        firstError ??= bad;
        continue;
      }
      if (e > end && e >= from && waiting(e)) end = e; // the first success closes a stretched window
      if (e >= from && e <= end) completed++;
      if (s >= from && e <= end) samples.push(e - s);
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, loop));
  return { samples, completed, errors, shed, ...(firstError ? { firstError } : {}), durationMs: end - from };
}

/** An HTTP 200 check for {@link load}. */
export const http200 = (r: Res) =>
  r.status === 200 ? undefined : `${r.status} ${r.body.toString('utf8').slice(0, 200)}`;

export function summarize(slices: Slice[]): LoadResult {
  const completed = slices.reduce((n, s) => n + s.completed, 0);
  const errors = slices.reduce((n, s) => n + s.errors, 0);
  const shed = slices.reduce((n, s) => n + s.shed, 0);
  const firstError = slices.find((s) => s.firstError)?.firstError;
  if (completed === 0) throw new Error(`no call succeeded: ${firstError ?? 'none completed in the window'}`);
  const ms = slices.reduce((n, s) => n + s.durationMs, 0);
  return {
    rps: round(completed / (ms / 1000), 1),
    completed,
    errors,
    ...(shed ? { shed } : {}),
    ...(firstError ? { firstError } : {}),
    ...latency(slices.flatMap((s) => s.samples)),
  };
}
