// Opt-in measurement for scripts/test.mjs (KEYWARD_TEST_CPU=<file.jsonl>): each test process appends
// one line at exit with its entry file, its wall time since start and the CPU it used, its own and
// its waited-for child processes' (a CLI test's spawned `keyward`), from /proc/self/stat (Linux).
// In a process that runs several files, each file also gets a line (with `group`): the CPU and wall
// of its import and of its suite's run, which leaves out the process's start.
import { appendFileSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

const out = process.env.KEYWARD_TEST_CPU;
const tick = 10; // ms per clock tick (USER_HZ = 100 on Linux)
/** This process's CPU and its waited-for children's, in ms (from /proc/self/stat). */
function times() {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14-17 of proc(5) (utime, stime, cutime, cstime), counted from field 3 here.
  const [utime, stime, cutime, cstime] = f.slice(11, 15).map(Number);
  return { cpuMs: (utime + stime) * tick, childCpuMs: (cutime + cstime) * tick, wallMs: performance.now() };
}
if (out) {
  // A grouped process (scripts/test.mjs) marks when each file starts loading, is loaded, and when its
  // suite starts and ends. The CPU between two marks goes to one file: the one loading, else the one
  // whose suite runs (a file's import can finish while another file's tests run: it is not charged
  // for them). Each file gets a line of its own, with the process's entry as group.
  const sums = new Map();
  let owner;
  let running;
  let last;
  const charge = (next) => {
    const now = times();
    if (owner !== undefined && last !== undefined) {
      const sum = sums.get(owner);
      for (const k of Object.keys(sum)) sum[k] += now[k] - last[k];
    }
    last = now;
    owner = next;
  };
  globalThis.keywardFileCpu = (name) => {
    sums.set(name, { cpuMs: 0, childCpuMs: 0, wallMs: 0 });
    return {
      load: () => charge(name),
      loaded: () => owner === name && charge(running),
      start: () => charge((running = name)),
      end() {
        running = undefined;
        charge(undefined);
        const sum = sums.get(name);
        appendFileSync(
          out,
          JSON.stringify({
            file: name,
            group: process.argv[1],
            wallMs: Math.round(sum.wallMs),
            cpuMs: sum.cpuMs,
            childCpuMs: sum.childCpuMs,
          }) + '\n',
        );
      },
    };
  };
  process.on('exit', () => {
    try {
      const t = times();
      appendFileSync(
        out,
        JSON.stringify({
          file: process.argv[1],
          wallMs: Math.round(t.wallMs),
          cpuMs: t.cpuMs,
          childCpuMs: t.childCpuMs,
        }) + '\n',
      );
    } catch {
      // a measurement only
    }
  });
}
