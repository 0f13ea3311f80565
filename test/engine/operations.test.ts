/**
 * The operations catalog (engine/operations.ts) against what the server really does: every route
 * is called (with a body it accepts) against a server whose `hsm.request` is a spy that records the
 * operation and refuses, and the operations each route emitted must be exactly the catalog's for
 * that route; every authenticated route of the app is in the catalog; docs/architecture.md's table
 * is the catalog's; the default policy's cases cover every operation.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { ml_kem768 } from '@noble/post-quantum/ml-kem.js';
import { toPublicKeyFile } from '../../ceremony/index.js';
import { KeywardError } from '../../lib/errors.js';
import { OPERATIONS, OPERATION_NAMES, operationsTable } from '../../engine/operations.js';
import type { Operation, OperationSpec } from '../../engine/operations.js';
import type { RequestContext } from '../../engine/hsm.js';
import { appRouters } from '../../server/app.js';
import { TRANSIT_PREFIX } from '../../server/routes/transit.js';
import { makeHolders } from '../helpers/ceremony.js';
import { startTestServer } from '../helpers/server.js';
import type { TestServer } from '../helpers/server.js';
import { UNAUTHENTICATED_ROUTES } from '../helpers/routes.js';

const ROOT = new URL('../../', import.meta.url);
const b64 = (s: string) => Buffer.from(s).toString('base64');
const HASH = 'a'.repeat(64);
const APPROVAL = 'apr_' + '0'.repeat(32);

const UNAUTHENTICATED = new Set(UNAUTHENTICATED_ROUTES);

/** A request for a route pattern: [method, concrete path, body]. */
type Sample = [string, string, unknown?];

