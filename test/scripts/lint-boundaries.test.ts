/**
 * The layering rules of eslint.config.js (docs/architecture.md, "Dependency direction") fail on the
 * imports they exist to refuse, and pass the ones the layering allows: ESLint's own Node API lints
 * small synthetic sources as if they sat at the given paths. The type-aware block is left out (the
 * files don't exist, so TypeScript has no program for them); everything else is the real config.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { before, describe, it } from 'node:test';
import { ESLint, type Linter } from 'eslint';
import { ROOT } from '../../scripts/dist-fresh.mjs';

let eslint: ESLint;

before(async () => {
  const config = ((await import(pathToFileURL(join(ROOT, 'eslint.config.js')).href)) as { default: Linter.Config[] })
    .default;
  assert.ok(
    config.some((c) => c.name === 'keyward/correctness-typed'),
    'the typed block this test drops is still named so',
  );
  eslint = new ESLint({
    cwd: ROOT,
    overrideConfigFile: true,
    overrideConfig: config.filter((c) => c.name !== 'keyward/correctness-typed'),
  });
});

/** The layer rules (keyward/layer-*) that fire on `code` placed at `file`, with their messages. */
async function layerErrors(file: string, code: string): Promise<{ rules: string[]; messages: string[] }> {
  const [result] = await eslint.lintText(code, { filePath: join(ROOT, file) });
  assert.ok(result, 'one result');
  const fatal = result.messages.filter((m) => m.fatal || !m.ruleId);
  assert.deepEqual(fatal, [], `${file} parsed and was not ignored`);
  const layer = result.messages.filter((m) => m.ruleId?.startsWith('keyward/layer-'));
  return {
    rules: [...new Set(layer.map((m) => m.ruleId!.slice('keyward/layer-'.length)))].sort(),
    messages: layer.map((m) => m.message),
  };
}

/** [file, code, the layer rules expected to fire (none: allowed)] */
type Case = [file: string, code: string, expected: string[]];

function check(cases: Case[]): void {
  for (const [file, code, expected] of cases) {
    it(`${expected.length ? 'refuses' : 'allows'} ${JSON.stringify(code)} in ${file}`, async () => {
      const { rules, messages } = await layerErrors(file, code);
      assert.deepEqual(rules, expected, messages.join('\n'));
    });
  }
}

describe('lint: the layers', () => {
  check([
    // lib/ imports nothing of ours, and no node: module
    ['lib/x.ts', "import { KeywardError } from './errors.js';", []],
    ['lib/x.ts', "import { ByteReader } from '../ceremony/bytes.js';", ['ceremony-internals', 'lib']],
    ['lib/x.ts', "import { Hsm } from '../engine/hsm.js';", ['lib']],
    ['lib/x.ts', "import { randomBytes } from 'node:crypto';", ['lib']],
    ['lib/x.ts', "import { Buffer } from 'buffer';", ['lib']],
    ['lib/x.ts', "import { sha256 } from '@noble/hashes/sha2.js';", []],
    // ceremony/ imports only lib/, and does no I/O
    ['ceremony/x.ts', "import { abytes } from '../lib/bytes.js';", []],
    ['ceremony/x.ts', "import { lp } from './bytes.js';", []],
    ['ceremony/x.ts', "import { Hsm } from '../engine/hsm.js';", ['ceremony']],
    ['ceremony/x.ts', "import { readFile } from 'node:fs/promises';", ['ceremony']],
    ['ceremony/x.ts', "import { randomBytes } from 'node:crypto';", []],
    // engine/ never imports server/, cli/ or client/, however deep the file
    ['engine/foo.ts', "import x from '../server/app.js';", ['engine']],
    ['engine/keys/foo.ts', "import x from '../../server/app.js';", ['engine']],
    ['engine/policy/sandbox/foo.ts', "import x from '../../../cli/base.js';", ['engine', 'sandbox']],
    ['engine/foo.ts', "export * from '../server/errors.js';", ['engine']],
    ['engine/foo.ts', "export { app } from '../server/app.js';", ['engine']],
    ['engine/foo.ts', "const m = await import('../cli/index.js');", ['engine']],
    ['engine/foo.ts', "import type { Ctx } from '../server/app.js';", ['engine']],
    ['engine/foo.ts', "import { createClient } from '@keyward/client';", ['engine']],
    ['engine/foo.ts', "import { x } from '../test/helpers/server.js';", ['engine']],
    [
      'engine/keys/foo.ts',
      "import { KeywardError } from '../../lib/errors.js'; import { Barrier } from '../seal/barrier.js';",
      [],
    ],
    // server/ never imports cli/ (nor client/)
    ['server/x.ts', "import { Hsm } from '../engine/hsm.js';", []],
    ['server/routes/x.ts', "import { BaseCommand } from '../../cli/base.js';", ['server']],
    ['server/x.ts', "import { createClient } from '@keyward/client';", ['server']],
    // client/ imports nothing of ours outside client/
    ['client/src/x.ts', "import { toBase64 } from './bytes.js';", []],
    ['client/src/x.ts', "import { toBase64 } from '../../lib/bytes.js';", ['client']],
    ['client/src/x.ts', "import { Hsm } from '../../engine/hsm.js';", ['client']],
    ['client/src/x.ts', "import createFetch from 'openapi-fetch';", []],
    // the CLI may import everything but tests and benchmarks
    [
      'cli/commands/x.ts',
      "import { openHolderKey } from '../../ceremony/index.js'; import { createClient } from '@keyward/client';",
      [],
    ],
    ['cli/commands/x.ts', "import { startTestServer } from '../../test/helpers/server.js';", ['cli']],
  ]);
});

