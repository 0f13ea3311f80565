/**
 * The server of bench/audit's end-to-end case, in its own process: a Keyward server over a store on
 * the bench database, with auditing on (the default) or off (`Hsm.open({audit: false})`, which only
 * this baseline uses), dev-bootstrapped (1-of-1 ceremony, unsealed) and listening on loopback.
 *
 *   node --import ./scripts/register-ts.mjs bench/helpers/audit-server.ts (--database-url URL | --memory) --audit on|off
 *     [--integrate-ms N]   (the integrator's interval, default 1000; for diagnosis)
 *     [--flushes N]        (audit append statements in flight, default 1; for diagnosis)
 *     [--direct on|off]    (the hot routes' direct path, server/direct.ts, default on; for A/B)
 *
 * Prints `{"addr": "http://127.0.0.1:PORT", "rootToken": "...", "audit": true|false}` on stdout
 * when ready; logs requests (as `keyward server` does, at info) on stderr. Stops on SIGTERM/SIGINT.
 * Not a benchmark itself (bench/run.ts only lists bench/*.ts).
 */
import { CryptoPool } from '../../engine/crypto/index.js';
import { devBootstrap } from '../../engine/dev.js';
import { Hsm } from '../../engine/hsm.js';
import { openStore } from '../../engine/store/index.js';
import { statusFor } from '../../server/errors.js';
import { createLogger } from '../../server/log.js';
import { listen } from '../../server/main.js';

const args = process.argv.slice(2);
const opt = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const databaseUrl = opt('database-url');
const audit = opt('audit') ?? 'on';
const integrateMs = opt('integrate-ms') === undefined ? undefined : Number(opt('integrate-ms'));
const flushes = opt('flushes') === undefined ? undefined : Number(opt('flushes'));
const direct = opt('direct') ?? 'on';
if (!['on', 'off'].includes(audit) || !['on', 'off'].includes(direct) || (!databaseUrl && !args.includes('--memory'))) {
  console.error('usage: audit-server.ts (--database-url URL | --memory) --audit on|off [--direct on|off]');
  process.exit(2);
}

const store = await openStore(databaseUrl ? { databaseUrl } : { memory: true });
const pool = new CryptoPool();
const hsm = await Hsm.open({
  store,
  pool,
  statusOf: statusFor,
  node: `bench-audit-${audit}`,
  ...(audit === 'off'
    ? { audit: false as const }
    : {
        audit: {
          ...(integrateMs ? { integrateIntervalMs: integrateMs } : {}),
          ...(flushes ? { flushesInFlight: flushes } : {}),
        },
      }),
  onAuditError: (err) => console.error(JSON.stringify({ level: 'error', msg: 'audit integrator', error: String(err) })),
});
const { rootToken } = await devBootstrap(hsm);
const server = await listen({
  hsm,
  log: createLogger({ level: 'info' }),
  listen: '127.0.0.1:0',
  directPath: direct === 'on',
});
process.stdout.write(JSON.stringify({ addr: server.url, rootToken, audit: audit === 'on' }) + '\n');

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  const hard = setTimeout(() => process.exit(1), 5000);
  hard.unref();
  try {
    await server.close();
    await hsm.close();
    await pool.close();
  } finally {
    process.exit(0);
  }
};
process.once('SIGTERM', () => void stop());
process.once('SIGINT', () => void stop());
