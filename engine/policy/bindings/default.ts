/**
 * The built-in default policy (policies/default/rbac.ts): RBAC, shipped as a WebAssembly module and
 * reported by hash like any other policy.
 *
 * `npm run build` compiles it to build/policies/rbac.wasm (scripts/build-policies.mjs). When that
 * file is missing — running from a source checkout that was never built — it is compiled in memory
 * from the source instead; builds are reproducible, so the hash is the same either way.
 * @module
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { loadPolicy } from '../sandbox/host.js';
import type { LoadedPolicy } from '../sandbox/host.js';
import { defaultPolicyPath, defaultPolicySourcePath } from '../toolchain/paths.js';
import { bundledMetering } from './prebuilt.js';

export { defaultPolicyPath } from '../toolchain/paths.js';

/** The default policy's module bytes (built file, else compiled from source). */
export async function defaultPolicyWasm(): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(defaultPolicyPath()));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  // The compiler only when there is no build: a built server never loads the toolchain's compile.ts.
  const { compilePolicy } = await import('../toolchain/compile.js');
  return (await compilePolicy(defaultPolicySourcePath())).wasm;
}

/** The default policy, loaded. */
export async function loadDefaultPolicy(): Promise<LoadedPolicy> {
  const wasm = await defaultPolicyWasm();
  return loadPolicy(wasm, await bundledMetering()(createHash('sha256').update(wasm).digest('hex')));
}
