/**
 * Fault test (issue 13; docs/operations.md): the server process killed with SIGKILL, restarted and
 * unsealed, and nothing it acknowledged is lost.
 *
 * 1. Under load — 16 concurrent 1 KiB encrypts from an app token — a real `keyward server` is killed
 *    three times, each time restarted on the same storage and unsealed with the dev share; afterwards
 *    every acknowledged encrypt (200 with a ciphertext) decrypts to its plaintext, has its audit
 *    record (operation encrypt, status 200, by request id), and `keyward audit verify` passes. On
 *    PostgreSQL (a cluster of its own, fsync on) and on PGlite (a data directory).
 * 2. PGlite, killed mid-write: a burst of key creations (admin) and encrypts on the new keys (app),
 *    killed at a random point, a few times; each time the data directory is reopened by a new server
 *    and verified: every acknowledged key exists, every acknowledged ciphertext decrypts, every
 *    acknowledged request has its audit record, and `keyward audit verify` passes.
 * The figures (acknowledged / lost / unaudited) are printed as `# fault figures {...}`. Not part of
 * `npm test`: `npm run test:faults` (and .ci/run) runs it. KEYWARD_FAULT_SEED fixes the kill points.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import postgres from 'postgres';
import { sealSubmission } from '../../ceremony/index.js';
import { CLI_ENTRY, runCli } from '../helpers/cli.js';
import { PgCluster, findPgBin, freePort } from './pg-cluster.js';
import { jsonCall } from './http.js';

const WORKERS = 16;
const KILLS = Number(process.env.KEYWARD_FAULT_KILLS ?? 3);
const LOAD_MS = 1500;
const SEED = Number(process.env.KEYWARD_FAULT_SEED ?? Date.now() % 1_000_000);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** A small seeded generator (mulberry32), so a failing run's kill points can be replayed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Acked {
  reqId: string;
  key: string;
  ciphertext: string;
  digest: string;
}

/** A `keyward server` child on one storage, killed and restarted on the same port. */
class ServerProcess {
  child: ChildProcess | undefined;
  base = '';
  root = '';
  share = '';
  err = '';
  readonly #storage: string[];
  #port = 0;

  constructor(storage: string[]) {
    this.#storage = storage;
  }

