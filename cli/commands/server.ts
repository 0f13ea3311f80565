import { Command, Option, UsageError } from 'clipanion';
import type { Level } from '../../server/log.js';
import { KeywardError } from '../../lib/errors.js';
import { OfflineCommand } from '../base.js';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { packageRoot } from '../../engine/policy/toolchain/paths.js';
import type { Store, StoreOptions } from '../../engine/store/index.js';

const DEFAULT_LISTEN = '127.0.0.1:8420';

export const DEFAULT_DATA_DIR = '.keyward-data';

export default class ServerCommand extends OfflineCommand {
  static override paths = [['server']];
  static override usage = Command.Usage({
    description: 'run the Keyward server (starts sealed; --dev for an unsealed in-memory dev server)',
    details: `
      Storage is embedded PGlite in --data-dir (default ${DEFAULT_DATA_DIR}) or PostgreSQL with --database-url (several nodes may share one database). The server starts sealed; a quorum of holders unseals it.

      --dev runs on in-memory PGlite with a 1-of-1 ceremony done automatically and the server unsealed; the root token and the unseal share are printed once. Everything is lost on exit: never use it for real keys.

      TLS: --tls-cert and --tls-key (PEM) serve HTTPS, TLS 1.2 or later; SIGHUP reloads both files without closing the listener (a pair that fails to load keeps the old one, and the log says why). --tls-client-ca makes every client present a certificate that CA signed; its subject reaches policies as the attributes tls.client.subject, tls.client.cn and tls.client.fingerprint. A non-loopback --listen needs TLS, or --insecure-no-tls when a proxy in front terminates it.

      Metrics: GET /metrics answers in the Prometheus text format to a token whose policy grants \`metrics\` (the default policy: admin, operator, monitor), or to anyone with --metrics-unauthenticated. Logs: JSON lines on stderr (human lines when stderr is a terminal), from --log-level up.

      --dev-root-token fixes the dev root token to any string that can be sent as a bearer token (visible ASCII, no spaces), like Vault's -dev-root-token-id; one that is not Keyward's own form (kwt_ + 43 base64url characters) gets a warning, since it is only as secret as it is hard to guess.
    `,
    examples: [
      ['Dev server', 'keyward server --dev'],
      ['Dev server with a fixed root token', 'keyward server --dev --dev-root-token root'],
      ['Embedded storage', 'keyward server --data-dir /var/lib/keyward'],
      [
        'PostgreSQL, HTTPS on every interface',
        'keyward server --database-url "postgres://keyward@db/keyward?sslmode=verify-full&sslrootcert=/etc/keyward/db-ca.pem" --listen 0.0.0.0:8420 --tls-cert /etc/keyward/tls.crt --tls-key /etc/keyward/tls.key',
      ],
    ],
  });

  dev = Option.Boolean('--dev', false, { description: 'In-memory, auto-initialized and unsealed dev server' });
  devRootToken = Option.String('--dev-root-token', {
    description: 'Fix the dev root token: any visible ASCII string without spaces, e.g. root',
  });
  dataDir = Option.String('--data-dir', { description: `PGlite data directory (default ${DEFAULT_DATA_DIR})` });
  databaseUrl = Option.String('--database-url', {
    description: 'PostgreSQL URL (env KEYWARD_DATABASE_URL)',
    env: 'KEYWARD_DATABASE_URL',
  });
  listenAt = Option.String('--listen', DEFAULT_LISTEN, {
    description: `HOST:PORT to listen on (default ${DEFAULT_LISTEN})`,
  });
  tlsCert = Option.String('--tls-cert', {
    description: 'Serve HTTPS with this PEM certificate (chain); needs --tls-key',
  });
  tlsKey = Option.String('--tls-key', { description: 'The PEM private key of --tls-cert' });
  tlsClientCa = Option.String('--tls-client-ca', {
    description: 'Require a client certificate signed by this PEM CA (its subject is a policy attribute)',
  });
  insecureNoTls = Option.Boolean('--insecure-no-tls', false, {
    description: 'Allow plain HTTP on a non-loopback --listen (only behind a proxy that terminates TLS)',
  });
  logLevel = Option.String('--log-level', 'info', {
    description: 'debug, info, warn or error (JSON lines on stderr; human lines when stderr is a terminal)',
  });
  metricsUnauthenticated = Option.Boolean('--metrics-unauthenticated', false, {
    description:
      'Serve GET /metrics without a token, sealed or not (else it needs a token whose policy grants `metrics`)',
  });
  pqBackend = Option.String('--pq-backend', {
    description:
      'ML-DSA/ML-KEM backend: auto (the native pqclean addon when it loads and passes its self-test, else @noble), pqclean (refuse to start without it) or noble (default auto, env KEYWARD_PQ_BACKEND)',
    env: 'KEYWARD_PQ_BACKEND',
  });
  storageDeadline = Option.String('--storage-deadline-ms', {
    description:
      'Budget of each storage call on the request path and of the audit append, in ms; past it the request is 503 (default 2000, env KEYWARD_STORAGE_DEADLINE_MS)',
    env: 'KEYWARD_STORAGE_DEADLINE_MS',
  });

