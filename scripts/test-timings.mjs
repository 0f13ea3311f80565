// A node:test reporter that keeps how long each test file took (the file-level tests of a
// `node --test` run, and the suites scripts/test.mjs names by file when it runs several files in one
// process), merged into the JSON file named by KEYWARD_TEST_TIMINGS, by repository path of the .ts
// file. scripts/test.mjs starts the longest files first with it. It prints nothing, unless a test of
// one file ran in another file's suite (a grouping that went wrong: its timings and report would
// name the wrong file).
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
  const strays = new Map();
  let fileSuite;
  for await (const event of source) {
    // A grouped file's suite (nesting 0, named by its path), and the tests that run under it.
    if (event.type === 'test:start' && event.data.nesting === 0)
      fileSuite = /^test\/.*\.test\.ts$/.test(event.data.name) ? event.data.name : undefined;
    if (
      (event.type === 'test:pass' || event.type === 'test:fail') &&
      event.data.nesting > 0 &&
      fileSuite !== undefined &&
      typeof event.data.file === 'string' &&
      /\.test\.[jt]s$/.test(event.data.file)
    ) {
      const file = repoPath(event.data.file);
      if (file !== fileSuite) strays.set(`${file} in ${fileSuite}`, (strays.get(`${file} in ${fileSuite}`) ?? 0) + 1);
    }
    if (event.type === 'test:complete' && event.data.nesting === 0) {
      const { name, details } = event.data;
      if (typeof name === 'string' && /\.test\.[jt]s$/.test(name) && details?.duration_ms !== undefined) {
        seen[repoPath(name)] = Math.round(details.duration_ms);
      }
    }
  }
  for (const [where, n] of strays) yield `scripts/test.mjs: ${n} test(s) of ${where}'s suite\n`;
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
