// Node module hooks that run Keyward's TypeScript sources in tests, fault tests and benches (registered
// by scripts/register-ts.mjs). Our sources are written for this: `isolatedModules` and
// `verbatimModuleSyntax` (tsconfig.json), so each file compiles alone by dropping its types, and
// relative imports name the `.js` file the build will emit, which here means the `.ts` beside it.
//
// Why not tsx: tsx's hooks also resolve and re-parse every JavaScript file in node_modules (to
// rewrite dynamic imports), which cost about 0.4 s of CPU per process for the engine's ~400 modules
// and ~8 s for binaryen's 13 MB; a test run starts a hundred processes. Here only our `.ts` files are
// touched, compiled with esbuild (the compiler tsx uses) and cached on disk by content.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { transformSync, version as esbuildVersion } from 'esbuild';

/** binaryen's and asc's bundles are plain ESM: served from disk, nothing else to do. */
const BIG = [
  '/node_modules/binaryen/index.js',
  '/node_modules/assemblyscript/dist/asc.js',
  '/node_modules/assemblyscript/dist/assemblyscript.js',
];

/** esbuild's options for one file (scripts/test-mirror.mjs compiles with the same, so both ways run the same JavaScript). */
export const OPTIONS = {
  loader: 'ts',
  format: 'esm',
  target: 'node20',
  sourcemap: 'inline',
  // tsconfig.json's target is ES2022: class fields are defined, as tsc emits them.
  tsconfigRaw: { compilerOptions: { useDefineForClassFields: true, verbatimModuleSyntax: true } },
};
const CACHE = join(tmpdir(), `keyward-ts-${esbuildVersion}`);
const SALT = createHash('sha256').update(JSON.stringify(OPTIONS)).digest('hex').slice(0, 16);
let cacheReady = false;

export async function resolve(specifier, context, nextResolve) {
  const parent = context.parentURL?.replace(/[?#].*$/, '');
  if (
    parent?.startsWith('file:') &&
    parent.endsWith('.ts') &&
    specifier.endsWith('.js') &&
    (specifier.startsWith('./') || specifier.startsWith('../'))
  ) {
    const ts = new URL(specifier.slice(0, -3) + '.ts', parent);
    if (existsSync(ts)) return { url: ts.href, format: 'module', shortCircuit: true };
  }
  return nextResolve(specifier, context);
}

export async function load(url, context, nextLoad) {
  if (!url.startsWith('file:')) return nextLoad(url, context);
  const path = url.replace(/[?#].*$/, ''); // a query (tests import a module twice with one)
  if (path.endsWith('.ts') && !path.endsWith('.d.ts')) {
    const file = fileURLToPath(path);
    const source = await readFile(file, 'utf8');
    return { format: 'module', source: compile(file, source), shortCircuit: true };
  }
  if (BIG.some((suffix) => path.endsWith(suffix))) {
    return { format: 'module', source: await readFile(new URL(path)), shortCircuit: true };
  }
  return nextLoad(url, context);
}

/** Fills the cache for `file` (scripts/test.mjs does it for every source before a run). */
export function precompile(file) {
  compile(file, readFileSync(file, 'utf8'));
}

/** esbuild's output for one file, from the cache when its content (and path, for the source map) was seen. */
function compile(file, source) {
  const key = createHash('sha256').update(SALT).update(file).update('\0').update(source).digest('hex');
  const cached = join(CACHE, key + '.js');
  try {
    return readFileSync(cached, 'utf8');
  } catch {
    // not compiled yet
  }
  const { code } = transformSync(source, { ...OPTIONS, sourcefile: file });
  try {
    if (!cacheReady) mkdirSync(CACHE, { recursive: true });
    cacheReady = true;
    // Write-then-rename: parallel test processes never read half a file.
    const tmp = `${cached}.${process.pid}.tmp`;
    writeFileSync(tmp, code);
    renameSync(tmp, cached);
  } catch {
    // an unwritable temp dir only costs the next process a compile
  }
  return code;
}
