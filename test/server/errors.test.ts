/**
 * The error table (server/errors.ts) against the sources: every code that ceremony/, engine/ and
 * server/ throw — a `new KeywardError('X'` literal, or a code handed to a helper that throws it
 * later (`parseDocument(schema, x, 'SHARD_MALFORMED', …)`, `parseVersioned(…, 'SIGNATURE_INVALID')`, a
 * ternary, a worker's fallback) — has a status in ERROR_STATUS or is listed in INTERNAL_CODES, so
 * none becomes a 500 by omission. The sources are parsed with the TypeScript parser (no type
 * check: string literals exactly, comments skipped). The Koa middleware and the transit envelope
 * are then checked to answer from that table.
 * @module
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import ts from 'typescript';
import { CEREMONY_CODES } from '../../ceremony/codes.js';
import { KeywardError, type KeywardCode } from '../../lib/errors.js';
import { CLI_CODES } from '../../cli/codes.js';
import { ENGINE_CODES } from '../../engine/codes.js';
import { SERVER_CODES } from '../../server/codes.js';
import { ERROR_STATUS, INTERNAL_CODES, errorMiddleware, statusFor } from '../../server/errors.js';
import { silentLogger } from '../../server/log.js';
import { VAULT_STATUS_OVERRIDES, sendThrown, vaultStatus } from '../../server/transit/envelope.js';

const ROOT = join(import.meta.dirname, '..', '..');
const LAYERS = ['ceremony', 'engine', 'server'] as const;
type Layer = (typeof LAYERS)[number];
/** The codes each layer may throw: its own and those of the layers below it. */
const ALLOWED: Record<Layer, ReadonlySet<string>> = {
  ceremony: new Set(CEREMONY_CODES),
  engine: new Set([...CEREMONY_CODES, ...ENGINE_CODES]),
  server: new Set([...CEREMONY_CODES, ...ENGINE_CODES, ...SERVER_CODES]),
};
const ALL_LISTED = new Set<string>([...CEREMONY_CODES, ...ENGINE_CODES, ...SERVER_CODES, ...CLI_CODES]);
const inTable = (c: string) => Object.hasOwn(ERROR_STATUS, c);
const isInternal = (c: string) => Object.hasOwn(INTERNAL_CODES, c);

function tsFiles(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) return tsFiles(p);
      return name.endsWith('.ts') && !name.endsWith('.d.ts') ? [p] : [];
    });
}

interface Use {
  code: string;
  layer: Layer;
  where: string;
  /** The first argument of `new KeywardError(…)` (else a literal naming a listed code elsewhere). */
  thrown: boolean;
}

/**
 * What a source must contain to have a use: `KeywardError` (for a `new KeywardError`), a listed
 * code's text, or an escape that could spell either (a backslash before u, x, a digit, a capital,
 * an underscore or a line end; a listed code is capitals, digits and underscores). Parsing is most
 * of this file's CPU, and about a third of the files (a fifth of the text) have none of them.
 */
const MAY_NAME_A_CODE = new RegExp(`KeywardError|\\\\[ux0-9A-Z_\\r\\n\\u2028\\u2029]|${[...ALL_LISTED].join('|')}`);

/**
 * Every code use in the layer's sources: the literal first argument of each `new KeywardError`
 * (whatever its text: a cast would get a typo past the compiler), and every other string literal
 * that names a code of any layer's list (a code passed along to be thrown later; a CLI code here
 * would reach a client as a 500).
 */
