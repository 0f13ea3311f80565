/**
 * bench/backup: what a backup costs the requests it runs beside, on PGlite (docs/backup.md; issue 14).
 *
 * A server over an in-memory PGlite store is initialized and filled with `--records` audit records
 * (1 KiB aes256-gcm encrypts over HTTP, 16 in flight: each request one record). Then, in slices
 * alternating one transaction / sliced / sliced / one transaction, a snapshot of the whole store is taken
 * (engine/store/backup.ts `snapshotTables`, rows hashed as writeBackup hashes them) while 4 probe
 * loops send small encrypts: the longest probe latency during the snapshot is the stall a request
 * sees. "one transaction" reads every table in it, holding PGlite's one connection (what every
 * PGlite backup did before); "sliced" reads the append-only audit records after it, page by page
 * below the head the transaction read (what a PGlite backup does now). Last, one real `POST /v1/sys/backup`
 * gives the file's size on the wire (gzip) beside the body's uncompressed length.
 *
 * Checks (exit 1): both modes see the same tables and row counts; the sliced snapshot's longest stall is
 * below the one-transaction snapshot's duration.
 *
 * Options: --records N (default 100000; --smoke 2000), --json.
 */
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { loadavg } from 'node:os';
import { generateHolderKey, openShard, sealSubmission, toPublicKeyFile } from '../ceremony/index.js';
import { Hsm } from '../engine/hsm.js';
import { fromBase64 } from '../lib/bytes.js';
import { openStore } from '../engine/store/index.js';
import { snapshotTables } from '../engine/store/backup.js';
import { statusFor } from '../server/errors.js';
import { createLogger } from '../server/log.js';
import { listen } from '../server/main.js';
import { BenchCheckFailed, isSmoke, option, table } from './util.js';
import type { BenchOptions } from './util.js';

const round = (x: number, d = 0) => Math.round(x * 10 ** d) / 10 ** d;

