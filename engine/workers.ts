/**
 * Starts a worker thread on a module beside the caller: `<name>.js` when running compiled (dist/),
 * or, when the caller is itself a `.ts` file (tests and benches under tsx), `<name>.ts` through a
 * tiny eval bootstrap that registers tsx's loader first (Node 20 ignores `--import` in a worker's
 * execArgv for the entry module).
 * @module
 */
import { Worker } from 'node:worker_threads';
import type { WorkerOptions } from 'node:worker_threads';

export function startWorker(callerUrl: string, name: string, opts: WorkerOptions = {}): Worker {
  if (callerUrl.endsWith('.ts')) {
    const entry = new URL(`./${name}.ts`, callerUrl).href;
    const tsx = import.meta.resolve('tsx/esm/api');
    const boot = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); });`;
    return new Worker(boot, { ...opts, eval: true });
  }
  return new Worker(new URL(`./${name}.js`, callerUrl), opts);
}
