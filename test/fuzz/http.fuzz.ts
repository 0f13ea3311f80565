/**
 * Property-based HTTP fuzzing (issue 13, "Fuzzing in CI"): fast-check generates requests for every
 * route the routers register (server/app.ts appRouters: Keyward's API and the Vault transit API)
 * and sends them byte for byte (test/fuzz/raw-http.ts) to a real unsealed server over real HTTP,
 * with tokens of every role (root, admin, operator, app, auditor, revoked, expired, unknown, none),
 * so requests reach deep into routes. Bodies are valid requests, the same with one field made
 * hostile, or hostile outright: malformed JSON, nesting 10,000 deep, huge numbers, long strings,
 * NUL, lone surrogates, bytes that are not UTF-8, a BOM, duplicate keys, `__proto__`, bodies over
 * the limit, chunked bodies; path parameters with traversal (`..`, `%2f`), NUL and bad percent-
 * encoding; odd query strings; duplicate, enormous and numerous headers and wrong content types.
 *
 * After every request it must hold that: the answer came (within 15 s) and is not 5xx;
 * /v1/sys/health answers 200; the seal state and unseal progress are unchanged unless the request
 * itself succeeded on a seal route (a root token may seal: the fuzzer then unseals again); the key
 * set (names, versions, configuration, labels) is unchanged by a request that failed (4xx).
 * Every 5xx is collected (route, request, answer, the server's log line) and fails the run at the
 * end; the case counts per route and the status histogram are printed.
 *
 * `npm run test:fuzz` (and .ci/run, on PGlite and PostgreSQL: KEYWARD_TEST_DRIVER) runs it with a
 * fixed seed; FUZZ_SEED and FUZZ_RUNS choose another seed or a longer run.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import fc from 'fast-check';
import { issueToken, revokeToken } from '../../engine/auth/tokens.js';
import { devBootstrap, devUnseal } from '../../engine/dev.js';
import { sealSubmission } from '../../ceremony/index.js';
import { appRouters } from '../../server/app.js';
import { createLogger } from '../../server/log.js';
import { startTestServer } from '../helpers/server.js';
import type { TestServer } from '../helpers/server.js';
import { sendRaw } from './raw-http.js';
import type { RawAnswer, RawRequest } from './raw-http.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 2000);
const SEED = Number(process.env.FUZZ_SEED ?? 20261304);
const DRIVER = process.env.KEYWARD_TEST_DRIVER ?? 'pglite';

// ---------------------------------------------------------------------------------------------
// Routes: every (method, path) the routers register.
// ---------------------------------------------------------------------------------------------

interface Route {
  method: string;
  path: string;
}

/** The routes of appRouters: HEAD folded into GET; the transit catch-all gets a few methods. */
function registeredRoutes(): Route[] {
  const deps = {
    hsm: {} as never,
    log: createLogger({ write: () => {}, level: 'error' }),
    bodyLimit: 1,
    ceremonyRate: { burst: 1, perMinute: 1 },
  };
  const out: Route[] = [];
  for (const r of appRouters(deps)) {
    for (const layer of r.stack) {
      const path = String(layer.path);
      const methods = layer.methods.length > 8 ? ['GET', 'POST', 'PUT', 'LIST', 'OPTIONS'] : layer.methods;
      for (const m of methods) if (m !== 'HEAD') out.push({ method: m, path });
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Hostile building blocks.
// ---------------------------------------------------------------------------------------------

const deepArrays = (n: number) => '['.repeat(n) + ']'.repeat(n);
const deepObjects = (n: number) => '{"a":'.repeat(n) + '1' + '}'.repeat(n);

/** JSON values (as JSON text) that have broken servers before. */
const hostileJsonText = fc.oneof(
  fc.constantFrom(
    '"\\u0000"',
    '"a\\u0000b"',
    '"\\ud800"',
    '"\\udfff\\ud800"',
    '"\\ud83d\\ude00"',
    '1e999',
    '-1e999',
    '123456789012345678901234567890',
    '-0',
    '1.5',
    '9007199254740993',
    '-1',
    '0',
    '2147483648',
    'null',
    'true',
    '[]',
    '{}',
    '""',
    '"' + 'A'.repeat(100_000) + '"',
    '"' + '\\u0000'.repeat(1000) + '"',
    deepArrays(70),
    deepArrays(10_000),
    deepObjects(2_000),
    '{"__proto__":{"polluted":1}}',
    '{"constructor":{"prototype":{"x":1}}}',
    '["../../etc/passwd"]',
    '"../../../etc/passwd"',
    '"kw:v1:AAAA"',
    '"vault:v1:AAAA"',
    '"kw:v99999999999:AAAA"',
  ),
  fc.json({ maxDepth: 3 }),
  fc.string({ unit: 'binary', maxLength: 40 }).map((s) => JSON.stringify(s)),
  fc.double().map((d) => (Number.isFinite(d) ? JSON.stringify(d) : '1e400')),
  fc.bigInt().map((b) => b.toString()),
);

/** Raw bodies that are not (valid, UTF-8) JSON. */
const hostileRawBody = fc.oneof(
  fc.constantFrom(
    Buffer.from(''),
    Buffer.from('{'),
    Buffer.from('{"a":'),
    Buffer.from('nul'),
    Buffer.from('{"a":1}garbage'),
    Buffer.from('\ufeff{}'),
    Buffer.from('{"a":1,"a":2}'),
    Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]),
    Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xed, 0xa0, 0x80, 0x22, 0x7d]),
    Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xc0, 0xaf, 0x22, 0x7d]),
    Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xf4, 0x90, 0x80, 0x80, 0x22, 0x7d]),
    Buffer.from('{"a":"\u0000"}'),
    Buffer.from('plaintext=aGk%3D&x=1'),
    Buffer.from(deepArrays(10_000)),
    Buffer.from('['.repeat(200_000)),
    Buffer.from(deepObjects(10_000)),
    Buffer.alloc(1024 * 1024 + 10, 0x20),
  ),
  fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)),
  fc.string({ unit: 'binary', maxLength: 200 }).map((s) => Buffer.from(s, 'utf8')),
);

