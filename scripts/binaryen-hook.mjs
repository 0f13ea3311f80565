// Node module hook for the policy tests and bench: serves binaryen's 13 MB ESM file (and asc's bundles)
// straight from disk. Under `--import tsx` every ESM file containing `import(` is re-parsed to rewrite dynamic
// imports (with a high-resolution source map), which takes ~8 s for binaryen; binaryen needs none
// of it. Registered after tsx, so this load hook runs first and short-circuits for that one file.
import { readFile } from 'node:fs/promises';

const BIG = [
  '/node_modules/binaryen/index.js',
  '/node_modules/assemblyscript/dist/asc.js',
  '/node_modules/assemblyscript/dist/assemblyscript.js',
];

export async function load(url, context, nextLoad) {
  if (url.startsWith('file:') && BIG.some((suffix) => url.endsWith(suffix))) {
    return { format: 'module', source: await readFile(new URL(url)), shortCircuit: true };
  }
  return nextLoad(url, context);
}
