/**
 * `keyward server --database-url` naming PostgreSQL's Unix socket the way libpq does
 * (docs/operations.md, "PostgreSQL over a Unix socket"): the real binary starts on the test
 * server's socket and its start-up line names the socket, never the password; a socket that is not
 * there stops it at once with STORAGE_UNAVAILABLE naming the socket it expected. PostgreSQL pass
 * only (the test server listens on a socket beside TCP: .ci/run starts it with -k). And on both
 * passes: a peer that closes before the login finishes stops it at once too, as one that refuses.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { CLI_ENTRY, fails, runBinary } from '../helpers/cli.js';
import { closingPeer } from '../helpers/pg-peer.js';
import { createTestDatabaseUrl, describePostgres, testServerSocket } from '../helpers/store.js';

const ENV = { KEYWARD_ADDR: undefined, KEYWARD_TOKEN: undefined, KEYWARD_DATABASE_URL: undefined };

/** `keyward server ... --database-url url` until its first line on stdout; then stopped. */
function firstLine(url: string): Promise<{ line: string; stderr: string }> {
  const child = spawn(
    process.execPath,
    [...CLI_ENTRY, 'server', '--listen', '127.0.0.1:0', '--log-level', 'warn', '--database-url', url],
    { env: { ...process.env, ...ENV }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) child.kill('SIGTERM');
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (out.includes('\n')) resolve({ line: out.slice(0, out.indexOf('\n')), stderr: err });
      else reject(new Error(`server exited with ${code} before printing: ${err.slice(0, 500)}`));
    });
  });
}

describePostgres('keyward server --database-url over a Unix socket', { timeout: 120_000 }, () => {
  let dir: string | undefined;
  let port = '';
  let db: { url: string; drop(): Promise<void> } | undefined;

  before(async () => {
    ({ dir, port } = await testServerSocket());
    db = await createTestDatabaseUrl({ migrated: true });
  });
  after(() => db?.drop());

  it('starts on the socket of ?host=DIR&port=N and names it in its start-up line', async (t) => {
    if (dir === undefined) return t.skip('the test server has no Unix socket this process can reach');
    const u = new URL(db!.url);
    // A password the server (trust) ignores: it must not be printed.
    const url = `postgres://${u.username || 'postgres'}:s3cret@/${u.pathname.slice(1)}?host=${dir}&port=${port}`;
    const { line, stderr } = await firstLine(url);
    assert.match(line, new RegExp(`storage: PostgreSQL at Unix socket ${dir}/\\.s\\.PGSQL\\.${port};`), line);
    assert.ok(!(line + stderr).includes('s3cret'));
  });

  it('stops at once with STORAGE_UNAVAILABLE naming the socket it expected when there is none', async () => {
    const r = await runBinary(
      [
        'server',
        '--listen',
        '127.0.0.1:0',
        '--log-level',
        'warn',
        '--database-url',
        'postgresql://u:s3cret@%2Fnonexistent%2Fpg:5499/db',
      ],
      ENV,
    );
    fails(r, 'STORAGE_UNAVAILABLE', /\(Unix socket \/nonexistent\/pg\/\.s\.PGSQL\.5499\): connect ENOENT/);
    assert.ok(!r.stderr.includes('s3cret'), r.stderr);
  });
});

describe('keyward server --database-url at a peer that is not PostgreSQL', () => {
  it('stops at once with STORAGE_UNAVAILABLE naming the peer when it closes before the login finishes', async () => {
    // The driver reconnected at once, forever: the server hung at start-up, storming the peer.
    const peer = await closingPeer('HTTP/1.1 400 Bad Request\r\n\r\n');
    const url = `postgres://u:s3cret@127.0.0.1:${peer.port}/db?sslmode=disable`;
    try {
      const t0 = performance.now();
      // The binary itself, bounded: on a driver that loops it would never exit.
      const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const child = execFile(
          process.execPath,
          [...CLI_ENTRY, 'server', '--listen', '127.0.0.1:0', '--log-level', 'warn', '--database-url', url],
          { env: { ...process.env, ...ENV }, timeout: 8000 },
          (_err, _stdout, stderr) => resolve({ code: child.exitCode, stderr }),
        );
      });
      const ms = performance.now() - t0;
      assert.equal(r.code, 1, `exit ${r.code} after ${ms} ms: ${r.stderr}`);
      assert.match(r.stderr, /error STORAGE_UNAVAILABLE: /);
      assert.match(
        r.stderr,
        new RegExp(`at postgres://u:\\*\\*\\*@127\\.0\\.0\\.1:${peer.port}/db.*CONNECTION_CLOSED`),
      );
      assert.ok(!r.stderr.includes('s3cret'), r.stderr);
      assert.ok(peer.accepted <= 2, `${peer.accepted} connections`);
    } finally {
      await peer.close();
    }
  });
});
