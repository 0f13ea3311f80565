// Opt-in measurement for scripts/test.mjs (KEYWARD_TEST_CPU=<file.jsonl>): each test process appends
// one line at exit with its entry file, its wall time since start and the CPU it used, its own and
// its waited-for child processes' (a CLI test's spawned `keyward`), from /proc/self/stat (Linux).
import { appendFileSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

const out = process.env.KEYWARD_TEST_CPU;
if (out) {
  process.on('exit', () => {
    try {
      const stat = readFileSync('/proc/self/stat', 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // Fields 14-17 of proc(5) (utime, stime, cutime, cstime), counted from field 3 here.
      const [utime, stime, cutime, cstime] = f.slice(11, 15).map(Number);
      const tick = 10; // ms per clock tick (USER_HZ = 100 on Linux)
      appendFileSync(
        out,
        JSON.stringify({
          file: process.argv[1],
          wallMs: Math.round(performance.now()),
          cpuMs: (utime + stime) * tick,
          childCpuMs: (cutime + cstime) * tick,
        }) + '\n',
      );
    } catch {
      // a measurement only
    }
  });
}
