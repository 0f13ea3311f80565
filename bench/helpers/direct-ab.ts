/**
 * Same-run A/B of server/direct.ts: 1 KiB encrypt with an app token under autocannon (-c 16) in
 * alternating slices (on, off, off, on, ...), the server's CPU per request from /proc/<pid>/stat.
 * Two processes (bench/helpers/audit-server.ts, in-memory PGlite, `--direct on` and `off`), or with
 * `--one` one process whose app listens twice (the dispatcher, and `app.callback()`), so both paths
 * share the heap, the JIT and the audit log. Figures: the totals, and the median over adjacent pairs
 * of slices of the ratio on/off (which cancels the machine's drift).
 *
 *   node --import ./scripts/register-ts.mjs bench/helpers/direct-ab.ts [--one] [--audit on|off] [--slices N] [--seconds S]
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { RequestListener as NodeRequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cannon } from './autocannon.js';
import { startChild } from './http.js';
import type { Child } from './http.js';
import { median, procCpuSeconds } from '../util.js';
import { CryptoPool } from '../../engine/crypto/index.js';
import { devBootstrap } from '../../engine/dev.js';
import { Hsm } from '../../engine/hsm.js';
import { openStore } from '../../engine/store/index.js';
import { createApp, directPartsOf } from '../../server/app.js';
import { requestListener } from '../../server/direct.js';
import { statusFor } from '../../server/errors.js';
import { createLogger } from '../../server/log.js';

const args = process.argv.slice(2);
const opt = (name: string, d: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : d;
};
const audit = opt('audit', 'on');
const slices = Number(opt('slices', '4'));
const seconds = Number(opt('seconds', '4'));

if (args.includes('--serve')) {
  // The one-process server: as audit-server.ts, with the app listening twice.
  const store = await openStore({ memory: true });
  const hsm = await Hsm.open({
    store,
    pool: new CryptoPool(),
    statusOf: statusFor,
    ...(audit === 'off' ? { audit: false as const } : {}),
  });
  const { rootToken } = await devBootstrap(hsm);
  const app = createApp({ hsm, log: createLogger({ level: 'info' }) });
  const at = async (l: NodeRequestListener) => {
    const server = createServer(l);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  };
  const on = await at(requestListener(app, directPartsOf(app)));
  const off = await at(app.callback());
  process.stdout.write(JSON.stringify({ addr: on, on, off, rootToken }) + '\n');
  process.once('SIGTERM', () => process.exit(0));
  await new Promise(() => {});
}

/** A server's CPU time so far, µs (all its threads). */
function cpuUs(child: Child): number {
  const s = procCpuSeconds(child.proc.pid);
  if (s === undefined) throw new Error('no /proc/<pid>/stat: this measures CPU on Linux only');
  return s * 1e6;
}

const logDir = mkdtempSync(join(tmpdir(), 'keyward-direct-ab-'));
const entry = ['--import', './scripts/register-ts.mjs'];
type Side = { child: Child; addr: string; rootToken: string };
async function start(direct: string): Promise<Side> {
  const child = await startChild(
    `direct-${direct}`,
    [...entry, 'bench/helpers/audit-server.ts', '--memory', '--audit', audit, '--direct', direct],
    logDir,
  );
  return { child, addr: child.hello.addr as string, rootToken: child.hello.rootToken as string };
}

async function json(addr: string, token: string, path: string, body: unknown): Promise<any> {
  const r = await fetch(addr + path, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!r.ok) throw new Error(`${path}: ${r.status} ${await r.text()}`);
  return r.json();
}

let servers: { on: Side; off: Side };
if (args.includes('--one')) {
  const child = await startChild(
    'direct-one',
    [...entry, 'bench/helpers/direct-ab.ts', '--serve', '--audit', audit],
    logDir,
  );
  const rootToken = child.hello.rootToken as string;
  servers = {
    on: { child, addr: child.hello.on as string, rootToken },
    off: { child, addr: child.hello.off as string, rootToken },
  };
} else servers = { on: await start('on'), off: await start('off') };
const setup: Record<string, { token: string }> = {};
for (const [k, s] of Object.entries(servers)) {
  if (k === 'off' && servers.off.child === servers.on.child) {
    setup.off = setup.on!;
    break;
  }
  await json(s.addr, s.rootToken, '/v1/keys', { name: 'ab-aes', type: 'aes256-gcm' });
  const { token } = await json(s.addr, s.rootToken, '/v1/auth/tokens', {
    principal: 'ab-app',
    roles: ['app'],
    ttl: '1h',
  });
  setup[k] = { token };
}
const body = Buffer.from(JSON.stringify({ plaintext: randomBytes(1024).toString('base64') }));
const run = async (k: 'on' | 'off', secs: number) => {
  const s = servers[k];
  const before = cpuUs(s.child);
  const r = await cannon(`${s.addr}/v1/keys/ab-aes/encrypt`, {
    connections: 16,
    seconds: secs,
    method: 'POST',
    headers: { authorization: `Bearer ${setup[k]!.token}`, 'content-type': 'application/json' },
    body,
  });
  const cpu = cpuUs(s.child) - before;
  if (r.errors) throw new Error(`${k}: ${r.firstError}`);
  return { ok: r.ok, seconds: r.seconds, cpu };
};
await run('on', 2);
await run('off', 2);
const tot = { on: { ok: 0, s: 0, cpu: 0 }, off: { ok: 0, s: 0, cpu: 0 } };
// Per pair of adjacent slices (on/off, then off/on): the ratio of CPU per request, which cancels the
// machine's slow drift; the median of the pairs is the figure.
const ratios: number[] = [];
for (let i = 0; i < slices; i++) {
  const pair: Record<string, number> = {};
  for (const k of (i % 2 === 0 ? ['on', 'off'] : ['off', 'on']) as ('on' | 'off')[]) {
    const r = await run(k, seconds);
    tot[k].ok += r.ok;
    tot[k].s += r.seconds;
    tot[k].cpu += r.cpu;
    pair[k] = r.cpu / r.ok;
  }
  ratios.push(pair.on! / pair.off!);
}
const f = (k: 'on' | 'off') => ({
  cpuUsPerReq: +(tot[k].cpu / tot[k].ok).toFixed(2),
  rps: +(tot[k].ok / tot[k].s).toFixed(0),
});
const on = f('on');
const off = f('off');
console.log(
  JSON.stringify({
    audit,
    one: args.includes('--one'),
    on,
    off,
    totalSaved: +(1 - on.cpuUsPerReq / off.cpuUsPerReq).toFixed(4),
    medianPairSaved: +(1 - median(ratios)).toFixed(4),
    pairRatios: [...ratios].sort((a, b) => a - b).map((r) => +r.toFixed(3)),
  }),
);
for (const s of new Set(Object.values(servers).map((v) => v.child))) await s.stop();
process.exit(0);
