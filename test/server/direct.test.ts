/**
 * server/direct.ts: the hot routes' direct path answers as the Koa path does. One app listens twice,
 * once through the direct dispatcher and once through `app.callback()`; every request of the corpus
 * is sent as the same bytes to both over a raw socket, and the answers must be the same bytes —
 * status line, every header in order, body — except the values that differ from one request to
 * the next (Date, X-Request-Id, the checkpoint header's value; the random ciphertexts, the Vault
 * `request_id`, approval ids and times, kept at their length). The request's log lines and its
 * /metrics counters must agree too, and every plaintext the routes held must be wiped once answered.
 * Another part runs the refusal folding and the auth-failure bound on two more apps (direct on,
 * off) with the same sequence, and compares answers and audit records. All share one HSM.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { RequestListener as NodeListener, Server } from 'node:http';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { issueToken } from '../../engine/auth/tokens.js';
import { decodeRecord } from '../../engine/audit/math/record.js';
import { devBootstrap } from '../../engine/dev.js';
import { Hsm } from '../../engine/hsm.js';
import { readAuditRecords } from '../../engine/store/index.js';
import { createApp, directPartsOf } from '../../server/app.js';
import type { Context } from 'koa';
import statuses from 'statuses';
import { DIRECT_BODY_MAX, hot, requestListener } from '../../server/direct.js';
import type { HotContext, HotHandler, RequestListener } from '../../server/direct.js';
import { statusFor } from '../../server/errors.js';
import { createLogger } from '../../server/log.js';
import { appMetrics } from '../../server/metrics.js';
import { refusalsOf } from '../../server/refusals.js';
import { plaintextTap } from '../../server/schemas.js';
import { compileFixture } from '../engine/policy/helpers.js';
import { activateGlobalPolicy } from '../helpers/approvals.js';
import { openTestStore } from '../helpers/store.js';

interface Raw {
  head: string;
  body: string;
}

/** One request as raw bytes over its own connection; the raw answer. */
function send(server: Server, bytes: Buffer): Promise<Raw> {
  const { port } = server.address() as AddressInfo;
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect(port, '127.0.0.1', () => socket.write(bytes));
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const at = text.indexOf('\r\n\r\n');
      resolve({ head: text.slice(0, at), body: text.slice(at + 4) });
    });
  });
}

function request(method: string, path: string, headers: Record<string, string>, body = ''): Buffer {
  const lines = [`${method} ${path} HTTP/1.1`, 'Host: x', 'Connection: close'];
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  return Buffer.from(lines.join('\r\n') + '\r\n\r\n' + body, 'latin1');
}

/** A JSON POST as clients send it. */
function post(path: string, body: unknown, headers: Record<string, string> = {}): Buffer {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  return request(
    'POST',
    path,
    { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(text, 'latin1')), ...headers },
    text,
  );
}

/** The answer with the values that differ between any two requests masked (lengths kept). */
function normalize(r: Raw): Raw {
  const keep = (s: string) => 'x'.repeat(s.length);
  const mask = (text: string) =>
    text
      // Header lines anywhere (an interim 100 Continue puts the final head in the body).
      // (The checkpoint's size may gain a digit between the two.)
      .replace(/^(date|x-request-id|keyward-checkpoint):(.*)$/gim, (_, n: string) => `${n}: x`)
      .replace(/((?:kw|vault):v\d+:)([A-Za-z0-9+/=_-]+)/g, (_, p: string, v: string) => p + keep(v))
      .replace(/("request_id":")([0-9a-f]+)/g, (_, p: string, v: string) => p + keep(v))
      .replace(/apr_[0-9a-f]{32}/g, keep)
      .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g, keep);
  return { head: mask(r.head), body: mask(r.body) };
}

/** The log lines of one request, without its id, time and duration. */
function logShape(lines: string[]): unknown[] {
  return lines.map((l) => {
    const o = JSON.parse(l) as Record<string, unknown>;
    delete o.reqId;
    delete o.time;
    delete o.ms;
    return o;
  });
}

/** The counters a request moves (not durations' sums or buckets, which are timings). */
const COUNTED =
  /^(keyward_http_responses_total|keyward_requests_total|keyward_policy_faults_total|keyward_request_duration_seconds_count|keyward_policy_evaluation_seconds_count)\b/;
function counters(text: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!COUNTED.test(line)) continue;
    const at = line.lastIndexOf(' ');
    m.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return m;
}
function delta(a: Map<string, number>, b: Map<string, number>): Record<string, number> {
  const d: Record<string, number> = {};
  for (const [k, v] of b) if (v !== (a.get(k) ?? 0)) d[k] = v - (a.get(k) ?? 0);
  return d;
}

