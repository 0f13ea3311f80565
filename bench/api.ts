/**
 * bench/api: the REST API over real HTTP on loopback, next to its ceilings, in one run.
 *
 * - A dev server (`keyward server --dev`, in-memory PGlite, the worker pool sized to the cores) runs
 *   in its own process, so the load generator and the server never share an event loop. It runs
 *   from dist/ when the build is newer than every source file, else from the sources under tsx
 *   (`--dist` / `--tsx` force one).
 * - Load: HTTP/1.1 keep-alive connections (bench/helpers/load-client.ts, which says why not node:http's
 *   client; `--node-http` uses that one), a fixed number of requests in flight (16 by default),
 *   a warm-up, then a fixed window; requests/s counts responses completed in the window, latency
 *   is per request (p50/p99) for requests started and finished in it. Each fresh server first gets
 *   `--settle` seconds of 1 KiB encrypts outside every window (its start-up work, see below). An app-role token calls.
 *   Each case is measured in 3 slices alternating with its in-process ceiling (and, for encrypt,
 *   with the bare endpoint), so load from elsewhere on a shared machine falls on both sides of a
 *   ratio alike.
 * - Cases: 1 KiB encrypt (aes256-gcm), Ed25519 sign, ECDSA-P256 sign, ML-DSA-65 sign, ML-KEM-768
 *   decapsulate, and a batch of 100 1 KiB encrypts — each next to the same crypto-core function
 *   called in this process on one thread (the ceiling; for the batch, 100 encrypts per op).
 * - Baseline for the pipeline: 1 KiB encrypt on a bare Koa endpoint in another process
 *   (bench/helpers/bare-aead-server.ts: the same AES-256-GCM `encrypt`, no auth/policy/audit).
 * - Slow-signing isolation: p99 of GET /v1/sys/health (every 10 ms) and of a 1 KiB encrypt (every
 *   20 ms), one at a time, while SLH-DSA-SHA2-128s signatures are kept in flight (as many as the
 *   cores, each signer sending its next one when the last returns; seconds each), next to the same
 *   probes on the idle server. Signatures still running at the end are abandoned with the server.
 *
 * - An external load generator beside ours: autocannon (-c 16) on the same 1 KiB encrypt against the
 *   dev server and the bare endpoint, in alternating slices (keyward, bare, bare, keyward), so the
 *   pipeline ÷ bare ratio does not rest on our own client alone (issue 14, item 2).
 * - The dev server's side of each 1 KiB encrypt run, from its /metrics before and after (issue 14, the
 *   group commit's wave): records per group commit (its statements run on the server's one thread on
 *   PGlite, so the batch size is what each request's share of that work depends on) and the server
 *   process's CPU per request (all its threads; the bare slices in between add only an idle server's).
 *
 * Targets (issues 4 and 14), reported as met/missed without failing the run: encrypt through the full
 * pipeline ≥ 50% of the bare endpoint (with either load generator); ML-DSA-65 sign ≥ 80% of the
 * in-process single-thread rate; health p99 under slow signing ≤ 50 ms. The run fails (exit 1) when
 * a request fails (any answer but 200, in any case, by either generator) or an answer is wrong.
 *
 * Options: --json, --smoke (under a minute: short windows, the same cases and checks), --duration=SECONDS
 * (measured window per case, default 3), --warmup=SECONDS (default 1), --settle=SECONDS (load on each
 * fresh server before anything is measured, default 3), --concurrency=N (default 16),
 * --slow-signs=N (default: cores), --dist | --tsx, --node-http (load with node:http's client, see above).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import * as kw from '../engine/crypto/index.js';
import type { KeyType } from '../engine/crypto/index.js';
import { Client, http200, keywardEntry, latency, load, round, startChild, summarize } from './helpers/http.js';
import type { Child, Latency, LoadResult, Res, Slice } from './helpers/http.js';
import { loadClient } from './helpers/load-client.js';
import type { LoadClient } from './helpers/load-client.js';
import { cannon, summarizeCannon } from './helpers/autocannon.js';
import type { CannonSlice } from './helpers/autocannon.js';
import { Checks, isSmoke, option, table } from './util.js';
import type { BenchOptions } from './util.js';

const TARGETS = { encryptVsBare: 0.5, mlDsa65VsInProcess: 0.8, healthP99UnderSlowSignMs: 50 } as const;

// ---------------------------------------------------------------------------------------------
// HTTP

/** One request at a time, started every `intervalMs` (or at once when the last took longer). */
async function paced(
  call: () => Promise<Res>,
  intervalMs: number,
  durationMs: number,
): Promise<Latency & { errors: number }> {
  const samples: number[] = [];
  let errors = 0;
  const end = performance.now() + durationMs;
  let next = performance.now();
  while (performance.now() < end) {
    const wait = next - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const s = performance.now();
    next = s + intervalMs;
    try {
      const res = await call();
      if (res.status === 200) samples.push(performance.now() - s);
      else errors++;
    } catch {
      errors++;
    }
  }
  return { ...latency(samples), errors };
}

