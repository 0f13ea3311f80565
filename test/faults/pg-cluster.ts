/**
 * A throwaway PostgreSQL cluster for the fault tests (test/faults; docs/operations.md): initdb in a
 * fresh directory under /tmp, started with pg_ctl on a free loopback port, as the `postgres` user
 * when we are root (the server refuses to run as root), as .ci/run does. It can be stopped the hard
 * way (`pg_ctl stop -m immediate`, a crash as far as PostgreSQL knows) and started again, and is
 * removed by `destroy()`. With `ssl` it serves TLS (`ssl=on`) with the given PEM certificate and key
 * (test/engine/store/pg-tls.test.ts).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

/** A directory holding initdb, pg_ctl and postgres: KEYWARD_PG_BIN, else the usual places (15 first). */
export function findPgBin(): string | undefined {
  const has = (d: string) => ['initdb', 'pg_ctl', 'postgres'].every((b) => existsSync(join(d, b)));
  const env = process.env.KEYWARD_PG_BIN;
  if (env) return has(env) ? env : undefined;
  const dirs = ['/usr/lib/postgresql/15/bin', '/usr/pgsql-15/bin'];
  for (const root of ['/usr/lib/postgresql']) {
    if (existsSync(root))
      for (const v of readdirSync(root).sort((a, b) => Number(b) - Number(a))) dirs.push(join(root, v, 'bin'));
  }
  return dirs.find(has);
}

function hasRunuser(): boolean {
  return spawnSync('runuser', ['--help']).status === 0;
}

export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

export class PgCluster {
  readonly dir: string;
  readonly port: number;
  readonly #bin: string;
  readonly #asPostgres: boolean;
  #ssl = false;

  private constructor(bin: string, dir: string, port: number, asPostgres: boolean) {
    this.#bin = bin;
    this.dir = dir;
    this.port = port;
    this.#asPostgres = asPostgres;
  }

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  static async create(bin: string, opts: { ssl?: { cert: string; key: string } } = {}): Promise<PgCluster> {
    const root = process.getuid?.() === 0;
    if (root && spawnSync('id', ['postgres']).status !== 0) {
      execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/bin/sh', 'postgres']);
    }
    const dir = mkdtempSync('/tmp/keyward-fault-pg.');
    const owner = root
      ? [
          Number(execFileSync('id', ['-u', 'postgres']).toString().trim()),
          Number(execFileSync('id', ['-g', 'postgres']).toString().trim()),
        ]
      : undefined;
    if (owner) chownSync(dir, owner[0]!, owner[1]!);
    if (opts.ssl) {
      // The server reads them as its own user, and refuses a key others can read.
      copyFileSync(opts.ssl.cert, join(dir, 'server.crt'));
      copyFileSync(opts.ssl.key, join(dir, 'server.key'));
      chmodSync(join(dir, 'server.key'), 0o600);
      if (owner) for (const f of ['server.crt', 'server.key']) chownSync(join(dir, f), owner[0]!, owner[1]!);
    }
    const c = new PgCluster(bin, dir, await freePort(), root);
    c.#ssl = opts.ssl !== undefined;
    c.#run('initdb', ['-D', c.#data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--locale=C', '--no-sync']);
    c.start();
    return c;
  }

  get #data(): string {
    return join(this.dir, 'data');
  }

  #run(tool: string, args: string[]): string {
    const cmd = join(this.#bin, tool);
    // As root: runuser, or su where there is none (as .ci/run does).
    const quoted = [cmd, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    const [file, argv] = !this.#asPostgres
      ? [cmd, args]
      : hasRunuser()
        ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]]
        : ['su', ['postgres', '-s', '/bin/sh', '-c', quoted]];
    const r = spawnSync(file, argv, { cwd: this.dir, encoding: 'utf8', timeout: 60_000 });
    if (r.status !== 0) throw new Error(`${tool} ${args.join(' ')} failed (${r.status}): ${r.stderr || r.stdout}`);
    return r.stdout;
  }

  /** Starts the server and waits until it accepts connections. */
  start(): void {
    this.#run('pg_ctl', [
      '-D',
      this.#data,
      '-l',
      join(this.dir, 'postgres.log'),
      '-w',
      '-t',
      '60',
      '-o',
      `-c listen_addresses=127.0.0.1 -p ${this.port} -k ${this.dir} -c max_connections=200` +
        (this.#ssl
          ? ` -c ssl=on -c ssl_cert_file=${join(this.dir, 'server.crt')} -c ssl_key_file=${join(this.dir, 'server.key')}`
          : ''),
      'start',
    ]);
  }

  /** Stops the server: `immediate` is a crash as far as PostgreSQL knows (recovery at the next start). */
  stop(mode: 'immediate' | 'fast' = 'immediate'): void {
    this.#run('pg_ctl', ['-D', this.#data, '-m', mode, '-w', 'stop']);
  }

  destroy(): void {
    try {
      this.stop('fast');
    } catch {
      /* already stopped */
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
