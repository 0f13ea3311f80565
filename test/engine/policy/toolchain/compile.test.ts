// keyward-test: own-process (changes the working directory)
import assert from 'node:assert/strict';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FIXTURES, ROOT } from '../helpers.js';
import { ASC_OPTIONS, compilePolicy } from '../../../../engine/policy/toolchain/compile.js';
import { runCases } from '../../../../engine/policy/toolchain/cases.js';
import { loadPolicy } from '../../../../engine/policy/sandbox/host.js';
import { scaffoldPolicy } from '../../../../engine/policy/toolchain/scaffold.js';

const RBAC = `${ROOT}policies/default/rbac.ts`;
let tmp: string;

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'keyward-policy-'));
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('compilePolicy', () => {
  it('builds byte-identical modules, wherever the source lives and whatever the working directory', async () => {
    const a = await compilePolicy(RBAC);
    const b = await compilePolicy(RBAC);
    assert.equal(a.sha256, b.sha256);
    assert.deepEqual(a.wasm, b.wasm);

    // Same source at another absolute path, compiled through a relative path from another cwd.
    const dir = join(tmp, 'some', 'where', 'else');
    await mkdir(dir, { recursive: true });
    await cp(RBAC, join(dir, 'rbac.ts'));
    const cwd = process.cwd();
    process.chdir(join(tmp, 'some'));
    try {
      const c = await compilePolicy('where/else/rbac.ts');
      assert.equal(c.sha256, a.sha256);
    } finally {
      process.chdir(cwd);
    }
    // No path of this machine is in the binary.
    assert.equal(Buffer.from(a.wasm).includes(Buffer.from(ROOT)), false);
    assert.equal(Buffer.from(a.wasm).includes(Buffer.from(ROOT, 'utf16le')), false);
  });

  it('writes outFile when asked', async () => {
    const out = join(tmp, 'out', 'rbac.wasm');
    const r = await compilePolicy(RBAC, { outFile: out });
    assert.deepEqual(new Uint8Array(await readFile(out)), r.wasm);
  });

  it('ignores an asconfig.json next to the policy', async () => {
    const dir = join(tmp, 'with-config');
    await mkdir(dir, { recursive: true });
    await cp(RBAC, join(dir, 'rbac.ts'));
    await writeFile(
      join(dir, 'asconfig.json'),
      JSON.stringify({ options: { initialMemory: 64, maximumMemory: 64, debug: true } }),
    );
    assert.equal((await compilePolicy(join(dir, 'rbac.ts'))).sha256, (await compilePolicy(RBAC)).sha256);
  });

  it('reports compile errors with file:line:column', async () => {
    await assert.rejects(
      compilePolicy(`${FIXTURES}syntax-error.ts`),
      (err: Error & { code?: string; details?: { diagnostics: { line: number }[] } }) => {
        assert.equal(err.code, 'POLICY_COMPILE_FAILED');
        assert.match(err.message, /syntax-error\.ts:6:26: error AS2304: Cannot find name 'limt'\./);
        assert.equal(err.details!.diagnostics[0]!.line, 6);
        return true;
      },
    );
  });

  it('refuses unsafe builtins in policy code (--noUnsafe)', async () => {
    await assert.rejects(compilePolicy(`${FIXTURES}unsafe.ts`), /unsafe\.ts:5:3: error AS101: Operation is unsafe/);
  });

  it('asks for decide() and for a readable file', async () => {
    const f = join(tmp, 'nodecide.ts');
    await writeFile(f, 'export function decid(): void {}\n');
    await assert.rejects(compilePolicy(f), {
      code: 'POLICY_COMPILE_FAILED',
      message: /expected `export function decide\(req: Request\): Decision`/,
    } as object);
    await assert.rejects(compilePolicy(join(tmp, 'missing.ts')), { code: 'POLICY_SOURCE_NOT_FOUND' } as object);
  });

  it('resolves relative imports of the policy and names their errors', async () => {
    const dir = join(tmp, 'multi');
    await mkdir(join(dir, 'lib'), { recursive: true });
    await writeFile(
      join(dir, 'lib', 'roles.ts'),
      'import { Request } from "keyward";\nexport function isAdmin(req: Request): bool {\n  return req.hasRole("admin");\n}\n',
    );
    await writeFile(
      join(dir, 'main.ts'),
      'import { Request, Decision } from "keyward";\nimport { isAdmin } from "./lib/roles";\nexport function decide(req: Request): Decision {\n  return isAdmin(req) ? Decision.allow() : Decision.deny("no");\n}\n',
    );
    const policy = await loadPolicy((await compilePolicy(join(dir, 'main.ts'))).wasm);
    assert.equal(
      policy.evaluate({
        operation: 'x',
        principal: 'p',
        roles: ['admin'],
        attributes: {},
        payloadBytes: 0,
        time: 0,
        approvals: 0,
      }).decision,
      'allow',
    );
    await writeFile(join(dir, 'lib', 'roles.ts'), 'export function isAdmin(req: i32): bool {\n  return nope;\n}\n');
    await assert.rejects(compilePolicy(join(dir, 'main.ts')), /lib\/roles\.ts:2:10: error/);
  });

  it('asconfig.json carries the same options', async () => {
    const config = JSON.parse(await readFile(`${ROOT}asconfig.json`, 'utf8')) as {
      options: Record<string, unknown>;
      targets: Record<string, { entry: string }>;
    };
    const flags = [...ASC_OPTIONS];
    const expected: Record<string, unknown> = { optimizeLevel: 3, shrinkLevel: 0 };
    assert.equal(flags.shift(), '-O3');
    while (flags.length) {
      const name = flags.shift()!.replace(/^--/, '');
      const next = flags[0];
      if (next === undefined || next.startsWith('-')) expected[name] = true;
      else expected[name] = /^\d+$/.test(flags.shift()!) ? Number(next) : next;
    }
    assert.deepEqual(config.options, expected);
    for (const t of Object.values(config.targets)) await readFile(`${ROOT}${t.entry}`);
  });
});

describe('scaffoldPolicy', () => {
  it('writes a policy and cases that build and pass as they are', async () => {
    const { source, cases } = scaffoldPolicy('limit-decrypt');
    const dir = join(tmp, 'scaffold');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'limit-decrypt.ts'), source);
    const policy = await loadPolicy((await compilePolicy(join(dir, 'limit-decrypt.ts'))).wasm);
    const results = runCases(policy, cases);
    assert.ok(results.length >= 5);
    for (const r of results) assert.ok(r.pass, `${r.name}: ${r.mismatches.join('; ')}`);
    assert.deepEqual(new Set(results.map((r) => r.actual.decision)), new Set(['allow', 'deny', 'require_approval']));
  });

  it('refuses names that are not file-name safe', () => {
    for (const bad of ['', '../x', 'a b', '1abc', 'x'.repeat(65)])
      assert.throws(() => scaffoldPolicy(bad), { code: 'POLICY_NAME_INVALID' } as object);
  });
});
