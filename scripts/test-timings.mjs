// A node:test reporter that prints nothing and keeps how long each test file took (the file-level
// tests of a `node --test` run), merged into the JSON file named by KEYWARD_TEST_TIMINGS, by
// repository path of the .ts file. scripts/test.mjs starts the longest files first with it.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import { MIRROR, ROOT } from './test-mirror.mjs';

/** The repository path of a test file run from the mirror (x.test.js) or from source (x.test.ts). */
function repoPath(file) {
  const inMirror = relative(MIRROR, file);
  const rel = inMirror.startsWith('..') ? relative(ROOT, file) : inMirror.replace(/\.js$/, '.ts');
  return rel.split('\\').join('/');
}

export default async function* timings(source) {
  const seen = {};
  for await (const event of source) {
    if (event.type === 'test:complete' && event.data.nesting === 0) {
      const { name, details } = event.data;
      if (typeof name === 'string' && /\.test\.[jt]s$/.test(name) && details?.duration_ms !== undefined) {
        seen[repoPath(name)] = Math.round(details.duration_ms);
      }
    }
  }
  const file = process.env.KEYWARD_TEST_TIMINGS;
  if (!file || Object.keys(seen).length === 0) return;
  let all = {};
  try {
    all = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    // the first timed run
  }
  try {
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify({ ...all, ...seen }, null, 1));
    renameSync(tmp, file);
  } catch {
    // timings only order the next run
  }
}