  /** Starts the server; `dev` runs the 1-of-1 ceremony (the first start), otherwise it comes up sealed. */
  async start(dev: boolean): Promise<void> {
    this.#port ||= await freePort();
    // The built binary when dist is fresh (as CI has it), else the source entry.
    const args = [
      ...CLI_ENTRY,
      'server',
      ...(dev ? ['--dev'] : []),
      '--json',
      ...this.#storage,
      '--listen',
      `127.0.0.1:${this.#port}`,
      '--log-level',
      'warn',
    ];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.err = '';
    child.stderr!.on('data', (d: Buffer) => (this.err += d.toString()));
    let out = '';
    const started = await new Promise<{ addr: string; rootToken?: string; unsealShare?: string; sealed?: boolean }>(
      (resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`server did not start: ${this.err}`)), 60_000);
        child.stdout!.on('data', (d: Buffer) => {
          out += d.toString();
          try {
            const v = JSON.parse(out) as { addr: string };
            clearTimeout(t);
            resolve(v);
          } catch {
            /* not complete yet */
          }
        });
        child.once('exit', (code, signal) =>
          reject(new Error(`server exited (${code} ${signal}) before it listened: ${this.err}`)),
        );
      },
    );
    this.base = started.addr;
    if (dev) {
      this.root = started.rootToken!;
      this.share = started.unsealShare!;
    } else {
      assert.equal(started.sealed, true, 'a restarted server comes up sealed');
      await this.unseal();
    }
  }

  /** What a holder does: the dev share, sealed to the session key, submitted over HTTP. */
  async unseal(): Promise<void> {
    const status = (await (await fetch(this.base + '/v1/sys/seal-status')).json()) as {
      nonce: string;
      sessionPublicKey: string;
      ceremonyId: string;
    };
    const submission = await sealSubmission({
      purpose: 'unseal',
      sessionPublicKey: new Uint8Array(Buffer.from(status.sessionPublicKey, 'base64')),
      nonce: status.nonce,
      ceremonyId: status.ceremonyId,
      index: 0,
      holder: 'dev',
      share: new Uint8Array(Buffer.from(this.share, 'base64')),
    });
    const r = await fetch(this.base + '/v1/sys/unseal', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(submission),
    });
    const body = (await r.json()) as { sealed: boolean };
    assert.equal(r.status, 200, JSON.stringify(body));
    assert.equal(body.sealed, false, 'unsealed by the one share');
  }

  /** SIGKILL: no shutdown hook runs, whatever was in flight is cut off. */
  async kill(): Promise<void> {
    const child = this.child!;
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`the server had died: ${this.err}`);
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await gone;
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await Promise.race([gone, sleep(10_000).then(() => child.kill('SIGKILL'))]);
  }

  call(method: string, path: string, body?: unknown, token = this.root, timeoutMs = 30_000) {
    return jsonCall(this.base, method, path, body, token, timeoutMs);
  }

  async appToken(): Promise<string> {
    const r = await this.call('POST', '/v1/auth/tokens', { principal: 'load', roles: ['app'], ttl: '1h' });
    assert.equal(r.status, 201, r.text);
    return r.json().token as string;
  }

  /** Every audit record's request id → [operation, status], read over HTTP. */
  async auditIndex(): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (let from = 0; ;) {
      const r = await this.call('GET', `/v1/audit/records?from=${from}&limit=1000`);
      assert.equal(r.status, 200, r.text);
      const page = r.json() as { records: Array<{ leaf: string }>; next: number | null };
      for (const { leaf } of page.records) {
        const rec = JSON.parse(leaf) as { requestId: string | null; operation: string; status: number };
        if (rec.requestId) out.set(rec.requestId, `${rec.operation} ${rec.status}`);
      }
      if (page.next === null) return out;
      from = page.next;
    }
  }

  /** `keyward audit verify` (the CLI, in this process) over HTTP: chain, tree and signed checkpoint. */
  async auditVerify(): Promise<{ ok: boolean; out: string }> {
    const v = await runCli(['audit', 'verify', '--json'], { KEYWARD_ADDR: this.base, KEYWARD_TOKEN: this.root });
    return { ok: v.code === 0, out: `${v.stdout}\n${v.stderr}`.trim().slice(-1500) };
  }
}

/** Decrypts every acknowledged ciphertext (16 at a time); returns the ones that did not come back. */
async function lostOf(s: ServerProcess, token: string, acked: Acked[]): Promise<string[]> {
  const lost: string[] = [];
  const queue = [...acked];
  await Promise.all(
    Array.from({ length: WORKERS }, async () => {
      for (let a = queue.pop(); a; a = queue.pop()) {
        const r = await s.call('POST', `/v1/keys/${a.key}/decrypt`, { ciphertext: a.ciphertext }, token);
        if (r.status !== 200) lost.push(`${a.reqId}: ${r.status} ${r.text.slice(0, 200)}`);
        else if (sha(Buffer.from(r.json().plaintext as string, 'base64')) !== a.digest)
          lost.push(`${a.reqId}: wrong plaintext`);
      }
    }),
  );
  return lost;
}

/** 16 workers encrypting 1 KiB until `stop()`; a refused connection (the kill) is not an acknowledgement. */
function encryptLoad(s: ServerProcess, token: string, key: string, acked: Acked[]) {
  let stop = false;
  const statuses: Record<string, number> = {};
  const worker = async () => {
    while (!stop) {
      const plain = randomBytes(1024);
      try {
        const r = await s.call('POST', `/v1/keys/${key}/encrypt`, { plaintext: plain.toString('base64') }, token);
        statuses[r.status] = (statuses[r.status] ?? 0) + 1;
        if (r.status === 200)
          acked.push({
            reqId: r.headers.get('x-request-id')!,
            key,
            ciphertext: r.json().ciphertext,
            digest: sha(plain),
          });
      } catch {
        statuses.cut = (statuses.cut ?? 0) + 1;
        await sleep(20);
      }
    }
  };
  const running = Promise.all(Array.from({ length: WORKERS }, worker));
  return {
    statuses,
    async stop() {
      stop = true;
      await running;
    },
  };
}

