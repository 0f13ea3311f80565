/**
 * client/src/schema.ts is what openapi-typescript makes of the current OpenAPI document: regenerated
 * here (as `npm run gen:client` would) and compared with the committed file, so CI fails when a route
 * changes and the client's types don't.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { OPERATIONS_FILE, SCHEMA_FILE, clientOperationsSource, clientSchemaSource } from '../../scripts/gen-client.mjs';

describe('@keyward/client types', () => {
  it('client/src/schema.ts is regenerated from the current OpenAPI document (npm run gen:client)', async () => {
    const fresh = await clientSchemaSource();
    const committed = readFileSync(SCHEMA_FILE, 'utf8');
    if (fresh !== committed) {
      const a = committed.split('\n');
      const b = fresh.split('\n');
      const line = a.findIndex((l, i) => l !== b[i]);
      assert.fail(
        `client/src/schema.ts is stale: run npm run gen:client and commit it (first difference at line ${line + 1}: ${JSON.stringify(a[line])} vs ${JSON.stringify(b[line])})`,
      );
    }
  });

  it('client/src/operations.ts is regenerated from the operations catalog (npm run gen:client)', async () => {
    assert.equal(
      readFileSync(OPERATIONS_FILE, 'utf8'),
      await clientOperationsSource(),
      'client/src/operations.ts is stale: run npm run gen:client and commit it',
    );
    const { OPERATIONS } = await import('../../client/src/index.js');
    const { OPERATION_NAMES } = await import('../../engine/operations.js');
    assert.deepEqual(Object.keys(OPERATIONS), OPERATION_NAMES);
  });

  it('types every path the server documents', async () => {
    const { ROUTES } = await import('../../server/openapi.js');
    const committed = readFileSync(SCHEMA_FILE, 'utf8');
    for (const r of ROUTES)
      assert.ok(
        committed.includes(`"${r.path.replace(/:([A-Za-z]+)/g, '{$1}')}": {`),
        `${r.method} ${r.path} is missing`,
      );
  });

  it('imports nothing of the server, engine, ceremony or CLI: only its own modules and openapi-fetch (docs/architecture.md, "Dependency direction")', () => {
    const dir = dirname(SCHEMA_FILE);
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.ts'))) {
      const text = readFileSync(join(dir, f), 'utf8');
      for (const [, spec] of text.matchAll(/^(?:import|export)\b[^'"]*?from '([^']+)'/gm)) {
        assert.ok(spec!.startsWith('./') || spec === 'openapi-fetch', `client/src/${f} imports ${spec}`);
      }
    }
  });
});
