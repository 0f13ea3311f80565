#!/usr/bin/env node
// `npm run test:durations`: writes scripts/test-durations.json, each test file's duration in the last
// whole run on each driver (the timings scripts/test-timings.mjs keeps beside the test mirror),
// rounded to 100 ms. scripts/test.mjs orders a fresh clone's test processes by it (CI has no last
// run); a file missing from it counts as the median file, so it needs refreshing only when the
// suite's longest files change.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MIRROR, ROOT } from './test-mirror.mjs';

const out = {};
for (const driver of ['pglite', 'postgres']) {
  let timings;
  try {
    timings = JSON.parse(readFileSync(join(MIRROR, `.mirror-timings-${driver}.json`), 'utf8'));
  } catch {
    console.error(`no timings for ${driver}: run the whole suite on it first`);
    continue;
  }
  out[driver] = Object.fromEntries(
    Object.entries(timings)
      .filter(([file]) => file.startsWith('test/') && existsSync(join(ROOT, file)))
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([file, ms]) => [file, Math.max(100, Math.round(ms / 100) * 100)]),
  );
}
const file = join(ROOT, 'scripts', 'test-durations.json');
writeFileSync(file, JSON.stringify(out, null, 2) + '\n');
console.log(
  `wrote ${file}: ${Object.entries(out)
    .map(([d, t]) => `${d} ${Object.keys(t).length} files`)
    .join(', ')}`,
);
