#!/usr/bin/env node
// Counts the suite's size in source: test(...)/it(...) calls (t.test subtests included) and
// assert.* calls under test/ (or the paths given), per file with --per-file. A static count, for
// comparing a change that should neither drop tests nor weaken them (issue 12 item 7); `npm test`'s
// own "# tests" line counts what actually ran.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const args = process.argv.slice(2);
const perFile = args.includes('--per-file');
const roots = args.filter((a) => !a.startsWith('-'));

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (name.endsWith('.ts')) out.push(p);
  }
  return out;
}

const TEST = /(?<![\w.$])(?:t\.)?(?:test|it)(?:\.(?:skip|todo|only))?\s*\(/g;
const ASSERT = /(?<![\w$])assert(?:\.\w+)*\s*\(/g;
// Calls of the suite's assertion helpers (an error answer, a CLI exit), definitions excluded.
const HELPER = /(?<![\w$.]|function )(?:assertError|ok|fails|failsWith)\s*\(/g;
let tests = 0;
let asserts = 0;
let helpers = 0;
let files = 0;
for (const f of (roots.length ? roots : ['test']).flatMap((r) => (statSync(r).isDirectory() ? walk(r) : [r]))) {
  // Comments out, so a commented-out test is not counted.
  const src = readFileSync(f, 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/^\s*\/\/.*$/gm, '');
  const nt = (src.match(TEST) ?? []).length;
  const na = (src.match(ASSERT) ?? []).length;
  const nh = (src.match(HELPER) ?? []).length;
  if (f.endsWith('.test.ts')) files++;
  tests += nt;
  asserts += na;
  helpers += nh;
  if (perFile && (nt || na || nh))
    console.log(`${String(nt).padStart(4)} ${String(na).padStart(5)} ${String(nh).padStart(5)}  ${f}`);
}
console.log(
  `${files} test files, ${tests} test()/it() calls, ${asserts} assert.* calls, ${helpers} assertion-helper calls (assertError/ok/fails)`,
);
