#!/usr/bin/env node
// Compiles the bundled policies listed in asconfig.json (the default RBAC policy and the examples)
// into build/policies/*.wasm with engine/policy/toolchain/compile.ts and prints each module's SHA-256, its
// identity.
// Builds are reproducible: the same sources give the same bytes on every machine.
// It also meters each module (engine/policy/sandbox/host.ts meterPolicy) into build/policies/*.metered.wasm
// and metered.json, so a process that loads a bundled policy needs no binaryen
// (engine/policy/bindings/prebuilt.ts says when an entry is used).
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { register } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const config = JSON.parse(readFileSync(new URL('../asconfig.json', import.meta.url), 'utf8'));

// The TypeScript source when it is here and tsx is installed (a stale dist/ must not build stale
// policies), else the compiled dist/.
let compilePolicy, meterPolicy, sandboxFingerprint;
const source = new URL('../engine/policy/toolchain/compile.ts', import.meta.url);
let tsx;
try {
  tsx = existsSync(source) ? await import('tsx/esm/api') : undefined;
} catch {
  tsx = undefined;
}
if (tsx) {
  // tsx, plus a hook registered after it that serves binaryen and asc untouched (tsx would rewrite
  // their dynamic imports, ~8 s for binaryen's 13 MB).
  tsx.register();
  const hook = `import { readFile } from 'node:fs/promises';
    const BIG = ['/node_modules/binaryen/index.js', '/node_modules/assemblyscript/dist/asc.js', '/node_modules/assemblyscript/dist/assemblyscript.js'];
    export async function load(url, context, next) {
      if (url.startsWith('file:') && BIG.some((s) => url.endsWith(s))) return { format: 'module', source: await readFile(new URL(url)), shortCircuit: true };
      return next(url, context);
    }`;
  register('data:text/javascript,' + encodeURIComponent(hook));
  ({ compilePolicy } = await import(source.href));
  ({ meterPolicy } = await import(new URL('../engine/policy/sandbox/host.ts', import.meta.url).href));
  ({ sandboxFingerprint } = await import(new URL('../engine/policy/bindings/prebuilt.ts', import.meta.url).href));
} else {
  const dist = (p) => import(new URL(`../dist/engine/policy/${p}`, import.meta.url).href);
  ({ compilePolicy } = await dist('toolchain/compile.js'));
  ({ meterPolicy } = await dist('sandbox/host.js'));
  ({ sandboxFingerprint } = await dist('bindings/prebuilt.js'));
}

const manifest = {
  version: 1,
  fingerprints: [
    sandboxFingerprint(root + 'engine/policy/sandbox', '.ts'),
    sandboxFingerprint(root + 'dist/engine/policy/sandbox', '.js'),
  ].filter(Boolean),
  entries: {},
};
let failed = 0;
for (const [name, target] of Object.entries(config.targets)) {
  try {
    const { sha256, wasm } = await compilePolicy(root + target.entry, { outFile: root + target.outFile });
    console.log(
      `${name.padEnd(20)} ${target.outFile.padEnd(40)} ${String(wasm.length).padStart(7)} B  sha256 ${sha256}`,
    );
    const { info, metered } = await meterPolicy(wasm);
    const file = target.outFile.replace(/^.*\//, '').replace(/\.wasm$/, '.metered.wasm');
    writeFileSync(root + 'build/policies/' + file, metered);
    manifest.entries[sha256] = { file, sha256: createHash('sha256').update(metered).digest('hex'), info };
  } catch (err) {
    failed++;
    console.error(`${name}: ${err.code ?? 'ERROR'}: ${err.message}`);
  }
}
// Written last and atomically: a manifest names only files already written.
writeFileSync(root + 'build/policies/metered.json.tmp', JSON.stringify(manifest, null, 1) + '\n');
renameSync(root + 'build/policies/metered.json.tmp', root + 'build/policies/metered.json');
process.exit(failed ? 1 : 0);
