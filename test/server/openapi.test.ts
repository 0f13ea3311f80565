import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { appRouters } from '../../server/app.js';
import { ROUTES } from '../../server/openapi.js';
import { TRANSIT_PREFIX } from '../../server/routes/transit.js';
import { silentLogger } from '../../server/log.js';
import { startTestServer } from '../helpers/server.js';
import type { TestServer } from '../helpers/server.js';

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

  it('is OpenAPI 3.1 with request schemas from the validators', async () => {
    const r = await s.call('GET', '/openapi.json');
    assert.equal(r.status, 200);
    assert.equal(r.body.openapi, '3.1.0');
    const init = r.body.paths['/v1/sys/init'].post;
    const schema = init.requestBody.content['application/json'].schema;
    assert.deepEqual(schema.required.sort(), ['holders', 'threshold']);
    assert.equal(schema.additionalProperties, false);
    assert.deepEqual(r.body.paths['/v1/policies/{hash}/activate'].post.parameters.map((p: any) => p.name), ['hash']);
    assert.deepEqual(r.body.paths['/v1/auth/tokens'].post.security, [{ bearer: [] }]);
    assert.deepEqual(r.body.paths['/v1/sys/health'].get.security, []);
  });
});
