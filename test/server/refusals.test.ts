/**
 * Floods and refusals (server/refusals.ts; docs/architecture.md, "Floods and refusals"), over real
 * HTTP from distinct loopback addresses (127.0.0.2, .3 … are distinct clients):
 *
 * - a bad-token flood from one client gets a bounded number of 401s, then 429 with Retry-After, and
 *   adds a handful of audit records whose counts account for every request; another client's good
 *   token is served and recorded one record per request throughout;
 * - every kind of refusal before the pipeline (bad JSON, wrong media type, invalid body, body too
 *   large, unknown route, wrong method, ceremony rate limit) is recorded, folded per client and
 *   code: for each code, its records plus its folded counts equal the answers sent with it (the
 *   README's claim, held);
 * - the bundle with folded records verifies offline;
 * - the folder itself on a fake sink: interval, bound on pairs, flush on close, folding off.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Agent, request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { devBootstrap } from '../../engine/dev.js';
import { auditRecordsPage } from '../../engine/audit/log/read.js';
import { verifyBundle } from '../../engine/audit/math/bundle.js';
import { parseVerifierKey } from '../../engine/audit/math/note.js';
import { decodeRecord } from '../../engine/audit/math/record.js';
import type { AuditRecord } from '../../engine/audit/math/record.js';
import type { RefusalRecord } from '../../engine/hsm.js';
import { DEFAULT_AUTH_FAILURE_RATE, Refusals } from '../../server/refusals.js';
import { startTestServer } from '../helpers/server.js';
import type { TestServer } from '../helpers/server.js';

interface Answer {
  status: number;
  code: string | undefined;
  retryAfter: string | undefined;
}

describe('refusals: bad-token floods and requests refused before the pipeline', { timeout: 120_000 }, () => {
  let s: TestServer;
  let root: string;
  const agents = new Map<string, Agent>();

  before(async () => {
    // The ceremony limiter is tight here so that its 429 is one of the refusals counted.
    s = await startTestServer({
      ceremonyRate: { burst: 2, perMinute: 1 },
      authFailureRate: DEFAULT_AUTH_FAILURE_RATE,
      bodyLimit: 4096,
    });
    root = (await devBootstrap(s.hsm)).rootToken;
    // The fold interval is the server's own (10 s, on its own timer): the tests count how many
    // intervals ended while they ran instead of hoping none did (on a loaded machine one often does).
    const refusals = s.refusals!;
    const flush = refusals.flush.bind(refusals);
    refusals.flush = () => {
      intervalsEnded++;
      return flush();
    };
  });
  after(async () => {
    for (const a of agents.values()) a.destroy();
    await s.close();
  });

  /** One request from loopback address `from`, answered with its status and error code. */
  function send(
    from: string,
    method: string,
    path: string,
    o: { token?: string; type?: string; body?: string | Buffer } = {},
  ): Promise<Answer> {
    let agent = agents.get(from);
    if (!agent) agents.set(from, (agent = new Agent({ keepAlive: true, maxSockets: 8 })));
    const url = new URL(s.url + path);
    const headers: Record<string, string> = {};
    if (o.token) headers.authorization = `Bearer ${o.token}`;
    if (o.body !== undefined) {
      headers['content-type'] = o.type ?? 'application/json';
      headers['content-length'] = String(Buffer.byteLength(o.body));
    }
    return new Promise((resolve, reject) => {
      const req = request(
        { host: url.hostname, port: url.port, path, method, headers, agent, localAddress: from },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            let code: string | undefined;
            try {
              code = JSON.parse(Buffer.concat(chunks).toString('utf8'))?.error?.code;
            } catch {
              code = undefined;
            }
            code ??= res.headers['x-keyward-error-code'] as string | undefined;
            const ra = res.headers['retry-after'];
            resolve({ status: res.statusCode!, code, retryAfter: typeof ra === 'string' ? ra : undefined });
          });
        },
      );
      req.on('error', reject);
      req.end(o.body);
    });
  }

  /** How many times the fold interval has ended (its timer, or flushRefusals). */
  let intervalsEnded = 0;

  async function headSize(): Promise<number> {
    return (await auditRecordsPage(s.hsm.store.db, 0, 0)).size;
  }

  async function recordsSince(from: number): Promise<AuditRecord[]> {
    const out: AuditRecord[] = [];
    for (let at = from; ;) {
      const page = await auditRecordsPage(s.hsm.store.db, at, at + 1000);
      out.push(...page.records.map((r) => decodeRecord(new TextEncoder().encode(r.leaf))));
      if (page.next === null) return out;
      at = page.next;
    }
  }

  /** Per code: the answers sent with it, and what the log says of them (records, folded counts). */
  function account(answers: Answer[], records: AuditRecord[], client: string) {
    const mine = records.filter((r) => r.details?.client === client);
    const codes = new Set([...answers.map((a) => a.code!), ...mine.map((r) => r.code!)]);
    const out = new Map<string, { answers: number; records: number; folded: number; logged: number }>();
    for (const code of codes) {
      const own = mine.filter((r) => r.code === code);
      const folded = own.filter((r) => r.operation === 'request.refused.folded');
      out.set(code, {
        answers: answers.filter((a) => a.code === code).length,
        records: own.length,
        folded: folded.length,
        logged: own.length - folded.length + folded.reduce((n, r) => n + Number(r.details!.count), 0),
      });
    }
    return out;
  }

  it('a bad-token flood: bounded 401s, then 429 + Retry-After; a few records account for all; another client is served', async () => {
    const flooder = '127.0.0.2';
    const before = await headSize();
    const ended0 = intervalsEnded;
    const N = 300;
    const start = Date.now();
    const bad: Answer[] = [];
    const good: Answer[] = [];
    for (let i = 0; i < N; i += 10) {
      // Ten bogus tokens at once from the flooder, one good request from another client.
      const wave = Array.from({ length: 10 }, () =>
        send(flooder, 'GET', '/v1/keys', { token: `kwt_${randomBytes(32).toString('base64url')}` }),
      );
      good.push(await send('127.0.0.1', 'GET', '/v1/keys', { token: root }));
      bad.push(...(await Promise.all(wave)));
    }
    const elapsed = (Date.now() - start) / 1000;
    const by = (st: number) => bad.filter((a) => a.status === st).length;
    assert.equal(by(401) + by(429), N, `only 401 and 429: ${JSON.stringify(bad.map((a) => a.status))}`);
    assert.ok(by(401) >= 20, `the burst is served: ${by(401)} × 401`);
    assert.ok(by(401) <= 20 + Math.ceil(elapsed * 5) + 1, `then 5/s: ${by(401)} × 401 in ${elapsed} s`);
    for (const a of bad.filter((x) => x.status === 429)) {
      assert.equal(a.code, 'RATE_LIMITED');
      assert.ok(Number(a.retryAfter) >= 1, `Retry-After ${a.retryAfter}`);
    }
    assert.deepEqual(
      good.map((a) => a.status),
      good.map(() => 200),
      'the other client is served',
    );
    // The flooder is refused whatever it sends until its bucket refills (5/s), then served. A token
    // comes back every 200 ms, and on a loaded machine one can between the flood's last answer and
    // the next request (the good token is then served, rightly): so the bucket is drained first
    // (bogus tokens until one is refused) and the good token sent at once, and a refill within that
    // gap is tried again, a few times. A guard that let good tokens through would fail every time.
    const bogus = () => send(flooder, 'GET', '/v1/keys', { token: `kwt_${randomBytes(32).toString('base64url')}` });
    let blocked: Answer | undefined;
    let servedEarly = 0;
    for (let attempt = 0; attempt < 5 && blocked?.status !== 429; attempt++) {
      let drained = false;
      for (let i = 0; i < 50 && !drained; i++) {
        const a = await bogus();
        bad.push(a);
        drained = a.status === 429;
      }
      assert.ok(drained, 'bogus tokens are refused again once the bucket is empty');
      blocked = await send(flooder, 'GET', '/v1/keys', { token: root });
      if (blocked.status === 200) servedEarly++;
      else bad.push(blocked);
    }
    assert.equal(blocked!.status, 429, `right after a refusal, the good token was served ${servedEarly} times`);
    await new Promise((r) => setTimeout(r, 1000 * Number(blocked!.retryAfter)));
    assert.equal((await send(flooder, 'GET', '/v1/keys', { token: root })).status, 200);

    // The intervals the flood spanned: those that ended during it, and the one flushRefusals ends.
    const intervals = intervalsEnded - ended0 + 1;
    await s.flushRefusals();
    const records = await recordsSince(before);
    const acc = account(bad, records, flooder);
    assert.deepEqual([...acc.keys()].sort(), ['RATE_LIMITED', 'UNAUTHENTICATED']);
    for (const [code, a] of acc) {
      assert.equal(a.logged, a.answers, `${code}: every answer is in the log, once: ${JSON.stringify(a)}`);
      // One record as it happens and one folded count per fold interval spanned.
      assert.ok(a.records <= 2 * intervals, `${code}: ${a.records} records in ${intervals} intervals`);
    }
    const flooderRecords = records.filter((r) => r.details?.client === flooder).length;
    assert.ok(
      flooderRecords <= 4 * intervals,
      `${N} bad-token requests added ${flooderRecords} records in ${intervals} intervals`,
    );
    // The good client: one record per request, as ever.
    const served = records.filter((r) => r.operation === 'key.list' && r.status === 200 && r.principal === 'root');
    assert.equal(served.length, good.length + servedEarly + 1);
    // No bogus token reaches a record (the first failure carries its keyed HMAC only).
    for (const r of records) assert.doesNotMatch(JSON.stringify(r), /kwt_/);
    const folded = records.find((r) => r.operation === 'request.refused.folded' && r.code === 'UNAUTHENTICATED');
    if (folded) {
      assert.equal(folded.status, 401);
      assert.equal(folded.decision, 'none');
      assert.equal(folded.principal, null);
      assert.match(String(folded.details!.first), /^\d{4}-\d\d-\d\dT/);
      assert.ok(String(folded.details!.first) <= String(folded.details!.last));
      assert.equal(folded.details!.intervalMs, 10_000);
    }
  });

  it('every refusal before the pipeline is recorded, folded per client and code', async () => {
    const client = '127.0.0.3';
    const before = await headSize();
    const ended0 = intervalsEnded;
    const K = 6;
    const answers: Answer[] = [];
    const big = Buffer.alloc(8192, 'a');
    for (let i = 0; i < K; i++) {
      answers.push(
        ...(await Promise.all([
          send(client, 'POST', '/v1/keys', { token: root, body: '{"name":' }), // INVALID_JSON
          send(client, 'POST', '/v1/keys', { token: root, type: 'text/plain', body: 'x' }), // UNSUPPORTED_MEDIA_TYPE
          send(client, 'POST', '/v1/keys', { token: root, body: '{"name":1}' }), // VALIDATION_FAILED
          send(client, 'POST', '/v1/keys', { token: root, body: `{"name":"${big.toString()}"}` }), // BODY_TOO_LARGE
          send(client, 'GET', '/v1/no-such-route', { token: root }), // ROUTE_NOT_FOUND
          send(client, 'DELETE', '/v1/sys/seal-status'), // METHOD_NOT_ALLOWED
          send(client, 'POST', '/v1/transit/no-such-thing', { token: root, body: '{}' }), // transit's ROUTE_NOT_FOUND
          send(client, 'POST', '/v1/sys/unseal', { body: '{}' }), // VALIDATION_FAILED, then RATE_LIMITED
        ])),
      );
    }
    const seen = new Set(answers.map((a) => a.code));
    for (const code of [
      'INVALID_JSON',
      'UNSUPPORTED_MEDIA_TYPE',
      'VALIDATION_FAILED',
      'BODY_TOO_LARGE',
      'ROUTE_NOT_FOUND',
      'METHOD_NOT_ALLOWED',
      'RATE_LIMITED',
    ])
      assert.ok(seen.has(code), `${code} among ${[...seen].join(', ')}`);
    assert.ok(
      answers.every((a) => a.status >= 400 && a.code),
      JSON.stringify(answers.filter((a) => !a.code)),
    );
    // Before the interval ends: the first of each code is recorded, the rest only counted. Each
    // interval that ended meanwhile (its timer) may have written one folded record per code and
    // started a new interval, whose first is recorded again: exact when none ended. `records`
    // counts the folded records too, so the firsts are the others.
    const early = account(answers, await recordsSince(before), client);
    const ended = intervalsEnded - ended0;
    for (const [code, a] of early) {
      const what = `${code}, ${ended} intervals ended: ${JSON.stringify(a)}`;
      const firsts = a.records - a.folded;
      assert.ok(firsts >= 1 && firsts <= 1 + ended, `${what}: one record per interval`);
      assert.ok(a.folded <= ended, `${what}: no folded record before its interval ends`);
    }
    await s.flushRefusals();
    const records = await recordsSince(before);
    const acc = account(answers, records, client);
    assert.equal(acc.size, seen.size, 'no record of a code that was not answered');
    for (const [code, a] of acc) {
      assert.equal(a.logged, a.answers, `${code}: records + folded counts = answers: ${JSON.stringify(a)}`);
      assert.ok(a.records <= 4, `${code}: ${a.records} records for ${a.answers} answers`);
    }
    const first = records.find((r) => r.details?.client === client && r.code === 'ROUTE_NOT_FOUND')!;
    assert.equal(first.operation, 'request.refused');
    assert.equal(first.status, 404);
    assert.equal(first.details!.method, 'GET');
    assert.equal(records.filter((r) => r.details?.client === client).length <= 2 * acc.size, true);
    // A flush with nothing counted writes nothing.
    const size = await headSize();
    await s.flushRefusals();
    assert.equal(await headSize(), size);
  });

  it('a log with folded records verifies as a bundle', async () => {
    const res = await fetch(`${s.url}/v1/audit/keys`, { headers: { authorization: `Bearer ${root}` } });
    const k = (await res.json()) as { keys: string[] };
    const exp = await fetch(`${s.url}/v1/audit/export`, {
      method: 'POST',
      headers: { authorization: `Bearer ${root}`, 'content-type': 'application/json' },
      body: '{}',
    });
    assert.equal(exp.status, 200);
    const bundle = (await exp.json()) as { records: string[] };
    assert.ok(bundle.records.some((l) => l.includes('"request.refused.folded"')));
    const v = await verifyBundle(
      bundle,
      k.keys.map((x) => parseVerifierKey(x)),
    );
    assert.equal(v.records.length, bundle.records.length);
    assert.ok(v.records.some((r) => r.operation === 'request.refused.folded' && Number(r.details?.count) > 0));
  });

  it('sealing flushes the counts (last: it seals the server)', async () => {
    const client = '127.0.0.4';
    const before = await headSize();
    for (let i = 0; i < 3; i++) assert.equal((await send(client, 'GET', '/v1/nope')).status, 404);
    assert.equal((await send('127.0.0.1', 'POST', '/v1/sys/seal', { token: root, body: '{}' })).status, 200);
    // The seal listener starts the flush; its record lands shortly after.
    let folded: AuditRecord | undefined;
    for (let i = 0; i < 50 && !folded; i++) {
      folded = (await recordsSince(before)).find(
        (r) => r.operation === 'request.refused.folded' && r.details?.client === client,
      );
      if (!folded) await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(folded?.details?.count, 2);
    // Sealed: the pipeline's SEALED answer is not recorded (nor counted as a refusal).
    const size = await headSize();
    assert.equal((await send(client, 'GET', '/v1/keys', { token: root })).status, 503);
    assert.equal(await headSize(), size);
  });
});

