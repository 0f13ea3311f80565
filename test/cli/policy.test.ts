/**
 * The policy authoring loop from the CLI, from a directory outside the project: new → build (twice,
 * byte-identical) → test → eval → push → activate → list, and the error paths.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { devBootstrap } from '../../engine/dev.js';
import { approveTwice, parkedId } from '../helpers/approvals.js';
import { ok, runBinary, runCli } from '../helpers/cli.js';
import type { CliResult } from '../helpers/cli.js';
import { startTestServer } from '../helpers/server.js';
import type { TestServer } from '../helpers/server.js';

describe('keyward policy (CLI)', { timeout: 180_000 }, () => {
  let dir: string;
  let s: TestServer;
  let env: Record<string, string>;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'keyward-policy-cli-'));
    s = await startTestServer();
    env = { KEYWARD_ADDR: s.url, KEYWARD_TOKEN: (await devBootstrap(s.hsm)).rootToken };
  });
  after(async () => {
    await s.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('scaffolds a policy that builds and passes its own cases, from any directory', async () => {
    // The real binary started outside the project for new and the first build; the rest in-process.
    ok(await runBinary(['policy', 'new', 'limit'], {}, { cwd: dir }));
    assert.equal((await runCli(['policy', 'new', 'limit'], {}, { cwd: dir })).code, 1, 'refuses to overwrite');
    const b1 = ok(await runBinary(['policy', 'build', 'limit.ts', '--json'], {}, { cwd: dir })).json();
    const first = await readFile(join(dir, 'limit.wasm'));
    const b2 = ok(
      await runCli(['policy', 'build', 'limit.ts', '--out', 'again.wasm', '--json'], {}, { cwd: dir }),
    ).json();
    assert.equal(b1.sha256, b2.sha256);
    assert.deepEqual(await readFile(join(dir, 'again.wasm')), first);
    const t = ok(await runCli(['policy', 'test', 'limit.wasm', '--cases', 'limit.cases.json'], {}, { cwd: dir }));
    assert.match(t.stdout, /PASS/);
    assert.match(t.stdout, /\d+ passed, 0 failed/);
  });

  it('policy test exits non-zero and names the failing case', async () => {
    const cases = JSON.parse(await readFile(join(dir, 'limit.cases.json'), 'utf8'));
    cases[0].expect.decision = cases[0].expect.decision === 'allow' ? 'deny' : 'allow';
    cases[0].name = 'deliberately wrong';
    await writeFile(join(dir, 'wrong.cases.json'), JSON.stringify(cases));
    const r = await runCli(['policy', 'test', 'limit.wasm', '--cases', 'wrong.cases.json', '--json'], {}, { cwd: dir });
    assert.equal(r.code, 1);
    const out = r.json();
    assert.equal(out.failed, 1);
    assert.equal(out.results.find((x: any) => !x.pass).name, 'deliberately wrong');
  });

  it('build shows compile errors with file:line', async () => {
    await writeFile(
      join(dir, 'broken.ts'),
      'import { Request, Decision } from "keyward";\nexport function decide(req: Request): Decision {\n  return Decision.allow(;\n}\n',
    );
    const r = await runCli(['policy', 'build', 'broken.ts'], {}, { cwd: dir });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /POLICY_COMPILE_FAILED/);
    assert.match(r.stderr, /broken\.ts:3/);
  });

  it('eval prints decision, reason, gas and hash', async () => {
    await writeFile(
      join(dir, 'in.json'),
      JSON.stringify({
        operation: 'encrypt',
        principal: 'svc',
        roles: ['app'],
        key: { name: 'k', type: 'aes256-gcm', version: 1, labels: {} },
        attributes: {},
        payloadBytes: 10,
        time: 0,
        approvals: 0,
      }),
    );
    const r = ok(
      await runCli(['policy', 'eval', 'limit.wasm', '--input', 'in.json', '--json'], {}, { cwd: dir }),
    ).json();
    assert.ok(['allow', 'deny', 'require_approval'].includes(r.decision));
    assert.ok(r.gas > 0);
    assert.match(r.hash, /^[0-9a-f]{64}$/);
    await writeFile(join(dir, 'bad-in.json'), '{"operation": 5}');
    const bad = await runCli(['policy', 'eval', 'limit.wasm', '--input', 'bad-in.json'], {}, { cwd: dir });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /POLICY_INPUT_INVALID/);
    const notWasm = await runCli(['policy', 'eval', 'in.json', '--input', 'in.json'], {}, { cwd: dir });
    assert.equal(notWasm.code, 1);
    assert.match(notWasm.stderr, /POLICY_INVALID/);
  });

  it('pushes, activates on a key, lists', async () => {
    const pushed = ok(await runCli(['policy', 'push', 'limit.wasm', '--json'], env, { cwd: dir })).json();
    assert.equal(pushed.name, 'limit');
    // Activation is under dual control: parked, approved by two operators, executed by the requester.
    const id = parkedId(await runCli(['policy', 'activate', pushed.sha256, '--key', 'payments'], env));
    await approveTwice(s.url, s.hsm.store.db, id);
    ok(
      await runCli(['approval', 'execute', id, '--body-json', JSON.stringify({ scope: 'key', key: 'payments' })], env),
    );
    const usage = await runCli(['policy', 'activate', pushed.sha256], env);
    assert.equal(usage.code, 1);
    assert.match(usage.stdout + usage.stderr, /exactly one of --global or --key/);
    const list = ok(await runCli(['policy', 'list', '--json'], env)).json();
    const mine = list.find((p: any) => p.sha256 === pushed.sha256);
    assert.deepEqual(
      mine.bindings.map((b: any) => [b.scope, b.key]),
      [['key', 'payments']],
    );
    const noToken = await runCli(['policy', 'list'], { KEYWARD_ADDR: s.url });
    assert.equal(noToken.code, 1);
    assert.match(noToken.stderr, /UNAUTHENTICATED/);
  });
});
