/**
 * `npm run bench -- flood [--json] [--requests N]`: a bad-token flood from one client address
 * (127.0.0.2, 16 at a time) against a dev-style server on in-memory PGlite, while another client
 * (127.0.0.1) sends good-token requests. Reports, per configuration, the audit records the flood
 * added per 1,000 bad-token requests, its 401 and 429 counts, and the good client's statuses:
 *
 * - `unbounded`: no auth-failure limit, folding off: one record per request, as before issue 13;
 * - `default`: the server's defaults (burst 20, 5/s; fold interval 10 s).
 *
 * The counts are the figures (deterministic up to the refill during the run); times are for scale.
 * The run fails (exit 1) when a bad token gets anything but 401/429, a good one anything but 200,
 * the unbounded server writes fewer than one record per refusal, or the bound does not cut records.
 *
 * Options: --json, --smoke (200 requests), --requests=N (default 1000).
 */
import { randomBytes } from 'node:crypto';
import { Agent, request } from 'node:http';
import { devBootstrap } from '../engine/dev.js';
import { Hsm } from '../engine/hsm.js';
import { auditRecordsPage } from '../engine/audit/log/read.js';
import { openStore } from '../engine/store/index.js';
import { statusFor } from '../server/errors.js';
import { createLogger } from '../server/log.js';
import { listen } from '../server/main.js';
import type { RateLimitOptions } from '../server/rate-limit.js';
import { Checks, option } from './util.js';
import type { BenchOptions } from './util.js';

interface Figures {
  config: string;
  badRequests: number;
  status401: number;
  status429: number;
  recordsAdded: number;
  recordsPer1000: number;
  goodRequests: number;
  goodOk: number;
  ms: number;
}

function get(url: string, from: string, token: string, agent: Agent): Promise<number> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        path: u.pathname,
        method: 'GET',
        localAddress: from,
        agent,
        headers: { authorization: `Bearer ${token}` },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode!));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

async function run(
  config: string,
  n: number,
  opts: { authFailureRate?: RateLimitOptions; refusalFoldMs?: number },
): Promise<Figures> {
  const store = await openStore({ memory: true });
  const hsm = await Hsm.open({ store, statusOf: statusFor });
  const root = (await devBootstrap(hsm)).rootToken;
  const srv = await listen({ hsm, log: createLogger({ write: () => undefined }), listen: '127.0.0.1:0', ...opts });
  const size = async () => (await auditRecordsPage(store.db, 0, 0)).size;
  const badAgent = new Agent({ keepAlive: true, maxSockets: 16 });
  const goodAgent = new Agent({ keepAlive: true, maxSockets: 1 });
  const url = `${srv.url}/v1/keys`;
  const before = await size();
  const start = performance.now();
  const statuses: number[] = [];
  const good: number[] = [];
  let next = 0;
  const worker = async () => {
    while (next < n) {
      next++;
      statuses.push(await get(url, '127.0.0.2', `kwt_${randomBytes(32).toString('base64url')}`, badAgent));
    }
  };
  const goodLoop = async () => {
    while (next < n) good.push(await get(url, '127.0.0.1', root, goodAgent));
  };
  await Promise.all([...Array.from({ length: 16 }, worker), goodLoop()]);
  const ms = performance.now() - start;
  const goodRecords = good.length; // one record each, as every served request
  await srv.close(); // flushes the folded counts
  const added = (await size()) - before - goodRecords;
  badAgent.destroy();
  goodAgent.destroy();
  await hsm.close();
  return {
    config,
    badRequests: n,
    status401: statuses.filter((s) => s === 401).length,
    status429: statuses.filter((s) => s === 429).length,
    recordsAdded: added,
    recordsPer1000: Math.round((added * 1000) / n),
    goodRequests: good.length,
    goodOk: good.filter((s) => s === 200).length,
    ms: Math.round(ms),
  };
}

export async function main(opts: BenchOptions): Promise<void> {
  const n = Math.floor(option(opts.args, 'requests', 1000, 200));
  const rows = [
    await run('unbounded', n, { authFailureRate: { burst: 1e9, perMinute: 1e9 }, refusalFoldMs: 0 }),
    await run('default', n, {}),
  ];
  const checks = new Checks();
  for (const r of rows) {
    checks.that(
      r.status401 + r.status429 === r.badRequests,
      `${r.config}: ${r.badRequests - r.status401 - r.status429} bad-token requests got neither 401 nor 429`,
    );
    checks.that(r.goodOk === r.goodRequests, `${r.config}: ${r.goodRequests - r.goodOk} good requests were refused`);
  }
  const [unbounded, bounded] = rows as [Figures, Figures];
  checks.that(unbounded.status429 === 0, `unbounded: ${unbounded.status429} requests answered 429`);
  checks.that(
    unbounded.recordsAdded >= n,
    `unbounded: ${unbounded.recordsAdded} records for ${n} refusals (one each expected)`,
  );
  checks.that(
    bounded.status429 > 0 && bounded.recordsAdded < unbounded.recordsAdded,
    `default bound: ${bounded.status429} × 429 and ${bounded.recordsAdded} records (unbounded: ${unbounded.recordsAdded}): the bound did not cut the flood`,
  );
  if (opts.json) {
    console.log(JSON.stringify({ requests: n, rows, checks }));
    checks.assert();
    return;
  }
  console.log(`bad-token flood: ${n} requests from 127.0.0.2 (16 at a time); good tokens from 127.0.0.1`);
  console.table(rows);
  checks.assert();
}
