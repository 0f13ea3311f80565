/**
 * Starts a worker thread on a module beside the caller: `<name>.js` when running compiled (dist/),
 * or, when the caller is itself a `.ts` file (tests and benches), `<name>.ts` through a tiny eval
 * bootstrap that registers the TypeScript hooks first (Node 20 ignores `--import` in a worker's
 * execArgv for the entry module): the ones the process was started with (scripts/register-ts.mjs
 * names itself in KEYWARD_TS_HOOK), else tsx's.
 * @module
 */
import { Worker } from 'node:worker_threads';
import type { WorkerOptions } from 'node:worker_threads';

export function startWorker(callerUrl: string, name: string, opts: WorkerOptions = {}): Worker {
  if (callerUrl.endsWith('.ts')) {
    const entry = new URL(`./${name}.ts`, callerUrl).href;
    const hook = process.env.KEYWARD_TS_HOOK;
    const register = hook
      ? `import(${JSON.stringify(hook)})`
      : `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((m) => m.register())`;
    const boot = `${register}.then(() => import(${JSON.stringify(entry)}));`;
    return new Worker(boot, { ...opts, eval: true });
  }
  return new Worker(new URL(`./${name}.js`, callerUrl), opts);
}
