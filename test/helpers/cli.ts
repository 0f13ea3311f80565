/**
 * Runs the real `keyward` CLI in a child process (through tsx, from source) — asynchronously, so an
 * in-process test server keeps answering.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('../../cli/main.ts', import.meta.url));
/** tsx by URL, so the CLI also runs from directories outside the project. */
const TSX = import.meta.resolve('tsx');
const BINARYEN_HOOK = new URL('../../scripts/register-binaryen-hook.mjs', import.meta.url).href;

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
      ['--import', TSX, '--import', BINARYEN_HOOK, MAIN, ...args],
      { env: { ...process.env, KEYWARD_ADDR: undefined, KEYWARD_TOKEN: undefined, ...env }, timeout: 60_000, maxBuffer: 16 * 1024 * 1024, ...(opts.cwd ? { cwd: opts.cwd } : {}) },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr, json: () => JSON.parse(stdout) });
      },
    ).stdin?.end(opts.stdin);
  });
}
