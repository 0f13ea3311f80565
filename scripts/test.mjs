#!/usr/bin/env node
// Runs every test/**/*.test.ts with node:test (Node 20's --test takes no globs), three processes at a time.
// Extra arguments are passed to node --test (e.g. --test-name-pattern=unseal); a path argument
// narrows the run to the test files under it (`npm test -- test/server/keys.test.ts`).
//
// The TypeScript runs compiled: scripts/test-mirror.mjs brings a compiled copy of the project up to
// date (node_modules/.cache/keyward-test/; only changed files are compiled) and the test processes
// run its .js files with no module hook (a hook thread costs each of the hundred-odd processes
// about 0.4 s of CPU). Reports still name the .ts sources: scripts/test-reporter.mjs maps the
// failures' locations through the mirror's source maps (x.js.map), rather than every test process
// decoding every module's map as it loads it (--enable-source-maps: ~60 ms of CPU per process).
// KEYWARD_TEST_HOOK=1 runs the sources through scripts/register-ts.mjs instead, as test:faults,
// test:fuzz and the benches do.
//
// Test files share processes: starting one costs about 0.1 s of CPU, importing the server 0.5 s and
// its first PGlite 0.75 s, in each process, a third of a whole run's CPU when every file had its
// own. So the files of one folder (test/a at most deep: test/engine/store/x.test.ts is in
// test/engine) run in groups of up to GROUP_SIZE in one process, one after the other: the group
// is a generated entry file (in the mirror, .mirror-groups/) that imports each file inside a
// `describe` named by the file's path, so each file's top-level before/after hooks
// stay its own (they run before and after that file's tests), and the report and the timings still
// name each file. A file that changes process-global state (environment variables, process.on
// handlers, the working directory, globals) or needs a fresh module registry runs in a process of
// its own: it says so with a line `// keyward-test: own-process (why)`. A run of one file runs it
// directly; KEYWARD_TEST_GROUP=0 runs every file in its own process, as before.
//
// Processes start longest first, by their durations in the last run on this driver (kept beside
// the mirror by scripts/test-timings.mjs; a new group by its files' sum; a fresh clone by
// scripts/test-durations.json): a few at a time, a long one started last would otherwise run
// alone at the end.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
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

const hook = process.env.KEYWARD_TEST_HOOK === '1';
if (!hook) await buildMirror(files);

// Expected durations: this checkout's last run on this driver, else the ones committed in
// scripts/test-durations.json (`npm run test:durations` refreshes them from the last runs), so a
// fresh clone (CI) still starts its longest processes first; a file known to neither counts as
// the median file.
let committed = {};
try {
  committed = JSON.parse(readFileSync(new URL('./test-durations.json', import.meta.url), 'utf8'))[driver] ?? {};
} catch {
  // none committed
}
const median = (ms) => (ms.length ? ms.sort((a, b) => a - b)[ms.length >> 1] : 1000);
const medianMs = median(Object.values({ ...committed, ...timings }));
const fileMs = (f) => timings[rel(f)] ?? committed[rel(f)] ?? medianMs;
// Groups are cut by the committed durations alone, so every checkout and every run groups the same
// files together (this checkout's last run would regroup them at every run, and a failure caused by
// two files sharing a process would not come back the next time).
const committedMedianMs = median(Object.values(committed));
const groupFileMs = (f) => committed[rel(f)] ?? committedMedianMs;
/**
 * Files of one folder per process, up to this many (see the header), in folders two deep. Each process
 * saved is its start, its imports, its first store and its JIT's warm-up again: twenty where ten
 * made 18 processes of 24 (alternating runs of one folder: test/cli in one process instead of two,
 * 57-58 s of CPU -> 49-53 s; test/server in three instead of five, 118-125 s -> 98-111 s).
 */
const GROUP_SIZE = 20;
/**
 * A group's expected duration, at most (ms, committed durations): the whole suite is about 550 s of
 * file time on three processes at once, so no process should take much more than a third of a run.
 */
const GROUP_MS = 75_000;
const OWN_PROCESS = /^\/\/ keyward-test: own-process\b/m;
const grouping = !hook && files.length > 1 && process.env.KEYWARD_TEST_GROUP !== '0';