describe('lint: the web console uses the API client and the audit math, nothing else of ours', () => {
  check([
    [
      'ui/src/x.tsx',
      "import { KeywardClient } from '@keyward/client'; export const x = <p>{KeywardClient.name}</p>;",
      [],
    ],
    ['ui/src/x.ts', "import { verifyInclusion } from '../../engine/audit/math/merkle.js';", []],
    ['ui/src/screens/x.tsx', "import { toHex } from '../../../lib/bytes.js';", []],
    ['ui/src/x.ts', "import { Hsm } from '../../engine/hsm.js';", ['ui']],
    ['ui/src/x.ts', "import { createApp } from '../../server/app.js';", ['ui']],
    ['ui/src/x.ts', "import { readFileSync } from 'node:fs';", ['ui']],
  ]);
});

describe('lint: ceremony/bytes and ceremony/errors stay inside ceremony/', () => {
  check([
    ['engine/keys/x.ts', "import { ByteReader } from '../../ceremony/bytes.js';", ['ceremony-internals']],
    ['server/x.ts', "import { KeywardError } from '../ceremony/errors.js';", ['ceremony-internals']],
    ['cli/x.ts', "import { ByteReader } from '../ceremony/bytes.js';", ['ceremony-internals']],
    ['test/engine/x.test.ts', "import { ByteReader } from '../../ceremony/bytes.js';", ['ceremony-internals']],
    ['cli/x.ts', "import { openHolderKey } from '../ceremony/index.js';", []],
    ['ceremony/shard-file.ts', "import { ByteReader } from './bytes.js';", []],
    ['test/ceremony/bytes.test.ts', "import { ByteReader } from '../../ceremony/bytes.js';", []],
  ]);
});

describe('lint: the policy sandbox does no I/O', () => {
  const io = [
    "import { readFileSync } from 'node:fs';",
    "import { readFileSync } from 'fs';",
    "import { readFile } from 'node:fs/promises';",
    "import { Worker } from 'node:worker_threads';",
    "import { spawn } from 'node:child_process';",
    "const { connect } = await import('node:net');",
    "import postgres from 'postgres';",
    "import { eq } from 'drizzle-orm';",
    "import { PGlite } from '@electric-sql/pglite';",
  ];
  // the folder, at any depth
  for (const file of [
    'engine/policy/sandbox/x.ts',
    'engine/policy/sandbox/deep/x.ts',
    'engine/policy/sandbox/host.ts',
    'engine/policy/sandbox/gas.ts',
    'engine/policy/sandbox/abi.ts',
  ]) {
    check(io.map((code): Case => [file, code, ['sandbox']]));
  }
  check([
    ['engine/policy/sandbox/x.ts', "import { getPolicy } from '../../store/index.js';", ['sandbox']],
    ['engine/policy/sandbox/x.ts', "import { startWorker } from '../../workers.js';", ['sandbox']],
    ['engine/policy/sandbox/x.ts', "import { createHash } from 'node:crypto';", []],
    ['engine/policy/sandbox/x.ts', "import type { Worker } from 'node:worker_threads';", []],
    ['engine/policy/sandbox/x.ts', "import binaryen from 'binaryen'; import { z } from 'zod';", []],
    // of ours, only itself and lib/: I/O can't come in through another of our files
    [
      'engine/policy/sandbox/host.ts',
      "import { Gas } from './gas.js'; import { KeywardError } from '../../../lib/errors.js';",
      [],
    ],
    [
      'engine/policy/sandbox/deep/x.ts',
      "import { Gas } from '../gas.js'; import { KeywardError } from '../../../../lib/errors.js';",
      [],
    ],
    ['engine/policy/sandbox/x.ts', "import { sdkDir } from '../toolchain/paths.js';", ['sandbox']],
    ['engine/policy/sandbox/x.ts', "import { PolicyService } from '../bindings/service.js';", ['sandbox']],
    ['engine/policy/sandbox/host.ts', "import { compilePolicy } from '../toolchain/compile.js';", ['sandbox']],
    ['engine/policy/sandbox/x.ts', "import { sha256 } from '../../crypto/hash.js';", ['sandbox']],
    // the same imports are fine where I/O belongs
    ['engine/store/x.ts', "import { readFileSync } from 'node:fs';", []],
    ['engine/store/x.ts', "import postgres from 'postgres'; import { eq } from 'drizzle-orm';", []],
    ['engine/policy/toolchain/compile.ts', "import { readFileSync } from 'node:fs';", []],
    ['engine/policy/bindings/service.ts', "import { getPolicy } from '../../store/index.js';", []],
  ]);
});

