/**
 * The PostgreSQL driver must survive a transaction whose connection dies under it (issue 13, item 4;
 * docs/architecture.md, engine/store). postgres 3.4.10 as published writes the transaction's next
 * query to a connection whose socket is already null, from `setImmediate(nextWrite)`: an uncaught
 * `TypeError: Cannot read properties of null (reading 'write')` that kills the process. We carry a
 * patch (patches/postgres+3.4.10.patch, applied by `postinstall`); this test fails without it.
 *
 * The reproduction runs in a child process (a crash must not take the test runner with it): inside
 * `sql.begin`, terminate our own backend, wait for the close to land, then send one more query in
 * the transaction. PostgreSQL only: skipped unless KEYWARD_TEST_DRIVER=postgres with
 * KEYWARD_TEST_DATABASE_URL.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { adminDatabaseUrl, defaultTestDriver } from '../../helpers/store.js';

const CHILD = `
import postgres from 'postgres';
const url = process.env.KW_URL;
const sql = postgres(url, { max: 2, onnotice: () => {} });
const admin = postgres(url, { max: 1, onnotice: () => {} });
let second = 'not sent';
const begin = await sql
  .begin(async (tx) => {
    const [{ pid }] = await tx\`select pg_backend_pid() as pid\`;
    await admin\`select pg_terminate_backend(\${pid})\`;
    await new Promise((r) => setTimeout(r, 200));
    second = await tx\`select 1 as x\`.then(() => 'resolved', (e) => 'rejected ' + (e.code ?? e.message));
    return 'callback finished';
  })
  .then((v) => 'resolved ' + v, (e) => 'rejected ' + (e.code ?? e.message));
await new Promise((r) => setTimeout(r, 300));
const after = await sql\`select 2 as y\`.then((r) => r[0].y, (e) => 'rejected ' + (e.code ?? e.message));
console.log(JSON.stringify({ begin, second, after }));
await sql.end({ timeout: 1 });
await admin.end({ timeout: 1 });
`;

function runChild(
  url: string,
): Promise<{ status: number | null; signal: string | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD], {
      cwd: process.cwd(),
      env: { ...process.env, KW_URL: url },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('error', reject);
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr });
    });
  });
}

const url = adminDatabaseUrl();
const skip =
  defaultTestDriver() !== 'postgres' || url === undefined
    ? 'needs KEYWARD_TEST_DRIVER=postgres and KEYWARD_TEST_DATABASE_URL'
    : false;

describe('postgres driver: a transaction whose connection is terminated', () => {
  it('the installed driver is the pinned 3.4.10, patched', () => {
    const dir = join(process.cwd(), 'node_modules', 'postgres');
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string };
    assert.equal(
      pkg.version,
      '3.4.10',
      'patches/postgres+3.4.10.patch is for 3.4.10 only: update the patch with the version',
    );
    for (const f of ['src/connection.js', 'cjs/src/connection.js']) {
      const text = readFileSync(join(dir, f), 'utf8');
      assert.match(text, /never write to null/, `${f} is not patched: run npm ci (postinstall applies patches/)`);
      // The Bind + Execute of a prepared statement built in one buffer (issue 14: the audit append's copies).
      assert.match(
        text,
        /built in place, not copied/,
        `${f} is not patched: run npm ci (postinstall applies patches/)`,
      );
    }
    // The other half of it: without it, a patched connection.js's Bind would go without its Execute + Sync and hang.
    for (const f of ['src/bytes.js', 'cjs/src/bytes.js'])
      assert.match(
        readFileSync(join(dir, f), 'utf8'),
        /after: bytes of whole messages/,
        `${f} is not patched: run npm ci (postinstall applies patches/)`,
      );
  });

  it('rejects the transaction and its next query, and the process survives', { skip, timeout: 30_000 }, async () => {
    const r = await runChild(url!);
    assert.doesNotMatch(
      r.stderr,
      /TypeError|Cannot read properties of null/,
      `the driver crashed the process:\n${r.stderr}`,
    );
    assert.equal(r.signal, null, `child killed by ${r.signal}: ${r.stderr}`);
    assert.equal(r.status, 0, `child exited ${r.status}:\n${r.stderr}`);
    const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { begin: string; second: string; after: unknown };
    assert.match(out.begin, /^rejected /, 'the transaction whose connection died must reject');
    assert.match(
      out.second,
      /^rejected CONNECTION_CLOSED$/,
      'a query after the close must reject at once, never run outside the transaction',
    );
    assert.equal(out.after, 2, 'the pool serves the next query');
  });
});
