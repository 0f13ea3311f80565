/**
 * The CLI's HTTP client settings (cli/http.ts over @keyward/client): --timeout / KEYWARD_TIMEOUT
 * bound each answer, and a bad value is a usage error before anything is sent.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../helpers/cli.js';

describe('keyward --timeout (CLI)', { timeout: 60_000 }, () => {
  // A server that accepts connections and never answers.
  const silent = createServer(() => {});
  let addr: string;

  before(async () => {
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    addr = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => (silent.closeAllConnections(), silent.close(() => resolve()))));

  it('gives up after --timeout seconds with TIMEOUT, and reads KEYWARD_TIMEOUT', async () => {
    const started = Date.now();
    const r = await runCli(['status', '--addr', addr, '--timeout', '1', '--json']);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(JSON.parse(r.stderr).error.code, 'TIMEOUT');
    const env = await runCli(['status', '--addr', addr], { KEYWARD_TIMEOUT: '1' });
    assert.equal(env.code, 1);
    assert.match(env.stderr, /^error TIMEOUT: .*within 1000 ms/);
    assert.ok(Date.now() - started < 30_000);
  });

  it('refuses a --timeout that is not a whole number of seconds', async () => {
    const r = await runCli(['status', '--addr', addr, '--timeout', '0.5']);
    assert.equal(r.code, 1);
    assert.match(r.stdout + r.stderr, /Invalid value for --timeout: expected to be an integer \(got 0.5\)/);
  });
});
