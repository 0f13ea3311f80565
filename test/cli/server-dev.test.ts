/**
 * `keyward server --dev --dev-root-token root` (issue 11, defect 3): the real CLI in a child
 * process takes the token a user types, as `vault server -dev -dev-root-token-id=root` does, warns
 * on stderr that it is not Keyward's own format, and the server authenticates `Bearer root`.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CLI_ENTRY, runCli } from '../helpers/cli.js';

/** Starts `keyward server --json ...args`, resolves with the printed JSON once it listens. */
function startServer(args: string[]): Promise<{ info: any; stderr: () => string; stop: () => Promise<void> }> {
  const child = spawn(
    process.execPath,
    [
      ...CLI_ENTRY,
      'server',
      '--json',
      '--listen',
      '127.0.0.1:0',
      ...(args.includes('--log-level') ? [] : ['--log-level', 'warn']),
      ...args,
    ],
    {
      env: { ...process.env, KEYWARD_ADDR: undefined, KEYWARD_TOKEN: undefined, KEYWARD_DATABASE_URL: undefined },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited;
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => void stop().then(() => reject(new Error(`server did not start: ${err.slice(0, 500)}`))),
      60_000,
    );
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      try {
        const info = JSON.parse(out);
        clearTimeout(timer);
        resolve({ info, stderr: () => err, stop });
      } catch {
        /* not the whole JSON value yet */
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}: ${err.slice(0, 500)}`));
    });
  });
}

// Each server is a process of its own (node, the CLI, PGlite, the dev ceremony: seconds of CPU), so
// the flags are checked on two servers rather than one each: each check looks only at its own flag.
describe(
  'keyward server --dev --dev-root-token root --metrics-unauthenticated --pq-backend noble',
  { timeout: 120_000 },
  () => {
    let srv: Awaited<ReturnType<typeof startServer>>;
    before(async () => {
      srv = await startServer([
        '--dev',
        '--dev-root-token',
        'root',
        '--metrics-unauthenticated',
        '--log-level',
        'info',
        '--pq-backend',
        'noble',
      ]);
    });
    after(() => srv?.stop());

    it('accepts "root", warns on stderr, and Bearer root authenticates', async () => {
      assert.equal(srv.info.rootToken, 'root');
      assert.match(srv.stderr(), /warning: .*--dev-root-token.*not a Keyward token/i);
      const who = await fetch(srv.info.addr + '/v1/auth/whoami', { headers: { authorization: 'Bearer root' } });
      assert.equal(who.status, 200);
      assert.equal(((await who.json()) as any).principal, 'root');
      // The CLI's own calls use it too, through KEYWARD_TOKEN.
      const cli = await runCli(['key', 'create', 'k1', '--type', 'aes256-gcm', '--json'], {
        KEYWARD_ADDR: srv.info.addr,
        KEYWARD_TOKEN: 'root',
      });
      assert.equal(cli.code, 0, cli.stderr);
    });

    it('--pq-backend: noble is used when asked for and shown by health; an unknown backend is a usage error', async () => {
      const health = (await (await fetch(srv.info.addr + '/v1/sys/health')).json()) as { crypto: unknown };
      assert.deepEqual(health.crypto, { postQuantum: 'noble' });
      const bad = await runCli(['server', '--dev', '--pq-backend', 'openssl', '--listen', '127.0.0.1:0']);
      assert.notEqual(bad.code, 0);
      assert.match(bad.stdout + bad.stderr, /--pq-backend expects auto, pqclean, noble, got "openssl"/);
    });

    it('--metrics-unauthenticated serves GET /metrics without a token; the log is JSON lines with the request id', async () => {
      let reqId: string | null;
      try {
        const m = await fetch(srv.info.addr + '/metrics');
        assert.equal(m.status, 200);
        assert.match(await m.text(), /^keyward_sealed 0$/m);
        const who = await fetch(srv.info.addr + '/v1/auth/whoami', { headers: { authorization: 'Bearer root' } });
        assert.equal(who.status, 200);
        reqId = who.headers.get('x-request-id');
      } finally {
        await srv.stop();
      }
      // stderr is a pipe: JSON, one object per line, flushed by the time the process exited.
      const lines = srv
        .stderr()
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l));
      // (The server answered whoami before, for the first test: this one is found by its request id.)
      const line = lines.find((l) => l.msg === 'request' && l.reqId === reqId);
      assert.ok(reqId && line, srv.stderr().slice(0, 1000));
      assert.equal(line.path, '/v1/auth/whoami');
      assert.equal(line.level, 'info');
      assert.equal(line.status, 200);
      assert.match(line.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      assert.ok(lines.some((l) => l.msg === 'shutting down'));
      assert.ok(!srv.stderr().includes('Bearer'));
    });
  },
);

describe(
  'keyward server --dev --dev-root-token kwt_... --auth-failure-burst 3 --auth-failure-rate 1',
  { timeout: 120_000 },
  () => {
    const token = 'kwt_' + 'A'.repeat(43);
    let srv: Awaited<ReturnType<typeof startServer>>;
    before(async () => {
      srv = await startServer([
        '--dev',
        '--dev-root-token',
        token,
        '--auth-failure-burst',
        '3',
        '--auth-failure-rate',
        '1',
      ]);
    });
    after(() => srv?.stop());

    it('a Keyward-format token gets no warning; one that cannot be sent as a bearer token is a usage error', async () => {
      assert.equal(srv.info.rootToken, token);
      assert.doesNotMatch(srv.stderr(), /warning/i);
      const who = await fetch(srv.info.addr + '/v1/auth/whoami', { headers: { authorization: `Bearer ${token}` } });
      assert.equal(who.status, 200);
      // Usage errors are found before anything starts: in process.
      const bad = await runCli(['server', '--dev', '--dev-root-token', 'two words', '--listen', '127.0.0.1:0']);
      assert.notEqual(bad.code, 0);
      assert.match(bad.stdout + bad.stderr, /--dev-root-token/);
    });

    it('refuses a free-form token with persistent storage (a later non-dev server would still accept it)', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'keyward-devtoken-'));
      try {
        const r = await runCli([
          'server',
          '--dev',
          '--dev-root-token',
          'root',
          '--data-dir',
          dir,
          '--listen',
          '127.0.0.1:0',
        ]);
        assert.equal(r.code, 1, r.stdout + r.stderr);
        assert.match(r.stdout + r.stderr, /--dev-root-token takes a free-form token only with in-memory dev storage/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('--auth-failure-burst / --auth-failure-rate bound failed authentication; bad values of the numeric flags are usage errors', async () => {
      // Five at once, so that the bucket (1 token a second) has no time to refill between them; on a
      // machine so loaded that it did anyway, each second taken allows one more 401.
      const t0 = performance.now();
      const answers = await Promise.all(
        Array.from({ length: 5 }, () =>
          fetch(srv.info.addr + '/v1/auth/whoami', { headers: { authorization: 'Bearer nope' } }),
        ),
      );
      const refilled = Math.floor((performance.now() - t0) / 1000);
      const statuses = answers.map((r) => r.status).sort();
      for (const r of answers) if (r.status === 429) assert.ok(Number(r.headers.get('retry-after')) >= 1);
      const failed = statuses.filter((s) => s === 401).length;
      assert.ok(failed >= 3 && failed <= 3 + refilled, `${statuses} in ${refilled} s`);
      assert.deepEqual(statuses, [...Array(failed).fill(401), ...Array(5 - failed).fill(429)]);
      for (const [flag, value] of [
        ['--auth-failure-burst', '0'],
        ['--auth-failure-rate', '1.5'],
        ['--refusal-fold-ms', '10s'],
        ['--storage-deadline-ms', '1e3'],
        ['--storage-deadline-ms', '50'],
      ] as const) {
        const bad = await runCli(['server', '--dev', flag, value, '--listen', '127.0.0.1:0']);
        assert.notEqual(bad.code, 0);
        assert.match(bad.stdout + bad.stderr, new RegExp(`${flag} expects an integer`));
      }
    });
  },
);
