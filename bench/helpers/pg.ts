/**
 * PostgreSQL for a benchmark, in this order of preference:
 *
 * 1. KEYWARD_BENCH_DATABASE_URL: a superuser URL on a server the bench may use; every database the
 *    bench needs is created with a random name (`keyward_bench_<hex>`) and dropped WITH (FORCE) at
 *    the end (and on a signal).
 * 2. A throwaway cluster from the PostgreSQL server binaries, started the way .ci/run does (initdb
 *    -A trust, pg_ctl start on a free loopback port, as the postgres user when running as root),
 *    stopped and removed at exit — however the run ends. Unlike .ci/run's test cluster it keeps
 *    fsync and synchronous_commit ON: the bench measures *durable* appends.
 * 3. Neither: undefined, and the caller falls back to PGlite (and says so, loudly).
 *
 * Not a benchmark itself (bench/run.ts only lists bench/*.ts).
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import postgres from 'postgres';
import { postgresConnectOptions, postgresConnection, redactDatabaseUrl } from '../../engine/store/index.js';
import { atExit, onSignal } from './exit.js';

export interface BenchPostgres {
  /** 'url': KEYWARD_BENCH_DATABASE_URL; 'cluster': a throwaway cluster this run started. */
  source: 'url' | 'cluster';
  /** Where, for people (password redacted). */
  where: string;
  /** Server facts that decide what "durable" means here. */
  settings: {
    version: string;
    fsync: string;
    synchronousCommit: string;
    walSyncMethod: string;
    fullPageWrites: string;
  };
  /** A fresh empty database; `drop()` is idempotent (and automatic at close). */
  createDatabase(label: string): Promise<{ url: string; name: string; drop(): Promise<void> }>;
  /** Drops what is left and stops the cluster (if one was started). */
  close(): Promise<void>;
}

export async function benchPostgres(log: (s: string) => void): Promise<BenchPostgres | undefined> {
  const url = process.env.KEYWARD_BENCH_DATABASE_URL;
  if (url) return fromAdminUrl(url, 'url', redactDatabaseUrl(url), async () => {});
  const bin = findPgBin();
  if (!bin) return undefined;
  const cluster = await startCluster(bin, log);
  return fromAdminUrl(cluster.url, 'cluster', `throwaway cluster ${cluster.dir} (${bin})`, cluster.stop);
}

async function fromAdminUrl(
  adminUrl: string,
  source: 'url' | 'cluster',
  where: string,
  stopCluster: () => Promise<void>,
): Promise<BenchPostgres> {
  let admin: postgres.Sql | undefined;
  let settings: BenchPostgres['settings'];
  try {
    admin = await benchSql(adminUrl, { max: 1, connect_timeout: 10 });
    const rows =
      await admin`select name, setting from pg_settings where name in ('server_version','fsync','synchronous_commit','wal_sync_method','full_page_writes')`;
    const s = Object.fromEntries(rows.map((r) => [r.name as string, r.setting as string]));
    settings = {
      version: s.server_version ?? '?',
      fsync: s.fsync ?? '?',
      synchronousCommit: s.synchronous_commit ?? '?',
      walSyncMethod: s.wal_sync_method ?? '?',
      fullPageWrites: s.full_page_writes ?? '?',
    };
  } catch (err) {
    await admin?.end({ timeout: 1 }).catch(() => {});
    await stopCluster();
    throw new Error(`bench PostgreSQL at ${where}: ${(err as Error).message}`, { cause: err });
  }
  const sql = admin;
  const live = new Set<string>();
  const drop = async (name: string) => {
    if (!live.delete(name)) return;
    await sql.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  };
  const dropAll = async () => {
    for (const name of [...live]) await drop(name).catch(() => {});
  };
  const offSignal = onSignal(async () => {
    if (source === 'url') await dropAll();
    await sql.end({ timeout: 1 }).catch(() => {});
    await stopCluster();
  });
  let closed = false;
  return {
    source,
    where,
    settings,
    async createDatabase(label: string) {
      const name = `keyward_bench_${label}_${randomBytes(6).toString('hex')}`;
      await sql.unsafe(`CREATE DATABASE "${name}"`);
      live.add(name);
      const url = withDatabase(adminUrl, name);
      return { url, name, drop: () => drop(name) };
    },
    async close() {
      if (closed) return;
      closed = true;
      offSignal();
      try {
        if (source === 'url') await dropAll();
      } finally {
        await sql.end({ timeout: 5 }).catch(() => {});
        await stopCluster();
      }
    },
  };
}

/**
 * A postgres client for a database URL in any form Keyward takes (engine/store/pg-socket.ts: a Unix
 * socket's too, which the driver alone would not reach).
 */
export async function benchSql(url: string, opts: postgres.Options<Record<string, never>> = {}): Promise<postgres.Sql> {
  // Where and as whom to connect are options, as engine/store/driver.ts hands them on (the URL
  // handed on holds no user, password or database).
  const connection = await postgresConnection(url);
  return postgres(connection.url, { onnotice: () => {}, ...opts, ...postgresConnectOptions(connection) });
}

