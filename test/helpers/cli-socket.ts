/**
 * One CLI for many `keyward` commands run by a shell script (test/readme.test.ts): a Unix socket on
 * which this process runs each command it is sent with `runCli` (test/helpers/cli.ts: the same `Cli`
 * as cli/main.ts, with the command's working directory, environment and stdin), and a shim for PATH
 * that sends it there (cli-socket-client.mjs: node with only node:net, about 0.05 s of CPU, where the
 * CLI's own start is about 0.25 s). `keyward server` still starts the real binary (it runs in the
 * background and is stopped with kill), as does every command when `binary` is set. The shim passes
 * stdin on only when an argument is `-` (cli-socket-client.mjs).
 */
import { chmodSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CHILD_NODE_FLAGS, runCli } from './cli.js';

const CLIENT = fileURLToPath(new URL('./cli-socket-client.mjs', import.meta.url));

export interface CliSocket {
  /** Stops answering; commands in flight finish. */
  close(): Promise<void>;
}

/**
 * Listens on `dir`/cli.sock and writes the shim `dir`/keyward, which runs `main` (a built
 * dist/cli/main.js) for `keyward server`, or for every command when `binary` is true.
 */
export async function startCliSocket(dir: string, main: string, opts: { binary?: boolean } = {}): Promise<CliSocket> {
  const path = join(dir, 'cli.sock');
  const server = createServer({ allowHalfOpen: true }, (conn) => {
    const parts: Buffer[] = [];
    conn.on('data', (d: Buffer) => parts.push(d));
    conn.on('error', () => conn.destroy());
    conn.on('end', () => {
      void (async () => {
        let reply: { code: number; stdout: string; stderr: string };
        try {
          const req = JSON.parse(Buffer.concat(parts).toString('utf8')) as {
            args: string[];
            cwd: string;
            env: Record<string, string>;
            stdin: string;
          };
          const stdin = Buffer.from(req.stdin, 'base64');
          const r = await runCli(req.args, req.env, { cwd: req.cwd, ...(stdin.length ? { stdin } : {}) });
          reply = { code: r.code, stdout: r.stdout, stderr: r.stderr };
        } catch (err) {
          reply = { code: 70, stdout: '', stderr: `keyward (test socket): ${(err as Error)?.stack ?? String(err)}\n` };
        }
        conn.end(JSON.stringify(reply));
      })();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  const node = JSON.stringify(process.execPath);
  const real = `exec ${node} ${CHILD_NODE_FLAGS.join(' ')} ${JSON.stringify(main)} "$@"`;
  writeFileSync(
    join(dir, 'keyward'),
    opts.binary
      ? `#!/bin/sh\n${real}\n`
      : `#!/bin/sh\nif [ "$1" = server ]; then ${real}; fi\nexec ${node} ${JSON.stringify(CLIENT)} ${JSON.stringify(path)} "$@"\n`,
    { mode: 0o755 },
  );
  chmodSync(join(dir, 'keyward'), 0o755);
  return { close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}