describe('Refusals (the folder, on a fake sink and clock)', () => {
  function folder(opts: { foldMs?: number; foldKeys?: number } = {}) {
    let t = Date.parse('2026-01-01T00:00:00.000Z');
    const written: RefusalRecord[] = [];
    const r = new Refusals(
      async (rec) => {
        written.push(rec);
      },
      { ...opts, now: () => t, authFailureRate: { burst: 2, perMinute: 60 } },
    );
    return { r, written, tick: (ms: number) => (t += ms) };
  }
  const refusal = (client: string, code = 'ROUTE_NOT_FOUND') => ({
    client,
    code,
    status: 404,
    requestId: undefined,
    method: 'GET',
    bytesIn: 3,
  });

  it('records the first of a client and code, counts the rest, writes one folded record per pair', async () => {
    const { r, written, tick } = folder();
    for (let i = 0; i < 5; i++) {
      await r.refused(refusal('a'));
      tick(100);
    }
    await r.refused(refusal('b'));
    await r.refused(refusal('a', 'INVALID_JSON'));
    assert.deepEqual(
      written.map((w) => [w.operation, w.details.client, w.code]),
      [
        ['request.refused', 'a', 'ROUTE_NOT_FOUND'],
        ['request.refused', 'b', 'ROUTE_NOT_FOUND'],
        ['request.refused', 'a', 'INVALID_JSON'],
      ],
    );
    await r.close();
    assert.equal(written.length, 4, 'close flushes: one folded record (a, ROUTE_NOT_FOUND)');
    const f = written[3]!;
    assert.equal(f.operation, 'request.refused.folded');
    assert.deepEqual(f.details, {
      client: 'a',
      count: 4,
      first: '2026-01-01T00:00:00.100Z',
      last: '2026-01-01T00:00:00.400Z',
      intervalMs: 10_000,
    });
    assert.equal(f.bytesIn, 12);
    assert.equal(f.status, 404);
  });

  it('past its bound of pairs, new clients count together under "*"', async () => {
    const { r, written } = folder({ foldKeys: 3 });
    for (let i = 0; i < 100; i++) for (let j = 0; j < 3; j++) await r.refused(refusal(`10.0.0.${i}`));
    assert.equal(written.length, 4, 'three clients and the first of "*" are recorded');
    assert.ok(r.pending <= 4);
    await r.close();
    const star = written.find((w) => w.operation === 'request.refused.folded' && w.details.client === '*')!;
    const counted = written
      .filter((w) => w.operation === 'request.refused.folded')
      .reduce((n, w) => n + Number(w.details.count), 0);
    assert.equal(counted + 4, 300, 'every refusal is counted once');
    assert.equal(star.details.count, 300 - 9 - 1);
    assert.ok(written.length <= 8);
  });

  it('with folding off, every refusal is its own record', async () => {
    const { r, written } = folder({ foldMs: 0 });
    for (let i = 0; i < 5; i++) await r.refused(refusal('a'));
    await r.close();
    assert.equal(written.length, 5);
    assert.ok(written.every((w) => w.operation === 'request.refused'));
  });

  it('the auth guard: a burst of failures, then RATE_LIMITED before the lookup, refilled by the clock', () => {
    const { r, tick } = folder();
    const g = r.guard('c');
    const rec = (code: string) => ({ code, status: 401, sizes: { in: 0, out: 0 }, details: null }) as AuditRecord;
    g.admit();
    const first = rec('UNAUTHENTICATED');
    assert.equal(g.fold(first), false, 'the first failure is recorded');
    assert.equal(first.details!.client, 'c');
    g.admit();
    assert.equal(g.fold(rec('UNAUTHENTICATED')), true, 'the second is counted');
    assert.throws(
      () => g.admit(),
      (e: { code?: string; details?: { retryAfter?: number } }) =>
        e.code === 'RATE_LIMITED' && e.details?.retryAfter === 1,
    );
    r.guard('d').admit(); // another client is not limited
    assert.equal(g.fold(rec('STORAGE_UNAVAILABLE')), false, 'not an auth failure: recorded as ever');
    tick(1000);
    // One token back: two requests in flight at once can't both pass on it.
    const g1 = r.guard('c');
    const g2 = r.guard('c');
    g1.admit();
    assert.throws(() => g2.admit(), /RATE_LIMITED|too many/);
    g1.passed(); // its token was good: the token set aside is given back
    r.guard('c').admit();
    void r.close();
  });
});
