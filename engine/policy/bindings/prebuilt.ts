/**
 * The bundled policies' metering, done once by the build instead of once per process.
 *
 * Loading a policy validates and meters it with binaryen (../sandbox/host.ts `meterPolicy`), and
 * importing binaryen alone costs about half a second of CPU: every server paid it at start-up for
 * the default policy, every CLI replay for the policies it met. `npm run build`
 * (scripts/build-policies.mjs) meters the policies it builds into build/policies/ and writes
 * `metered.json` beside them: for each module's SHA-256, its metered file, that file's SHA-256 and
 * the validation result. `loadPolicy` uses an entry only for the exact bytes it names.
 *
 * Trust: build/ is as trusted as the code; the default policy itself is read from there. A stale
 * entry can't be used: the manifest names the fingerprint of the sandbox that metered it (every file
 * of engine/policy/sandbox/, as .ts from source and as .js from dist, and binaryen's version), and
 * an entry whose fingerprint differs from the running sandbox's is ignored, as is a metered file
 * whose hash differs from the manifest's (a torn write). Either way the policy is metered in process,
 * as before, so this only ever saves time.
 * @module
 */
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MeteredPolicy, ModuleInfo } from '../sandbox/index.js';
import { packageRoot } from '../toolchain/paths.js';

/** build/policies/metered.json, as the build writes it. */
export interface PrebuiltManifest {
  version: 1;
  /** Fingerprints of the sandboxes that made these entries (one per form present: source, dist). */
  fingerprints: string[];
  entries: Record<string, { file: string; sha256: string; info: ModuleInfo }>;
}

export const PREBUILT_MANIFEST = 'metered.json';

/** build/policies/. */
export function builtPoliciesDir(): string {
  return join(packageRoot(), 'build', 'policies');
}

/**
 * SHA-256 over binaryen's pinned version and every file of the sandbox with extension `ext`
 * (".ts" for the sources, ".js" for dist/), by name; undefined if there are none.
 */
export function sandboxFingerprint(sandboxDir: string, ext: '.ts' | '.js'): string | undefined {
  let names: string[];
  try {
    names = readdirSync(sandboxDir)
      .filter((n) => n.endsWith(ext) && !n.endsWith('.d.ts'))
      .sort();
  } catch {
    return undefined;
  }
  if (names.length === 0) return undefined;
  const h = createHash('sha256');
  const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as {
    dependencies?: Record<string, string>;
  };
  h.update(`binaryen ${pkg.dependencies?.binaryen ?? '?'}\n`);
  for (const n of names)
    h.update(`${n}\n`)
      .update(readFileSync(join(sandboxDir, n)))
      .update('\n');
  return h.digest('hex');
}

/**
 * The fingerprint of the sandbox this process runs: its sources' when they are beside it (from
 * source, or compiled beside them as in the test mirror, scripts/test-mirror.mjs), else dist/'s.
 */
function runningFingerprint(): string | undefined {
  const here = fileURLToPath(import.meta.url);
  const sandbox = join(dirname(here), '..', 'sandbox');
  return (
    sandboxFingerprint(sandbox, '.ts') ?? (extname(here) === '.js' ? sandboxFingerprint(sandbox, '.js') : undefined)
  );
}

/**
 * A lookup of prebuilt metering by module SHA-256, reading `dir`'s manifest once (lazily). Missing,
 * unreadable or foreign manifests give a lookup that finds nothing.
 */
export function prebuiltLookup(
  dir: string = builtPoliciesDir(),
): (sha256: string) => Promise<MeteredPolicy | undefined> {
  let manifest: Promise<PrebuiltManifest | undefined> | undefined;
  const read = async (): Promise<PrebuiltManifest | undefined> => {
    try {
      const m = JSON.parse(await readFile(join(dir, PREBUILT_MANIFEST), 'utf8')) as PrebuiltManifest;
      const fp = runningFingerprint();
      return m.version === 1 && fp !== undefined && m.fingerprints.includes(fp) ? m : undefined;
    } catch {
      return undefined;
    }
  };
  return async (sha256) => {
    const m = await (manifest ??= read());
    const entry = m && Object.hasOwn(m.entries, sha256) ? m.entries[sha256] : undefined;
    if (!entry || entry.info.sha256 !== sha256 || !/^[\w.-]+$/.test(entry.file)) return undefined;
    try {
      const metered = new Uint8Array(await readFile(join(dir, entry.file)));
      if (createHash('sha256').update(metered).digest('hex') !== entry.sha256) return undefined;
      return { info: entry.info, metered };
    } catch {
      return undefined;
    }
  };
}

let shared: ((sha256: string) => Promise<MeteredPolicy | undefined>) | undefined;

/** The process-wide lookup over build/policies/. */
export function bundledMetering(): (sha256: string) => Promise<MeteredPolicy | undefined> {
  return (shared ??= prebuiltLookup());
}
