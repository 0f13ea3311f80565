/**
 * Clean-up that must happen however a benchmark ends: normally, on an error, or on SIGINT/SIGTERM/
 * SIGHUP. `atExit` hooks are synchronous and run from the process's 'exit' event (so also after an
 * uncaught error); `onSignal` hooks are asynchronous and run first when a signal arrives (bounded to
 * a few seconds), then the process exits and the `atExit` hooks run.
 * Not a benchmark itself (bench/run.ts only lists bench/*.ts).
 */
const syncHooks = new Set<() => void>();
const asyncHooks = new Set<() => Promise<unknown>>();
let installed = false;

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', () => {
    for (const h of [...syncHooks].reverse()) {
      try {
        h();
      } catch {
        /* best effort */
      }
    }
  });
  for (const [sig, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
    ['SIGHUP', 129],
  ] as const) {
    process.once(sig, () => {
      const hooks = [...asyncHooks].reverse();
      const timeout = new Promise((r) => setTimeout(r, 5000).unref());
      void Promise.race([Promise.allSettled(hooks.map((h) => h())), timeout]).finally(() => process.exit(code));
    });
  }
}

/** Runs `fn` (synchronously) when the process exits, unless the returned function removes it first. */
export function atExit(fn: () => void): () => void {
  install();
  syncHooks.add(fn);
  return () => void syncHooks.delete(fn);
}

/** Runs `fn` (awaited, at most 5 s for all) when a signal stops the run, before the exit hooks. */
export function onSignal(fn: () => Promise<unknown>): () => void {
  install();
  asyncHooks.add(fn);
  return () => void asyncHooks.delete(fn);
}
