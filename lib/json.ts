/**
 * Strict reading of JSON documents with zod: the one validator of Keyward. The server's request
 * bodies (server/body.ts) and the ceremony's files (holder keys, shard files, submissions) are read
 * by strict zod schemas and their failures worded here, so a field the ceremony rejects is rejected
 * by the API too (one schema, used by both).
 *
 * Every document is attacker input: a failure lists every offending field with what was expected
 * (like sigstore's assertBundle), never an uncaught SyntaxError or TypeError, and never a field's
 * value unless the caller says the document holds no secret in a short string.
 *
 * Field schemas for the common shapes (an integer in a range, strict base64 of a given length, a
 * string matching a pattern) carry "expected …" messages, so errors read the same everywhere.
 * @module
 */
import { z } from 'zod';
import { KeywardError, type KeywardCode } from './errors.js';
import { decodeBase64, describe, isObjectRecord, wipe, type LengthSpec } from './bytes.js';

/** Largest JSON document (characters) `parseDocument` reads as text; ceremony files are under 8 KiB. */
export const MAX_DOCUMENT_CHARS = 64 * 1024;

/**
 * Deepest nesting of arrays and objects a JSON document may have. Keyward's own documents nest a
 * handful of levels (a batch of items, a policy input); a bound far below what recursion in a
 * parser, a canonicalizer or a validator could survive keeps every reader of a parsed value safe.
 */
export const MAX_JSON_DEPTH = 64;

/**
 * Where JSON `text` first nests arrays and objects deeper than `max`: the character offset of the
 * bracket that went one level too deep, or -1. One pass over the text without parsing it (strings
 * skipped, escapes honoured), so it runs before JSON.parse and costs no stack whatever the input.
 */
export function excessDepthAt(text: string, max = MAX_JSON_DEPTH): number {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: the next character is escaped
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return i;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return -1;
}

/** A NUL, or a UTF-16 surrogate not part of a pair (`u` mode reads a proper pair as one code point). */
const UNSAFE_TEXT = /[\u0000\p{Cs}]/u;

/**
 * The first string (or object key) in a parsed JSON value that holds a NUL (U+0000: PostgreSQL
 * text cannot store it, and C-based consumers cut the string there) or a lone surrogate (not
 * Unicode: UTF-8 encoders and TextEncoder-based hashing reject or silently replace it), as the
 * dotted path of the field and what was expected; undefined if every string is well formed.
 * The value must be bounded in depth (MAX_JSON_DEPTH): the walk recurses.
 */
export function findUnsafeText(value: unknown, root = '(root)'): { path: string; message: string } | undefined {
  const found = (path: readonly string[], text: string) => ({
    path: path.length ? path.join('.') : root,
    message: text.includes('\u0000')
      ? 'expected text without NUL characters (U+0000)'
      : 'expected well-formed Unicode text, got a lone surrogate (\\ud800-\\udfff not in a pair)',
  });
  const walk = (v: unknown, path: string[]): { path: string; message: string } | undefined => {
    if (typeof v === 'string') return UNSAFE_TEXT.test(v) ? found(path, v) : undefined;
    if (typeof v !== 'object' || v === null) return undefined;
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const r = walk(v[i], [...path, String(i)]);
        if (r) return r;
      }
      return undefined;
    }
    for (const [k, item] of Object.entries(v)) {
      // A bad key is named by its parent and a safe rendering of itself (never the raw characters).
      if (UNSAFE_TEXT.test(k)) {
        const r = found(path, k);
        return { path: r.path, message: `field name ${JSON.stringify(k.slice(0, 40))}: ${r.message}` };
      }
      const r = walk(item, [...path, k.slice(0, 40)]);
      if (r) return r;
    }
    return undefined;
  };
  return walk(value, []);
}

/**
 * True when `text` holds at most MAX_JSON_DEPTH opening brackets in all, so it cannot nest deeper:
 * a request body usually has a handful, and counting them with indexOf is far cheaper than the
 * character-by-character walk of {@link excessDepthAt} (which runs otherwise).
 */
