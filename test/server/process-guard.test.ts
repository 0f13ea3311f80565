/**
 * server/process-guard.ts: a storage failure that no one awaited does not end the server process;
 * any other unhandled rejection still does (issue 13, item 4). In child processes, with a real
 * driver failure (postgres.js refused by a closed port, through drizzle).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';

/**
 * The modules the child imports: under npm test, the compiled mirror's .js (scripts/test-mirror.mjs),
 * which plain Node runs; else the sources through the TypeScript hooks. The hooks' start-up was
 * most of each child's CPU (about 2 s of the file's 2.7 s, measured).
 */
const COMPILED = import.meta.url.endsWith('.js');
const moduleUrl = (path: string) => new URL(`../../${path}.${COMPILED ? 'js' : 'ts'}`, import.meta.url).href;
const HOOKS = COMPILED ? [] : ['--import', new URL('../../scripts/register-ts.mjs', import.meta.url).href];

async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

const child = (port: number, storage: boolean) => `
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { createLogger } from '${moduleUrl('server/log')}';
import { guardStorageRejections } from '${moduleUrl('server/process-guard')}';
guardStorageRejections(createLogger({ write: (l) => process.stdout.write(l) }));
const client = postgres('postgres://postgres@127.0.0.1:${port}/postgres', { max: 1, connect_timeout: 2, onnotice: () => {} });
${storage ? 'drizzle(client).execute(sql`select 1`).then(() => undefined); // runs, and nobody awaits it' : "Promise.reject(new TypeError('a bug'));"}
await new Promise((r) => setTimeout(r, 1500));
console.log('still alive');
await client.end({ timeout: 0 });
`;

function run(code: string) {
  return spawnSync(process.execPath, [...HOOKS, '--input-type=module', '-e', code], {
    encoding: 'utf8',
    timeout: 30_000,
  });
}

describe('the process guard', () => {
  it('a storage failure nobody awaited is logged with its reason; the process goes on', async () => {
    const r = run(child(await closedPort(), true));
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /"reason":"ECONNREFUSED"/);
    assert.match(r.stdout, /still alive/);
  });

  it('any other unhandled rejection still ends the process', async () => {
    const r = run(child(await closedPort(), false));
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /TypeError: a bug/);
    assert.doesNotMatch(r.stdout, /still alive/);
  });
});