/** Part 1 on one storage: three kills under load, then the acknowledged-data check. */
async function killUnderLoad(label: string, storage: string[], extra: Record<string, unknown> = {}) {
  const s = new ServerProcess(storage);
  try {
    await s.start(true);
    assert.equal((await s.call('POST', '/v1/keys', { name: 'kill', type: 'aes256-gcm' })).status, 201);
    const app = await s.appToken();
    const acked: Acked[] = [];
    const statuses: Record<string, number> = {};
    const restartMs: number[] = [];
    for (let i = 0; i < KILLS; i++) {
      const load = encryptLoad(s, app, 'kill', acked);
      try {
        await sleep(LOAD_MS);
        await s.kill();
      } finally {
        // Also when the kill fails: the test must end, not keep its load going.
        await load.stop();
      }
      for (const [k, v] of Object.entries(load.statuses)) statuses[k] = (statuses[k] ?? 0) + v;
      const t0 = performance.now();
      await s.start(false);
      restartMs.push(Math.round(performance.now() - t0));
    }
    const lost = await lostOf(s, app, acked);
    const audit = await s.auditIndex();
    const unaudited = acked.filter((a) => audit.get(a.reqId) !== 'encrypt 200');
    const verify = await s.auditVerify();
    console.log(
      '# fault figures ' +
        JSON.stringify({
          test: `kill under load (${label})`,
          kills: KILLS,
          workers: WORKERS,
          statuses,
          acknowledged: acked.length,
          lost: lost.length,
          unaudited: unaudited.length,
          auditVerify: verify.ok,
          restartAndUnsealMs: restartMs,
          ...extra,
        }),
    );
    assert.equal(statuses[500] ?? 0, 0, 'no 500 under load');
    assert.ok(acked.length > 0, 'the load was acknowledged at all');
    assert.deepEqual(lost.slice(0, 5), [], `${lost.length} acknowledged encrypts do not decrypt`);
    assert.deepEqual(
      unaudited.slice(0, 5).map((a) => a.reqId),
      [],
      `${unaudited.length} acknowledged encrypts without their audit record`,
    );
    assert.ok(verify.ok, `keyward audit verify failed: ${verify.out}`);
  } finally {
    await s.stop();
  }
}

const bin = findPgBin();

