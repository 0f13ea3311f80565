import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { KEY_TYPES } from '../../engine/crypto/index.js';
import { appRouters } from '../../server/app.js';
import { z } from 'zod';
import { ROUTES, buildDocument, findRoute, openApiDocument, routeStatuses } from '../../server/openapi.js';
import type { RouteDoc } from '../../server/openapi.js';
import { TRANSIT_PREFIX } from '../../server/routes/transit.js';
import { silentLogger } from '../../server/log.js';
import { formatProblems, lintOpenApi } from '../helpers/openapi.js';
import { startTestServer } from '../helpers/server.js';
import type { TestServer } from '../helpers/server.js';

type Json = any;
const doc = openApiDocument() as Json;
/** Follows a local `$ref` (components only). */
const deref = (o: Json): Json =>
  o && typeof o.$ref === 'string'
    ? deref(
        o.$ref
          .slice(2)
          .split('/')
          .reduce((n: Json, k: string) => n[k], doc),
      )
    : o;
const operations = (): Array<{ path: string; method: string; op: Json }> =>
  Object.entries(doc.paths as Record<string, Record<string, Json>>).flatMap(([path, item]) =>
    Object.entries(item).map(([method, op]) => ({ path, method, op })),
  );

describe('GET /openapi.json', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
  });
  after(() => s.close());

  it('describes exactly the routes the routers register', () => {
    const deps = { hsm: s.hsm, log: silentLogger, bodyLimit: 1, ceremonyRate: { burst: 1, perMinute: 1 } };
    const registered = new Set<string>();
    for (const r of appRouters(deps)) {
      for (const layer of r.stack) {
        // The Vault-transit-compatible routes are Vault's API (HashiCorp documents them; Vault clients
        // call them), with Vault's envelope, errors and token header: they are left out of Keyward's
        // document on purpose (docs/vault-transit.md), so generated clients carry one API.
        if (String(layer.path).startsWith(TRANSIT_PREFIX)) continue;
        for (const m of layer.methods) if (m !== 'HEAD') registered.add(`${m.toLowerCase()} ${layer.path}`);
      }
    }
    const documented = new Set(ROUTES.map((r) => `${r.method} ${r.path}`));
    assert.deepEqual([...registered].sort(), [...documented].sort());
  });

  it('is served, OpenAPI 3.1, with request schemas from the validators', async () => {
    const r = await s.call('GET', '/openapi.json');
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, JSON.parse(JSON.stringify(doc)));
    assert.equal(r.body.openapi, '3.1.0');
    const schema = deref(doc.paths['/v1/sys/init'].post.requestBody.content['application/json'].schema);
    assert.deepEqual(schema.required.sort(), ['holders', 'threshold']);
    assert.equal(schema.additionalProperties, false);
    assert.deepEqual(
      doc.paths['/v1/policies/{hash}/activate'].post.parameters.map((p: Json) => p.name),
      ['hash'],
    );
    assert.deepEqual(doc.paths['/v1/auth/tokens'].post.security, [{ bearer: [] }]);
    assert.deepEqual(doc.paths['/v1/sys/health'].get.security, []);
    assert.ok(doc.servers.length >= 1);
  });

  it('names every operation (stable camelCase, unique) and tags it', () => {
    const ids = operations().map(({ op }) => op.operationId);
    assert.equal(new Set(ids).size, ids.length);
    const tags = new Set(doc.tags.map((t: Json) => t.name));
    for (const { path, method, op } of operations()) {
      assert.match(op.operationId, /^[a-z][A-Za-z0-9]*$/, `${method} ${path}`);
      assert.equal(op.tags.length, 1);
      assert.ok(tags.has(op.tags[0]), `${method} ${path}: tag ${op.tags[0]}`);
    }
    // The SDK calls these by name: renaming one is a breaking change.
    const some = Object.fromEntries(ROUTES.map((r) => [`${r.method} ${r.path}`, r.operationId]));
    assert.equal(some['post /v1/keys/:name/encrypt'], 'keysEncrypt');
    assert.equal(some['post /v1/approvals/:id/execute'], 'approvalsExecute');
    assert.equal(some['get /v1/sys/health'], 'sysHealth');
  });

  it('documents a named, typed success body for every operation (never a bare object)', () => {
    for (const { path, method, op } of operations()) {
      const ok = Object.keys(op.responses).filter((s) => /^2/.test(s) && s !== '202');
      assert.ok(ok.length >= 1, `${method} ${path}`);
      for (const status of ok) {
        const content = op.responses[status].content;
        if (!content['application/json']) {
          // A stream (the backup, docs/backup.md): a binary string under its own media type, and
          // under each alternate one that Accept chooses (described).
          const [first, ...alternates] = Object.values(content) as Json[];
          assert.deepEqual(first, { schema: { type: 'string', format: 'binary' } }, path);
          for (const a of alternates) {
            const { description, ...schema } = a.schema;
            assert.deepEqual(schema, { type: 'string', format: 'binary' }, path);
            assert.match(description, /Accept/, path);
          }
          continue;
        }
        const ref = content['application/json'].schema.$ref;
        assert.match(ref, /^#\/components\/schemas\/[A-Z][A-Za-z0-9]*$/, `${method} ${path} ${status}`);
        const schema = deref({ $ref: ref });
        assert.ok(
          schema.properties || schema.anyOf || schema.oneOf || schema.additionalProperties,
          `${method} ${path} ${status}: ${JSON.stringify(schema)}`,
        );
      }
    }
    const enc = deref(doc.paths['/v1/keys/{name}/encrypt'].post.responses['200'].content['application/json'].schema);
    assert.deepEqual(
      enc.anyOf.map((b: Json) => b.$ref ?? 'batch'),
      ['#/components/schemas/EncryptResult', 'batch'],
    );
    assert.deepEqual(deref({ $ref: '#/components/schemas/EncryptResult' }).required, ['ciphertext', 'keyVersion']);
  });

  it('documents the errors each operation can give with the shared error schema, and 202 where a policy can park it', () => {
    const error = doc.components.schemas.Error;
    assert.deepEqual(error.required, ['error']);
    assert.deepEqual(error.properties.error.required, ['code', 'message']);
    for (const r of ROUTES) {
      const op = doc.paths[r.path.replace(/:([A-Za-z]+)/g, '{$1}')][r.method];
      const takesInput = r.body !== undefined || r.query !== undefined || r.path.includes(':') || r.auth;
      const fourxx = Object.keys(op.responses).filter((s) => /^4/.test(s));
      if (takesInput) assert.ok(fourxx.includes('400') || fourxx.includes('401'), `${r.operationId}: ${fourxx}`);
      const errorRef = r.errorBody
        ? deref(op.responses.default).content['application/json'].schema.$ref
        : '#/components/schemas/Error';
      for (const s of fourxx)
        assert.equal(deref(op.responses[s]).content['application/json'].schema.$ref, errorRef, `${r.operationId} ${s}`);
      if (r.parkable ?? r.auth) {
        assert.equal(
          deref(op.responses['202']).content['application/json'].schema.$ref,
          '#/components/schemas/ApprovalPending',
        );
      } else assert.equal(op.responses['202'], undefined, r.operationId);
      if (r.auth) for (const s of ['401', '403', '503']) assert.ok(op.responses[s], `${r.operationId} ${s}`);
      if (r.body) for (const s of ['400', '413', '415']) assert.ok(op.responses[s], `${r.operationId} ${s}`);
      assert.ok(op.responses.default, r.operationId);
    }
    const health = doc.paths['/v1/sys/health'].get.responses;
    for (const s of ['200', '501', '503'])
      assert.equal(health[s].content['application/json'].schema.$ref, '#/components/schemas/Health');
    assert.ok(doc.paths['/v1/sys/init'].post.responses['429']);
  });

  it('documents query and path parameters the routes read', () => {
    const params = (path: string, method = 'get') =>
      Object.fromEntries((doc.paths[path][method].parameters ?? []).map((p: Json) => [`${p.in}:${p.name}`, p]));
    const keys = params('/v1/keys');
    assert.deepEqual(Object.keys(keys).sort(), ['query:after', 'query:limit']);
    assert.equal(keys['query:limit'].schema.type, 'integer');
    assert.equal(keys['query:limit'].schema.maximum, 1000);
    assert.equal(keys['query:limit'].required, false);
    assert.deepEqual(Object.keys(params('/v1/sys/wrapping-key')), ['query:algorithm']);
    assert.deepEqual(params('/v1/sys/wrapping-key')['query:algorithm'].schema.enum, [
      'rsa-oaep-3072-aes-kwp',
      'ml-kem-768',
      'x-wing',
    ]);
    assert.deepEqual(Object.keys(params('/v1/audit/records')).sort(), ['query:from', 'query:limit', 'query:to']);
    assert.deepEqual(Object.keys(params('/v1/keys/{name}/public')).sort(), ['path:name', 'query:format']);
    assert.deepEqual(params('/v1/keys/{name}/public')['query:format'].schema.enum, ['pem', 'jwk', 'raw']);
    const incl = params('/v1/audit/proofs/inclusion');
    assert.equal(incl['query:index'].required, true);
    assert.equal(incl['query:size'].required, true);
    assert.deepEqual(Object.keys(params('/v1/approvals')).sort(), ['query:after', 'query:limit', 'query:state']);
    assert.equal(params('/v1/approvals/{id}')['path:id'].schema.pattern, '^apr_[0-9a-f]{32}$');
    assert.equal(params('/v1/auth/tokens/{id}', 'delete')['path:id'].schema.pattern, '^tok_[0-9a-f]{16}$');
    // Every path parameter is in the path, required.
    for (const { path, method, op } of operations()) {
      const names = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      assert.deepEqual(
        (op.parameters ?? []).filter((p: Json) => p.in === 'path').map((p: Json) => p.name),
        names,
        `${method} ${path}`,
      );
    }
  });

  it('types key types as the enum of the engine, in requests and responses', () => {
    assert.deepEqual(doc.components.schemas.KeyType.enum, [...KEY_TYPES]);
    for (const name of ['KeysCreateRequest', 'KeysImportRequest'])
      assert.deepEqual(doc.components.schemas[name].properties.type, { $ref: '#/components/schemas/KeyType' }, name);
    assert.deepEqual(doc.components.schemas.KeyInfo.properties.type, { $ref: '#/components/schemas/KeyType' });
  });

  it('documents the execute body (the parked request body, an object)', () => {
    const body = doc.paths['/v1/approvals/{id}/execute'].post.requestBody;
    assert.equal(deref(body.content['application/json'].schema).type, 'object');
  });

  it('finds the route of a request path (the response check in test/helpers/server.ts relies on it)', () => {
    assert.equal(findRoute('POST', '/v1/keys/k1/encrypt')?.operationId, 'keysEncrypt');
    assert.equal(findRoute('GET', '/v1/keys?limit=5')?.operationId, 'keysList');
    assert.equal(findRoute('GET', '/v1/keys/a/b/c'), undefined);
    assert.equal(findRoute('PUT', '/v1/keys'), undefined);
    const st = routeStatuses(findRoute('POST', '/v1/keys')!);
    assert.deepEqual([...st.success.keys()].sort(), [201, 202]);
    assert.ok(st.errors.includes(409));
  });

  it('lints clean with Redocly (recommended ruleset, redocly.yaml), offline', async () => {
    const report = await lintOpenApi();
    assert.deepEqual(report.totals, { errors: 0, warnings: 0, ignored: 0 }, formatProblems(report));
  });

  it('the lint can fail: a document without servers or operationIds has problems', async () => {
    const broken = JSON.parse(JSON.stringify(doc));
    delete broken.servers;
    delete broken.paths['/v1/keys'].get.operationId;
    const report = await lintOpenApi(broken);
    const rules = new Set(report.problems.map((p) => p.ruleId));
    assert.ok(rules.has('no-empty-servers'), formatProblems(report));
    assert.ok(rules.has('operation-operationId'), formatProblems(report));
  });

  it('documents a new route from one entry, including one that is not parkable and has its own error body', async () => {
    const VaultErrors = z.strictObject({ errors: z.array(z.string()) });
    const extra: RouteDoc[] = [
      {
        method: 'post',
        path: '/v1/transit/encrypt/:name',
        operationId: 'transitEncrypt',
        tag: 'keys',
        summary: 'A Vault-compatible route (example)',
        auth: true,
        parkable: false,
        errorBody: VaultErrors,
        params: { name: z.string() },
        body: z.strictObject({ plaintext: z.string() }),
        response: z.strictObject({ data: z.strictObject({ ciphertext: z.string() }) }),
      },
    ];
    const d = buildDocument([...ROUTES, ...extra]) as Json;
    const op = d.paths['/v1/transit/encrypt/{name}'].post;
    assert.equal(op.operationId, 'transitEncrypt');
    assert.equal(op.responses['202'], undefined);
    assert.equal(
      op.responses['403'].content['application/json'].schema.$ref,
      '#/components/schemas/TransitEncryptError',
    );
    assert.deepEqual(d.components.schemas.TransitEncryptError.required, ['errors']);
    assert.equal(op.requestBody.content['application/json'].schema.$ref, '#/components/schemas/TransitEncryptRequest');
    const report = await lintOpenApi(d);
    assert.deepEqual(report.totals, { errors: 0, warnings: 0, ignored: 0 }, formatProblems(report));
    assert.throws(
      () => buildDocument([...ROUTES, ...extra, { ...extra[0]!, path: '/v1/other' }]),
      /operationId transitEncrypt is used twice/,
    );
  });

  it('routes refuse query values outside the documented bounds (400 naming the parameter) and accept those inside', async () => {
    // The server here is not initialized: a query that parses goes on to 503 NOT_INITIALIZED.
    for (const r of ROUTES.filter((x) => x.query)) {
      const path = r.path.replace(':name', 'k');
      const params = doc.paths[r.path.replace(/:([A-Za-z]+)/g, '{$1}')][r.method].parameters.filter(
        (p: Json) => p.in === 'query',
      );
      const valid: Record<string, string> = {};
      // A value each parameter accepts (an optional one with a pattern is left out).
      for (const p of params) {
        const sample =
          p.schema.default ?? p.schema.enum?.[0] ?? p.schema.minimum ?? (p.schema.pattern ? undefined : 'x');
        if (sample !== undefined) valid[p.name] = String(sample);
      }
      const url = (over: Record<string, string | string[]>) => {
        const q = new URLSearchParams();
        for (const [k, v] of Object.entries({ ...valid, ...over })) for (const one of [v].flat()) q.append(k, one);
        return `${path}?${q}`;
      };
      const passed = await s.call('GET', url({}));
      assert.equal(
        passed.body.error.code,
        'NOT_INITIALIZED',
        `${r.operationId} ${url({})}: ${JSON.stringify(passed.body)}`,
      );
      for (const p of params) {
        const bad: string[] = ['twice'];
        if (p.schema.enum) bad.push('zzz');
        if (p.schema.type === 'integer') bad.push('1.5', 'abc', String(p.schema.minimum - 1));
        if (p.schema.type === 'integer' && p.schema.maximum !== undefined && p.schema.maximum < Number.MAX_SAFE_INTEGER)
          bad.push(String(p.schema.maximum + 1));
        if (p.schema.pattern) bad.push('no match');
        for (const value of bad) {
          const target = url({ [p.name]: value === 'twice' ? [valid[p.name] ?? 'x', valid[p.name] ?? 'x'] : value });
          const res = await s.call('GET', target);
          assert.equal(res.status, 400, `${r.operationId} ${target}: ${JSON.stringify(res.body)}`);
          assert.equal(res.body.error.code, 'VALIDATION_FAILED');
          assert.match(res.body.error.message, new RegExp(`^${p.name}: expected `), target);
        }
      }
    }
    const missing = await s.call('GET', '/v1/audit/proofs/inclusion?index=0');
    assert.equal(missing.body.error.message, 'size: expected a non-negative integer, got nothing');
    const twice = await s.call('GET', '/v1/keys?limit=1&limit=2');
    assert.equal(twice.body.error.message, 'limit: expected 1 to 1000, got 2 values');
  });
});