export async function main(opts: BenchOptions): Promise<void> {
  const smoke = isSmoke(opts.args);
  const records = option(opts.args, 'records', 100_000, 2_000);
  const log = (s: string) => (opts.json ? undefined : console.log(s));
  const store = await openStore({ memory: true });
  const hsm = await Hsm.open({ store, statusOf: statusFor });
  const server = await listen({
    hsm,
    log: createLogger({ write: () => undefined }),
    listen: '127.0.0.1:0',
    ceremonyRate: { burst: 10_000, perMinute: 60_000 },
  });
  try {
    const call = async (method: string, path: string, body?: unknown, token?: string) => {
      const res = await fetch(server.url + path, {
        method,
        headers: {
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      const text = await res.text();
      if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 200)}`);
      return res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text;
    };
    const holders = await Promise.all(['alice', 'bob'].map((n) => generateHolderKey(n)));
    const init = await call('POST', '/v1/sys/init', { holders: holders.map((h) => toPublicKeyFile(h)), threshold: 2 });
    for (const i of [0, 1]) {
      const st = await call('GET', '/v1/sys/seal-status');
      const shard = init.shards[i];
      await call(
        'POST',
        '/v1/sys/unseal',
        await sealSubmission({
          purpose: 'unseal',
          sessionPublicKey: fromBase64(st.sessionPublicKey, 'sessionPublicKey'),
          nonce: st.nonce,
          ceremonyId: shard.ceremonyId,
          index: shard.index,
          holder: shard.holder,
          share: await openShard(shard, holders[i]!),
        }),
      );
    }
    const root: string = init.rootToken;
    await call('POST', '/v1/keys', { name: 'k', type: 'aes256-gcm' }, root);
    const plaintext = Buffer.alloc(1024, 7).toString('base64');
    const t0 = performance.now();
    let sent = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (sent < records) {
          sent++;
          await call('POST', '/v1/keys/k/encrypt', { plaintext }, root);
        }
      }),
    );
    log(`filled ${records} records in ${round((performance.now() - t0) / 1000, 1)} s`);

    const small = { plaintext: Buffer.from('probe').toString('base64') };
    const snapshot = async (inPlace: boolean) => {
      let stop = false;
      const lat: number[] = [];
      const probes = Array.from({ length: 4 }, async () => {
        while (!stop) {
          const a = performance.now();
          await call('POST', '/v1/keys/k/encrypt', small, root);
          lat.push(performance.now() - a);
        }
      });
      await new Promise((r) => setTimeout(r, 200));
      const before = lat.length;
      const a = performance.now();
      const hash = createHash('sha256');
      const snap = await snapshotTables(
        store.db,
        {
          header: async () => undefined,
          table: (n) => void hash.update(`@${n}\n`),
          row: (j) => void hash.update(j + '\n'),
        },
        { oneTransaction: inPlace },
      );
      const ms = performance.now() - a;
      const during = lat.slice(before);
      stop = true;
      await Promise.all(probes);
      // A probe in flight when the snapshot ended is in `lat` after it: take the longest overall.
      const worst = Math.max(...lat.slice(before));
      const sorted = during.slice().sort((x, y) => x - y);
      return {
        mode: inPlace ? 'one transaction' : 'sliced',
        snapshotMs: round(ms),
        requests: during.length,
        p50Ms: round(sorted[Math.floor(sorted.length / 2)] ?? 0, 1),
        maxMs: round(worst, 1),
        tables: snap.tables.map((t) => `${t.name}:${t.rows}`).join(','),
      };
    };
    const rows = [];
    for (const inPlace of [true, false, false, true]) rows.push(await snapshot(inPlace));
    // The probes add records between slices: the tables must agree, and each count never shrink.
    const counts = rows.map((r) =>
      r.tables
        .split(',')
        .sort()
        .map((t) => t.split(':')),
    );
    for (let i = 1; i < counts.length; i++)
      if (
        counts[i]!.map((t) => t[0]).join() !== counts[0]!.map((t) => t[0]).join() ||
        counts[i]!.some((t, j) => Number(t[1]) < Number(counts[i - 1]![j]![1]))
      )
        throw new BenchCheckFailed(['the two modes saw different tables, or fewer rows in a later slice']);
    const auditRows = rows[0]!.tables.match(/audit_log:(\d+)/)?.[1];

    // One real backup through the route: the wire size (gzip) and the body's own length.
    const res = await fetch(server.url + '/v1/sys/backup', {
      method: 'POST',
      // As the CLI asks: gzip (without it the server answers the plain file, docs/backup.md).
      headers: { authorization: `Bearer ${root}`, 'content-type': 'application/json', accept: 'application/gzip' },
      body: '{}',
    });
    const wire = Buffer.from(await res.arrayBuffer());
    const { readBackupHeadFromBuffer } = await import('./helpers/backup-head.js');
    const header = await readBackupHeadFromBuffer(wire);
    const figures = {
      records,
      auditRows: Number(auditRows ?? 0),
      load: loadavg().map((x) => round(x, 2)),
      slices: rows.map(({ tables: _t, ...r }) => r),
      backup: { status: res.status, wireBytes: wire.length, bodyBytes: header.body.bytes },
    };
    if (opts.json) console.log(JSON.stringify(figures));
    else {
      console.log(table(figures.slices));
      console.log(
        `backup file: ${figures.backup.wireBytes} bytes on the wire, ${figures.backup.bodyBytes} bytes of body uncompressed` +
          ` (load ${figures.load.join(' ')})`,
      );
    }
    const inPlace = rows.filter((r) => r.mode === 'one transaction');
    const copy = rows.filter((r) => r.mode === 'sliced');
    if (!smoke && Math.max(...copy.map((r) => r.maxMs)) >= Math.min(...inPlace.map((r) => r.snapshotMs)))
      throw new BenchCheckFailed([
        'a request waited as long during a sliced snapshot as a one-transaction snapshot lasts',
      ]);
  } finally {
    await server.close();
    await hsm.close();
  }
}
