#!/usr/bin/env node
// Runs every test/**/*.test.ts with node:test (Node 20's --test takes no globs), two files at a time.
// Extra arguments are passed to node --test (e.g. --test-name-pattern=unseal); a path argument
// narrows the run to the test files under it (`npm test -- test/server/keys.test.ts`).
//
// The TypeScript runs compiled: scripts/test-mirror.mjs brings a compiled copy of the project up to
// date (node_modules/.cache/keyward-test/; only changed files are compiled) and the test processes
// run its .js files with no module hook (a hook thread costs each of the hundred-odd processes
// about 0.4 s of CPU). Reports still name the .ts sources: scripts/test-reporter.mjs maps the
// failures' locations through the mirror's inline source maps, rather than every test process
// decoding every module's map as it loads it (--enable-source-maps: ~60 ms of CPU per process).
// KEYWARD_TEST_HOOK=1 runs the sources through scripts/register-ts.mjs instead, as test:faults,
// test:fuzz and the benches do.
//
// Files start longest first, by their durations in the last run on this driver (kept beside the
// mirror by scripts/test-timings.mjs; a file not timed yet counts as long): with two at a time, a
// long file started last would otherwise run alone at the end.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { MIRROR, ROOT, buildMirror, mirrorPath } from './test-mirror.mjs';

const args = process.argv.slice(2);
const paths = args.filter((a) => !a.startsWith('-'));
const flags = args.filter((a) => a.startsWith('-'));

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

const roots = paths.length ? paths : ['test'];
const files = roots.flatMap((r) => (statSync(r).isDirectory() ? walk(r) : [r])).map((f) => resolve(f));
if (files.length === 0) {
  console.error('no test files found under ' + roots.join(', '));
  process.exit(1);
}

const driver = process.env.KEYWARD_TEST_DRIVER || 'pglite';
const TIMINGS = join(MIRROR, `.mirror-timings-${driver.replace(/[^\w-]/g, '_')}.json`);
let timings = {};
try {
  timings = JSON.parse(readFileSync(TIMINGS, 'utf8'));
} catch {
  // no run timed yet
}
const rel = (f) => relative(ROOT, f).split('\\').join('/');
const ordered = files
  .map((f, i) => ({ f, i, ms: timings[rel(f)] ?? Infinity }))
  .sort((a, b) => b.ms - a.ms || a.i - b.i)
  .map((x) => x.f);

const hook = process.env.KEYWARD_TEST_HOOK === '1';
if (!hook) await buildMirror(files);

// The reporter node --test would pick (spec on a terminal, else TAP; with the sources' locations),
// and the timings beside it, unless the caller chose reporters.
const reporters = flags.some((f) => f.startsWith('--test-reporter'))
  ? []
  : [
      `--test-reporter=${new URL('./test-reporter.mjs', import.meta.url).href}`,
      '--test-reporter-destination=stdout',
      `--test-reporter=${new URL('./test-timings.mjs', import.meta.url).href}`,
      '--test-reporter-destination=stderr',
    ];
// A run of some tests of a file says little about the whole file's time.
const partial = flags.some((f) => /^--test-(name-pattern|skip-pattern|only)/.test(f));

const res = spawnSync(
  process.execPath,
  [
    // keyward-source: @keyward/client from its sources (client/src), not its last build.
    '--conditions=keyward-source',
    // Source maps: read by the reporter when it reports (above); a caller's own reporter gets Node's.
    ...(hook ? ['--import', './scripts/register-ts.mjs'] : reporters.length ? [] : ['--enable-source-maps']),
    // WebAssembly (PGlite's PostgreSQL, the policies) by V8's baseline compiler only: a test process
    // is too short for the optimizing tier to pay for itself (it compiles PGlite's hot functions on
    // background threads: about 0.4 s of CPU per process that opens a store, and store-heavy files
    // ran no faster with it).
    '--liftoff-only',
    '--test',
    '--test-concurrency=2',
    ...reporters,
    ...flags,
    ...(hook ? ordered : ordered.map(mirrorPath)),
  ],
  {
    stdio: 'inherit',
    env: {
      ...process.env,
      KEYWARD_TEST_TIMINGS: reporters.length && !partial ? TIMINGS : '',
      KEYWARD_TEST_REPORTER: process.stdout.isTTY ? 'spec' : 'tap',
    },
  },
);
process.exit(res.status ?? 1);
