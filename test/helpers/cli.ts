/**
 * Runs `keyward` for the CLI tests, two ways:
 *
 * - `runCli` runs the command in this process: the same `Cli` as cli/main.ts (`buildCli({ argv })`:
 *   only the commands the arguments can name, as the binary registers; all 57 cost each call ~35 ms
 *   of CPU more), run by clipanion's `cli.run(argv, context)` with the stdin, stdout, stderr and environment injected
 *   through the context, which is all a command reads (cli/ reads no process globals), against the
 *   real test server over HTTP. `runExit`, what cli/main.ts calls, is this `run` plus
 *   `process.exitCode = code`. A child process costs 1–2 s of start-up per call, and the CLI
 *   tests make hundreds of calls (issue 12 item 7).
 * - `runBinary` starts the real binary in a child process — asynchronously, so an in-process test
 *   server keeps answering — for the end-to-end checks: exit codes as the shell sees them, piped
 *   stdin, a terminal, relative paths from another working directory (`cwd`), `server`. From the build
 *   (dist/cli/main.js) when it is at least as new as every source file, as after `npm ci` or `npm
 *   run build`; else, under `npm test`, from its compiled copy of the sources; else from source
 *   through the TypeScript hooks (scripts/register-ts.mjs).
 *
 * Both return the same `CliResult`; `ok` and `fails` check one.
 */
import assert from 'node:assert/strict';
import { AsyncLocalStorage } from 'node:async_hooks';
import { execFile } from 'node:child_process';
import { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { Agent } from 'undici';
import { buildCli, colorsFor } from '../../cli/index.js';
import { DIST_MAIN, distIsFresh } from '../../scripts/dist-fresh.mjs';

const MAIN = fileURLToPath(new URL('../../cli/main.ts', import.meta.url));
/** The TypeScript hooks by URL, so the CLI also runs from directories outside the project. */
const TS_HOOK = new URL('../../scripts/register-ts.mjs', import.meta.url).href;
/** Running compiled (npm test's mirror, scripts/test-mirror.mjs): cli/main.js is beside cli/main.ts. */
const COMPILED = import.meta.url.endsWith('.js');

/**
 * V8's flags for the binary a test starts: WebAssembly (PGlite; binaryen in `policy build`) by the
 * baseline compiler only, as in the test processes themselves (scripts/test.mjs). A child lives
 * seconds, too short for the optimizing tier's background compiles to pay for themselves: measured,
 * a `server --dev` start 4.1–4.4 s of CPU with them and 2.8–3.1 s without, a `policy build` 4.9 s
 * and 2.6 s. It changes which machine code runs, never what the binary does.
 */
export const CHILD_NODE_FLAGS: readonly string[] = ['--liftoff-only'];

/**
 * Node arguments that start the CLI, decided once per test process: the build if fresh, else the
 * test mirror's compiled sources (both plain Node), else the sources through the TypeScript hooks.
 */
export const CLI_ENTRY: readonly string[] = [
  ...CHILD_NODE_FLAGS,
  ...(distIsFresh()
    ? [DIST_MAIN]
    : COMPILED
      ? ['--conditions=keyward-source', MAIN.replace(/\.ts$/, '.js')]
      : ['--conditions=keyward-source', '--import', TS_HOOK, MAIN]),
];

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  json(): any;
}

type CliEnv = Record<string, string | undefined>;
interface CliOptions {
  /** Working directory, for relative paths (in-process: the process's, changed for the run). */
  cwd?: string;
  stdin?: string | Uint8Array;
}

/** The environment a command sees: the test process's, without a developer's own KEYWARD_* settings. */
function cliEnv(env: CliEnv): CliEnv {
  return {
    ...process.env,
    KEYWARD_ADDR: undefined,
    KEYWARD_TOKEN: undefined,
    KEYWARD_PASSPHRASE_FILE: undefined,
    KEYWARD_TIMEOUT: undefined,
    ...env,
  };
}

/** A stream that keeps what is written to it, as a piped stdout (not a terminal). */
function capture(): { stream: Writable; text(): string } {
  const chunks: Buffer[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk);
      cb();
    },
  });
  return { stream, text: () => Buffer.concat(chunks).toString('utf8') };
}

