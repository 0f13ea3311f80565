/**
 * Runs the real `keyward` CLI in a child process — asynchronously, so an in-process test server
 * keeps answering. From the build (dist/cli/main.js) when it is at least as new as every source
 * file, as after `npm ci` or `npm run build` (about half the start-up time of compiling through
 * tsx, and the CLI tests make hundreds of calls); else from source through tsx.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MAIN = fileURLToPath(new URL('../../cli/main.ts', import.meta.url));
const DIST_MAIN = join(ROOT, 'dist', 'cli', 'main.js');
/** tsx by URL, so the CLI also runs from directories outside the project. */
const TSX = import.meta.resolve('tsx');
const BINARYEN_HOOK = new URL('../../scripts/register-binaryen-hook.mjs', import.meta.url).href;

function newestSource(): number {
  let newest = 0;
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
    }
  };
  for (const d of ['cli', 'engine', 'server', 'ceremony']) walk(join(ROOT, d));
  return newest;
}

/** Node arguments that start the CLI: the build if fresh, decided once per test process. */
const ENTRY: readonly string[] =
  existsSync(DIST_MAIN) && statSync(DIST_MAIN).mtimeMs >= newestSource() ? ['--import', BINARYEN_HOOK, DIST_MAIN] : ['--import', TSX, '--import', BINARYEN_HOOK, MAIN];

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
      [...ENTRY, ...args],
      { env: { ...process.env, KEYWARD_ADDR: undefined, KEYWARD_TOKEN: undefined, ...env }, timeout: 60_000, maxBuffer: 16 * 1024 * 1024, ...(opts.cwd ? { cwd: opts.cwd } : {}) },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr, json: () => JSON.parse(stdout) });
      },
    ).stdin?.end(opts.stdin);
  });
}