/** The dev server's counters that the encrypt runs are read against (its /metrics, prom-client's text format). */
interface ServerCounters {
  /** Group commits, and the records they wrote. */
  batches: number;
  records: number;
  /** The server process's CPU seconds (user + system, all threads). */
  cpuS: number;
}

async function serverCounters(admin: Client): Promise<ServerCounters> {
  const r = await admin.send('GET', '/metrics');
  if (r.status !== 200) throw new Error(`GET /metrics → ${r.status}`);
  const text = r.body.toString('utf8');
  const value = (name: string) => {
    const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
    if (!m) throw new Error(`GET /metrics: no ${name}`);
    return Number(m[1]);
  };
  return {
    batches: value('keyward_audit_batch_records_count'),
    records: value('keyward_audit_batch_records_sum'),
    cpuS: value('process_cpu_seconds_total'),
  };
}

/**
 * Between two reads of the counters: records per group commit, and the server's CPU µs per request
 * (each encrypt, timed or warm-up, appends one record through the group commit: the records are the
 * requests it answered).
 */
function serverSide(a: ServerCounters, b: ServerCounters): { recordsPerCommit: number; cpuUsPerRequest: number } {
  const records = Math.max(b.records - a.records, 1);
  return {
    recordsPerCommit: round(records / Math.max(b.batches - a.batches, 1), 1),
    cpuUsPerRequest: round(((b.cpuS - a.cpuS) * 1e6) / records, 0),
  };
}

// ---------------------------------------------------------------------------------------------
// In-process ceilings

interface InProcess extends Latency {
  opsPerSec: number;
}

/** Calls `fn` back to back on this thread: `warmupMs`, then `durationMs` of timed calls. */
function inProcess(fn: () => unknown, warmupMs: number, durationMs: number): { samples: number[]; elapsedMs: number } {
  let end = performance.now() + warmupMs;
  while (performance.now() < end) fn();
  const samples: number[] = [];
  const start = performance.now();
  end = start + durationMs;
  let t = start;
  while (t < end) {
    fn();
    const u = performance.now();
    samples.push(u - t);
    t = u;
  }
  return { samples, elapsedMs: t - start };
}

function summarizeInProcess(parts: Array<{ samples: number[]; elapsedMs: number }>): InProcess {
  const samples = parts.flatMap((p) => p.samples);
  const ms = parts.reduce((n, p) => n + p.elapsedMs, 0);
  return { opsPerSec: round(samples.length / (ms / 1000), 1), ...latency(samples) };
}

/**
 * Measures an HTTP call (and optionally a second endpoint) and its in-process ceiling in `rounds`
 * alternating slices, so that load from elsewhere on a shared machine falls on all of them alike.
 */
