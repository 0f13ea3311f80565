/**
 * The real `keyward` binary end to end, in a child process (the other CLI tests run the same
 * commands in-process, test/helpers/cli.ts): what only a process shows — exit codes as the shell
 * sees them (0 done, 1 error, 2 sealed, 3 parked for approval), bytes piped on stdin and raw bytes
 * on stdout, the environment read as KEYWARD_ADDR/KEYWARD_TOKEN, and plain --help/--version when
 * piped. Each check here is also made in-process, and must agree: the two ways run the same `Cli`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { devBootstrap } from '../../engine/dev.js';
import { issueToken } from '../../engine/auth/tokens.js';
import { VERSION } from '../../engine/version.js';
import { fails, ok, runBinary, runCli } from '../helpers/cli.js';
import type { CliResult } from '../helpers/cli.js';
import { startTestServer } from '../helpers/server.js';
import type { TestServer } from '../helpers/server.js';

/** The parts of a result the two ways must agree on. */
const shape = (r: CliResult) => ({ code: r.code, stdout: r.stdout, stderr: r.stderr });

describe('keyward binary (CLI, child process)', { timeout: 180_000 }, () => {
  let s: TestServer;
  let env: Record<string, string>;

  before(async () => {
    s = await startTestServer();
    env = { KEYWARD_ADDR: s.url, KEYWARD_TOKEN: (await devBootstrap(s.hsm)).rootToken };
  });
  after(() => s.close());

  it('--version and --help: exit 0, plain text when piped, the same as in-process', async () => {
    const v = ok(await runBinary(['--version']));
    assert.equal(v.stdout.trim(), VERSION);
    const help = ok(await runBinary(['--help']));
    assert.doesNotMatch(help.stdout, /\x1b\[/);
    assert.match(help.stdout, /keyward sys rotate/);
    assert.deepEqual(shape(help), shape(await runCli(['--help'])));
  });

  it('a sealed server is exit 2; an error is exit 1 on stderr; a usage error is exit 1 on stdout', async () => {
    const sealed = await startTestServer();
    try {
      const r = await runBinary(['status'], { KEYWARD_ADDR: sealed.url });
      assert.equal(r.code, 2, r.stdout + r.stderr);
      assert.match(r.stdout, /Sealed\s+true/);
      assert.deepEqual(shape(r), shape(await runCli(['status'], { KEYWARD_ADDR: sealed.url })));
    } finally {
      await sealed.close();
    }
    fails(await runBinary(['key', 'show', 'nope'], env), 'KEY_NOT_FOUND');
    fails(await runBinary(['key', 'list'], { KEYWARD_ADDR: s.url }), 'UNAUTHENTICATED');
    const usage = await runBinary(['key', 'list', '--limit', 'x'], env);
    assert.equal(usage.code, 1);
    assert.match(usage.stdout, /Invalid value for --limit/);
    assert.equal(usage.stderr, '');
  });

  it('pipes bytes through stdin and stdout: encrypt --in - | decrypt --in -', async () => {
    ok(await runCli(['key', 'create', 'pipe', '--type', 'aes256-gcm'], env));
    const message = 'caf\u00e9 \u2615\n\ttwo lines, no trailing newline';
    const ct = ok(await runBinary(['encrypt', '--key', 'pipe', '--in', '-'], env, { stdin: message })).stdout.trim();
    const pt = ok(await runBinary(['decrypt', '--key', 'pipe', '--in', '-'], env, { stdin: ct + '\n' }));
    assert.equal(pt.stdout, message);
    assert.equal(ok(await runCli(['decrypt', '--key', 'pipe', '--in', '-'], env, { stdin: ct })).stdout, message);
  });

  it('a request parked for approval is exit 3 with the approval on stdout and nothing on stderr', async () => {
    ok(await runCli(['key', 'create', 'gone', '--type', 'aes256-gcm'], env));
    ok(await runCli(['key', 'config', 'gone', '--deletion-allowed', 'true'], env));
    const op = {
      KEYWARD_ADDR: s.url,
      KEYWARD_TOKEN: (await issueToken(s.hsm.store.db, { principal: 'op-1', roles: ['operator'], now: new Date() }))
        .token,
    };
    const r = await runBinary(['key', 'delete', 'gone', '--json'], op);
    assert.equal(r.code, 3, r.stdout + r.stderr);
    assert.equal(r.stderr, '');
    const parked = r.json();
    assert.equal(parked.parked, true);
    assert.equal(parked.execute, `keyward approval execute ${parked.approvalId}`);
  });
});
