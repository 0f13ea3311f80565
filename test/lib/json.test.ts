import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { z } from 'zod';
import { base64Of, describeIssues, intIn, literal, matching, parseDocument } from '../../lib/json.js';
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