function samples(wrappingKey: string, holders: unknown[]): Record<string, Sample[]> {
  const T = TRANSIT_PREFIX;
  return {
    'POST /v1/keys': [['POST', '/v1/keys', { name: 'k1', type: 'aes256-gcm' }]],
    'GET /v1/keys': [['GET', '/v1/keys']],
    'GET /v1/keys/:name': [['GET', '/v1/keys/k1']],
    'POST /v1/keys/:name/rotate': [['POST', '/v1/keys/k1/rotate', {}]],
    'POST /v1/keys/:name/config': [['POST', '/v1/keys/k1/config', { deletionAllowed: true }]],
    'DELETE /v1/keys/:name': [['DELETE', '/v1/keys/k1']],
    'POST /v1/keys/:name/encrypt': [['POST', '/v1/keys/k1/encrypt', { plaintext: b64('hi') }]],
    'POST /v1/keys/:name/decrypt': [['POST', '/v1/keys/k1/decrypt', { ciphertext: 'kw:v1:AAAA' }]],
    'POST /v1/keys/:name/rewrap': [['POST', '/v1/keys/k1/rewrap', { ciphertext: 'kw:v1:AAAA' }]],
    'POST /v1/keys/:name/datakey': [['POST', '/v1/keys/k1/datakey', {}]],
    'POST /v1/keys/:name/sign': [['POST', '/v1/keys/k1/sign', { message: b64('hi') }]],
    'POST /v1/keys/:name/verify': [['POST', '/v1/keys/k1/verify', { message: b64('hi'), signature: 'kw:v1:AAAA' }]],
    'POST /v1/keys/:name/hmac': [['POST', '/v1/keys/k1/hmac', { message: b64('hi') }]],
    'POST /v1/keys/:name/encapsulate': [['POST', '/v1/keys/k1/encapsulate', {}]],
    'POST /v1/keys/:name/decapsulate': [['POST', '/v1/keys/k1/decapsulate', { ciphertext: 'AAAA' }]],
    'GET /v1/keys/:name/public': [['GET', '/v1/keys/k1/public']],
    'GET /v1/sys/wrapping-key': [['GET', '/v1/sys/wrapping-key']],
    'POST /v1/keys/:name/import': [
      ['POST', '/v1/keys/k1/import', { type: 'aes256-gcm', algorithm: 'ml-kem-768', wrappedKey: 'AAAA' }],
    ],
    'POST /v1/keys/:name/export': [['POST', '/v1/keys/k1/export', { algorithm: 'ml-kem-768', wrappingKey }]],
    'POST /v1/random': [['POST', '/v1/random', { bytes: 16 }]],
    'POST /v1/policies': [['POST', '/v1/policies', { name: 'p', wasm: 'AGFzbQEAAAA=' }]],
    'GET /v1/policies': [['GET', '/v1/policies']],
    'POST /v1/policies/evaluate': [
      ['POST', '/v1/policies/evaluate', { input: { operation: 'encrypt', principal: 'p' } }],
    ],
    'POST /v1/policies/:hash/activate': [['POST', `/v1/policies/${HASH}/activate`, { scope: 'global' }]],
    'POST /v1/policies/:hash/deactivate': [['POST', `/v1/policies/${HASH}/deactivate`, { scope: 'global' }]],
    'GET /v1/auth/whoami': [['GET', '/v1/auth/whoami']],
    'POST /v1/auth/tokens': [['POST', '/v1/auth/tokens', { principal: 'p', roles: ['app'] }]],
    'DELETE /v1/auth/tokens/:id': [['DELETE', '/v1/auth/tokens/tok_0123456789abcdef']],
    'POST /v1/sys/seal': [['POST', '/v1/sys/seal', {}]],
    'POST /v1/sys/rotate': [['POST', '/v1/sys/rotate', {}]],
    'POST /v1/sys/rekey/init': [['POST', '/v1/sys/rekey/init', { holders, threshold: 1 }]],
    'POST /v1/sys/rekey/cancel': [['POST', '/v1/sys/rekey/cancel', {}]],
    'POST /v1/sys/backup': [['POST', '/v1/sys/backup', {}]],
    'GET /metrics': [['GET', '/metrics']],
    'GET /v1/audit/keys': [['GET', '/v1/audit/keys']],
    'GET /v1/audit/checkpoint': [['GET', '/v1/audit/checkpoint']],
    'GET /v1/audit/records': [['GET', '/v1/audit/records?from=0']],
    'GET /v1/audit/proofs/inclusion': [['GET', '/v1/audit/proofs/inclusion?index=0&size=1']],
    'GET /v1/audit/proofs/consistency': [['GET', '/v1/audit/proofs/consistency?from=1&to=2']],
    'POST /v1/audit/hash': [['POST', '/v1/audit/hash', { value: 'x' }]],
    'POST /v1/audit/export': [['POST', '/v1/audit/export', {}]],
    'GET /v1/approvals': [['GET', '/v1/approvals']],
    'GET /v1/approvals/:id': [['GET', `/v1/approvals/${APPROVAL}`]],
    'POST /v1/approvals/:id/approve': [['POST', `/v1/approvals/${APPROVAL}/approve`, {}]],
    'POST /v1/approvals/:id/deny': [['POST', `/v1/approvals/${APPROVAL}/deny`, {}]],
    'POST /v1/approvals/:id/execute': [['POST', `/v1/approvals/${APPROVAL}/execute`, {}]],
    [`POST ${T}/keys/:name`]: [['POST', `${T}/keys/k1`, {}]],
    [`POST ${T}/keys/:name/import`]: [['POST', `${T}/keys/k1/import`, { type: 'ed25519', public_key: 'AAAA' }]],
    [`GET ${T}/keys/:name`]: [['GET', `${T}/keys/k1`]],
    [`GET ${T}/keys`]: [['GET', `${T}/keys?list=true`]],
    [`DELETE ${T}/keys/:name`]: [['DELETE', `${T}/keys/k1`]],
    [`POST ${T}/keys/:name/config`]: [['POST', `${T}/keys/k1/config`, {}]],
    [`POST ${T}/keys/:name/rotate`]: [['POST', `${T}/keys/k1/rotate`, {}]],
    [`GET ${T}/export/:key_type/:name`]: [
      ['GET', `${T}/export/encryption-key/k1`],
      ['GET', `${T}/export/public-key/k1`],
    ],
    [`GET ${T}/export/:key_type/:name/:version`]: [
      ['GET', `${T}/export/encryption-key/k1/1`],
      ['GET', `${T}/export/public-key/k1/latest`],
    ],
    // The transit encrypt upserts: a missing key is created (key.create) and the encrypt retried.
    [`POST ${T}/encrypt/:name`]: [['POST', `${T}/encrypt/k1`, { plaintext: b64('hi') }]],
    [`POST ${T}/decrypt/:name`]: [['POST', `${T}/decrypt/k1`, { ciphertext: 'vault:v1:AAAA' }]],
    [`POST ${T}/rewrap/:name`]: [['POST', `${T}/rewrap/k1`, { ciphertext: 'vault:v1:AAAA' }]],
    [`POST ${T}/datakey/:plaintext/:name`]: [['POST', `${T}/datakey/plaintext/k1`, {}]],
    [`POST ${T}/sign/:name`]: [['POST', `${T}/sign/k1`, { input: b64('hi') }]],
    [`POST ${T}/sign/:name/:hash_algorithm`]: [['POST', `${T}/sign/k1/sha2-256`, { input: b64('hi') }]],
    [`POST ${T}/verify/:name`]: [['POST', `${T}/verify/k1`, { input: b64('hi'), signature: 'vault:v1:AAAA' }]],
    [`POST ${T}/verify/:name/:hash_algorithm`]: [
      ['POST', `${T}/verify/k1/sha2-256`, { input: b64('hi'), signature: 'vault:v1:AAAA' }],
    ],
    [`POST ${T}/hmac/:name`]: [['POST', `${T}/hmac/k1`, { input: b64('hi') }]],
    [`POST ${T}/hmac/:name/:algorithm`]: [['POST', `${T}/hmac/k1/sha2-256`, { input: b64('hi') }]],
    [`POST ${T}/random`]: [['POST', `${T}/random`, {}]],
    [`POST ${T}/random/:a`]: [['POST', `${T}/random/16`, {}]],
    [`POST ${T}/random/:source/:bytes`]: [['POST', `${T}/random/platform/16`, {}]],
    [`POST ${T}/hash`]: [['POST', `${T}/hash`, { input: b64('hi') }]],
    [`POST ${T}/hash/:algorithm`]: [['POST', `${T}/hash/sha2-256`, { input: b64('hi') }]],
  };
}