/** One path segment: valid names and hostile ones (written raw on the request line). */
const hostileSegment = fc.oneof(
  fc.constantFrom(
    '..',
    '.',
    '%2e%2e',
    '..%2f..%2fsys%2fseal',
    '..%5c..',
    'a%2Fb',
    '%00',
    'a%00b',
    '%ff',
    '%ED%A0%80',
    '%',
    '%zz',
    '%C0%AF',
    '~root',
    'a b',
    'x'.repeat(300),
    'x'.repeat(9000),
    '%E2%80%AE',
    'CON',
    '-',
    '_',
    'null',
    'undefined',
    '__proto__',
    'constructor',
    '0',
    '-1',
    '99999999999999999999',
    'apr_' + 'f'.repeat(32),
    'tok_0',
    'sha256',
  ),
  fc.string({ unit: 'binary', maxLength: 24 }).map((s) => encodeURIComponent(s)),
  fc.string({ maxLength: 12 }).map((s) => s.replace(/[\s/?#]/g, '')),
);

const queryValue = fc.oneof(
  fc.constantFrom('1', '0', '-1', '1e3', '99999999999999999999', '9007199254740993', 'pem', 'jwk', 'raw', 'pending'),
  fc.constantFrom('%00', 'a%00b', '%ff', '%ED%A0%80', '%', '%zz', '..%2f..', 'x'.repeat(5000), ''),
  fc.string({ unit: 'binary', maxLength: 20 }).map((s) => encodeURIComponent(s)),
);

const CONTENT_TYPES = [
  'application/json',
  'application/json',
  'application/json; charset=utf-8',
  'application/merkle-patch+json',
  'application/json; charset=latin1',
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/jsonx',
  '',
  '*/*',
  'application/json, text/plain',
];

// ---------------------------------------------------------------------------------------------
// The fuzz world: a server, tokens of every role, keys, a pending approval, the active policy.
// ---------------------------------------------------------------------------------------------

type TokenName = 'root' | 'admin' | 'operator' | 'app' | 'auditor' | 'revoked' | 'expired' | 'unknown' | 'none';

interface World {
  s: TestServer;
  port: number;
  share: Uint8Array;
  tokens: Record<TokenName, string>;
  params: Record<string, string[]>;
  seeds: (route: Route) => unknown[];
  /** The tokens a route serves: past authentication and the policies with its valid body. */
  serves: (route: Route) => TokenName[] | undefined;
  /** Replaces a route's valid bodies (`METHOD /path`), e.g. the unseal submission once sealed. */
  setSeeds: (route: string, bodies: unknown[]) => void;
}

async function buildWorld(): Promise<World> {
  const s = await startTestServer();
  const creds = await devBootstrap(s.hsm);
  const db = s.hsm.store.db;
  const now = new Date();
  const tok = async (principal: string, roles: string[], opts: { ttlSeconds?: number; now?: Date } = {}) =>
    issueToken(db, {
      principal,
      roles,
      now: opts.now ?? now,
      ...(opts.ttlSeconds ? { ttlSeconds: opts.ttlSeconds } : {}),
    });
  const revoked = await tok('fz-revoked', ['admin']);
  await revokeToken(db, revoked.tokenId, now);
  const tokens: Record<TokenName, string> = {
    root: creds.rootToken,
    admin: (await tok('fz-admin', ['admin'])).token,
    operator: (await tok('fz-op', ['operator'])).token,
    app: (await tok('fz-app', ['app'])).token,
    auditor: (await tok('fz-auditor', ['auditor'])).token,
    revoked: revoked.token,
    expired: (await tok('fz-expired', ['admin'], { ttlSeconds: 60, now: new Date(Date.now() - 3_600_000) })).token,
    unknown: 'kwt_' + 'A'.repeat(43),
    none: '',
  };
  const call = async (method: string, path: string, body?: unknown, token = tokens.root) => {
    const r = await s.call(method, path, { token, ...(body !== undefined ? { body } : {}) });
    assert.ok(r.status < 300, `${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  };
  for (const [name, type] of [
    ['fz-aes', 'aes256-gcm'],
    ['fz-ed', 'ed25519'],
    ['fz-hmac', 'hmac-sha256'],
    ['fz-kem', 'ml-kem-768'],
    ['fz-doomed', 'aes256-gcm'],
  ] as const) {
    await call('POST', '/v1/keys', { name, type, labels: { team: 'fuzz' } });
  }
  await call('POST', '/v1/keys/fz-doomed/config', { deletionAllowed: true });
  // A pending approval: the operator asks to delete fz-doomed (dual control parks it; one
  // operator principal exists, so it is never approved twice and never executes).
  const parked = await s.call('DELETE', '/v1/keys/fz-doomed', { token: tokens.operator });
  assert.equal(parked.status, 202, JSON.stringify(parked.body));
  const approvalId = parked.body.approvalId as string;
  const ct = (await call('POST', '/v1/keys/fz-aes/encrypt', { plaintext: 'aGVsbG8=' }, tokens.app)).ciphertext;
  const sig = (await call('POST', '/v1/keys/fz-ed/sign', { message: 'aGVsbG8=' }, tokens.app)).signature;
  const enc = await call('POST', '/v1/keys/fz-kem/encapsulate', {}, tokens.app);
  const vct = (await call('POST', '/v1/transit/encrypt/fz-aes', { plaintext: 'aGVsbG8=' }, tokens.app)).data.ciphertext;
  const policies = await call('GET', '/v1/policies');
  const policyHash = String(JSON.stringify(policies).match(/[0-9a-f]{64}/)?.[0] ?? '0'.repeat(64));
  const keyNames = ['fz-aes', 'fz-ed', 'fz-hmac', 'fz-kem', 'fz-doomed', 'fz-new', 'nope'];
  const params: Record<string, string[]> = {
    name: keyNames,
    id: [approvalId, 'apr_' + '0'.repeat(32), revoked.tokenId, 'tok_' + '0'.repeat(24)],
    hash: [policyHash, '0'.repeat(64)],
    key_type: ['encryption-key', 'signing-key', 'hmac-key', 'public-key'],
    version: ['1', '2', 'latest', '0'],
    hash_algorithm: ['sha2-256', 'sha2-512', 'sha3-256', 'md5', 'none'],
    algorithm: ['sha2-256', 'sha2-512', 'sha3-256', 'md5'],
    plaintext: ['plaintext', 'wrapped'],
    source: ['platform', 'all', 'entropy'],
    bytes: ['16', '0', '1024', '1025', '-1'],
    a: ['16', 'hex', 'base64', 'binary'],
    rest: ['x', 'keys', 'keys/fz-aes/trim', 'backup/fz-aes', 'cache-config'],
  };
  const b = 'aGVsbG8=';
  const seedTable: Record<string, unknown[]> = {
    'POST /v1/sys/init': [{ holders: [], threshold: 1 }],
    'POST /v1/sys/unseal': [{ nonce: '0'.repeat(32) }],
    'POST /v1/sys/rekey/init': [{ holders: [], threshold: 1 }],
    'POST /v1/auth/tokens': [
      { principal: 'fz-made', roles: ['app'], ttl: '1h' },
      { principal: 'x', roles: ['admin'], ttl: 5 },
    ],
    'POST /v1/policies': [{ name: 'fz', wasm: 'AGFzbQEAAAA=' }],
    'POST /v1/policies/:hash/activate': [{ scope: 'global' }, { scope: 'key', key: 'fz-aes' }],
    'POST /v1/policies/:hash/deactivate': [{ scope: 'global' }, { scope: 'key', key: 'fz-aes' }],
    'POST /v1/policies/evaluate': [
      { input: { operation: 'key.encrypt', principal: 'x', roles: ['app'] } },
      { hash: policyHash, input: {} },
    ],
    'POST /v1/keys': [
      { name: '$fresh', type: 'aes256-gcm', labels: { a: 'b' } },
      { name: '$fresh', type: 'ed25519', exportable: true },
    ],
    'POST /v1/keys/:name/config': [{ deletionAllowed: false }, { minDecryptionVersion: 1 }, { requireLowS: true }],
    'POST /v1/keys/:name/encrypt': [{ plaintext: b, aad: b }, { batch: [{ plaintext: b }, { plaintext: '' }] }],
    'POST /v1/keys/:name/decrypt': [
      { ciphertext: ct },
      { batch: [{ ciphertext: ct }] },
      { ciphertext: ct, keyVersion: 1 },
    ],
    'POST /v1/keys/:name/rewrap': [{ ciphertext: ct }],
    'POST /v1/keys/:name/datakey': [{ bytes: 32 }, { bytes: 16, aad: b }],
    'POST /v1/keys/:name/sign': [{ message: b }, { message: b, prehashed: false }, { batch: [{ message: b }] }],
    'POST /v1/keys/:name/verify': [{ message: b, signature: sig }, { batch: [{ message: b, signature: sig }] }],
    'POST /v1/keys/:name/hmac': [{ message: b }, { batch: [{ message: b }] }],
    'POST /v1/keys/:name/encapsulate': [{}],
    'POST /v1/keys/:name/decapsulate': [{ ciphertext: enc.ciphertext ?? enc.encapsulation ?? b }],
    'POST /v1/keys/:name/import': [{ type: 'aes256-gcm', algorithm: 'rsa-oaep-3072-aes-kwp', wrappedKey: b }],
    'POST /v1/keys/:name/export': [{ algorithm: 'rsa-oaep-3072-aes-kwp', wrappingKey: 'x' }],
    'POST /v1/random': [{ bytes: 16 }],
    'POST /v1/audit/hash': [{ value: 'fz' }],
    'POST /v1/audit/export': [
      { from: 0, to: 3 },
      { from: 0, to: 2, includeInputs: true },
    ],
    'POST /v1/approvals/:id/deny': [{ reason: 'no' }],
    'POST /v1/transit/keys/:name': [{ type: 'aes256-gcm96' }, { type: 'ed25519', exportable: true }],
    'POST /v1/transit/keys/:name/config': [{ deletion_allowed: false }, { min_decryption_version: 1 }],
    'POST /v1/transit/encrypt/:name': [
      { plaintext: b },
      { batch_input: [{ plaintext: b }] },
      { plaintext: b, associated_data: b },
    ],
    'POST /v1/transit/decrypt/:name': [{ ciphertext: vct }, { batch_input: [{ ciphertext: vct }] }],
    'POST /v1/transit/rewrap/:name': [{ ciphertext: vct }],
    'POST /v1/transit/datakey/:plaintext/:name': [{}, { bits: 256 }],
    'POST /v1/transit/sign/:name': [{ input: b }, { batch_input: [{ input: b }] }],
    'POST /v1/transit/sign/:name/:hash_algorithm': [{ input: b }],
    'POST /v1/transit/verify/:name': [{ input: b, signature: 'vault:v1:' + b }],
    'POST /v1/transit/verify/:name/:hash_algorithm': [{ input: b, signature: 'vault:v1:' + b }],
    'POST /v1/transit/hmac/:name': [{ input: b }],
    'POST /v1/transit/hmac/:name/:algorithm': [{ input: b }],
    'POST /v1/transit/random': [{ bytes: 16 }, { format: 'hex' }],
    'POST /v1/transit/random/:a': [{}],
    'POST /v1/transit/random/:source/:bytes': [{}],
    'POST /v1/transit/hash': [{ input: b }, { input: b, format: 'base64' }],
    'POST /v1/transit/hash/:algorithm': [{ input: b }],
    'POST /v1/transit/keys/:name/import': [{ ciphertext: b, type: 'aes256-gcm96' }],
  };
  const port = Number(new URL(s.url).port);
  const seeds = (route: Route) => seedTable[`${route.method} ${route.path}`] ?? [{}];
  // Which tokens each route serves, by a probe with its first valid body. Routes whose success
  // would change the world (seal, rekey, approvals, policy bindings, deletes) are assigned by hand.
  const served = new Map<string, TokenName[]>();
  for (const route of registeredRoutes()) {
    const key = `${route.method} ${route.path}`;
    if (route.path.startsWith('/v1/sys/') && route.path !== '/v1/sys/wrapping-key') served.set(key, ['root', 'admin']);
    else if (route.path.startsWith('/v1/approvals')) served.set(key, ['operator', 'root']);
    else if (/\/(activate|deactivate)$/.test(route.path) || route.method === 'DELETE')
      served.set(key, ['root', 'operator']);
    else if (!route.path.includes('*') && route.path !== '/v1/transit') {
      const path = route.path.replace(/:([A-Za-z_]+)/g, (_, n: string) => params[n]?.[0] ?? 'x');
      const body = route.method === 'GET' ? undefined : seeds(route)[0];
      let probe = 2_000_000;
      const ok: TokenName[] = [];
      for (const t of ['root', 'operator', 'app', 'auditor'] as const) {
        const r = await sendRaw(port, {
          method: route.method,
          target: path,
          headers: [
            ['Authorization', `Bearer ${tokens[t]}`],
            ['Content-Type', 'application/json'],
          ],
          ...(body !== undefined ? { body: Buffer.from(JSON.stringify(freshen(body, probe++))) } : {}),
        });
        if (r.status !== 401 && r.status !== 403) ok.push(t);
      }
      if (ok.length) served.set(key, ok);
    }
  }
  return {
    s,
    port,
    share: Buffer.from(creds.unsealShare, 'base64'),
    tokens,
    params,
    seeds,
    serves: (route) => served.get(`${route.method} ${route.path}`),
    setSeeds: (route, bodies) => {
      seedTable[route] = bodies;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Cases.
// ---------------------------------------------------------------------------------------------

interface Case {
  route: Route;
  request: RawRequest;
  token: TokenName;
  /** A short description for the report (bodies cut, bytes escaped). */
  label: string;
}

type Path = Array<string | number>;

/** Every path in a JSON value: objects' fields and arrays' items, the value itself first. */
function pathsOf(value: unknown, base: Path = []): Path[] {
  const out: Path[] = [base];
  if (Array.isArray(value)) value.forEach((v, k) => out.push(...pathsOf(v, [...base, k])));
  else if (typeof value === 'object' && value !== null)
    for (const [k, v] of Object.entries(value)) out.push(...pathsOf(v, [...base, k]));
  return out;
}

const getAt = (value: unknown, path: Path): unknown =>
  path.reduce<unknown>((v, k) => (v as Record<string | number, unknown> | undefined)?.[k], value);

/** A deep copy of `value` with the value at `path` replaced by `replacement`. */
function setAt(value: unknown, path: Path, replacement: unknown): unknown {
  if (path.length === 0) return replacement;
  const [head, ...rest] = path;
  const copy = (Array.isArray(value) ? [...value] : { ...(value as object) }) as Record<string | number, unknown>;
  copy[head!] = setAt(copy[head!], rest, replacement);
  return copy;
}

const MARKER = '\u0001fz-marker\u0001';

/** `value` as JSON text with the value at `path` replaced by the raw JSON text `raw`. */
function withRawAt(value: unknown, path: Path, raw: string): string {
  return JSON.stringify(setAt(value, path, MARKER)).replace(JSON.stringify(MARKER), raw);
}

/** Text a validator lets through but storage or hashing may not: inserted into a string field or name. */
const BAD_TEXT = ['\u0000', '\ud800', '\udfff', '\udc00\ud800', '\u0000\u0000', '\uffff', '\ufeff', '\u202e', '\u0085'];

/** One hostile edit of a valid body (JSON text). */
const mutation = fc.oneof(
  // The value at some path replaced by hostile JSON text.
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('replace' as const), pick: fc.nat(), raw: hostileJsonText }) },
  // Bad text inserted into a string value (or a field name) somewhere in the body.
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constantFrom('text' as const, 'name' as const),
      pick: fc.nat(),
      at: fc.nat(),
      bad: fc.constantFrom(...BAD_TEXT),
    }),
  },
  // An extra field (with a hostile name or value) added to some object.
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('add' as const),
      pick: fc.nat(),
      key: fc.constantFrom('x', '__proto__', 'constructor', 'a\u0000b', '\ud800', ''),
      raw: hostileJsonText,
    }),
  },
);

function applyMutation(seed: unknown, m: MutationValue): string {
  const paths = pathsOf(seed);
  const path = paths[m.pick % paths.length]!;
  const target = getAt(seed, path);
  switch (m.kind) {
    case 'replace':
      return withRawAt(seed, path, m.raw);
    case 'text': {
      // The string nearest `path`: itself, or the first string below it, or a new one.
      const strPath =
        paths.find(
          (p) => p.length >= path.length && typeof getAt(seed, p) === 'string' && path.every((k, i) => p[i] === k),
        ) ?? path;
      const str = getAt(seed, strPath);
      const text = typeof str === 'string' ? str : 'x';
      const at = m.at % (text.length + 1);
      return JSON.stringify(setAt(seed, strPath, text.slice(0, at) + m.bad + text.slice(at)));
    }
    case 'name': {
      const objPath =
        typeof target === 'object' && target !== null && !Array.isArray(target) ? path : path.slice(0, -1);
      const obj = getAt(seed, objPath);
      if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) return JSON.stringify(seed);
      const keys = Object.keys(obj);
      const key = keys.length ? keys[m.at % keys.length]! : 'x';
      const renamed = Object.fromEntries(
        Object.entries(obj).map(([k, v]) => [k === key ? key.slice(0, 1) + m.bad + key.slice(1) : k, v]),
      );
      return JSON.stringify(setAt(seed, objPath, renamed));
    }
    case 'add': {
      const objPath =
        typeof target === 'object' && target !== null && !Array.isArray(target) ? path : path.slice(0, -1);
      const obj = getAt(seed, objPath);
      if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) return withRawAt(seed, path, m.raw);
      return withRawAt(setAt(seed, objPath, { ...obj, [m.key]: MARKER }), [...objPath, m.key], m.raw);
    }
  }
}

type MutationValue =
  | { kind: 'replace'; pick: number; raw: string }
  | { kind: 'text' | 'name'; pick: number; at: number; bad: string }
  | { kind: 'add'; pick: number; key: string; raw: string };

/** Seeds name new keys `$fresh`: each case gets its own name, so a create reaches storage. */
function freshen(value: unknown, n: number): unknown {
  return JSON.parse(JSON.stringify(value).replaceAll('"$fresh"', `"fz-f${n}"`));
}

function caseArbitrary(world: World, routes: Route[]): fc.Arbitrary<Case> {
  const anyToken = fc.constantFrom<TokenName>(...(Object.keys(world.tokens) as TokenName[]));
  // Mostly a token the route serves (found by a probe with its valid body), so requests get past
  // authentication and the policies into the route's own code; sometimes any token.
  const tokenArb = (route: Route) =>
    fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom<TokenName>(...(world.serves(route) ?? ['root'])) },
      { weight: 1, arbitrary: anyToken },
    );
  const paramArb = (name: string) =>
    fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom(...(world.params[name] ?? ['x'])) },
      { weight: 1, arbitrary: hostileSegment },
    );
  const pathArb = (route: Route) => {
    const names = [...route.path.matchAll(/:([A-Za-z_]+)/g)].map((m) => m[1]!);
    return fc.tuple(...names.map(paramArb)).map((values) => {
      let i = 0;
      return route.path.replace(/:([A-Za-z_]+)/g, () => values[i++]!);
    });
  };
  const bodyArb = (route: Route): fc.Arbitrary<Buffer | undefined> => {
    const seed = fc.tuple(fc.constantFrom(...world.seeds(route)), fc.nat(1_000_000)).map(([v, n]) => freshen(v, n));
    return fc.oneof(
      { weight: 3, arbitrary: seed.map((v) => Buffer.from(JSON.stringify(v))) },
      {
        weight: 10,
        arbitrary: fc.tuple(seed, mutation).map(([v, m]) => Buffer.from(applyMutation(v, m as MutationValue))),
      },
      { weight: 2, arbitrary: hostileJsonText.map((t) => Buffer.from(t)) },
      { weight: 2, arbitrary: hostileRawBody },
      { weight: 1, arbitrary: fc.constant(undefined) },
    );
  };
  const queryArb = fc.oneof(
    { weight: 3, arbitrary: fc.constant('') },
    {
      weight: 2,
      arbitrary: fc
        .array(
          fc.tuple(
            fc.constantFrom(
              'limit',
              'after',
              'from',
              'to',
              'index',
              'size',
              'format',
              'algorithm',
              'state',
              'list',
              'x',
              '%00',
              '__proto__',
            ),
            queryValue,
          ),
          { minLength: 1, maxLength: 4 },
        )
        .map((pairs) => '?' + pairs.map(([k, v]) => `${k}=${v}`).join('&')),
    },
    { weight: 1, arbitrary: fc.constantFrom('?', '?&&', '?a', '?limit=1&limit=2', '?%', '?a=%ff') },
  );
  const extraHeadersArb: fc.Arbitrary<Array<[string, string | Buffer]>> = fc.oneof(
    { weight: 12, arbitrary: fc.constant<Array<[string, string | Buffer]>>([]) },
    {
      weight: 4,
      arbitrary: fc.array(
        fc.oneof(
          fc.constantFrom<[string, string | Buffer]>(
            ['Authorization', 'Bearer kwt_dup'],
            ['Authorization', 'Basic Zm9vOmJhcg=='],
            ['Authorization', 'Bearer'],
            ['Authorization', 'Bearer ' + 'A'.repeat(8000)],
            ['X-Vault-Token', 'kwt_' + 'B'.repeat(43)],
            ['X-Vault-Token', ''],
            ['Content-Type', 'application/json'],
            ['Content-Type', 'text/plain'],
            ['X-Request-Id', '../../x'],
            ['X-Forwarded-For', '1.2.3.4, 5.6.7.8'],
            ['Accept', '*/*;q=0.1, application/json'],
            ['Accept-Encoding', 'gzip, br'],
            ['Content-Encoding', 'gzip'],
            ['Expect', '100-continue'],
            ['X-Big', 'x'.repeat(20_000)],
            ['X-Latin1', Buffer.from([0xc3, 0xa9, 0xff, 0xfe])],
            ['X-Vault-Namespace', 'ns1/'],
            ['If-None-Match', '*'],
            ['Range', 'bytes=0-1'],
          ),
          fc.tuple(
            fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,20}$/),
            fc.string({ maxLength: 40 }).map((s) => s.replace(/[\r\n\0]/g, '')),
          ),
        ),
        { minLength: 1, maxLength: 6 },
      ),
    },
    {
      weight: 1,
      arbitrary: fc
        .integer({ min: 100, max: 400 })
        .map((n) => Array.from({ length: n }, (_, i): [string, string] => [`X-Many-${i}`, 'v'])),
    },
  );
  const methodArb = (route: Route) =>
    fc.oneof(
      { weight: 12, arbitrary: fc.constant(route.method) },
      {
        weight: 1,
        arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD', 'TRACE', 'LIST', 'FOO'),
      },
    );
  return fc.constantFrom(...routes).chain((route) =>
    fc
      .record({
        method: methodArb(route),
        path: pathArb(route),
        query: queryArb,
        body: bodyArb(route),
        token: tokenArb(route),
        contentType: fc.oneof(
          { weight: 8, arbitrary: fc.constant('application/json') },
          { weight: 2, arbitrary: fc.constantFrom(...CONTENT_TYPES) },
        ),
        extra: extraHeadersArb,
        chunked: fc.boolean(),
      })
      .map(({ method, path, query, body, token, contentType, extra, chunked }) => {
        const headers: Array<[string, string | Buffer]> = [];
        if (world.tokens[token]) headers.push(['Authorization', `Bearer ${world.tokens[token]}`]);
        if (body !== undefined && contentType) headers.push(['Content-Type', contentType]);
        headers.push(...extra);
        const request: RawRequest = {
          method,
          target: path + query,
          headers,
          ...(body !== undefined ? { body, chunked: chunked && body.length > 0 } : {}),
        };
        const shown = body === undefined ? '' : JSON.stringify(body.subarray(0, 160).toString('latin1'));
        const extraNames = extra
          .map(([k, v]) => `${k}(${v.length})`)
          .slice(0, 6)
          .join(',');
        return {
          route,
          request,
          token,
          label: `${method} ${(path + query).slice(0, 160)} token=${token} ct=${JSON.stringify(contentType)}${extraNames ? ' +' + extraNames : ''}${chunked ? ' chunked' : ''} body(${body?.length ?? 'none'})=${shown}`,
        };
      }),
  );
}

// ---------------------------------------------------------------------------------------------
// The run.
// ---------------------------------------------------------------------------------------------

interface PhaseResult {
  cases: number;
  seconds: number;
  perRoute: Map<string, number>;
  histogram: Map<string, number>;
  slowest: { ms: number; label: string };
  findings: string[];
}

/**
 * Runs `runs` cases with the invariants above. `sealed`: the server is sealed for the whole phase;
 * then 503 SEALED is the documented answer of every route that needs the keys (as Vault's), health
 * answers as it did at the start, and nothing may unseal it.
 */
async function runPhase(
  world: World,
  routes: Route[],
  runs: number,
  seed: number,
  sealed: boolean,
): Promise<PhaseResult> {
  const { s } = world;
  const perRoute = new Map<string, number>();
  const histogram = new Map<string, number>();
  const findings: string[] = [];
  const keySnapshot = async () => {
    const r = (await s.hsm.store.db.execute(
      sql`SELECT name, type, exportable, verify_only, labels, latest_version, min_decryption_version, deletion_allowed FROM keys ORDER BY name`,
    )) as unknown as { rows?: unknown[] } & unknown[];
    return JSON.stringify(r.rows ?? r);
  };
  const sealSnapshot = () => {
    const st = s.hsm.seal.status() as { sealed: boolean; progress: number };
    return JSON.stringify({ sealed: st.sealed, progress: st.progress });
  };
  const health = () => sendRaw(world.port, { method: 'GET', target: '/v1/sys/health', headers: [] });
  const healthStatus = (await health()).status;
  assert.equal(healthStatus, sealed ? 503 : 200, 'health at the start of the phase');
  let slowest = { ms: 0, label: '' };
  let cases = 0;
  const started = performance.now();
  const isSealedAnswer = (a: RawAnswer, method: string) => {
    if (a.status !== 503) return false;
    if (method === 'HEAD') return true; // the same answer as GET's, without its body
    try {
      // Keyward's and Vault's error forms, and health's sealed report (503 while sealed, as Vault's).
      const b = JSON.parse(a.body) as { error?: { code?: string }; errors?: string[]; sealed?: boolean };
      return b.error?.code === 'SEALED' || /sealed/i.test(b.errors?.[0] ?? '') || b.sealed === true;
    } catch {
      return false;
    }
  };

  await fc.assert(
    fc.asyncProperty(caseArbitrary(world, routes), async (c) => {
      cases++;
      const keysBefore = await keySnapshot();
      const sealBefore = sealSnapshot();
      const answer: RawAnswer = await sendRaw(world.port, c.request);
      const routeKey = `${c.route.method} ${c.route.path}`;
      perRoute.set(routeKey, (perRoute.get(routeKey) ?? 0) + 1);
      const statusKey = answer.status > 0 ? String(answer.status) : answer.status === 0 ? 'no answer' : 'reset';
      histogram.set(statusKey, (histogram.get(statusKey) ?? 0) + 1);
      if (answer.ms > slowest.ms) slowest = { ms: answer.ms, label: c.label };
      const reqId = answer.headers.find(([k]) => k === 'x-request-id')?.[1];
      const logLine = () =>
        (reqId ? s.logs.filter((l) => l.includes(reqId) && /"level":"error"/.test(l)) : []).join(' | ').slice(0, 600);
      if ((answer.status >= 500 && !(sealed && isSealedAnswer(answer, c.request.method))) || answer.status === 0) {
        findings.push(`${answer.status} ${answer.body.slice(0, 200)} <- ${c.label}\n      log: ${logLine()}`);
      }
      // A connection reset without an answer is tolerated only where the server may stop reading
      // early: a body over the limit or headers over Node's header limit (413/431 race the write).
      if (answer.status === -1) {
        const headerBytes = c.request.headers.reduce((n, [k, v]) => n + k.length + v.length + 4, 0);
        if ((c.request.body?.length ?? 0) <= 1024 * 1024 && headerBytes < 16 * 1024) {
          findings.push(`connection closed without an answer (${answer.error}) <- ${c.label}`);
        }
      }
      const succeeded = answer.status >= 200 && answer.status < 300;
      const nowSealed = s.hsm.seal.status().sealed;
      if (sealed && !nowSealed) {
        findings.push(`the server was unsealed by a fuzz request (${answer.status}) <- ${c.label}`);
        await s.call('POST', '/v1/sys/seal', { token: world.tokens.root, body: {} });
      } else if (!sealed && nowSealed) {
        // A root or admin token may seal the server on purpose: unseal again and go on.
        if (!(succeeded && /\/sys\/seal/.test(c.request.target)))
          findings.push(`the server is sealed after a request that did not seal it (${answer.status}) <- ${c.label}`);
        await devUnseal(s.hsm, world.share);
      } else if (!succeeded && sealSnapshot() !== sealBefore) {
        findings.push(`seal state or unseal progress changed by a failed request (${answer.status}) <- ${c.label}`);
      }
      // Vault's upsert (transit encrypt to a missing key) is two decisions, each recorded: key.create,
      // then encrypt. A caller allowed the first and denied the second (an operator) gets 403 and the
      // new key: not a failed request changing keys, so that one answer is left out of the check.
      const upsertDenied = routeKey === 'POST /v1/transit/encrypt/:name' && answer.status === 403;
      if (answer.status >= 400 && !upsertDenied && (await keySnapshot()) !== keysBefore) {
        findings.push(`key set changed by a failed request (${answer.status}) <- ${c.label}`);
      }
      const h = await health();
      if (h.status !== healthStatus) findings.push(`health ${h.status} ${h.body.slice(0, 200)} after <- ${c.label}`);
    }),
    { seed, numRuns: runs, endOnFailure: true },
  );
  return { cases, seconds: (performance.now() - started) / 1000, perRoute, histogram, slowest, findings };
}

function report(title: string, routes: Route[], r: PhaseResult, withRoutes: boolean): void {
  const sorted = (m: Map<string, number>) => [...m.entries()].sort((a, b) => b[1] - a[1]);
  console.log(
    `\nfuzz ${title}: seed ${SEED}, driver ${DRIVER}, ${r.cases} cases over ${r.perRoute.size} routes in ${r.seconds.toFixed(1)} s`,
  );
  console.log(`status histogram: ${JSON.stringify(Object.fromEntries(sorted(r.histogram)))}`);
  console.log(`slowest answer: ${r.slowest.ms.toFixed(0)} ms (${r.slowest.label.slice(0, 160)})`);
  if (!withRoutes) return;
  console.log('cases per route:');
  for (const [route, n] of [...r.perRoute.entries()].sort()) console.log(`  ${String(n).padStart(4)}  ${route}`);
  const untouched = routes.map((x) => `${x.method} ${x.path}`).filter((x) => !r.perRoute.has(x));
  if (untouched.length) console.log(`routes without a case: ${untouched.join(', ')}`);
}

describe(`HTTP fuzzing (seed ${SEED}, ${RUNS} cases, ${DRIVER})`, { timeout: 900_000 }, () => {
  let world: World;
  const routes = registeredRoutes();
  before(async () => {
    world = await buildWorld();
  });
  after(() => world?.s.close());

  it('unsealed: no 5xx, the server stays up and healthy, failed requests change no seal state and no key', async () => {
    assert.ok(routes.length > 70, `expected every route, got ${routes.length}`);
    const r = await runPhase(world, routes, RUNS, SEED, false);
    report('(unsealed)', routes, r, true);
    // The server still does real work: a round trip through the key made before the run.
    const e = await world.s.call('POST', '/v1/keys/fz-aes/encrypt', {
      token: world.tokens.app,
      body: { plaintext: 'aGk=' },
    });
    assert.equal(e.status, 200, JSON.stringify(e.body));
    assert.deepEqual(r.findings, [], `${r.findings.length} findings:\n  ${r.findings.slice(0, 40).join('\n  ')}`);
  });

  it('sealed: only 503 SEALED or 4xx, nothing unseals it, failed submissions leave the unseal progress alone', async () => {
    const { s } = world;
    assert.equal((await s.call('POST', '/v1/sys/seal', { token: world.tokens.root, body: {} })).status, 200);
    // A well-formed submission of a wrong share, sealed to this session, as the valid unseal body.
    const st = s.hsm.seal.status();
    const wrong = await sealSubmission({
      purpose: 'unseal',
      sessionPublicKey: Buffer.from(st.sessionPublicKey!, 'base64'),
      nonce: st.nonce!,
      ceremonyId: st.ceremonyId!,
      index: 0,
      holder: 'dev',
      share: new Uint8Array(world.share.length).fill(7),
    });
    world.setSeeds('POST /v1/sys/unseal', [{ ...wrong, nonce: st.nonce }]);
    const sysFirst = [...routes.filter((x) => x.path.startsWith('/v1/sys/')), ...routes];
    const r = await runPhase(world, sysFirst, Math.ceil(RUNS / 5), SEED + 1, true);
    report('(sealed)', routes, r, false);
    await devUnseal(s.hsm, world.share);
    assert.equal(s.hsm.seal.status().sealed, false);
    assert.deepEqual(r.findings, [], `${r.findings.length} findings:\n  ${r.findings.slice(0, 40).join('\n  ')}`);
  });
});