async function interleaved(
  o: { concurrency: number; warmupMs: number; durationMs: number; inProcessMs: number; rounds: number },
  call: () => Promise<Res>,
  fn: () => unknown,
  other?: () => Promise<Res>,
): Promise<{ http: LoadResult; inProcess: InProcess; other?: LoadResult }> {
  const h: Slice[] = [];
  const b: Slice[] = [];
  const p: Array<{ samples: number[]; elapsedMs: number }> = [];
  for (let r = 0; r < o.rounds; r++) {
    const warm = r === 0 ? o.warmupMs : 100;
    h.push(
      await load(call, {
        concurrency: o.concurrency,
        warmupMs: warm,
        durationMs: o.durationMs / o.rounds,
        ok: http200,
      }),
    );
    if (other)
      b.push(
        await load(other, {
          concurrency: o.concurrency,
          warmupMs: warm,
          durationMs: o.durationMs / o.rounds,
          ok: http200,
        }),
      );
    p.push(inProcess(fn, r === 0 ? Math.min(o.warmupMs, 500) : 20, o.inProcessMs / o.rounds));
  }
  return { http: summarize(h), inProcess: summarizeInProcess(p), ...(other ? { other: summarize(b) } : {}) };
}

// ---------------------------------------------------------------------------------------------

interface Case {
  id: string;
  label: string;
  /** Crypto operations per request (for the batch). */
  items: number;
  http: LoadResult;
  inProcess: InProcess;
  /** HTTP requests/s × items ÷ in-process operations/s (per item for the batch). */
  httpOverInProcess: number;
}

