/**
 * Whether the build (dist/cli/main.js) is at least as new as every .ts source it is compiled from,
 * so tools that start the CLI (the CLI tests, bench/api) can run the build instead of compiling
 * through tsx, and fall back to the source when it is stale.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const DIST_MAIN = join(ROOT, 'dist', 'cli', 'main.js');

/** Newest mtime of the .ts sources the CLI and server are built from (@keyward/client's included). */
function newestSource() {
  let newest = 0;
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
    }
  };
  for (const d of ['lib', 'cli', 'engine', 'server', 'ceremony', join('client', 'src')]) walk(join(ROOT, d));
  return newest;
}

export function distIsFresh() {
  return existsSync(DIST_MAIN) && statSync(DIST_MAIN).mtimeMs >= newestSource();
}
