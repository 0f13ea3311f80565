/**
 * The CLI's start-up: every command's module is imported when `keyward` starts (clipanion registers
 * classes), so a command file must load its crypto, custody or audit code when it runs, not at the
 * top. `keyward --version` from the build loads 85 modules instead of 289 (0.16 s instead of 0.26 s
 * here); this keeps it so.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, it } from 'node:test';
import { DIST_MAIN, distIsFresh } from '../../scripts/dist-fresh.mjs';

/** What no command may load before it runs. */
const HEAVY = [
  /\/dist\/ceremony\//,
  /\/dist\/engine\/crypto\/(?!types\.js)/,
  /\/dist\/engine\/audit\//,
  /\/dist\/engine\/policy\/(?!toolchain\/paths\.js)/,
  /\/node_modules\/(zod|@hpke|@noble|@electric-sql|drizzle-orm|postgres|binaryen|assemblyscript)\//,
];

describe('keyward start-up', () => {
  it(
    'loads no crypto, custody, audit, policy or storage code before a command runs',
    { skip: !distIsFresh() && 'needs a fresh build (npm run build)' },
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'keyward-startup-'));
      try {
        const log = join(dir, 'loaded.txt');
        const hook = join(dir, 'hook.mjs');
        writeFileSync(
          hook,
          `import { appendFileSync } from 'node:fs';
export async function load(url, context, next) { appendFileSync(${JSON.stringify(log)}, url + '\\n'); return next(url, context); }`,
        );
        const register = join(dir, 'register.mjs');
        writeFileSync(
          register,
          `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hook).href)});\n`,
        );
        const r = spawnSync(process.execPath, ['--import', register, DIST_MAIN, '--version'], { encoding: 'utf8' });
        assert.equal(r.status, 0, r.stderr);
        const loaded = readFileSync(log, 'utf8').split('\n').filter(Boolean);
        assert.ok(
          loaded.some((u) => u.endsWith('/dist/cli/index.js')),
          'the hook saw the CLI load',
        );
        const heavy = loaded.filter((u) => HEAVY.some((re) => re.test(u)));
        assert.deepEqual(heavy, [], 'modules a command should import when it runs');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});