/**
 * `url` naming database `name`, in the path, in every form (a socket's too: postgres://u@/db?host=/dir);
 * a `dbname` parameter, which would win over the path, is dropped.
 */
export function withDatabase(url: string, name: string): string {
  const m = /^(postgres(?:ql)?:\/\/[^/?#]*)(?:\/[^?#]*)?(?:\?([^#]*))?$/i.exec(url);
  if (!m) throw new Error('expected a postgres:// URL in KEYWARD_BENCH_DATABASE_URL');
  const params = (m[2] ?? '').split('&').filter((p) => p !== '' && decodeURIComponent(p.split('=')[0]!) !== 'dbname');
  return `${m[1]}/${name}${params.length ? `?${params.join('&')}` : ''}`;
}

// ---------------------------------------------------------------------------------------------
// Throwaway cluster (see .ci/run)

const hasServerBins = (d: string) => ['initdb', 'pg_ctl', 'postgres'].every((b) => existsSync(join(d, b)));

/** A directory with initdb, pg_ctl and postgres: version 15 first, then pg_config's, then the newest. */
export function findPgBin(): string | undefined {
  for (const d of ['/usr/lib/postgresql/15/bin', '/usr/pgsql-15/bin']) if (hasServerBins(d)) return d;
  const cfg = spawnSync('pg_config', ['--bindir'], { encoding: 'utf8' });
  if (cfg.status === 0 && hasServerBins(cfg.stdout.trim())) return cfg.stdout.trim();
  const candidates: string[] = [];
  for (const base of ['/usr/lib/postgresql']) {
    if (existsSync(base)) for (const v of readdirSync(base)) candidates.push(join(base, v, 'bin'));
  }
  if (existsSync('/usr'))
    for (const e of readdirSync('/usr')) if (e.startsWith('pgsql-')) candidates.push(join('/usr', e, 'bin'));
  candidates.sort((a, b) => b.localeCompare(a, undefined, { numeric: true }));
  return candidates.find(hasServerBins);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

async function startCluster(
  bin: string,
  log: (s: string) => void,
): Promise<{ url: string; dir: string; stop(): Promise<void> }> {
  const root = process.getuid?.() === 0;
  // Under /tmp, not $TMPDIR: the postgres user must reach it, and the socket path must stay short.
  const dir = mkdtempSync('/tmp/keyward-bench-pg.');
  const data = join(dir, 'data');
  const logFile = join(dir, 'postgres.log');
  let user = 'postgres';
  if (root) {
    if (spawnSync('id', [user]).status !== 0) {
      const r = spawnSync('useradd', ['--system', '--no-create-home', '--shell', '/bin/sh', user], {
        encoding: 'utf8',
      });
      if (r.status !== 0) throw new Error(`could not create the postgres user: ${r.stderr}`);
    }
    const id = spawnSync('id', ['-u', user], { encoding: 'utf8' });
    const gid = spawnSync('id', ['-g', user], { encoding: 'utf8' });
    chownSync(dir, Number(id.stdout.trim()), Number(gid.stdout.trim()));
  }
  // From inside the cluster directory, so the postgres user never starts in a directory it can't read.
  const asPg = (cmd: string, args: string[], timeout = 120_000) => {
    const full = join(bin, cmd);
    const [file, argv] = root
      ? existsSync('/usr/sbin/runuser') || spawnSync('sh', ['-c', 'command -v runuser']).status === 0
        ? ['runuser', ['-u', user, '--', full, ...args]]
        : ['su', [user, '-s', '/bin/sh', '-c', [full, ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ')]]
      : [full, args];
    return spawnSync(file as string, argv as string[], { cwd: dir, encoding: 'utf8', timeout });
  };
  let started = false;
  const stopSync = () => {
    if (started) asPg('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop'], 30_000);
    started = false;
    rmSync(dir, { recursive: true, force: true });
  };
  const offExit = atExit(stopSync);
  try {
    log(`starting a throwaway PostgreSQL cluster in ${dir} (fsync and synchronous_commit on)...`);
    const init = asPg('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--locale=C', '--no-sync']);
    if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr || init.stdout || init.error?.message}`);
    for (let attempt = 1; attempt <= 3 && !started; attempt++) {
      const port = await freePort();
      const r = asPg('pg_ctl', [
        '-D',
        data,
        '-l',
        logFile,
        '-w',
        '-t',
        '60',
        '-o',
        `-c listen_addresses=127.0.0.1 -p ${port} -k ${dir} -c max_connections=200`,
        'start',
      ]);
      if (r.status === 0) {
        started = true;
        return {
          url: `postgres://postgres@127.0.0.1:${port}/postgres`,
          dir,
          async stop() {
            offExit();
            if (started) asPg('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop'], 60_000);
            started = false;
            rmSync(dir, { recursive: true, force: true });
          },
        };
      }
    }
    let tail = '';
    try {
      tail = readFileSync(logFile, 'utf8').slice(-2000);
    } catch {
      /* no log */
    }
    throw new Error(`PostgreSQL did not start (3 attempts)\n${tail}`);
  } catch (err) {
    offExit();
    stopSync();
    throw err;
  }
}