function fewBrackets(text: string): boolean {
  let n = 0;
  for (const bracket of ['{', '[']) {
    for (let i = text.indexOf(bracket); i >= 0; i = text.indexOf(bracket, i + 1))
      if (++n > MAX_JSON_DEPTH) return false;
  }
  return true;
}

/**
 * Whether the value parsed from JSON `text` may hold a NUL or a lone surrogate: JSON text carries
 * a NUL only as a `\u` escape (a raw control character is not JSON) and a surrogate only as a
 * `\u` escape or as itself, so text with neither (the usual body: base64 and names) skips the walk
 * of {@link findUnsafeText}. An escaped backslash before a `u` only makes the walk run for nothing.
 */
const mayHoldUnsafeText = (text: string): boolean => /\\u|[\ud800-\udfff]/.test(text);

/**
 * JSON text parsed strictly: nesting deeper than MAX_JSON_DEPTH is refused before parsing (as
 * `code`, worded `nests … deeper than …`), text that is not JSON likewise, and a string or key with
 * a NUL or a lone surrogate is refused as `textCode` naming its field. `what` starts each message.
 * `ascii`: the caller knows the text is ASCII (decoded from ASCII bytes), so it holds no surrogate
 * itself and only a `\u` escape can bring one or a NUL.
 */
