/**
 * client/src/schema.ts is what openapi-typescript makes of the current OpenAPI document: regenerated
 * here (as `npm run gen:client` would) and compared with the committed file, so CI fails when a route
 * changes and the client's types don't.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { SCHEMA_FILE, clientSchemaSource } from '../../scripts/gen-client.mjs';

describe('@keyward/client types', () => {
  it('client/src/schema.ts is regenerated from the current OpenAPI document (npm run gen:client)', async () => {
    const fresh = await clientSchemaSource();
    const committed = readFileSync(SCHEMA_FILE, 'utf8');
    if (fresh !== committed) {
      const a = committed.split('\n');
      const b = fresh.split('\n');
      const line = a.findIndex((l, i) => l !== b[i]);
      assert.fail(`client/src/schema.ts is stale: run npm run gen:client and commit it (first difference at line ${line + 1}: ${JSON.stringify(a[line])} vs ${JSON.stringify(b[line])})`);
    }
  });

  it('types every path the server documents', async () => {
    const { ROUTES } = await import('../../server/openapi.js');
    const committed = readFileSync(SCHEMA_FILE, 'utf8');
    for (const r of ROUTES) assert.ok(committed.includes(`"${r.path.replace(/:([A-Za-z]+)/g, '{$1}')}": {`), `${r.method} ${r.path} is missing`);
  });
});