function collectUses(layer: Layer): Use[] {
  const uses: Use[] = [];
  // The lists themselves (<layer>/codes.ts) are not uses.
  for (const file of tsFiles(join(ROOT, layer)).filter((f) => f !== join(ROOT, layer, 'codes.ts'))) {
    const text = readFileSync(file, 'utf8');
    if (!MAY_NAME_A_CODE.test(text)) continue;
    // No parent pointers: getText and getStart are given the source file, and nothing here walks up.
    const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
    const firstArgs = new Set<ts.Node>();
    const visit = (node: ts.Node): void => {
      if (ts.isNewExpression(node) && node.expression.getText(sf) === 'KeywardError') {
        let arg = node.arguments?.[0];
        // `'X' as KeywardCode`, `('X')`, `'X'!`: the literal inside.
        while (
          arg &&
          (ts.isAsExpression(arg) ||
            ts.isSatisfiesExpression(arg) ||
            ts.isParenthesizedExpression(arg) ||
            ts.isTypeAssertionExpression(arg) ||
            ts.isNonNullExpression(arg))
        )
          arg = arg.expression;
        if (arg && ts.isStringLiteralLike(arg)) firstArgs.add(arg);
      }
      if (ts.isStringLiteralLike(node) && (firstArgs.has(node) || ALL_LISTED.has(node.text))) {
        const { line } = sf.getLineAndCharacterOfPosition(node.getStart(sf));
        uses.push({
          code: node.text,
          layer,
          where: `${relative(ROOT, file)}:${line + 1}`,
          thrown: firstArgs.has(node),
        });
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }
  return uses;
}

const uses = LAYERS.flatMap(collectUses);

describe('error codes: the table covers every code the server side throws', () => {
  it('finds the codes, literal and passed along (the collector is not blind)', () => {
    const thrown = new Set(uses.filter((u) => u.thrown).map((u) => u.code));
    const passed = new Set(uses.filter((u) => !u.thrown).map((u) => u.code));
    assert.ok(thrown.size > 60, `expected > 60 distinct codes in new KeywardError(…) literals, found ${thrown.size}`);
    // Codes that reach KeywardError only through a variable: parseDocument, parseVersioned(OrRaw), ternaries.
    for (const c of [
      'SHARD_MALFORMED',
      'SIGNATURE_INVALID',
      'CIPHERTEXT_FORMAT',
      'SIGNATURE_FORMAT',
      'CRYPTO_FAILED',
    ]) {
      assert.ok(passed.has(c), `expected ${c} among the codes passed along`);
    }
    // A throw whose code sits on the line after `new KeywardError(` (engine/seal/seal-manager.ts).
    assert.ok(thrown.has('SHARD_FORGED'), 'expected SHARD_FORGED among the thrown literals');
  });

  it('every code thrown or passed along in ceremony/, engine/, server/ has a status or is internal', () => {
    const missing = uses.filter((u) => !inTable(u.code) && !isInternal(u.code)).map((u) => `${u.code} (${u.where})`);
    assert.deepEqual(
      missing,
      [],
      'add these to ERROR_STATUS or INTERNAL_CODES in server/errors.ts (else a client gets a 500)',
    );
  });

  it("a layer throws only its own codes and its lower layers' (a CLI code never reaches the server)", () => {
    const misplaced = uses.filter((u) => !ALLOWED[u.layer].has(u.code)).map((u) => `${u.code} in ${u.where}`);
    assert.deepEqual(misplaced, []);
  });

  it('every listed server-side code is in exactly one of the table and the internal list, and nothing else is', () => {
    const serverSide = [...CEREMONY_CODES, ...ENGINE_CODES, ...SERVER_CODES];
    assert.equal(new Set(serverSide).size, serverSide.length, 'a code is listed by two layers');
    for (const c of CLI_CODES)
      assert.ok(!serverSide.includes(c as never), `${c} is both a CLI code and a server-side one`);
    for (const c of serverSide)
      assert.ok(inTable(c) !== isInternal(c), `${c}: in the table ${inTable(c)}, internal ${isInternal(c)}`);
    const known = new Set<string>(serverSide);
    for (const c of [...Object.keys(ERROR_STATUS), ...Object.keys(INTERNAL_CODES)])
      assert.ok(known.has(c), `${c} is in server/errors.ts but in no layer's list`);
  });

  it("every listed code is used in its layer's sources (no dead entries)", () => {
    const used = new Map<Layer, Set<string>>(
      LAYERS.map((l) => [l, new Set(uses.filter((u) => u.layer === l).map((u) => u.code))]),
    );
    const listed: Array<[Layer, readonly string[]]> = [
      ['ceremony', CEREMONY_CODES],
      ['engine', ENGINE_CODES],
      ['server', SERVER_CODES],
    ];
    for (const [layer, codes] of listed) {
      const dead = codes.filter((c) => !used.get(layer)!.has(c));
      assert.deepEqual(dead, [], `${layer}/codes.ts lists codes ${layer}/ never uses`);
    }
  });

  it('statuses are HTTP error statuses; internal codes have none', () => {
    for (const [code, status] of Object.entries(ERROR_STATUS)) {
      assert.ok(status === 202 || (status >= 400 && status <= 599), `${code}: ${status}`);
      assert.equal(statusFor(code), status);
    }
    for (const code of Object.keys(INTERNAL_CODES)) assert.equal(statusFor(code), undefined, code);
    for (const probe of ['toString', 'constructor', '__proto__', 'INTERNAL', 'NO_SUCH_CODE'])
      assert.equal(statusFor(probe), undefined, probe);
  });

  it('the transit API (Vault statuses) answers from the same table', () => {
    for (const [code, status] of Object.entries(ERROR_STATUS)) {
      const vault = vaultStatus(code);
      const expected = Object.hasOwn(VAULT_STATUS_OVERRIDES, code)
        ? VAULT_STATUS_OVERRIDES[code as keyof typeof VAULT_STATUS_OVERRIDES]
        : status === 409 || status === 410
          ? 400
          : status;
      assert.ok(
        vault !== undefined && vault >= 400 && vault <= 599 && vault !== 409 && vault !== 410,
        `${code}: Vault status ${vault}`,
      );
      assert.equal(vault, expected, code);
    }
    for (const code of [...Object.keys(INTERNAL_CODES), 'INTERNAL', 'toString'])
      assert.equal(vaultStatus(code), undefined, code);
  });
});

/** A Koa app whose one route throws `new KeywardError(?code)`; the native or the transit error path. */
async function throwing(
  path: 'native' | 'transit',
  code: string,
): Promise<{ status: number; body: any; header: string | null }> {
  const app = new Koa();
  if (path === 'native') app.use(errorMiddleware(silentLogger));
  app.use(async (ctx) => {
    const err = new KeywardError(code as KeywardCode, `thrown with ${code}`);
    if (path === 'native') throw err;
    sendThrown(ctx, err, silentLogger);
  });
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  try {
    const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    return { status: res.status, body: await res.json(), header: res.headers.get('x-keyward-error-code') };
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
}

describe('error codes: the middlewares answer from the table', () => {
  it('a visible code gets its status and its message; an internal one a bare 500', async () => {
    assert.deepEqual(await throwing('native', 'KEY_NOT_FOUND'), {
      status: 404,
      body: { error: { code: 'KEY_NOT_FOUND', message: 'thrown with KEY_NOT_FOUND' } },
      header: null,
    });
    assert.deepEqual(await throwing('native', 'STORAGE_CORRUPT'), {
      status: 500,
      body: { error: { code: 'INTERNAL', message: 'internal error' } },
      header: null,
    });
  });

  it('the transit envelope: Vault statuses, the code in X-Keyward-Error-Code; internal is a bare 500', async () => {
    assert.deepEqual(await throwing('transit', 'KEY_EXISTS'), {
      status: 400,
      body: { errors: ['thrown with KEY_EXISTS'] },
      header: 'KEY_EXISTS',
    });
    assert.deepEqual(await throwing('transit', 'POLICY_DENIED'), {
      status: 403,
      body: { errors: ['permission denied: thrown with POLICY_DENIED'] },
      header: 'POLICY_DENIED',
    });
    assert.deepEqual(await throwing('transit', 'KEYRING_FULL'), {
      status: 500,
      body: { errors: ['internal error'] },
      header: 'INTERNAL',
    });
  });
});