  authFailureBurst = Option.String('--auth-failure-burst', {
    description:
      'Failed authentications a client address may make at once before 429 RATE_LIMITED (default 20, env KEYWARD_AUTH_FAILURE_BURST)',
    env: 'KEYWARD_AUTH_FAILURE_BURST',
  });
  authFailureRate = Option.String('--auth-failure-rate', {
    description:
      'Failed authentications per second a client address may sustain (default 5, env KEYWARD_AUTH_FAILURE_RATE)',
    env: 'KEYWARD_AUTH_FAILURE_RATE',
  });
  refusalFold = Option.String('--refusal-fold-ms', {
    description:
      "Interval over which one client's refusals of one code (bad token, bad body, no route, rate limit) fold into one audit record with a count; 0 records each (default 10000, env KEYWARD_REFUSAL_FOLD_MS)",
    env: 'KEYWARD_REFUSAL_FOLD_MS',
  });

  async run(): Promise<number> {
    if (this.dataDir && this.databaseUrl) throw new UsageError('give --data-dir or --database-url, not both');
    if (this.devRootToken !== undefined && !this.dev) throw new UsageError('--dev-root-token needs --dev');
    // Decimal digits only: Number() alone would take "1e3", " 500" or "0x10".
    const intOption = (flag: string, raw: string | undefined, min: number, max: number): number | undefined => {
      if (raw === undefined) return undefined;
      const n = Number(raw);
      if (!(/^\d+$/.test(raw) && Number.isSafeInteger(n) && n >= min && n <= max))
        throw new UsageError(`${flag} expects an integer from ${min} to ${max}, got "${raw}"`);
      return n;
    };
    const deadlineMs = intOption('--storage-deadline-ms', this.storageDeadline, 100, 60_000);
    const burst = intOption('--auth-failure-burst', this.authFailureBurst, 1, 1_000_000);
    const perSecond = intOption('--auth-failure-rate', this.authFailureRate, 1, 1_000_000);
    const foldMs = intOption('--refusal-fold-ms', this.refusalFold, 0, 3_600_000);
    if ((this.tlsCert === undefined) !== (this.tlsKey === undefined))
      throw new UsageError('--tls-cert and --tls-key go together: give both, or neither for plain HTTP');
    if (this.tlsClientCa !== undefined && this.tlsCert === undefined)
      throw new UsageError('--tls-client-ca needs --tls-cert and --tls-key');
    if (this.insecureNoTls && this.tlsCert !== undefined)
      throw new UsageError('--insecure-no-tls and --tls-cert contradict each other: give one');
    const { listenRefusal, parseListen } = await import('../../server/main.js');
    let host: string;
    try {
      host = parseListen(this.listenAt).host;
    } catch (err) {
      throw new UsageError(`--listen ${(err as Error).message}`);
    }
    const refused = listenRefusal(host, this.tlsCert !== undefined, this.insecureNoTls);
    if (refused) throw new UsageError(refused);
    const tls =
      this.tlsCert !== undefined && this.tlsKey !== undefined
        ? {
            cert: this.tlsCert,
            key: this.tlsKey,
            ...(this.tlsClientCa !== undefined ? { clientCa: this.tlsClientCa } : {}),
          }
        : undefined;
    if (tls) {
      // Checked before the store opens: a bad file is the operator's to fix, said at once.
      const { loadTls } = await import('../../server/tls.js');
      await loadTls(tls).catch((err: Error) => {
        throw new KeywardError('FILE_INVALID', err.message);
      });
    }
    if (!['debug', 'info', 'warn', 'error'].includes(this.logLevel))
      throw new UsageError(`--log-level expects debug, info, warn or error, got "${this.logLevel}"`);
    // Loaded here, not at the top: every other command starts faster without the server stack.
    const [
      { devBootstrap },
      { Hsm },
      { CryptoPool, PQ_BACKEND_CHOICES, selectPqBackend },
      { openStore, postgresTarget },
      { createLogger },
      { listen },
      { statusFor },
      tokens,
      { guardStorageRejections },
    ] = await Promise.all([
      import('../../engine/dev.js'),
      import('../../engine/hsm.js'),
      import('../../engine/crypto/index.js'),
      import('../../engine/store/index.js'),
      import('../../server/log.js'),
      import('../../server/main.js'),
      import('../../server/errors.js'),
      import('../../engine/auth/tokens.js'),
      import('../../server/process-guard.js'),
    ]);
    if (this.devRootToken !== undefined) {
      try {
        tokens.assertBearerToken(this.devRootToken);
      } catch {
        throw new UsageError(
          `--dev-root-token expects ${tokens.BEARER_TOKEN_FORM}, got ${this.devRootToken.length} characters that are not`,
        );
      }
      // A token of the user's choosing is stored as an unkeyed hash that never expires: only in a store
      // that dies with the process, never one a later (non-dev) server would open and still accept it from.
      if (!tokens.isKeywardToken(this.devRootToken) && (this.dataDir || this.databaseUrl)) {
        throw new UsageError(
          '--dev-root-token takes a free-form token only with in-memory dev storage; with --data-dir or --database-url give a Keyward token (kwt_ + 43 base64url characters) or leave it out',
        );
      }
      // On stderr even with --json: stdout stays one JSON value, and the warning must not be lost.
      if (!tokens.isKeywardToken(this.devRootToken)) {
        this.context.stderr.write(
          'warning: --dev-root-token is not a Keyward token (kwt_ + 43 base64url characters); it is accepted for dev mode, and anyone who guesses it is root.\n',
        );
      }
    }
    const log = createLogger({ level: this.logLevel as Level });
    guardStorageRejections(log);
    // ML-DSA/ML-KEM's backend (engine/crypto/pq.ts), chosen before the pool's workers start (they follow it).
    const choice = this.pqBackend === undefined || this.pqBackend === '' ? 'auto' : this.pqBackend;
    if (!(PQ_BACKEND_CHOICES as readonly string[]).includes(choice))
      throw new UsageError(`--pq-backend expects ${PQ_BACKEND_CHOICES.join(', ')}, got "${choice}"`);
    let pq;
    try {
      pq = selectPqBackend({ choice: choice as (typeof PQ_BACKEND_CHOICES)[number] });
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    log.info('post-quantum backend', { backend: pq.name, ...(pq.reason ? { reason: pq.reason } : {}) });
    // Dev mode keeps nothing only on its own store: with --data-dir or --database-url it opens that one.
    const inMemory = this.dev && !this.dataDir && !this.databaseUrl;
    const store = inMemory
      ? await openDevStore(openStore)
      : await openStore(
          this.databaseUrl
            ? {
                databaseUrl: this.databaseUrl,
                // The database bounds each statement by the same budget as the requests' deadline.
                ...(deadlineMs !== undefined ? { statementTimeoutMs: deadlineMs } : {}),
              }
            : { dataDir: this.dataDir ?? DEFAULT_DATA_DIR, image: () => readStoreImage() },
        );
    // Slow asymmetric work (ML-DSA/SLH-DSA signing, RSA keygen, KEM) runs here, off the event loop.
    const pool = new CryptoPool();
    const hsm = await Hsm.open({
      store,
      pool,
      statusOf: statusFor,
      ...(deadlineMs !== undefined ? { storageDeadlineMs: deadlineMs, audit: { deadlineMs } } : {}),
      // The integrator stops signing over a log that fails its integrity checks; say so loudly.
      onAuditError: (err) =>
        log.error('audit integrator', {
          code: (err as { code?: string }).code,
          error: err instanceof Error ? err.message.slice(0, 500) : String(err),
        }),
    });
    const dev = this.dev
      ? await devBootstrap(hsm, this.devRootToken !== undefined ? { rootToken: this.devRootToken } : {})
      : undefined;
    const { DEFAULT_AUTH_FAILURE_RATE } = await import('../../server/refusals.js');
    const server = await listen({
      hsm,
      log,
      listen: this.listenAt,
      ...(burst !== undefined || perSecond !== undefined
        ? {
            authFailureRate: {
              burst: burst ?? DEFAULT_AUTH_FAILURE_RATE.burst,
              perMinute: perSecond !== undefined ? perSecond * 60 : DEFAULT_AUTH_FAILURE_RATE.perMinute,
            },
          }
        : {}),
      ...(foldMs !== undefined ? { refusalFoldMs: foldMs } : {}),
      ...(tls ? { tls } : {}),
      insecureNoTls: this.insecureNoTls,
      metricsUnauthenticated: this.metricsUnauthenticated,
      pool,
    });
    const where = storageLine(this, postgresTarget);
    const s = hsm.health();
    if (dev) {
      this.print(
        { addr: server.url, dev: true, rootToken: dev.rootToken, unsealShare: dev.unsealShare },
        [
          `Keyward dev server listening on ${server.url}, storage: ${where}.`,
          inMemory
            ? 'WARNING: dev mode is unsealed with a 1-of-1 ceremony and keeps nothing; never use it for real keys.'
            : 'WARNING: dev mode is unsealed with a 1-of-1 ceremony: the one share below unseals this store; never use it for real keys.',
          '',
          `Unseal share (base64): ${dev.unsealShare}`,
          `Root token:            ${dev.rootToken}`,
          '',
          `  export KEYWARD_ADDR=${server.url} KEYWARD_TOKEN=${dev.rootToken}`,
        ].join('\n'),
      );
    } else {
      this.print(
        { addr: server.url, initialized: s.initialized, sealed: s.sealed },
        `Keyward listening on ${server.url}, storage: ${where}; ${!s.initialized ? 'not initialized: run `keyward ceremony init`' : 'sealed: holders run `keyward ceremony unseal`'}.`,
      );
    }
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    log.info('shutting down');
    await server.close();
    await hsm.close();
    await pool.close();
    return 0;
  }
}

/** build/pglite/store-image.tar: the empty, migrated store `npm run build` writes (scripts/build-store-image.mjs). */
export const STORE_IMAGE_FILE = (): string => join(packageRoot(), 'build', 'pglite', 'store-image.tar');

/** The store image, or undefined without a build. */
export async function readStoreImage(file = STORE_IMAGE_FILE()): Promise<Blob | undefined> {
  const bytes = await readFile(file).catch(() => undefined);
  if (bytes === undefined) return undefined;
  const { storeImageBlob } = await import('../../engine/store/index.js');
  return storeImageBlob(bytes);
}

/**
 * The start-up line's storage: in-memory PGlite only for `--dev` without --data-dir or
 * --database-url (a dev server on either keeps what it writes, and says where).
 */
export function storageLine(
  o: { dev?: boolean; dataDir?: string; databaseUrl?: string },
  target: (url: string) => { target: string },
): string {
  if (o.databaseUrl) return `PostgreSQL at ${target(o.databaseUrl).target}`;
  if (o.dataDir || !o.dev) return `PGlite in ${o.dataDir ?? DEFAULT_DATA_DIR}`;
  return 'in-memory PGlite (everything is lost on exit)';
}

/**
 * Dev mode's in-memory database, started from the empty store image rather than from initdb: ready
 * in 1.8 s instead of 3.0 s here. (A new `--data-dir` starts from it too: engine/store/driver.ts.) The
 * migrations still run on it; without an image, or with one PGlite cannot read, it starts from initdb.
 */
export async function openDevStore(
  openStore: (opts: StoreOptions) => Promise<Store>,
  file = STORE_IMAGE_FILE(),
): Promise<Store> {
  const image = await readStoreImage(file);
  if (image) {
    try {
      return await openStore({ memory: true, image });
    } catch {
      // A damaged or incompatible image: start from initdb below.
    }
  }
  return openStore({ memory: true });
}
