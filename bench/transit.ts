/**
 * bench/transit: what the Vault-transit translation costs. The same operations through
 * `/v1/transit/...` and through the native `/v1/keys/...` routes of one dev server (its own process,
 * keep-alive HTTP/1.1 from bench/helpers/load-client.ts, an app-role token), in alternating slices
 * so load from elsewhere falls on both sides of each ratio alike. The native route is the baseline: ratio = transit requests/s ÷ native.
 *
 * Cases: 1 KiB encrypt (aes256-gcm), decrypt of that ciphertext, ECDSA-P256 sign, and a batch of 100
 * 1 KiB encrypts.
 *
 * The run fails (exit 1) when a request fails, or when a route's answer is wrong before the load
 * (a ciphertext of each family decrypts to the plaintext through the other; each family's signature verifies).
 *
 * Options: --json, --smoke (short windows, the same cases and checks), --duration=SECONDS (measured
 * window per side and case, split in 3 slices, default 3), --warmup=SECONDS (default 1),
 * --concurrency=N (default 16), --dist | --tsx (the server from dist/ or the sources; default dist/
 * when the build is fresh), --node-http (load with node:http's client instead).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, http200, keywardEntry, load, round, startChild, summarize } from './helpers/http.js';
import type { Child, LoadResult, Slice } from './helpers/http.js';
import { loadClient } from './helpers/load-client.js';
import type { LoadClient } from './helpers/load-client.js';
import { Checks, option, table } from './util.js';
import type { BenchOptions } from './util.js';

const SLICES = 3;

export async function main({ json, args }: BenchOptions): Promise<void> {
  const durationMs = option(args, 'duration', 3, 0.9) * 1000;
  const warmupMs = option(args, 'warmup', 1, 0.2) * 1000;
  const checks = new Checks();
  const concurrency = Math.floor(option(args, 'concurrency', 16));
  const forced = args.includes('--dist') ? 'dist' : args.includes('--tsx') ? 'tsx' : undefined;
  const log = (s: string) => {
    if (!json) console.error(s);
  };
  const loadBefore = round(loadavg()[0]!, 2);
  const logDir = mkdtempSync(join(tmpdir(), 'keyward-bench-transit-'));
  const rootToken = 'kwt_' + randomBytes(32).toString('base64url');
  let server: Child | undefined;
  const clients: Array<Client | LoadClient> = [];
  try {
    log('starting the dev server...');
    server = await startChild(
      'keyward',
      [
        ...keywardEntry(forced).args,
        'server',
        '--dev',
        '--dev-root-token',
        rootToken,
        '--listen',
        '127.0.0.1:0',
        '--json',
      ],
      logDir,
    );
    const admin = new Client(server.addr, 2, rootToken);
    clients.push(admin);
    const { token } = await admin.json('POST', '/v1/auth/tokens', {
      principal: 'bench-app',
      roles: ['app'],
      ttl: '1h',
    });
    await admin.json('POST', '/v1/keys', { name: 'aes', type: 'aes256-gcm' });
    await admin.json('POST', '/v1/keys', { name: 'p256', type: 'ecdsa-p256' });
    const c = new Client(server.addr, concurrency, token);
    const loader = loadClient(args, server.addr, concurrency, token);
    clients.push(c, loader);

    const kib = randomBytes(1024).toString('base64');
    const native = await c.json('POST', '/v1/keys/aes/encrypt', { plaintext: kib });
    // The answers are right before they are timed: each family decrypts and verifies the other's.
    const viaTransit = await c.json('POST', '/v1/transit/decrypt/aes', {
      ciphertext: 'vault:' + String(native.ciphertext).slice(3),
    });
    checks.that(viaTransit.data?.plaintext === kib, 'transit decrypt of a native ciphertext: not the plaintext');
    const tEnc = await c.json('POST', '/v1/transit/encrypt/aes', { plaintext: kib });
    const viaNative = await c.json('POST', '/v1/keys/aes/decrypt', {
      ciphertext: 'kw:' + String(tEnc.data?.ciphertext).slice(6),
    });
    checks.that(viaNative.plaintext === kib, 'native decrypt of a transit ciphertext: not the plaintext');
    const tSig = await c.json('POST', '/v1/transit/sign/p256', { input: kib });
    const nSig = await c.json('POST', '/v1/keys/p256/sign', { message: kib });
    const tVer = await c.json('POST', '/v1/transit/verify/p256', { input: kib, signature: tSig.data?.signature });
    checks.that(tVer.data?.valid === true, 'transit verify of a transit signature: not valid');
    const nVer = await c.json('POST', '/v1/keys/p256/verify', { message: kib, signature: nSig.signature });
    checks.that(nVer.valid === true, 'native verify of a native signature: not valid');
    const body = (x: unknown) => Buffer.from(JSON.stringify(x));
    const cases = [
      {
        id: 'encrypt',
        label: 'encrypt 1 KiB',
        native: ['/v1/keys/aes/encrypt', body({ plaintext: kib })],
        transit: ['/v1/transit/encrypt/aes', body({ plaintext: kib })],
      },
      {
        id: 'decrypt',
        label: 'decrypt 1 KiB',
        native: ['/v1/keys/aes/decrypt', body({ ciphertext: native.ciphertext })],
        transit: ['/v1/transit/decrypt/aes', body({ ciphertext: 'vault:' + String(native.ciphertext).slice(3) })],
      },
      {
        id: 'sign',
        label: 'ECDSA-P256 sign',
        native: ['/v1/keys/p256/sign', body({ message: kib })],
        transit: ['/v1/transit/sign/p256', body({ input: kib })],
      },
      {
        id: 'batch',
        label: 'encrypt batch of 100',
        native: ['/v1/keys/aes/encrypt', body({ batch: Array.from({ length: 100 }, () => ({ plaintext: kib })) })],
        transit: [
          '/v1/transit/encrypt/aes',
          body({ batch_input: Array.from({ length: 100 }, () => ({ plaintext: kib })) }),
        ],
      },
    ] as const;

    const results: Array<{ id: string; label: string; native: LoadResult; transit: LoadResult; ratio: number }> = [];
    for (const k of cases) {
      log(`${k.label}...`);
      const slices: Record<'native' | 'transit', Slice[]> = { native: [], transit: [] };
      for (let i = 0; i < SLICES; i++) {
        for (const side of i % 2 === 0 ? (['native', 'transit'] as const) : (['transit', 'native'] as const)) {
          const [path, payload] = k[side];
          slices[side].push(
            await load(() => loader.send('POST', path, payload), {
              concurrency,
              warmupMs: i === 0 ? warmupMs : 0,
              durationMs: durationMs / SLICES,
              ok: http200,
            }),
          );
        }
      }
      const n = summarize(slices.native);
      const t = summarize(slices.transit);
      checks.noErrors(`${k.label}, native`, n);
      checks.noErrors(`${k.label}, transit`, t);
      results.push({ id: k.id, label: k.label, native: n, transit: t, ratio: round(t.rps / n.rps, 3) });
    }

    const out = {
      concurrency,
      durationMs,
      loadavgBefore: loadBefore,
      loadavgAfter: round(loadavg()[0]!, 2),
      cases: results,
    };
    if (json) {
      console.log(JSON.stringify({ ...out, checks }));
      checks.assert();
      return;
    }
    console.log(
      table(
        results.map((r) => ({
          case: r.label,
          'native req/s': r.native.rps,
          'transit req/s': r.transit.rps,
          'transit/native': r.ratio,
          'native p50 ms': r.native.p50Ms,
          'transit p50 ms': r.transit.p50Ms,
        })),
      ),
    );
    console.log(
      `load average ${out.loadavgBefore} → ${out.loadavgAfter} (shared machine: read the ratios, not the rates)`,
    );
    checks.assert();
  } finally {
    for (const cl of clients) cl.close();
    await server?.stop();
    rmSync(logDir, { recursive: true, force: true });
  }
}