describe('SIGKILL of the server under load, restart and unseal: nothing acknowledged is lost', () => {
  it(
    'on PostgreSQL (a cluster of its own, fsync on)',
    { skip: bin ? false : 'no PostgreSQL server binaries (set KEYWARD_PG_BIN)', timeout: 300_000 },
    async () => {
      const pg = await PgCluster.create(bin!);
      try {
        const sql = postgres(pg.url, { max: 1, onnotice: () => {} });
        const fsync = (await sql<Array<{ fsync: string }>>`show fsync`)[0]!.fsync;
        const sc = (await sql<Array<{ synchronous_commit: string }>>`show synchronous_commit`)[0]!.synchronous_commit;
        await sql.end({ timeout: 1 });
        assert.equal(fsync, 'on');
        await killUnderLoad('PostgreSQL', ['--database-url', pg.url], { fsync, synchronousCommit: sc });
      } finally {
        pg.destroy();
      }
    },
  );

  it('on PGlite (a data directory)', { timeout: 300_000 }, async () => {
    const dir = mkdtempSync('/tmp/keyward-fault-pglite.');
    try {
      await killUnderLoad('PGlite', ['--data-dir', dir]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('PGlite killed mid-write: the data directory reopens and verifies', () => {
  const dir = mkdtempSync('/tmp/keyward-fault-pglite-midwrite.');
  after(() => rmSync(dir, { recursive: true, force: true }));

  it(`key creations and encrypts cut at random points (seed ${SEED})`, { timeout: 300_000 }, async () => {
    const random = rng(SEED);
    const s = new ServerProcess(['--data-dir', dir]);
    const keys: Array<{ name: string; reqId: string }> = [];
    const acked: Acked[] = [];
    const killAt: number[] = [];
    const rounds: Array<{ keys: number; encrypts: number; lostKeys: number; lost: number; unaudited: number }> = [];
    let verifyOk = true;
    try {
      await s.start(true);
      let app = await s.appToken();
      for (let round = 0; round <= KILLS; round++) {
        if (round > 0) {
          // Reopened after the kill: everything acknowledged before it is there.
          await s.start(false);
          const missingKeys: string[] = [];
          for (const k of keys) {
            const r = await s.call('GET', `/v1/keys/${k.name}`);
            if (r.status !== 200) missingKeys.push(`${k.name}: ${r.status}`);
          }
          const lost = await lostOf(s, app, acked);
          const audit = await s.auditIndex();
          const unaudited = [
            ...keys.filter((k) => audit.get(k.reqId) !== 'key.create 200').map((k) => k.reqId),
            ...acked.filter((a) => audit.get(a.reqId) !== 'encrypt 200').map((a) => a.reqId),
          ];
          const verify = await s.auditVerify();
          verifyOk &&= verify.ok;
          rounds.push({
            keys: keys.length,
            encrypts: acked.length,
            lostKeys: missingKeys.length,
            lost: lost.length,
            unaudited: unaudited.length,
          });
          assert.deepEqual(missingKeys.slice(0, 5), [], `round ${round}: acknowledged keys missing`);
          assert.deepEqual(lost.slice(0, 5), [], `round ${round}: acknowledged ciphertexts lost`);
          assert.deepEqual(unaudited.slice(0, 5), [], `round ${round}: acknowledged requests without a record`);
          assert.ok(verify.ok, `round ${round}: keyward audit verify failed: ${verify.out}`);
          if (round === KILLS) break;
          app = await s.appToken();
        }
        // The burst: 8 workers create keys (admin) and encrypt under each new key (app), 8 encrypt on
        // the keys made so far; cut by SIGKILL after a random 150–1500 ms.
        let stop = false;
        const made: string[] = [];
        const creator = async (w: number) => {
          for (let i = 0; !stop; i++) {
            const name = `mw-${round}-${w}-${i}`;
            try {
              const r = await s.call('POST', '/v1/keys', { name, type: i % 2 ? 'aes256-gcm' : 'chacha20-poly1305' });
              if (r.status !== 201) continue;
              keys.push({ name, reqId: r.headers.get('x-request-id')! });
              made.push(name);
            } catch {
              return;
            }
          }
        };
        const encryptor = async () => {
          while (!stop) {
            const key = made.length ? made[Math.floor(random() * made.length)]! : undefined;
            if (!key) {
              await sleep(5);
              continue;
            }
            const plain = randomBytes(1024);
            try {
              const r = await s.call('POST', `/v1/keys/${key}/encrypt`, { plaintext: plain.toString('base64') }, app);
              if (r.status === 200)
                acked.push({
                  reqId: r.headers.get('x-request-id')!,
                  key,
                  ciphertext: r.json().ciphertext,
                  digest: sha(plain),
                });
            } catch {
              return;
            }
          }
        };
        const running = Promise.all([
          ...Array.from({ length: 8 }, (_, w) => creator(w)),
          ...Array.from({ length: 8 }, encryptor),
        ]);
        const at = Math.round(150 + random() * 1350);
        killAt.push(at);
        try {
          await sleep(at);
          await s.kill();
        } finally {
          stop = true;
          await running;
        }
      }
    } finally {
      console.log(
        '# fault figures ' +
          JSON.stringify({
            test: 'PGlite killed mid-write',
            seed: SEED,
            killAtMs: killAt,
            acknowledgedKeys: keys.length,
            acknowledgedEncrypts: acked.length,
            rounds,
            auditVerify: verifyOk,
          }),
      );
      await s.stop();
    }
  });
});
