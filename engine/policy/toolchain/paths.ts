/**
 * Where the policy engine's files live: the package root (found by walking up from this module,
 * so it works from source under tsx and from dist/), the SDK, and the built default policy.
 * @module
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

/** The directory of Keyward's package.json. */
export function packageRoot(): string {
  if (root !== undefined) return root;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && existsSync(join(dir, 'policies', 'sdk', 'index.ts'))) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: unknown }).name === 'keyward') return (root = dir);
      } catch {
        // not ours; keep walking
      }
    }
    const up = dirname(dir);
    if (up === dir) throw new Error(`keyward package root not found above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

/** policies/sdk: what `import ... from "keyward"` resolves to in a policy. */
export function sdkDir(): string {
  return join(packageRoot(), 'policies', 'sdk');
}

/** policies/default/rbac.ts: the source of the built-in default policy. */
export function defaultPolicySourcePath(): string {
  return join(packageRoot(), 'policies', 'default', 'rbac.ts');
}

/** build/policies/rbac.wasm: the default policy as built by scripts/build-policies.mjs. */
export function defaultPolicyPath(): string {
  return join(packageRoot(), 'build', 'policies', 'rbac.wasm');
}