/** route → the catalog's operations for it. */
function catalogByRoute(): Map<string, Set<Operation>> {
  const m = new Map<string, Set<Operation>>();
  for (const name of OPERATION_NAMES) {
    for (const route of (OPERATIONS[name] as OperationSpec).routes) {
      if (!m.has(route)) m.set(route, new Set());
      m.get(route)!.add(name);
    }
  }
  return m;
}

describe('the operations catalog (engine/operations.ts)', () => {
  let s: TestServer;
  let emitted: Operation[] = [];
  before(async () => {
    s = await startTestServer();
    // The spy: record the operation, refuse as a missing key would (the transit encrypt then upserts:
    // its encrypt on the key to be runs, so the key.create inside it is seen, and refused likewise).
    (
      s.hsm as unknown as { request: (ctx: RequestContext, fn: (a: never) => Promise<unknown>) => Promise<never> }
    ).request = async (ctx, fn) => {
      emitted.push(ctx.operation);
      if (ctx.newKey && ctx.operation === 'encrypt') await fn(undefined as never);
      throw new KeywardError('KEY_NOT_FOUND', 'spy');
    };
  });
  after(() => s?.close());

  it('every route emits exactly the catalog operations listed for it, and every catalog route exists', async () => {
    const wrappingKey = Buffer.from(ml_kem768.keygen().publicKey).toString('base64');
    const holders = (await makeHolders(['ops-a'])).map(toPublicKeyFile);
    const table = samples(wrappingKey, holders);
    const byRoute = catalogByRoute();
    assert.deepEqual(
      [...byRoute.keys()].filter((r) => !table[r]).sort(),
      [],
      'catalog routes without a sample request here',
    );
    for (const [route, reqs] of Object.entries(table)) {
      const got = new Set<Operation>();
      for (const [method, path, body] of reqs) {
        emitted = [];
        const res = await fetch(s.url + path, {
          method,
          headers: body === undefined ? {} : { 'content-type': 'application/json' },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
        const text = await res.text();
        assert.ok(
          emitted.length > 0,
          `${method} ${path} reached no pipeline call: ${res.status} ${text.slice(0, 300)}`,
        );
        for (const op of emitted) got.add(op);
      }
      assert.deepEqual([...got].sort(), [...(byRoute.get(route) ?? [])].sort(), `${route}: emitted vs catalog`);
    }
  });

  it('every route of the app is in the catalog, except the unauthenticated ceremony and status routes', () => {
    const catalogued = new Set(catalogByRoute().keys());
    const missing: string[] = [];
    for (const router of appRouters({
      hsm: s.hsm,
      log: undefined as never,
      bodyLimit: 1024,
      ceremonyRate: { burst: 1, perMinute: 1 },
    })) {
      for (const layer of router.stack) {
        for (const method of layer.methods.filter((m) => m !== 'HEAD')) {
          const route = `${method} ${layer.path}`;
          if (String(layer.path).includes('*') || layer.path === TRANSIT_PREFIX) continue; // transit's 404/405 fallback
          if (!catalogued.has(route) && !UNAUTHENTICATED.has(route)) missing.push(route);
        }
      }
    }
    assert.deepEqual(missing, []);
  });

  it('routes reach the engine only through the pipeline: no service, store or free operation string in server/routes or server/transit', () => {
    const files = ['server/routes', 'server/transit'].flatMap((d) =>
      readdirSync(new URL(d, ROOT))
        .filter((f) => f.endsWith('.ts'))
        .map((f) => `${d}/${f}`),
    );
    const problems: string[] = [];
    for (const file of files) {
      readFileSync(new URL(file, ROOT), 'utf8')
        .split('\n')
        .forEach((line, i) => {
          if (/\bhsm\.(store|keys|approvals|seal|tokens|policies|integrator|audit|secrets)\b/.test(line))
            problems.push(`${file}:${i + 1}: reaches a service: ${line.trim()}`);
          // Operation names are typed by the catalog; a string that is not one would be a free string.
          for (const m of line.matchAll(/operation: '([^']+)'/g))
            if (!OPERATION_NAMES.includes(m[1] as Operation))
              problems.push(`${file}:${i + 1}: "${m[1]}" is not in the catalog`);
        });
    }
    assert.deepEqual(problems, []);
  });

  it('docs/architecture.md has the generated table (node --import tsx scripts/gen-operations-table.mjs)', () => {
    const doc = readFileSync(new URL('docs/architecture.md', ROOT), 'utf8');
    const m = /<!-- operations:begin[^\n]*-->\n([\s\S]*?)\n<!-- operations:end -->/.exec(doc);
    assert.ok(m, 'operations markers in docs/architecture.md');
    assert.equal(m[1], operationsTable());
  });

  it("the default policy's cases decide every operation, for every role", () => {
    const cases = JSON.parse(readFileSync(new URL('policies/default/rbac.cases.json', ROOT), 'utf8')) as Array<{
      input: { operation: string; roles?: string[] };
    }>;
    for (const role of ['admin', 'operator', 'app', 'auditor']) {
      const seen = new Set(
        cases.filter((c) => c.input.roles?.length === 1 && c.input.roles[0] === role).map((c) => c.input.operation),
      );
      assert.deepEqual(
        OPERATION_NAMES.filter((o) => !seen.has(o)),
        [],
        `${role}: operations without a case`,
      );
    }
  });
});
