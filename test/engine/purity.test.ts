/**
 * What the engine's folders claim in their index headers, checked on their import graphs: the audit
 * math loads without Node (the bundle verifier is meant to run in a browser), the policy sandbox does
 * no I/O, and nothing offline reaches the database. Follows every relative import (static, re-export
 * and dynamic) from a folder's index.ts and looks at what the files reached import.
 */
// keyward-test: own-process (removes globalThis.Buffer for a while)
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { encodeRecord, hmacField } from '../../engine/audit/math/record.js';
import { sampleRecord } from './audit/helpers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SPEC_RE = /(?:\bfrom\s+|\bimport\s*\(\s*|\bimport\s+)(['"])([^'"]+)\1/g;

/** Every file reachable from `entry` by relative imports, and every bare specifier they import. */
function graph(entry: string): { files: string[]; bare: Map<string, string[]> } {
  const files = new Set<string>();
  const bare = new Map<string, string[]>();
  const todo = [resolve(ROOT, entry)];
  while (todo.length) {
    const file = todo.pop()!;
    if (files.has(file)) continue;
    files.add(file);
    // Comments hold example imports (the scaffold's template, the docs): look at code only.
    const code = readFileSync(file, 'utf8')
      .replace(/\/\*[\s\S]*?\*\//g, '')
      .replace(/^\s*\/\/.*$/gm, '');
    for (const [, , spec] of code.matchAll(SPEC_RE)) {
      if (spec!.startsWith('.')) todo.push(resolve(dirname(file), spec!.replace(/\.js$/, '.ts')));
      else bare.set(spec!, [...(bare.get(spec!) ?? []), relative(ROOT, file)]);
    }
  }
  return { files: [...files].map((f) => relative(ROOT, f)).sort(), bare };
}

const outside = (files: string[], allowed: string[]) => files.filter((f) => !allowed.some((a) => f.startsWith(a)));

describe('engine folders keep the promises of their headers', () => {
  it('engine/audit/math: no Node module, no database, only lib/ besides itself', () => {
    const g = graph('engine/audit/math/index.ts');
    assert.ok(g.files.includes(join('engine', 'audit', 'math', 'bundle.ts')), 'the walk reaches the bundle verifier');
    assert.deepEqual(outside(g.files, ['engine/audit/math/', 'lib/']), []);
    assert.deepEqual(
      [...g.bare.keys()].filter((s) => !/^(@noble\/(hashes|curves|post-quantum)\/|zod$|canonicalize$)/.test(s)),
      [],
    );
  });

  it('engine/policy/sandbox: no file system, network, processes or database', () => {
    const g = graph('engine/policy/sandbox/index.ts');
    assert.ok(g.files.includes(join('engine', 'policy', 'sandbox', 'host.ts')));
    assert.deepEqual(outside(g.files, ['engine/policy/sandbox/', 'lib/']), []);
    // node:crypto hashes module bytes; binaryen is the wasm toolkit, zod the input reader.
    assert.deepEqual(
      [...g.bare.keys()].filter((s) => !['node:crypto', 'binaryen', 'zod'].includes(s)),
      [],
    );
  });

  it('the offline parts (policy toolchain, audit verifier) never reach the database', () => {
    for (const entry of ['engine/policy/toolchain/index.ts', 'engine/audit/verifier/index.ts']) {
      const g = graph(entry);
      assert.deepEqual(
        g.files.filter((f) => f.startsWith('engine/store/') || f.includes('/bindings/') || f.includes('/audit/log/')),
        [],
        entry,
      );
      assert.ok(
        ![...g.bare.keys()].some(
          (s) => s.startsWith('drizzle-orm') || s.startsWith('@electric-sql') || s === 'postgres',
        ),
        entry,
      );
    }
  });

  it('audit records encode the same without a global Buffer (the browser path of record.ts)', async () => {
    const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
    const saved = globalThis.Buffer;
    let browser: typeof import('../../engine/audit/math/record.js');
    try {
      (globalThis as { Buffer?: unknown }).Buffer = undefined;
      browser = (await import(
        new URL(`../../engine/audit/math/record${ext}?no-buffer`, import.meta.url).href
      )) as typeof browser;
    } finally {
      globalThis.Buffer = saved;
    }
    let failures = 0;
    assert.notEqual(browser.encodeRecord, encodeRecord, 'a second instance of the module was loaded');
    const key = new Uint8Array(32).fill(7);
    // reason holds at most 1024 UTF-8 bytes: each pair of cases sits on either side of the limit.
    const texts = ['', 'ascii', '€uro', 'x'.repeat(1024), 'x'.repeat(1025), 'é'.repeat(512), 'é'.repeat(513)];
    texts.push('€'.repeat(341), '€'.repeat(342), '😀'.repeat(256), '😀'.repeat(257), 'a\uD800b');
    for (const text of texts) {
      const r = { ...sampleRecord(3), reason: text };
      const a = (() => {
        try {
          return encodeRecord(r);
        } catch (e) {
          return (e as Error).message;
        }
      })();
      const b = (() => {
        try {
          return browser.encodeRecord(r);
        } catch (e) {
          return (e as Error).message;
        }
      })();
      assert.deepEqual(b, a, JSON.stringify(text.slice(0, 20)));
      if (typeof a === 'string') failures++;
      if (!text.includes('\uD800')) assert.equal(browser.hmacField(key, 1, text), hmacField(key, 1, text));
    }
    assert.equal(failures, 5, 'the cases over the limit and the lone surrogate are refused');
  });
});
