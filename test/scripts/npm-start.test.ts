/**
 * `npm start` runs the dev server as npm's own child (`exec` in the start script): `kill <npm pid>`
 * reaches the server, which closes its port and exits. Without `exec`, dash runs the command as a
 * grandchild, npm's forwarded SIGTERM kills only the shell, and the server keeps running (issue 11).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DIST_MAIN, ROOT } from '../../scripts/dist-fresh.mjs';
import { CHILD_NODE_FLAGS } from '../helpers/cli.js';

/** Whether something accepts connections on host:port. */
function accepting(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ host, port });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

describe('npm start', () => {
  // `npm start` runs the `node` on PATH: first on it here, this Node with the flags of the binaries
  // other tests start (CHILD_NODE_FLAGS: a dev server start costs about 1.3 s of CPU less). It execs
  // Node, so the server is still the process the start script's own `exec` makes npm's child.
  let bin: string;
  before(() => {
    bin = mkdtempSync(join(tmpdir(), 'keyward-npm-start-'));
    const quoted = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;
    const flags = CHILD_NODE_FLAGS.map((f) => ` ${quoted(f)}`).join('');
    writeFileSync(join(bin, 'node'), `#!/bin/sh\nexec ${quoted(process.execPath)}${flags} "$@"\n`);
    chmodSync(join(bin, 'node'), 0o755);
  });
  after(() => rmSync(bin, { recursive: true, force: true }));

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(
      `${signal} to the npm process stops the server`,
      { skip: !existsSync(DIST_MAIN) && 'needs npm run build', timeout: 60_000 },
      async () => {
        // Its own process group, so a failing run can still kill whatever it left behind.
        const npm = spawn('npm', ['start', '--silent', '--', '--listen', '127.0.0.1:0'], {
          cwd: ROOT,
          env: { ...process.env, PATH: `${bin}${delimiter}${process.env.PATH}` },
          stdio: ['ignore', 'pipe', 'pipe'],
          detached: true,
        });
        try {
          const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
            npm.once('exit', (code, sig) => resolve({ code, signal: sig })),
          );
          let out = '';
          const url = await new Promise<URL>((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`no "listening on" line within 45 s:\n${out}`)), 45_000);
            npm.stdout.on('data', (d: Buffer) => {
              out += d.toString();
              const m = /listening on (http:\/\/\S+?),/.exec(out);
              if (m) {
                clearTimeout(timer);
                resolve(new URL(m[1]!));
              }
            });
            npm.stderr.on('data', (d: Buffer) => (out += d.toString()));
            void exited.then(() => reject(new Error(`npm start exited early:\n${out}`)));
          });
          const port = Number(url.port);
          assert.ok(await accepting(url.hostname, port), 'the server answers');
          npm.kill(signal);
          const gone = await Promise.race([
            exited.then(() => true),
            new Promise<false>((r) => setTimeout(() => r(false), 10_000).unref()),
          ]);
          assert.ok(gone, `npm did not exit within 10 s of ${signal}:\n${out}`);
          // The server was npm's child: once npm is gone, the port must close within a few seconds.
          const deadline = Date.now() + 5_000;
          while ((await accepting(url.hostname, port)) && Date.now() < deadline)
            await new Promise((r) => setTimeout(r, 100));
          assert.equal(
            await accepting(url.hostname, port),
            false,
            `port ${port} still open ${signal === 'SIGTERM' ? 'after kill' : 'after Ctrl-C'} of npm`,
          );
        } finally {
          try {
            process.kill(-npm.pid!, 'SIGKILL');
          } catch {
            // the group is gone: nothing was left behind
          }
          npm.stdout.destroy();
          npm.stderr.destroy();
        }
      },
    );
  }
});
