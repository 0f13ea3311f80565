#!/usr/bin/env node
// Runs every test/**/*.test.ts with node:test, the TypeScript through scripts/register-ts.mjs (Node 20's
// --test takes no globs).
// Extra arguments are passed to node --test (e.g. --test-name-pattern=unseal); a path argument
// narrows the run to the files under it.
import { readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';

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

function walkTs(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) {
      if (name !== 'fixtures') out.push(...walkTs(p));
    } else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(resolve(p));
  }
  return out;
}

const roots = paths.length ? paths : ['test'];
const files = roots.flatMap((r) => (statSync(r).isDirectory() ? walk(r) : [r]));
if (files.length === 0) {
  console.error('no test files found under ' + roots.join(', '));
  process.exit(1);
}
// Every source compiled once here, before the run: otherwise the first test processes, two at a time,
// each compile the same few hundred files on a fresh machine (about 30 s of a cold run).
const { precompile } = await import('./ts-hook.mjs');
for (const dir of ['lib', 'ceremony', 'engine', 'server', 'cli', join('client', 'src'), 'test'])
  for (const file of walkTs(dir)) precompile(file);

const res = spawnSync(
  process.execPath,
  // keyward-source: @keyward/client from its sources (client/src), not its last build.
  [
    '--conditions=keyward-source',
    '--import',
    './scripts/register-ts.mjs',
    '--test',
    '--test-concurrency=2',
    ...flags,
    ...files,
  ],
  { stdio: 'inherit' },
);
process.exit(res.status ?? 1);