function listenOn(listener: NodeListener): Promise<Server> {
  const server = createServer(listener);
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

const b64 = (n: number, fill = 7) => Buffer.alloc(n, fill).toString('base64');

describe('server/direct.ts', { timeout: 120_000 }, () => {
  // One HSM for the file (opening one is most of its time); the corpus seals it, so it runs last.
  let hsm: Hsm;
  let root: string;
  before(async () => {
    hsm = await Hsm.open({ store: await openTestStore(), statusOf: statusFor });
    root = (await devBootstrap(hsm)).rootToken;
    // The first checkpoint comes from a round the unseal starts and nobody awaits: under load it
    // landed between the two sides' answers, so one carried Keyward-Checkpoint and the other not.
    await hsm.integrator!.integrate();
    assert.ok(hsm.latestCheckpoint(), 'a checkpoint before the first request');
  });
  after(() => hsm.close());

  describe('refusal folding and the auth-failure bound, as on the Koa path', () => {
    const sides: { app: ReturnType<typeof createApp>; server: Server; listener: RequestListener }[] = [];

    before(async () => {
      // Two apps over the file's HSM, direct path on and off, each with its own refusals.
      for (const on of [true, false]) {
        const app = createApp({
          hsm,
          log: createLogger({ write: () => {} }),
          authFailureRate: { burst: 3, perMinute: 1 },
          refusalFoldMs: 3_600_000,
          directPath: on,
        });
        const listener = requestListener(app, directPartsOf(app));
        sides.push({ app, listener, server: await listenOn(listener) });
      }
    });
    after(async () => {
      for (const s of sides) {
        s.server.close();
        s.server.closeAllConnections();
        await refusalsOf(s.app)?.close();
        appMetrics.get(s.app)?.close();
      }
    });

    it('folds and bounds the same way', async () => {
      const seq: Buffer[] = [];
      for (let i = 0; i < 3; i++) seq.push(post('/v1/keys/aes/encrypt', '{"plaintext":', {}));
      for (let i = 0; i < 5; i++)
        seq.push(post('/v1/keys/aes/encrypt', { plaintext: b64(4) }, { Authorization: 'Bearer kwt_bad' }));
      seq.push(post('/v1/transit/encrypt/aes', { plaintext: b64(4) }, { 'X-Vault-Token': 'kwt_bad' }));
      const answers: Raw[][] = [];
      const recs = [];
      // One side after the other, so that each one's audit records are a range of the one log.
      for (const s of sides) {
        const from = (await readAuditRecords(hsm.store.db, 0, 1_000_000)).length;
        const mine: Raw[] = [];
        for (const bytes of seq) mine.push(normalize(await send(s.server, bytes)));
        answers.push(mine);
        await refusalsOf(s.app)!.flush();
        recs.push(
          (await readAuditRecords(hsm.store.db, from, 1_000_000))
            .map((r) => decodeRecord(r.leaf))
            .filter((r) => r.operation.startsWith('request.') || r.operation === 'encrypt')
            .map((r) => {
              const d = { ...r.details };
              delete d.first;
              delete d.last;
              return [r.operation, r.status, r.code, r.principal, d, r.sizes];
            }),
        );
      }
      assert.equal(sides[0]!.listener.direct, seq.length);
      assert.equal(sides[1]!.listener.direct, 0);
      // Retry-After counts down from the bucket's emptying: a second apart between the two runs.
      const seconds = answers.map((a) => a.map((r) => /\r\nRetry-After: (\d+)\r\n/.exec(r.head)?.[1]));
      for (const [i, s] of seconds[0]!.entries())
        assert.ok(Math.abs(Number(s ?? 0) - Number(seconds[1]![i] ?? 0)) <= 1, `Retry-After of answer ${i}`);
      const strip = (r: Raw) => ({ ...r, head: r.head.replace(/(\r\nRetry-After: )\d+/, '$1x') });
      assert.deepEqual(answers[0]!.map(strip), answers[1]!.map(strip));
      assert.deepEqual(
        answers[0]!.map((a) => a.head.split(' ')[1]),
        ['400', '400', '400', '401', '401', '401', '429', '429', '429'],
      );
      assert.match(answers[0]![6]!.head, /\r\nRetry-After: \d+\r\n/);
      assert.deepEqual(recs[0], recs[1]);
      assert.ok(recs[0]!.some((r) => r[0] === 'request.refused.folded'));
    });
  });

  describe('the same answers, log lines and metrics as the Koa path', () => {
    let app: ReturnType<typeof createApp>;
    let listener: RequestListener;
    let direct: Server;
    let koa: Server;
    const logs: string[] = [];
    /** The plaintexts the hot routes held (server/schemas.ts plaintextTap), and how many each case showed. */
    const held: Uint8Array[] = [];
    const plaintextsOf = new Map<string, number>();
    let appToken: string;
    let opToken: string;
    let kwCipher: string;
    let kwCipherAad: string;
    let vCipher: string;

    before(async () => {
      app = createApp({
        hsm,
        log: createLogger({ write: (l) => logs.push(l), level: 'info' }),
        authFailureRate: { burst: 10_000, perMinute: 600_000 },
        refusalFoldMs: 0,
      });
      listener = requestListener(app, directPartsOf(app));
      direct = await listenOn(listener);
      koa = await listenOn(app.callback());
      const auth = { Authorization: `Bearer ${root}` };
      for (const [name, type] of [
        ['aes', 'aes256-gcm'],
        ['ed', 'ed25519'],
      ])
        assert.match((await send(koa, post('/v1/keys', { name, type }, auth))).head, / 201 /);
      appToken = (await issueToken(hsm.store.db, { principal: 'svc', roles: ['app'], now: new Date() })).token;
      opToken = (await issueToken(hsm.store.db, { principal: 'op', roles: ['operator'], now: new Date() })).token;
      const enc = async (path: string, body: unknown) =>
        JSON.parse((await send(koa, post(path, body, { Authorization: `Bearer ${appToken}` }))).body) as any;
      kwCipher = (await enc('/v1/keys/aes/encrypt', { plaintext: b64(1024) })).ciphertext;
      kwCipherAad = (await enc('/v1/keys/aes/encrypt', { plaintext: b64(10), aad: b64(5, 1) })).ciphertext;
      vCipher = (await enc('/v1/transit/encrypt/aes', { plaintext: b64(1024) })).data.ciphertext;
      plaintextTap.seen = (bytes) => held.push(bytes);
    });
    after(async () => {
      delete plaintextTap.seen;
      direct.close();
      koa.close();
      direct.closeAllConnections();
      koa.closeAllConnections();
      await refusalsOf(app)?.close();
      appMetrics.get(app)?.close();
    });

    /**
     * Sends `bytes` to both listeners in turn; asserts the same answer, log lines and counters, and
     * that every plaintext the routes held is wiped once answered, whatever the answer; returns the answer.
     */
    async function same(what: string, bytes: Buffer, goesDirect: boolean): Promise<Raw> {
      const metrics = appMetrics.get(app)!;
      held.length = 0;
      const answers: Raw[] = [];
      const lines: unknown[][] = [];
      const moved: Record<string, number>[] = [];
      const taken = listener.direct;
      // The counters after one request are those before the next.
      let before = counters(await metrics.render());
      for (const server of [direct, koa]) {
        const from = logs.length;
        answers.push(await send(server, bytes));
        // The request line is written as the answer is sent; the socket's close comes after it.
        lines.push(logShape(logs.slice(from)));
        const now = counters(await metrics.render());
        moved.push(delta(before, now));
        before = now;
      }
      assert.equal(listener.direct - taken, goesDirect ? 1 : 0, `${what}: ${goesDirect ? 'direct' : 'Koa'} expected`);
      assert.deepEqual(normalize(answers[0]!), normalize(answers[1]!), what);
      assert.deepEqual(lines[0], lines[1], `${what}: log lines`);
      assert.ok(lines[0]!.length >= 1, `${what}: a request line`);
      assert.deepEqual(moved[0], moved[1], `${what}: metrics`);
      assert.ok(Object.keys(moved[0]!).length > 0, `${what}: the counters moved`);
      assert.deepEqual(
        held.filter((b) => b.some((x) => x !== 0)).map((b) => b.length),
        [],
        `${what}: plaintexts left unwiped (their lengths)`,
      );
      plaintextsOf.set(what, held.length);
      return answers[0]!;
    }

    const app_ = () => ({ Authorization: `Bearer ${appToken}` });
    const vault = () => ({ 'X-Vault-Token': appToken });

    it('answers success on all four routes alike', async () => {
      const ok = (r: Raw) => assert.match(r.head, /^HTTP\/1.1 200 OK/);
      ok(await same('keys encrypt', post('/v1/keys/aes/encrypt', { plaintext: b64(1024) }, app_()), true));
      ok(
        await same('keys encrypt, aad', post('/v1/keys/aes/encrypt', { plaintext: b64(9), aad: b64(3) }, app_()), true),
      );
      ok(await same('keys decrypt', post('/v1/keys/aes/decrypt', { ciphertext: kwCipher }, app_()), true));
      ok(
        await same(
          'keys decrypt, aad',
          post('/v1/keys/aes/decrypt', { ciphertext: kwCipherAad, aad: b64(5, 1) }, app_()),
          true,
        ),
      );
      ok(
        await same(
          'keys encrypt batch',
          post('/v1/keys/aes/encrypt', { batch: [{ plaintext: b64(3) }, { plaintext: b64(5), aad: b64(1) }] }, app_()),
          true,
        ),
      );
      ok(await same('transit encrypt', post('/v1/transit/encrypt/aes', { plaintext: b64(1024) }, vault()), true));
      ok(
        await same(
          'transit encrypt, associated_data and an unknown field',
          post('/v1/transit/encrypt/aes', { plaintext: b64(8), associated_data: b64(4), what: 1 }, vault()),
          true,
        ),
      );
      ok(await same('transit decrypt', post('/v1/transit/decrypt/aes', { ciphertext: vCipher }, vault()), true));
      await same(
        'transit batch_input, one item failing',
        post('/v1/transit/encrypt/aes', { batch_input: [{ plaintext: b64(2) }, { plaintext: 5 }] }, vault()),
        true,
      );
      ok(await same('transit with Bearer', post('/v1/transit/encrypt/aes', { plaintext: b64(4) }, app_()), true));
      ok(
        await same(
          'charset and mixed case type',
          post(
            '/v1/keys/aes/encrypt',
            { plaintext: b64(4) },
            { ...app_(), 'Content-Type': 'Application/JSON; charset=utf-8' },
          ),
          true,
        ),
      );
      ok(await same('percent-encoded name', post('/v1/keys/%61es/encrypt', { plaintext: b64(4) }, app_()), true));
      const sig = JSON.parse(
        (await same('keys sign', post('/v1/keys/ed/sign', { message: b64(32) }, app_()), true)).body,
      ).signature as string;
      assert.match(sig, /^kw:v1:/);
      for (const [what, signature] of [
        ['keys verify', sig],
        ['keys verify, a wrong signature', sig.slice(0, -4) + 'AAA='],
      ] as const)
        ok(await same(what, post('/v1/keys/ed/verify', { message: b64(32), signature }, app_()), true));
      const vsig = JSON.parse(
        (await same('transit sign', post('/v1/transit/sign/ed', { input: b64(32) }, vault()), true)).body,
      ).data.signature as string;
      ok(
        await same('transit verify', post('/v1/transit/verify/ed', { input: b64(32), signature: vsig }, vault()), true),
      );
      await same(
        'transit sign, batch_input',
        post('/v1/transit/sign/ed', { batch_input: [{ input: b64(1) }, {}] }, vault()),
        true,
      );
    });

    it("takes the reason phrase from Koa's own table (the statuses package), so the two cannot drift apart", async () => {
      // A batch with one failing item answers the caller's partial_failure_response_code. A phrase
      // Node's table does not have stands for a statuses version whose names differ from Node's.
      const was = statuses.message[207];
      statuses.message[207] = 'Partly Done';
      try {
        const r = await same(
          'a phrase of the statuses table',
          post(
            '/v1/transit/encrypt/aes',
            { batch_input: [{ plaintext: b64(2) }, { plaintext: 5 }], partial_failure_response_code: 207 },
            vault(),
          ),
          true,
        );
        assert.match(r.head, /^HTTP\/1.1 207 Partly Done\r\n/);
      } finally {
        statuses.message[207] = was;
      }
    });

    it('answers refusals and errors alike', async () => {
      const enc = '/v1/keys/aes/encrypt';
      const tenc = '/v1/transit/encrypt/aes';
      const pt = { plaintext: b64(16) };
      const cases: [string, Buffer, boolean][] = [
        ['no token', post(enc, pt), true],
        ['no token, transit', post(tenc, pt), true],
        ['malformed token', post(enc, pt, { Authorization: 'Bearer' }), true],
        ['malformed scheme', post(enc, pt, { Authorization: 'Basic abc' }), true],
        ['unknown token', post(enc, pt, { Authorization: 'Bearer kwt_nope' }), true],
        ['unknown token, transit', post(tenc, pt, { 'X-Vault-Token': 'kwt_nope' }), true],
        ['invalid JSON', post(enc, '{"plaintext":', app_()), true],
        ['invalid JSON, transit', post(tenc, '{"plaintext"', vault()), true],
        ['not UTF-8', post(enc, '{"plaintext":"\xff"}', app_()), true],
        ['schema error', post(enc, { plaintext: 5 }, app_()), true],
        ['schema error, unknown field', post(enc, { plaintext: b64(3), extra: 1 }, app_()), true],
        ['schema error, transit', post(tenc, { plaintext: 'not base64!' }, vault()), true],
        ['decrypt of junk', post('/v1/keys/aes/decrypt', { ciphertext: 'kw:v1:AAAA' }, app_()), true],
        ['decrypt of junk, transit', post('/v1/transit/decrypt/aes', { ciphertext: 'vault:v1:AAAA' }, vault()), true],
        ['empty body', post(enc, '', app_()), true],
        ['unknown key', post('/v1/keys/ghost/encrypt', pt, app_()), true],
        ['unknown key, decrypt', post('/v1/keys/ghost/decrypt', { ciphertext: kwCipher }, app_()), true],
        ['unknown key, transit decrypt', post('/v1/transit/decrypt/ghost', { ciphertext: vCipher }, vault()), true],
        ['wrong key type', post('/v1/keys/ed/encrypt', pt, app_()), true],
        ['wrong key type, transit', post('/v1/transit/encrypt/ed', pt, vault()), true],
        ['encrypt, non-canonical aad', post(enc, { ...pt, aad: 'AB==' }, app_()), true],
        [
          'encrypt batch, an item with non-canonical aad',
          post(enc, { batch: [{ plaintext: b64(3) }, { ...pt, aad: 'AB==' }] }, app_()),
          true,
        ],
        [
          'transit batch, an item with bad associated_data',
          post(tenc, { batch_input: [{ plaintext: b64(3) }, { ...pt, associated_data: 'A' }] }, vault()),
          true,
        ],
        ['policy denial', post(enc, pt, { Authorization: `Bearer ${opToken}` }), true],
        ['policy denial, transit', post(tenc, pt, { 'X-Vault-Token': opToken }), true],
        ['root token', post(enc, pt, { Authorization: `Bearer ${root}` }), true],
        ['bad key name', post(`/v1/keys/${'n'.repeat(300)}/encrypt`, pt, app_()), true],
        // To Koa (any doubt): both listeners then answer through Koa, the same by construction, and
        // the dispatcher must not have taken them.
        ['wrong content-type', post(enc, pt, { ...app_(), 'Content-Type': 'text/plain' }), false],
        ['missing content-type', request('POST', enc, { ...app_(), 'Content-Length': '2' }, '{}'), false],
        [
          'form content-type, transit',
          post(tenc, pt, { ...vault(), 'Content-Type': 'application/x-www-form-urlencoded' }),
          false,
        ],
        ['over the direct size', post(enc, { plaintext: b64(DIRECT_BODY_MAX) }, app_()), false],
        [
          'declared over the limit',
          request(
            'POST',
            enc,
            { ...app_(), 'Content-Type': 'application/json', 'Content-Length': String(9 << 20) },
            '{}',
          ),
          false,
        ],
        [
          'chunked',
          request(
            'POST',
            enc,
            { ...app_(), 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' },
            '2\r\n{}\r\n0\r\n\r\n',
          ),
          false,
        ],
        ['Expect', post(enc, pt, { ...app_(), Expect: '100-continue' }), false],
        ['Content-Encoding', post(enc, pt, { ...app_(), 'Content-Encoding': 'identity' }), false],
        ['query string', post(enc + '?x=1', pt, app_()), false],
        ['trailing slash', post(enc + '/', pt, app_()), false],
        ['upper case', post('/V1/keys/aes/encrypt', pt, app_()), false],
        ['empty name', post('/v1/keys//encrypt', pt, app_()), false],
        ['encoded slash', post('/v1/keys/a%2Fb/encrypt', pt, app_()), true],
        ['bad percent-encoding', post('/v1/keys/%zz/encrypt', pt, app_()), true],
        ['double slash', post('//v1/keys/aes/encrypt', pt, app_()), false],
        ['HEAD', request('HEAD', enc, app_()), false],
        ['GET', request('GET', enc, app_()), false],
        [
          'PUT',
          request('PUT', enc, { ...app_(), 'Content-Type': 'application/json', 'Content-Length': '2' }, '{}'),
          false,
        ],
        ['GET, transit', request('GET', tenc, vault()), false],
        ['not a hot route (rewrap)', post('/v1/keys/aes/rewrap', { ciphertext: kwCipher }, app_()), false],
        ['not a hot route (hmac)', post('/v1/keys/aes/hmac', { message: b64(3) }, app_()), false],
        ['not a hot route (sign with a hash)', post('/v1/transit/sign/ed/sha2-256', { input: b64(3) }, vault()), false],
        ['sign on an AES key', post('/v1/keys/aes/sign', { message: b64(3) }, app_()), true],
        ['verify, malformed signature', post('/v1/keys/ed/verify', { message: b64(3), signature: 'x' }, app_()), true],
        [
          'transit verify, unknown key',
          post('/v1/transit/verify/ghost', { input: b64(3), signature: 'vault:v1:AA==' }, vault()),
          true,
        ],
      ];
      for (const [what, bytes, goesDirect] of cases) await same(what, bytes, goesDirect);
      // The corpus does reach the plaintexts: refused before the pipeline ran the operation (decoded
      // by the fast check), and failing in it, in one item or in a batch's.
      for (const what of [
        'no token',
        'unknown token',
        'unknown key',
        'policy denial',
        'wrong key type',
        'wrong key type, transit',
        'encrypt, non-canonical aad',
        'encrypt batch, an item with non-canonical aad',
        'transit batch, an item with bad associated_data',
      ])
        assert.ok(plaintextsOf.get(what)! >= 2, `${what}: a plaintext on each path`);
    });

    it('answers a parked request alike', async () => {
      await activateGlobalPolicy(
        {
          hsm,
          call: async (method, path, o = {}) => {
            const auth: Record<string, string> = o.token ? { Authorization: `Bearer ${o.token}` } : {};
            const r = await send(koa, o.body === undefined ? request(method, path, auth) : post(path, o.body, auth));
            return { status: Number(r.head.split(' ')[1]), body: JSON.parse(r.body) };
          },
        },
        root,
        'park-encrypt',
        await compileFixture('park-encrypt'),
      );
      const parked = await same('parked', post('/v1/keys/aes/encrypt', { plaintext: b64(8) }, app_()), true);
      assert.match(parked.head, /^HTTP\/1.1 202 Accepted/);
      assert.match(parked.head, /\r\nLocation: \/v1\/approvals\/apr_/);
      const vParked = await same(
        'parked, transit',
        post('/v1/transit/encrypt/aes', { plaintext: b64(8) }, vault()),
        true,
      );
      assert.match(vParked.head, /^HTTP\/1.1 403 Forbidden/);
    });

    it('types what the direct path runs against what it provides (checked by the type check, not run)', () => {
      // tsconfig.json covers test/: `npm run typecheck` fails if any of these compiles.
      const misuse = (): HotHandler[] => [
        async (ctx) => {
          // @ts-expect-error Koa's query is not on the direct path
          void ctx.query;
          // @ts-expect-error nor its throw
          ctx.throw(400);
          // @ts-expect-error nor its headers shortcut
          void ctx.headers;
        },
        // @ts-expect-error a handler typed against Koa's whole context is not a hot one
        hot(async (ctx: Context) => void ctx.query),
      ];
      // Koa's own context is a HotContext: the same handlers and helpers serve both paths.
      const koaSide = (ctx: Context): HotContext => ctx;
      assert.equal(typeof misuse, 'function');
      assert.equal(typeof koaSide, 'function');
    });

    it("a member of Koa's context the direct path does not provide throws, naming it, instead of reading as undefined", async () => {
      const errors: Error[] = [];
      const onError = (err: Error) => errors.push(err);
      app.on('error', onError);
      // A front middleware that reads ctx.query through a cast, which the types cannot see.
      const probe = requestListener(app, {
        ...directPartsOf(app)!,
        front: async (ctx) => void (ctx as unknown as Context).query,
      });
      const server = await listenOn(probe);
      try {
        const r = await send(server, post('/v1/keys/aes/encrypt', { plaintext: b64(4) }, app_()));
        assert.equal(probe.direct, 1);
        assert.match(r.head, / 500 /);
        assert.match(String(errors[0]?.message), /ctx\.query is not provided on the direct path/);
      } finally {
        app.off('error', onError);
        server.close();
        server.closeAllConnections();
      }
    });

    it('answers a sealed server alike (last: it seals)', async () => {
      const r = await send(koa, post('/v1/sys/seal', {}, { Authorization: `Bearer ${root}` }));
      assert.match(r.head, / 200 /);
      const sealed = await same('sealed', post('/v1/keys/aes/encrypt', { plaintext: b64(8) }, app_()), true);
      assert.match(sealed.head, /^HTTP\/1.1 503 /);
      assert.match(sealed.head, /\r\nRetry-After: 1\r\n/);
      await same('sealed, transit', post('/v1/transit/decrypt/aes', { ciphertext: vCipher }, vault()), true);
    });
  });
});
