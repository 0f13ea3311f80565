import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { z } from 'zod';
import {
  base64Of,
  describeIssues,
  excessDepthAt,
  findUnsafeText,
  intIn,
  literal,
  matching,
  MAX_JSON_DEPTH,
  parseDocument,
  parseJsonStrict,
} from '../../lib/json.js';
import { rejectsWithCode } from '../ceremony/helpers.js';

const Doc = z.strictObject({
  a: literal('y'),
  b: intIn(0, 5),
  c: base64Of(2),
  d: matching(/^z$/, 'the letter z'),
  n: z.strictObject({ x: intIn(1, 2) }).optional(),
});

describe('parseDocument', () => {
  test('reports every offending field at once, with its name and what arrived', async () => {
    const err = await rejectsWithCode(
      () =>
        parseDocument(
          Doc,
          { a: 'x', b: 7, c: 'AAE', extra: true, n: { x: '1', more: 1 } },
          'SUBMISSION_INVALID',
          'doc',
        ),
      'SUBMISSION_INVALID',
    );
    assert.deepEqual(err.details?.['fields'], ['a', 'b', 'c', 'd', 'n.x', 'n.more', 'extra']);
    assert.match(err.message, /^doc: /);
    assert.match(err.message, /a: expected "y", got string "x"/);
    assert.match(err.message, /b: expected an integer from 0 to 5, got number 7/);
    assert.match(err.message, /c: expected standard padded base64, got 3 characters that are not/);
    assert.match(err.message, /d: is missing/);
    assert.match(err.message, /n\.x: expected an integer from 1 to 2, got string "1"/);
    assert.match(err.message, /n: unknown field "more"; expected only x/);
    assert.match(err.message, /\(root\): unknown field "extra"; expected only a, b, c, d, n/);
  });

  test('checks decoded base64 lengths and canonical form', async () => {
    await rejectsWithCode(
      () => parseDocument(Doc, { a: 'y', b: 0, c: 'AAAA', d: 'z' }, 'SUBMISSION_INVALID', 'doc'),
      'SUBMISSION_INVALID',
      /c: expected 2 bytes, got 3/,
    );
    await rejectsWithCode(
      () => parseDocument(Doc, { a: 'y', b: 0, c: 'AAF=', d: 'z' }, 'SUBMISSION_INVALID', 'doc'),
      'SUBMISSION_INVALID',
      /c: expected canonical base64/,
    );
    assert.deepEqual(parseDocument(Doc, '{"a":"y","b":0,"c":"AAE=","d":"z"}', 'SUBMISSION_INVALID', 'doc'), {
      a: 'y',
      b: 0,
      c: 'AAE=',
      d: 'z',
    });
  });

  test('rejects non-objects, non-JSON text and oversized text', async () => {
    for (const input of ['{', '[]', 'null', '"text"', '12', [], null, 12, 'x'.repeat(70_000)]) {
      await rejectsWithCode(
        () => parseDocument(Doc, input, 'SUBMISSION_INVALID', 'doc'),
        'SUBMISSION_INVALID',
        /^doc: expected/,
      );
    }
  });

  test('does not take inherited properties as fields', async () => {
    const obj = Object.create({ a: 'y' }) as Record<string, unknown>;
    Object.assign(obj, { b: 0, c: 'AAE=', d: 'z' });
    await rejectsWithCode(
      () => parseDocument(Doc, obj, 'SUBMISSION_INVALID', 'doc'),
      'SUBMISSION_INVALID',
      /a: is missing/,
    );
  });

  test('never echoes a long value, only its length', async () => {
    const secret = 'S'.repeat(200);
    const err = await rejectsWithCode(
      () => parseDocument(Doc, { a: secret, b: 0, c: 'AAE=', d: 'z' }, 'SUBMISSION_INVALID', 'doc'),
      'SUBMISSION_INVALID',
    );
    assert.match(err.message, /a: expected "y", got string of 200 characters/);
    assert.ok(!err.message.includes('SSSS'));
  });
});

describe('describeIssues', () => {
  test('words a failed union through its closest branch, without values', () => {
    const Item = z.strictObject({ plaintext: z.string() });
    const Body = z.union([Item, z.strictObject({ batch: z.array(Item) })]);
    const r = Body.safeParse({ batch: [{ plaintext: 5 }] });
    assert.equal(r.success, false);
    assert.equal(
      describeIssues(r.error!.issues, { schema: Body, root: '(body)' }),
      'batch.0.plaintext: Invalid input: expected string, received number',
    );
    const missing = Item.safeParse({});
    assert.equal(describeIssues(missing.error!.issues, { schema: Item, root: '(body)' }), 'plaintext: is missing');
  });

  test('cuts the list at max and counts the rest', () => {
    const S = z.strictObject(Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`f${i}`, z.string()])));
    const r = S.safeParse({});
    const text = describeIssues(r.error!.issues, { max: 3 });
    assert.equal(text, 'f0: is missing; f1: is missing; f2: is missing; and 9 more');
  });
});

describe('hostile JSON text (issue 13)', () => {
  test('excessDepthAt counts brackets outside strings, without parsing', () => {
    assert.equal(excessDepthAt('[[]]', 2), -1);
    assert.equal(excessDepthAt('[[[]]]', 2), 2);
    assert.equal(excessDepthAt('{"a":"[[[[\\"[["}', 1), -1);
    assert.equal(excessDepthAt('['.repeat(1_000_000), MAX_JSON_DEPTH), MAX_JSON_DEPTH);
  });

  test('findUnsafeText names the first field holding NUL or a lone surrogate', () => {
    assert.equal(findUnsafeText({ a: ['ok', '\ud83d\ude00'] }), undefined);
    assert.deepEqual(findUnsafeText({ a: ['ok', 'x\u0000'] })?.path, 'a.1');
    assert.match(findUnsafeText({ b: { c: '\udc00' } })!.message, /lone surrogate/);
    assert.equal(findUnsafeText({ b: { c: '\udc00' } })!.path, 'b.c');
    assert.match(findUnsafeText({ b: { ['\ud800']: 1 } })!.message, /^field name "\\ud800"/);
    assert.equal(findUnsafeText('\u0000', '(body)')!.path, '(body)');
  });

  test('parseDocument refuses deep nesting and NUL like the server body reader', async () => {
    const deep = '{"a":' + '['.repeat(5000) + ']'.repeat(5000) + '}';
    await rejectsWithCode(() => parseDocument(Doc, deep, 'SUBMISSION_INVALID', 'doc'), 'SUBMISSION_INVALID');
    const err = await rejectsWithCode(
      () => parseDocument(Doc, '{"a":"y\\u0000"}', 'SUBMISSION_INVALID', 'doc'),
      'SUBMISSION_INVALID',
    );
    assert.match(err.message, /^doc: a: expected text without NUL/);
    assert.throws(() => parseJsonStrict('[', 'INVALID_JSON', 'VALIDATION_FAILED', 'body'), /not valid JSON/);
  });
});