/**
 * Each in-process run gets its own connection pool, closed when it ends, as a process of its own
 * would: fetch's shared keep-alive pool would hand a run a socket to the server as it was before
 * `TestServer.restart()` (UND_ERR_SOCKET). The CLI's client calls `globalThis.fetch`; this
 * wrapper passes the current run's pool (undici, the same major version as Node 20's own fetch)
 * and leaves every other fetch as it was.
 */
const runPool = new AsyncLocalStorage<Agent>();
const nodeFetch = globalThis.fetch;
globalThis.fetch = ((input: Parameters<typeof fetch>[0], init?: RequestInit) => {
  const dispatcher = runPool.getStore();
  // A dispatcher of the command's own (--ca-cert's pool) is kept.
  const own = (init as { dispatcher?: unknown } | undefined)?.dispatcher;
  return nodeFetch(input, dispatcher && !own ? ({ ...init, dispatcher } as RequestInit) : init);
}) as typeof fetch;

/** Runs with `cwd` one at a time: a process has one working directory. */
let inCwd: Promise<unknown> = Promise.resolve();

/** `keyward args...` in this process (see the module comment), in `opts.cwd` when given. */
export function runCli(args: string[], env: CliEnv = {}, opts: CliOptions = {}): Promise<CliResult> {
  if (opts.cwd === undefined) return runInProcess(args, env, opts);
  const cwd = opts.cwd;
  const run = inCwd.then(async () => {
    const was = process.cwd();
    process.chdir(cwd);
    try {
      return await runInProcess(args, env, opts);
    } finally {
      process.chdir(was);
    }
  });
  inCwd = run.catch(() => undefined);
  return run;
}

async function runInProcess(args: string[], env: CliEnv, opts: CliOptions): Promise<CliResult> {
  const stdout = capture();
  const stderr = capture();
  const context = {
    env: cliEnv(env),
    // Piped like the child's stdin: not a TTY, ends after the given bytes (or at once).
    stdin: Readable.from(opts.stdin === undefined ? [] : [Buffer.from(opts.stdin)]) as unknown as NodeJS.ReadStream,
    stdout: stdout.stream as unknown as NodeJS.WriteStream,
    stderr: stderr.stream as unknown as NodeJS.WriteStream,
    colorDepth: 1,
  };
  const pool = new Agent();
  let code: number;
  try {
    code = await runPool.run(pool, () =>
      buildCli({ argv: args, enableColors: colorsFor(context.stdout, context.env) }).run(args, context),
    );
  } catch (err) {
    // What the binary would do with an error that escapes clipanion: print it, exit 1.
    context.stderr.write(`${(err as Error)?.stack ?? String(err)}\n`);
    code = 1;
  } finally {
    await pool.destroy();
  }
  const out = stdout.text();
  return { code, stdout: out, stderr: stderr.text(), json: () => JSON.parse(out) };
}

/** `keyward args...` as a child process of the real binary (see the module comment). */
export function runBinary(args: string[], env: CliEnv = {}, opts: CliOptions = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [...CLI_ENTRY, ...args],
      { env: cliEnv(env), timeout: 60_000, maxBuffer: 16 * 1024 * 1024, ...(opts.cwd ? { cwd: opts.cwd } : {}) },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr, json: () => JSON.parse(stdout) });
      },
    ).stdin?.end(opts.stdin);
  });
}

/** Asserts the CLI exited 0 (printing its output otherwise) and hands the result on. */
export function ok(r: CliResult): CliResult {
  assert.equal(r.code, 0, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
}

/**
 * Asserts the CLI exited 1 and said why. `code` is an error code (UPPER_SNAKE): stderr names it,
 * as `error CODE: ...` or with --json `{"error":{"code":"CODE",...}}`; or else a pattern that
 * stdout or stderr matches (a usage error is on stdout). `message`, when given, is matched in
 * stderr. Hands the result on.
 */
export function fails(r: CliResult, code: string, message?: RegExp): CliResult {
  assert.equal(r.code, 1, `expected exit 1 (${code}), got ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  if (!/^[A-Z][A-Z0-9_]*$/.test(code)) assert.match(r.stdout + r.stderr, new RegExp(code));
  else if (r.stderr.startsWith('{')) assert.equal(JSON.parse(r.stderr).error.code, code, r.stderr);
  else assert.match(r.stderr, new RegExp(`error ${code}: `), r.stderr);
  if (message) assert.match(r.stderr, message);
  return r;
}
