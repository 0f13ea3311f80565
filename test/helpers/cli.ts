/**
 * Runs the real `keyward` CLI in a child process — asynchronously, so an in-process test server
 * keeps answering. From the build (dist/cli/main.js) when it is at least as new as every source
 * file, as after `npm ci` or `npm run build` (about half the start-up time of compiling through
 * tsx, and the CLI tests make hundreds of calls); else from source through tsx.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { DIST_MAIN, distIsFresh } from '../../scripts/dist-fresh.mjs';

const MAIN = fileURLToPath(new URL('../../cli/main.ts', import.meta.url));
/** tsx by URL, so the CLI also runs from directories outside the project. */
const TSX = import.meta.resolve('tsx');
const BINARYEN_HOOK = new URL('../../scripts/register-binaryen-hook.mjs', import.meta.url).href;

/** Node arguments that start the CLI: the build if fresh, decided once per test process. */
export const CLI_ENTRY: readonly string[] =
  distIsFresh() ? ['--import', BINARYEN_HOOK, DIST_MAIN] : ['--conditions=keyward-source', '--import', TSX, '--import', BINARYEN_HOOK, MAIN];

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  json(): any;
}

export function runCli(args: string[], env: Record<string, string | undefined> = {}, opts: { cwd?: string; stdin?: string | Uint8Array } = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [...CLI_ENTRY, ...args],
      { env: { ...process.env, KEYWARD_ADDR: undefined, KEYWARD_TOKEN: undefined, KEYWARD_PASSPHRASE_FILE: undefined, ...env }, timeout: 60_000, maxBuffer: 16 * 1024 * 1024, ...(opts.cwd ? { cwd: opts.cwd } : {}) },
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

/** Asserts the CLI exited 1 and named `code` (a pattern) in its output. */
export function fails(r: CliResult, code: string): void {
  assert.equal(r.code, 1, `expected exit 1\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  assert.match(r.stdout + r.stderr, new RegExp(code));
}