describe('lint: the audit bundle verifier imports no node: module', () => {
  check([
    ['engine/audit/math/bundle.ts', "import { createHash } from 'node:crypto';", ['audit-math']],
    ['engine/audit/math/record.ts', "import { Buffer } from 'node:buffer';", ['audit-math']],
    ['engine/audit/math/merkle.ts', "import { Buffer } from 'buffer';", ['audit-math']],
    ['engine/audit/math/note.ts', "import { readFile } from 'node:fs/promises';", ['audit-math']],
    ['engine/audit/math/other.ts', "import { getAuditNodes } from '../../store/index.js';", ['audit-math']],
    ['engine/audit/math/other.ts', "import { sha256Fast } from '../verifier/sha256-fast.js';", ['audit-math']],
    ['engine/audit/math/bundle.ts', "import { verifyLog } from '../verifier/verify-log.js';", ['audit-math']],
    ['engine/audit/math/bundle.ts', "import { z } from 'zod'; import { encodeRecord } from './record.js';", []],
    [
      'engine/audit/math/merkle.ts',
      "import { sha256 } from '@noble/hashes/sha2.js'; import { toHex } from '../../../lib/bytes.js';",
      [],
    ],
    // the parts of the log that are meant for Node
    [
      'engine/audit/log/log.ts',
      "import { createHash } from 'node:crypto'; import { appendAuditLeaves } from '../../store/index.js';",
      [],
    ],
    ['engine/audit/verifier/verify-log.ts', "import { availableParallelism } from 'node:os';", []],
  ]);
});

describe('lint: the offline parts (policy toolchain, log verifier) never reach the database', () => {
  check([
    [
      'engine/policy/toolchain/compile.ts',
      "import { readFileSync } from 'node:fs'; import { encodePolicyInput } from '../sandbox/abi.js';",
      [],
    ],
    [
      'engine/audit/verifier/verify-log.ts',
      "import { Worker } from 'node:worker_threads'; import { startWorker } from '../../workers.js';",
      [],
    ],
    ['engine/policy/toolchain/cases.ts', "import { PolicyService } from '../bindings/service.js';", ['offline']],
    ['engine/policy/toolchain/cases.ts', "import { decide } from '../bindings/index.js';", ['offline']],
    ['engine/audit/verifier/verify-log.ts', "import { AuditLog } from '../log/log.js';", ['offline']],
    ['engine/audit/verifier/verify-worker.ts', "import { readAuditPage } from '../log/read.js';", ['offline']],
    ['engine/audit/verifier/x.ts', "import { getAuditNodes } from '../../store/index.js';", ['offline']],
    ['engine/policy/toolchain/x.ts', "import { eq } from 'drizzle-orm';", ['offline']],
    ['engine/policy/toolchain/x.ts', "import { Hsm } from '../../hsm.js';", ['offline']],
  ]);
});

describe('lint: messages', () => {
  it('say what was imported, from where, and why not', async () => {
    const { messages } = await layerErrors('engine/policy/sandbox/x.ts', "import { readFileSync } from 'node:fs';");
    assert.equal(messages.length, 1);
    assert.match(
      messages[0]!,
      /'node:fs' may not be imported by engine\/policy\/sandbox\/x\.ts: the policy sandbox does no I\/O/,
    );
    const path = await layerErrors('engine/keys/foo.ts', "import x from '../../server/app.js';");
    assert.match(
      path.messages[0]!,
      /'\.\.\/\.\.\/server\/app\.js' \(server\/app\) is outside what engine\/keys\/foo\.ts may import: engine\/ never imports server\//,
    );
  });
});