/** What each test process runs: `{ entry, files, ms }`, ms its expected duration. */
const units = [];
const byFolder = new Map();
/** A file's folder, down to test/a at most: test/engine/audit/math/x.test.ts is in test/engine. */
const folderOf = (f) => dirname(rel(f)).split('/').slice(0, 2).join('/');
for (const f of files) {
  if (!grouping || OWN_PROCESS.test(readFileSync(f, 'utf8'))) units.push({ files: [f] });
  else byFolder.set(folderOf(f), [...(byFolder.get(folderOf(f)) ?? []), f]);
}
for (const folderFiles of byFolder.values()) {
  // As few groups as GROUP_SIZE and GROUP_MS allow, of about even expected durations (test/engine's
  // store files are its slowest), each a run of the folder's files in order: a group ends before a
  // file whose middle would take it past its even share, or when it holds GROUP_SIZE files.
  const total = folderFiles.map(groupFileMs).reduce((a, b) => a + b, 0);
  const share = total / Math.max(Math.ceil(folderFiles.length / GROUP_SIZE), Math.ceil(total / GROUP_MS));
  let group = [];
  let groupMs = 0;
  for (const f of folderFiles) {
    const ms = groupFileMs(f);
    if (group.length === GROUP_SIZE || (group.length > 0 && groupMs + ms / 2 > share)) {
      units.push({ files: group });
      group = [];
      groupMs = 0;
    }
    group.push(f);
    groupMs += ms;
  }
  if (group.length > 0) units.push({ files: group });
}
const GROUPS = join(MIRROR, '.mirror-groups');
for (const u of units) {
  if (u.files.length === 1) {
    u.entry = hook ? u.files[0] : mirrorPath(u.files[0]);
    continue;
  }
  // Named by its folder and a hash of its files, so runs of other selections never share one.
  const names = u.files.map(rel);
  const hash = createHash('sha256').update(names.join('\0')).digest('hex').slice(0, 10);
  const folder =
    folderOf(u.files[0])
      .replace(/^test\/?/, '')
      .replace(/\//g, '-') || 'test';
  u.entry = join(GROUPS, `${folder}-${hash}.test.js`);
  // One file at a time: each import starts inside its own describe, once the previous file is loaded.
  // node:test gives a test to the suite whose call it runs under (async context), and module loads in
  // flight together are evaluated together: two files loading at once would register their tests in
  // the first one's suite.
  const list = names.map((name, i) => [name, pathToFileURL(mirrorPath(u.files[i])).href]);
  // KEYWARD_TEST_CPU: each file's CPU too (scripts/test-cpu.mjs's keywardFileCpu): its import, and its
  // suite from a first hook to a last one (registered once the file is loaded: after the file's own).
  const cpu = Boolean(process.env.KEYWARD_TEST_CPU);
  // node:test starts a file's tests as soon as its suite is registered, while the next files are
  // still being imported: a test's timers and sockets then wait for those imports (seconds of CPU
  // for ten files), which once made a PostgreSQL store's 2 s connect timeout fire in CI. So every
  // file's tests wait (a first `before`) until all the group's files are loaded.
  const body = `let allLoaded;
const loadedAll = new Promise((resolve) => (allLoaded = resolve));
for (const [name, url] of ${JSON.stringify(list)}) {
  let loaded;
  const done = new Promise((resolve) => (loaded = resolve));
  describe(name, () => {
    before(() => loadedAll);${cpu ? '\n    const mark = globalThis.keywardFileCpu?.(name);\n    mark?.load();\n    before(() => mark?.start());' : ''}
    const module = import(url);
    module.then(loaded, loaded);
    return ${cpu ? 'module.then(() => (mark?.loaded(), after(() => mark?.end())))' : 'module'};
  });
  await done;
}
allLoaded();`;
  mkdirSync(GROUPS, { recursive: true });
  const tmp = `${u.entry}.${process.pid}.tmp`;
  writeFileSync(
    tmp,
    `// ${names.length} test files in one process (scripts/test.mjs).\nimport { ${cpu ? 'after, ' : ''}before, describe } from 'node:test';\n${body}\n`,
  );
  renameSync(tmp, u.entry);
}
/** What a test process costs before its first test (node, the imports, the first store). */
const STARTUP_MS = 1000;
const timingsKey = (entry) => (entry.startsWith(MIRROR) ? relative(MIRROR, entry).replace(/\.js$/, '.ts') : rel(entry));
for (const u of units) {
  u.ms =
    timings[timingsKey(u.entry)] ??
    (u.files.length === 1 ? fileMs(u.files[0]) : STARTUP_MS + u.files.map(fileMs).reduce((a, b) => a + b, 0));
}
const ordered = units
  .map((u, i) => ({ u, i }))
  .sort((a, b) => b.u.ms - a.u.ms || a.i - b.i)
  .map((x) => x.u.entry);

// KEYWARD_TEST_PLAN=1: print the processes, in order, with their expected durations, and run nothing.
if (process.env.KEYWARD_TEST_PLAN === '1') {
  for (const u of [...units].sort((a, b) => ordered.indexOf(a.entry) - ordered.indexOf(b.entry)))
    console.log(`${String(Math.round(u.ms)).padStart(7)} ms  ${u.files.map(rel).join(' ')}`);
  process.exit(0);
}

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
    // KEYWARD_TEST_CPU=<file.jsonl>: each test process's wall and CPU time (scripts/test-cpu.mjs).
    ...(process.env.KEYWARD_TEST_CPU ? ['--import', new URL('./test-cpu.mjs', import.meta.url).href] : []),
    '--test',
    // Three at a time on two cores: a process's wall is about 1.35× its CPU (servers, child processes
    // and timers it waits on), and two at a time left the cores idle for that. Measured on 2 cores, quiet,
    // PGlite: 3:19 with two, 2:54 with three, 2:46 with four (four crowds the tests with time bounds).
    '--test-concurrency=3',
    ...reporters,
    ...flags,
    ...ordered,
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