export function parseJsonStrict<C extends KeywardCode, T extends KeywardCode>(
  text: string,
  code: C,
  textCode: T,
  what: string,
  root = '(root)',
  ascii = false,
): unknown {
  const at = fewBrackets(text) ? -1 : excessDepthAt(text);
  if (at >= 0) {
    throw new KeywardError(
      code,
      `${what}: expected JSON nested at most ${MAX_JSON_DEPTH} levels deep (arrays and objects), got deeper at character ${at}`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new KeywardError(code, `${what} is not valid JSON: ${(err as Error).message.slice(0, 200)}`, { cause: err });
  }
  const bad = (ascii ? text.includes('\\u') : mayHoldUnsafeText(text)) ? findUnsafeText(value, root) : undefined;
  if (bad) throw new KeywardError(textCode, `${bad.path}: ${bad.message}`, { details: { fields: [bad.path] } });
  return value;
}

/** How `describeIssues` words a failure. */
export interface DescribeOptions {
  /** The schema that produced the issues: an unknown field then names the fields allowed there. */
  schema?: z.ZodType | undefined;
  /** The name of the document itself in a path (default `(root)`). */
  root?: string;
  /**
   * Append `got <value>` (lib/bytes `describe`: short strings verbatim, long ones by length) to a
   * mismatch. Needs issues parsed with `reportInput: true`. Only for documents with no secret in a
   * short string field.
   */
  showInput?: boolean;
  /** At most this many problems are worded (default 10); the rest are counted. */
  max?: number;
}

/** One worded problem: the dotted path of the field and what is wrong with it. */
export interface Problem {
  path: string;
  message: string;
  /** The dotted paths of the fields at fault: `path`, or the unknown fields it names. */
  fields: string[];
}

/**
 * Words zod issues as `field: message; …`. A missing field reads `is missing`; unknown fields read
 * `unknown field "x"; expected only a, b` (names quoted and cut short: they are attacker-chosen).
 *
 * A union that failed (the one-item-or-`{batch}` operation bodies) is reported through the branch
 * that came closest, the one with the fewest issues (ties: the first), instead of zod's bare
 * "Invalid input": `{"plaintext": 5}` reads `plaintext: expected string`, and
 * `{"batch": [{"plaintext": 5}]}` reads `batch.0.plaintext: expected string`.
 */
export function describeIssues(issues: readonly z.core.$ZodIssue[], opts: DescribeOptions = {}): string {
  return wordProblems(problemsOf(issues, opts), opts.max);
}

/** `field: message; …` for problems already listed (at most `max`, default 10; the rest counted). */
export function wordProblems(problems: readonly Problem[], max = 10): string {
  const shown = problems.slice(0, max).map((p) => `${p.path}: ${p.message}`);
  if (problems.length > max) shown.push(`and ${problems.length - max} more`);
  return shown.join('; ');
}

/** The problems `describeIssues` words, one per issue (unions flattened to their closest branch). */
export function problemsOf(issues: readonly z.core.$ZodIssue[], opts: DescribeOptions = {}): Problem[] {
  const root = opts.root ?? '(root)';
  const dotted = (path: readonly PropertyKey[]) => (path.length ? path.map(String).join('.') : root);
  return flattenIssues(issues, opts.schema, [], opts.showInput ?? false).map((i) => ({
    path: dotted(i.path),
    message: i.message,
    fields: i.unknown ? i.unknown.map((k) => dotted([...i.path, k])) : [dotted(i.path)],
  }));
}

function flattenIssues(
  issues: readonly z.core.$ZodIssue[],
  schema: z.ZodType | undefined,
  base: readonly PropertyKey[],
  showInput: boolean,
): Array<{ path: PropertyKey[]; message: string; unknown?: string[] }> {
  const out: Array<{ path: PropertyKey[]; message: string; unknown?: string[] }> = [];
  for (const issue of issues) {
    const path = [...base, ...issue.path];
    if (issue.code === 'invalid_union' && issue.errors.length > 0) {
      let best = 0;
      issue.errors.forEach((branch, k) => {
        if (branch.length < issue.errors[best]!.length) best = k;
      });
      const union = schemaAt(schema, issue.path);
      const branch = union instanceof z.ZodUnion ? (union.options[best] as z.ZodType | undefined) : undefined;
      out.push(...flattenIssues(issue.errors[best]!, branch, path, showInput));
    } else if (issue.code === 'unrecognized_keys') {
      const names = issue.keys.slice(0, 5).map((k) => JSON.stringify(k.slice(0, 40)));
      const allowed = fieldsOf(schemaAt(schema, issue.path));
      const expected =
        allowed === undefined ? '' : allowed.length ? `; expected only ${allowed.join(', ')}` : '; expected no fields';
      out.push({
        path,
        message: `unknown field${issue.keys.length === 1 ? '' : 's'} ${names.join(', ')}${expected}`,
        unknown: issue.keys.slice(0, 5).map((k) => k.slice(0, 40)),
      });
    } else if ((issue.code === 'invalid_type' || issue.code === 'invalid_value') && isMissing(issue)) {
      out.push({ path, message: 'is missing' });
    } else {
      const got =
        showInput && 'input' in issue && !/\bgot\b/.test(issue.message) ? `, got ${describe(issue.input)}` : '';
      out.push({ path, message: issue.message + got });
    }
  }
  return out;
}

/** A required field that is absent (zod reports it as a mismatch against undefined). */
function isMissing(issue: z.core.$ZodIssue): boolean {
  return 'input' in issue ? issue.input === undefined : /received undefined$/.test(issue.message);
}

/** The schema at `path` below `schema` (through objects, arrays and optionals), if it can be told. */
export function schemaAt(schema: z.ZodType | undefined, path: readonly PropertyKey[]): z.ZodType | undefined {
  let s = unwrap(schema);
  for (const seg of path) {
    if (s instanceof z.ZodObject && typeof seg === 'string') s = unwrap(s.shape[seg] as z.ZodType | undefined);
    else if (s instanceof z.ZodArray) s = unwrap(s.element as z.ZodType);
    else return undefined;
  }
  return s;
}

/** `s` without its optional/nullable/default wrappers. */
export function unwrap(s: z.ZodType | undefined): z.ZodType | undefined {
  while (s instanceof z.ZodOptional || s instanceof z.ZodNullable || s instanceof z.ZodDefault)
    s = s.unwrap() as z.ZodType;
  return s;
}

function fieldsOf(s: z.ZodType | undefined): string[] | undefined {
  return s instanceof z.ZodObject ? Object.keys(s.shape) : undefined;
}

/**
 * Reads one JSON document — JSON text (at most `MAX_DOCUMENT_CHARS`, parsed here) or an already
 * parsed value — against a strict zod schema. Any failure is one `KeywardError(code)` whose message
 * starts with `what:` and lists every problem (with the offending values described, so only for
 * documents with no secret in a short string), and whose `details.fields` names the fields.
 */
export function parseDocument<S extends z.ZodType, C extends KeywardCode>(
  schema: S,
  input: unknown,
  code: C,
  what: string,
): z.output<S> {
  if (!isObjectRecord(input) && typeof input !== 'string')
    throw new KeywardError(code, `${what}: expected a JSON object, got ${describe(input)}`);
  // A parsed value is read as the JSON it stands for: own enumerable properties only, no prototype.
  let text: string;
  try {
    text = typeof input === 'string' ? input : JSON.stringify(input);
  } catch (err) {
    throw new KeywardError(code, `${what}: expected a JSON object, got an object JSON cannot hold`, { cause: err });
  }
  if (text.length > MAX_DOCUMENT_CHARS) {
    throw new KeywardError(code, `${what}: expected at most ${MAX_DOCUMENT_CHARS} characters, got ${text.length}`);
  }
  let value: unknown;
  if (excessDepthAt(text) >= 0)
    throw new KeywardError(code, `${what}: expected JSON nested at most ${MAX_JSON_DEPTH} levels deep`);
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new KeywardError(code, `${what}: expected a JSON object, got text that is not JSON`, { cause: err });
  }
  const unsafe = findUnsafeText(value);
  if (unsafe) {
    throw new KeywardError(code, `${what}: ${unsafe.path}: ${unsafe.message}`, {
      details: { fields: [unsafe.path] },
    });
  }
  if (!isObjectRecord(value)) throw new KeywardError(code, `${what}: expected a JSON object, got ${describe(value)}`);
  const r = schema.safeParse(value, { reportInput: true });
  if (!r.success) {
    const problems = problemsOf(r.error.issues, { schema, showInput: true });
    throw new KeywardError(code, `${what}: ${wordProblems(problems, 32)}`, {
      details: { fields: [...new Set(problems.flatMap((p) => p.fields))] },
    });
  }
  return r.data;
}

