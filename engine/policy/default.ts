/**
 * The built-in default policy (policies/default/rbac.ts): RBAC, shipped as a WebAssembly module and
 * reported by hash like any other policy.
 *
 * `npm run build` compiles it to build/policies/rbac.wasm (scripts/build-policies.mjs). When that
 * file is missing — running from a source checkout that was never built — it is compiled in memory
 * from the source instead; builds are reproducible, so the hash is the same either way.
 * @module
 */
import { readFile } from 'node:fs/promises';
import { compilePolicy } from './compile.js';
import { loadPolicy } from './host.js';
import type { LoadedPolicy } from './host.js';
import { defaultPolicyPath, defaultPolicySourcePath } from './paths.js';

export { defaultPolicyPath } from './paths.js';

/** The default policy's module bytes (built file, else compiled from source). */
export async function defaultPolicyWasm(): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(defaultPolicyPath()));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  return (await compilePolicy(defaultPolicySourcePath())).wasm;
}

/** The default policy, loaded. */
export async function loadDefaultPolicy(): Promise<LoadedPolicy> {
  return loadPolicy(await defaultPolicyWasm());
}
