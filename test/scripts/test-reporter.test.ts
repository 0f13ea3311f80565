/**
 * scripts/test-reporter.mjs: the test processes run the mirror's JavaScript without
 * --enable-source-maps, and the report names the TypeScript sources anyway. A location in the
 * mirror maps to the same statement in the source (found by its text on both sides).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
// @ts-expect-error: a plain .mjs script without types
import { sourceLocations, withCauses } from '../../scripts/test-reporter.mjs';
import { ROOT } from '../../scripts/dist-fresh.mjs';

const MIRROR = join(ROOT, 'node_modules', '.cache', 'keyward-test');

/** The 1-based line of `text`'s first occurrence in `file`. */
const lineOf = (file: string, text: string) =>
  readFileSync(file, 'utf8')
    .split('\n')
    .findIndex((l) => l.includes(text)) + 1;

describe('test reporter: mirror locations as the sources', () => {
  it('maps a location in a compiled file to its TypeScript line, with or without file://', () => {
    const js = join(MIRROR, 'engine', 'dev.js');
    const ts = join(ROOT, 'engine', 'dev.ts');
    const [from, to] = [lineOf(js, 'async function devBootstrap('), lineOf(ts, 'export async function devBootstrap(')];
    assert.ok(from > 0 && to > 0 && from !== to, `${from} ${to}: the compiled line differs from the source's`);
    const stack = `Error: x\n    at devBootstrap (${js}:${from}:1)\n    at file://${js}:${from}:1`;
    assert.equal(sourceLocations(stack), `Error: x\n    at devBootstrap (${ts}:${to}:1)\n    at ${ts}:${to}:1`);
  });

  it('leaves other locations, and ones it cannot map, as they were', () => {
    const other = 'at f (/usr/lib/node/x.js:1:2) at g (node:internal/y:3:4)';
    assert.equal(sourceLocations(other), other);
    const missing = `at h (${join(MIRROR, 'no', 'such.js')}:1:1)`;
    assert.equal(sourceLocations(missing), missing);
  });

  it("appends its causes' messages to a failed test's error, which the report shows by its message only", () => {
    const pg = Object.assign(new Error('canceling statement due to statement timeout'), { code: '57014' });
    const err = new Error('Failed query: insert into "audit_head" …', { cause: pg });
    assert.equal(
      withCauses(err).message,
      'Failed query: insert into "audit_head" …\ncaused by: canceling statement due to statement timeout (57014)',
    );
    const plain = new Error('x', { cause: new Error('x') });
    assert.equal(withCauses(plain).message, 'x', 'a cause that says nothing more adds nothing');
  });
});