// ---------------------------------------------------------------------------------------------
// Field schemas with "expected …" messages.
// ---------------------------------------------------------------------------------------------

/** A JSON object with exactly the fields of `shape` (each problem reported, unknown fields too). */
export function strictObject<T extends z.core.$ZodLooseShape>(shape: T) {
  return z.strictObject(shape, { error: 'expected a JSON object' });
}

/** A string equal to `value`. */
export function literal<T extends string>(value: T) {
  return z.literal(value, { error: `expected ${JSON.stringify(value)}` });
}

/** A string matching `pattern`; `description` says what is allowed. */
export function matching(pattern: RegExp, description: string) {
  const error = `expected ${description}`;
  return z.string({ error }).regex(pattern, { error });
}

/** An integer in [min, max]. */
export function intIn(min: number, max: number) {
  const error = `expected an integer from ${min} to ${max}`;
  return z.number({ error }).int({ error }).min(min, { error }).max(max, { error });
}

/**
 * Strict, canonical, padded standard base64 (lib/bytes `decodeBase64`) whose decoded length is
 * `len`. The value stays text: decode it with `fromBase64` after the document parsed.
 */
export function base64Of(len?: LengthSpec) {
  const max = len === undefined ? undefined : typeof len === 'number' ? len : len.max;
  const text = z.string({ error: 'expected base64 string' });
  // The bound on characters documents the field (OpenAPI) and refuses a huge value before decoding.
  return (
    max === undefined ? text : text.max(4 * Math.ceil(max / 3), { error: `expected at most ${max} bytes of base64` })
  ).check((ctx) => {
    const r = decodeBase64(ctx.value, len);
    if (typeof r === 'string') ctx.issues.push({ code: 'custom', message: r, input: ctx.value });
    else wipe(r);
  });
}