export async function main({ json, args }: BenchOptions): Promise<void> {
  const smoke = isSmoke(args);
  const durationMs = option(args, 'duration', 3, 1.5) * 1000;
  const warmupMs = option(args, 'warmup', 1, 0.2) * 1000;
  const checks = new Checks();
  const concurrency = Math.floor(option(args, 'concurrency', 16));
  const forced = args.includes('--dist') ? 'dist' : args.includes('--tsx') ? 'tsx' : undefined;
  const log = (s: string) => {
    if (!json) console.error(s);
  };
  const began = performance.now();
  const loadBefore = round(loadavg()[0]!, 2);

  const logDir = mkdtempSync(join(tmpdir(), 'keyward-bench-api-'));
  const rootToken = 'kwt_' + randomBytes(32).toString('base64url');
  const { mode, args: entry } = keywardEntry(forced);
  const started: Child[] = [];
  const clients: Array<Client | LoadClient> = [];
  try {
    log(`starting the dev server (${mode}) and the bare Koa endpoint...`);
    const both = await Promise.allSettled([
      startChild(
        'keyward',
        [...entry, 'server', '--dev', '--dev-root-token', rootToken, '--listen', '127.0.0.1:0', '--json'],
        logDir,
      ),
      startChild('bare', ['--import', './scripts/register-ts.mjs', 'bench/helpers/bare-aead-server.ts'], logDir),
    ]);
    for (const r of both) if (r.status === 'fulfilled') started.push(r.value);
    for (const r of both) if (r.status === 'rejected') throw r.reason;
    const [keyward, bare] = started as [Child, Child];

    // Setup: keys (root token) and an app-role token for the data plane.
    const admin = new Client(keyward.addr, 4, rootToken);
    clients.push(admin);
    const { token: appToken } = await admin.json('POST', '/v1/auth/tokens', {
      principal: 'bench-app',
      roles: ['app'],
      ttl: '1h',
    });
    const KEYS: Record<string, KeyType> = {
      'bench-aes': 'aes256-gcm',
      'bench-ed25519': 'ed25519',
      'bench-p256': 'ecdsa-p256',
      'bench-mldsa65': 'ml-dsa-65',
      'bench-mlkem768': 'ml-kem-768',
    };
    const info: Record<string, any> = {};
    for (const [name, type] of Object.entries(KEYS)) info[name] = await admin.json('POST', '/v1/keys', { name, type });
    const kemPublic = kw.importPublicKey('ml-kem-768', info['bench-mlkem768'].versions[0].publicKey as string);
    const kemEncapsulation = kw.encapsulate('ml-kem-768', kemPublic);
    const kemCiphertext = kemEncapsulation.ciphertext;

    const plaintext = new Uint8Array(randomBytes(1024));
    const message = new Uint8Array(randomBytes(1024));
    const b64 = (u: Uint8Array) => Buffer.from(u).toString('base64');
    const body = (v: unknown) => Buffer.from(JSON.stringify(v));

    // In-process ceilings: the crypto core's functions on fresh material of the same types.
    const aes = kw.generateKey('aes256-gcm').private;
    const keyId = 'key_' + randomBytes(12).toString('hex');
    const enc = () => kw.encrypt({ type: 'aes256-gcm', key: aes, keyId, version: 1, plaintext });
    const ed = kw.generateKey('ed25519').private;
    const p256 = kw.generateKey('ecdsa-p256').private;
    const mldsa = kw.generateKey('ml-dsa-65').private;
    const mlkem = kw.generateKey('ml-kem-768');
    const mlkemCt = kw.encapsulate('ml-kem-768', mlkem.public!).ciphertext;

    const app = loadClient(args, keyward.addr, concurrency, appToken);
    const bareClient = loadClient(args, bare.addr, concurrency);
    clients.push(app, bareClient);
    const encryptBody = body({ plaintext: b64(plaintext) });
    const signBody = body({ message: b64(message) });
    const batchBody = body({ batch: Array.from({ length: 100 }, () => ({ plaintext: b64(plaintext) })) });
    const decapBody = body({ ciphertext: b64(kemCiphertext) });

    // Sanity: every call answers what it should before it is timed.
    const check = async (path: string, b: Buffer, ok: (v: any) => boolean, c = app) => {
      const r = await c.send('POST', path, b);
      const v = JSON.parse(r.body.toString('utf8'));
      if (r.status !== 200 || !ok(v))
        throw new Error(`POST ${path} → ${r.status}: ${r.body.toString('utf8').slice(0, 300)}`);
    };
    await check(
      '/v1/keys/bench-aes/encrypt',
      encryptBody,
      (v) => typeof v.ciphertext === 'string' && v.ciphertext.startsWith('kw:v1:'),
    );
    await check(
      '/encrypt',
      encryptBody,
      (v) => typeof v.ciphertext === 'string' && v.ciphertext.startsWith('kw:v1:'),
      bareClient,
    );
    await check('/v1/keys/bench-ed25519/sign', signBody, (v) => typeof v.signature === 'string');
    await check('/v1/keys/bench-mldsa65/sign', signBody, (v) => typeof v.signature === 'string');
    await check(
      '/v1/keys/bench-aes/encrypt',
      batchBody,
      (v) =>
        Array.isArray(v.batch) && v.batch.length === 100 && v.batch.every((i: any) => typeof i.ciphertext === 'string'),
    );
    const decap = await app.send('POST', '/v1/keys/bench-mlkem768/decapsulate', decapBody);
    if (
      decap.status !== 200 ||
      JSON.parse(decap.body.toString('utf8')).sharedSecret !== b64(kemEncapsulation.sharedSecret)
    )
      throw new Error('decapsulate answered a shared secret other than the one encapsulated here');

    const iopts = {
      concurrency,
      warmupMs,
      durationMs,
      inProcessMs: smoke ? 150 : Math.max(900, Math.round(durationMs * 0.6)),
      rounds: 3,
    };
    const post = (c: Client | LoadClient, path: string, b: Buffer) => () => c.send('POST', path, b);
    type CaseId =
      'encrypt1k' | 'ed25519Sign' | 'ecdsaP256Sign' | 'mlDsa65Sign' | 'mlKem768Decapsulate' | 'batch100Encrypt1k';
    const http = {} as Record<CaseId, LoadResult>;
    const ceilings = {} as Record<CaseId, InProcess>;
    const measure = async (
      id: CaseId,
      what: string,
      call: () => Promise<Res>,
      fn: () => unknown,
      other?: () => Promise<Res>,
    ) => {
      log(`${what}...`);
      const r = await interleaved(
        id === 'mlDsa65Sign' && !smoke ? { ...iopts, inProcessMs: Math.max(iopts.inProcessMs, 2000) } : iopts,
        call,
        fn,
        other,
      );
      http[id] = r.http;
      ceilings[id] = r.inProcess;
      checks.noErrors(`${what} (HTTP)`, r.http);
      if (r.other) checks.noErrors(`${what} (the other endpoint)`, r.other);
      return r.other;
    };
    log(
      `${concurrency} requests in flight, ${durationMs / 1000} s per case in ${iopts.rounds} slices alternating with the in-process ceiling`,
    );
    // Both servers are fresh: their first seconds of load also pay for start-up work (V8 compiling
    // the hot path on its helper threads, the heap and PGlite's files growing: about 1 s of the dev
    // server's CPU, measured by thread), which would land in the first window measured (our own
    // client's), in its requests/s and in its CPU per request, and not in autocannon's later one.
    // So each gets the same load first, outside every window.
    const settleMs = option(args, 'settle', 3, 0.3) * 1000;
    log(`settling both servers (${settleMs / 1000} s of 1 KiB encrypts each, not measured)...`);
    for (const call of [
      post(app, '/v1/keys/bench-aes/encrypt', encryptBody),
      post(bareClient, '/encrypt', encryptBody),
    ])
      await load(call, { concurrency, warmupMs: 0, durationMs: settleMs, ok: http200 });
    const counters0 = await serverCounters(admin);
    const bareEncrypt = (await measure(
      'encrypt1k',
      '1 KiB encrypt, next to the bare Koa endpoint',
      post(app, '/v1/keys/bench-aes/encrypt', encryptBody),
      enc,
      post(bareClient, '/encrypt', encryptBody),
    ))!;

    const counters1 = await serverCounters(admin);
    // The same encrypt under autocannon: keyward, bare, bare, keyward.
    log(`1 KiB encrypt under autocannon -c ${concurrency}, next to the bare endpoint...`);
    const cannonS = durationMs / 2 / 1000;
    const cannonOpts = (token?: string) => ({
      connections: concurrency,
      method: 'POST' as const,
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: encryptBody,
    });
    const keywardUrl = new URL('/v1/keys/bench-aes/encrypt', keyward.addr).toString();
    const bareUrl = new URL('/encrypt', bare.addr).toString();
    await cannon(keywardUrl, { ...cannonOpts(appToken), seconds: Math.min(1, warmupMs / 1000) });
    await cannon(bareUrl, { ...cannonOpts(), seconds: Math.min(1, warmupMs / 1000) });
    const cK: CannonSlice[] = [];
    const cB: CannonSlice[] = [];
    const counters2 = await serverCounters(admin);
    for (const side of ['keyward', 'bare', 'bare', 'keyward'] as const) {
      if (side === 'keyward') cK.push(await cannon(keywardUrl, { ...cannonOpts(appToken), seconds: cannonS }));
      else cB.push(await cannon(bareUrl, { ...cannonOpts(), seconds: cannonS }));
    }
    const counters3 = await serverCounters(admin);
    const cannonKeyward = summarizeCannon(cK);
    const cannonBare = summarizeCannon(cB);
    checks.noErrors('autocannon, full pipeline encrypt', cannonKeyward);
    checks.noErrors('autocannon, bare endpoint encrypt', cannonBare);
    checks.that(cannonKeyward.completed > 0 && cannonBare.completed > 0, 'autocannon: no request completed');
    const cannonRatio = round(cannonKeyward.rps / Math.max(cannonBare.rps, 1e-9), 3);
    const encryptServer = serverSide(counters0, counters1);
    const cannonServer = serverSide(counters2, counters3);

    bareClient.close();
    await bare.stop();
    await measure('ed25519Sign', 'Ed25519 sign', post(app, '/v1/keys/bench-ed25519/sign', signBody), () =>
      kw.sign('ed25519', ed, message),
    );
    await measure('ecdsaP256Sign', 'ECDSA-P256 sign', post(app, '/v1/keys/bench-p256/sign', signBody), () =>
      kw.sign('ecdsa-p256', p256, message),
    );
    await measure('mlDsa65Sign', 'ML-DSA-65 sign', post(app, '/v1/keys/bench-mldsa65/sign', signBody), () =>
      kw.sign('ml-dsa-65', mldsa, message),
    );
    await measure(
      'mlKem768Decapsulate',
      'ML-KEM-768 decapsulate',
      post(app, '/v1/keys/bench-mlkem768/decapsulate', decapBody),
      () => kw.decapsulate('ml-kem-768', mlkem.private, mlkemCt),
    );
    await measure(
      'batch100Encrypt1k',
      'batch of 100 1 KiB encrypts',
      post(app, '/v1/keys/bench-aes/encrypt', batchBody),
      () => {
        for (let i = 0; i < 100; i++) enc();
      },
    );

    // Health while SLH-DSA-SHA2-128s signatures run on the pool.
    log('SLH-DSA-SHA2-128s key (keygen takes seconds)...');
    await admin.json('POST', '/v1/keys', { name: 'bench-slh128s', type: 'slh-dsa-sha2-128s' });
    const probe = new Client(keyward.addr, 1, appToken);
    const probeEnc = new Client(keyward.addr, 1, appToken);
    clients.push(probe, probeEnc);
    const health = () => probe.send('GET', '/v1/sys/health');
    const encOnce = () => probeEnc.send('POST', '/v1/keys/bench-aes/encrypt', encryptBody);
    const probeMs = smoke ? 600 : Math.max(3000, durationMs * 1.5);
    log('health and encrypt probes on the idle server...');
    await paced(health, 10, 300);
    const [idleHealth, idleEncrypt] = await Promise.all([paced(health, 10, probeMs), paced(encOnce, 20, probeMs)]);
    // Keep `slowSigns` signatures in flight for the whole window: each signer sends the next one as
    // soon as its last one returns. What is still running at the end is abandoned (the server is killed).
    const slowSigns = Math.floor(option(args, 'slow-signs', availableParallelism()));
    log(`health and encrypt probes while ${slowSigns} SLH-DSA-SHA2-128s signatures keep running...`);
    const signer = new Client(keyward.addr, slowSigns, appToken);
    clients.push(signer);
    const slowSign = { completed: 0, msTotal: 0, failure: undefined as string | undefined };
    let signing = true;
    const signerLoop = async () => {
      while (signing) {
        const s = performance.now();
        const r = await signer
          .send('POST', '/v1/keys/bench-slh128s/sign', signBody, appToken, 600_000)
          .catch(() => undefined);
        if (!r || !signing) return; // killed, or the window is over
        if (r.status !== 200) {
          slowSign.failure ??= `${r.status} ${r.body.toString('utf8').slice(0, 200)}`;
          return;
        }
        slowSign.completed++;
        slowSign.msTotal += performance.now() - s;
      }
    };
    for (let i = 0; i < slowSigns; i++) void signerLoop();
    await new Promise((r) => setTimeout(r, 300)); // they reach the workers
    const [slowHealth, slowEncrypt] = await Promise.all([paced(health, 10, probeMs), paced(encOnce, 20, probeMs)]);
    signing = false;
    checks.that(!slowSign.failure, `SLH-DSA-SHA2-128s sign failed: ${slowSign.failure}`);
    for (const [what, p] of [
      ['health probe, idle', idleHealth],
      ['encrypt probe, idle', idleEncrypt],
      ['health probe during slow signs', slowHealth],
      ['encrypt probe during slow signs', slowEncrypt],
    ] as const)
      checks.that(p.errors === 0 && p.n > 0, `${what}: ${p.errors} failed, ${p.n} answered`);

    // Figures.
    const labels: Record<CaseId, [string, number]> = {
      encrypt1k: ['1 KiB encrypt (aes256-gcm)', 1],
      ed25519Sign: ['Ed25519 sign (1 KiB)', 1],
      ecdsaP256Sign: ['ECDSA-P256 sign (1 KiB)', 1],
      mlDsa65Sign: ['ML-DSA-65 sign (1 KiB)', 1],
      mlKem768Decapsulate: ['ML-KEM-768 decapsulate', 1],
      batch100Encrypt1k: ['batch of 100 × 1 KiB encrypt', 100],
    };
    const cases: Case[] = (Object.keys(labels) as CaseId[]).map((id) => {
      const [label, items] = labels[id];
      const inProc = ceilings[id];
      return {
        id,
        label,
        items,
        http: http[id],
        inProcess: inProc,
        httpOverInProcess: round(http[id].rps / inProc.opsPerSec, 3),
      };
    });
    const encryptVsBare = round(http.encrypt1k.rps / bareEncrypt.rps, 3);
    const mlDsa = round(http.mlDsa65Sign.rps / ceilings.mlDsa65Sign.opsPerSec, 3);
    const status = (met: boolean) => (met ? 'met' : 'missed');
    const figures = {
      smoke,
      server: mode,
      cores: availableParallelism(),
      concurrency,
      warmupMs,
      durationMs,
      cases: Object.fromEntries(
        cases.map((c) => [c.id, { http: c.http, inProcess: c.inProcess, httpOverInProcess: c.httpOverInProcess }]),
      ),
      bareEncrypt1k: bareEncrypt,
      encryptPipelineOverBare: encryptVsBare,
      encryptServerSide: encryptServer,
      autocannon: {
        version: 8,
        connections: concurrency,
        sliceS: cannonS,
        sliceOrder: 'keyward,bare,bare,keyward',
        keyward: cannonKeyward,
        bare: cannonBare,
        pipelineOverBare: cannonRatio,
        serverSide: cannonServer,
      },
      underSlowSigning: {
        slowSigns,
        probeWindowS: round(probeMs / 1000, 1),
        signsCompletedInWindow: slowSign.completed,
        signMsMean: slowSign.completed ? round(slowSign.msTotal / slowSign.completed, 0) : null,
        healthIdle: idleHealth,
        healthDuringSlowSigns: slowHealth,
        encryptIdle: idleEncrypt,
        encryptDuringSlowSigns: slowEncrypt,
      },
      targets: {
        encryptPipelineOverBare: {
          value: encryptVsBare,
          target: `>= ${TARGETS.encryptVsBare}`,
          status: status(encryptVsBare >= TARGETS.encryptVsBare),
        },
        encryptPipelineOverBareAutocannon: {
          value: cannonRatio,
          target: `>= ${TARGETS.encryptVsBare}`,
          status: status(cannonRatio >= TARGETS.encryptVsBare),
        },
        mlDsa65HttpOverInProcessSingleThread: {
          value: mlDsa,
          target: `>= ${TARGETS.mlDsa65VsInProcess}`,
          status: status(mlDsa >= TARGETS.mlDsa65VsInProcess),
        },
        healthP99DuringSlowSignsMs: {
          value: slowHealth.p99Ms,
          target: `<= ${TARGETS.healthP99UnderSlowSignMs}`,
          status: status(slowHealth.p99Ms <= TARGETS.healthP99UnderSlowSignMs),
        },
      },
      loadAverage1m: { before: loadBefore, after: round(loadavg()[0]!, 2) },
      elapsedS: round((performance.now() - began) / 1000, 1),
    };

    if (json) {
      console.log(JSON.stringify({ ...figures, checks }));
      checks.assert();
      return;
    }
    console.log(
      `Keyward dev server (${mode}) on loopback, ${concurrency} requests in flight, ${durationMs / 1000} s per case after ${warmupMs / 1000} s warm-up; ${figures.cores} cores.\n`,
    );
    console.log(
      table(
        cases.map((c) => ({
          operation: c.label,
          'HTTP req/s': c.http.rps,
          'HTTP p50 ms': c.http.p50Ms,
          'HTTP p99 ms': c.http.p99Ms,
          errors: String(c.http.errors),
          'in-process op/s': c.inProcess.opsPerSec,
          'in-process p50 ms': c.inProcess.p50Ms,
          'HTTP / in-process': c.httpOverInProcess,
        })),
      ),
    );
    console.log('(batch: one request or in-process op is 100 encrypts)\n');
    console.log(
      table([
        {
          endpoint: 'full pipeline POST /v1/keys/:name/encrypt',
          'req/s': http.encrypt1k.rps,
          'p50 ms': http.encrypt1k.p50Ms,
          'p99 ms': http.encrypt1k.p99Ms,
        },
        {
          endpoint: 'bare Koa POST /encrypt (same AES-GCM, no auth/policy/audit)',
          'req/s': bareEncrypt.rps,
          'p50 ms': bareEncrypt.p50Ms,
          'p99 ms': bareEncrypt.p99Ms,
        },
      ]),
    );
    console.log(`\npipeline / bare: ${encryptVsBare}`);
    console.log(
      `(dev server: ${encryptServer.recordsPerCommit} records per group commit, ${encryptServer.cpuUsPerRequest} µs of its CPU per request)\n`,
    );
    console.log(
      `The same under autocannon 8 (-c ${concurrency}; slices keyward, bare, bare, keyward of ${cannonS} s):`,
    );
    console.log(
      table([
        {
          endpoint: 'full pipeline POST /v1/keys/:name/encrypt',
          'req/s': cannonKeyward.rps,
          'p50 ms': cannonKeyward.p50Ms,
          'p99 ms': cannonKeyward.p99Ms,
          errors: String(cannonKeyward.errors),
        },
        {
          endpoint: 'bare Koa POST /encrypt',
          'req/s': cannonBare.rps,
          'p50 ms': cannonBare.p50Ms,
          'p99 ms': cannonBare.p99Ms,
          errors: String(cannonBare.errors),
        },
      ]),
    );
    console.log(`\npipeline / bare (autocannon): ${cannonRatio}`);
    console.log(
      `(dev server: ${cannonServer.recordsPerCommit} records per group commit, ${cannonServer.cpuUsPerRequest} µs of its CPU per request)\n`,
    );
    console.log(
      table([
        {
          probe: 'GET /v1/sys/health, idle',
          'p50 ms': idleHealth.p50Ms,
          'p99 ms': idleHealth.p99Ms,
          'max ms': idleHealth.maxMs,
          n: idleHealth.n,
        },
        {
          probe: `GET /v1/sys/health, ${slowSigns} SLH-DSA-128s signs in flight`,
          'p50 ms': slowHealth.p50Ms,
          'p99 ms': slowHealth.p99Ms,
          'max ms': slowHealth.maxMs,
          n: slowHealth.n,
        },
        {
          probe: '1 KiB encrypt, idle',
          'p50 ms': idleEncrypt.p50Ms,
          'p99 ms': idleEncrypt.p99Ms,
          'max ms': idleEncrypt.maxMs,
          n: idleEncrypt.n,
        },
        {
          probe: `1 KiB encrypt, ${slowSigns} SLH-DSA-128s signs in flight`,
          'p50 ms': slowEncrypt.p50Ms,
          'p99 ms': slowEncrypt.p99Ms,
          'max ms': slowEncrypt.maxMs,
          n: slowEncrypt.n,
        },
      ]),
    );
    const signNote = slowSign.completed
      ? `; ${slowSign.completed} completed, ${figures.underSlowSigning.signMsMean} ms each over HTTP`
      : '; none completed in the window';
    console.log(
      `(${slowSigns} SLH-DSA-SHA2-128s signatures kept in flight through the ${figures.underSlowSigning.probeWindowS} s window${signNote})\n`,
    );
    console.log('targets (issues 4 and 14):');
    console.log(
      `  encrypt, full pipeline / bare endpoint      ${encryptVsBare.toFixed(3)}  (target ≥ ${TARGETS.encryptVsBare})  ${figures.targets.encryptPipelineOverBare.status}`,
    );
    console.log(
      `  the same under autocannon                   ${cannonRatio.toFixed(3)}  (target ≥ ${TARGETS.encryptVsBare})  ${figures.targets.encryptPipelineOverBareAutocannon.status}`,
    );
    console.log(
      `  ML-DSA-65 sign, HTTP / in-process 1 thread  ${mlDsa.toFixed(3)}  (target ≥ ${TARGETS.mlDsa65VsInProcess})  ${figures.targets.mlDsa65HttpOverInProcessSingleThread.status}`,
    );
    console.log(
      `  health p99 during slow signing              ${slowHealth.p99Ms.toFixed(1)} ms  (target ≤ ${TARGETS.healthP99UnderSlowSignMs} ms)  ${figures.targets.healthP99DuringSlowSignsMs.status}`,
    );
    const busy = Math.max(figures.loadAverage1m.before, figures.loadAverage1m.after) > figures.cores;
    console.log(
      `\n(${figures.elapsedS} s; 1-minute load average ${figures.loadAverage1m.before} before, ${figures.loadAverage1m.after} after${busy ? ` — more than ${figures.cores} cores: other work shared the machine, figures are noisy` : ''})`,
    );
    checks.assert();
  } finally {
    for (const c of clients) c.close();
    await Promise.all(started.map((c) => c.stop()));
    rmSync(logDir, { recursive: true, force: true });
  }
}
