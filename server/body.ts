/**
 * Reads a JSON request body within a byte limit and validates it against a zod schema. The body is
 * attacker-controlled: a declared or actual size over the limit is 413 without reading the rest;
 * a non-JSON content type 415; unparsable JSON 400 INVALID_JSON; a shape mismatch 400
 * VALIDATION_FAILED listing every offending field with what was expected. Query parameters are
 * validated the same way (parseQuery).
 *
 * Hostile text is refused here, once, for every route (issue 13): bytes that are not UTF-8 and
 * JSON nested deeper than MAX_JSON_DEPTH (counted before parsing, so no parser or canonicalizer
 * recursion can overflow the stack) are 400 INVALID_JSON; a string or key holding a NUL (which
 * PostgreSQL text cannot store) or a lone surrogate (not Unicode: hashing it throws) is 400
 * VALIDATION_FAILED naming the field (lib/json.ts parseJsonStrict). Query values likewise.
 * @module
 */
import { isAscii } from 'node:buffer';
import type { Context } from 'koa';
import type { HotContext } from './direct.js';
import { z } from 'zod';
import { KeywardError } from '../lib/errors.js';
import { describeIssues as describeIssuesIn, findUnsafeText, parseJsonStrict, unwrap } from '../lib/json.js';

export const DEFAULT_BODY_LIMIT = 1024 * 1024;

/**
 * Buffers the request body up to `limit` bytes. Past the limit (a chunked body declares no length)
 * it stops reading and fails with BODY_TOO_LARGE, leaving the request paused and the connection
 * marked to close: the client still gets its 413, which destroying the request here would lose.
 */
function readUpTo(ctx: HotContext, limit: number): Promise<{ chunks: Buffer[]; size: number }> {
  const req = ctx.req;
  if (req.readableEnded) return Promise.resolve({ chunks: [], size: 0 });
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onGone);
      req.off('close', onGone);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        done();
        req.pause();
        ctx.set('Connection', 'close');
        reject(new KeywardError('BODY_TOO_LARGE', `request body exceeds the limit of ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      done();
      resolve({ chunks, size });
    };
    // A client that goes away mid-body (Node's "aborted" ECONNRESET on the request, or its close):
    // nobody is left to answer, but the request must not hang, and its log line and metrics must
    // not call it a storage outage (ECONNRESET is one of a database connection's network errors).
    const onGone = () => {
      done();
      reject(
        new KeywardError('REQUEST_ABORTED', 'the client closed the connection before its request body was complete'),
      );
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onGone);
    req.on('close', onGone);
  });
}

export async function readJson(ctx: HotContext, limit: number): Promise<unknown> {
  // Node's own header table (ctx.get reads the same, with more steps).
  const headers = ctx.req.headers;
  const declared = headers['content-length'];
  if (declared && Number(declared) > limit) {
    // The rest of the body is not wanted: the connection closes once the 413 is sent.
    ctx.set('Connection', 'close');
    throw new KeywardError('BODY_TOO_LARGE', `request body is ${declared} bytes; the limit is ${limit}`);
  }
  const { chunks, size } = await readUpTo(ctx, limit);
  if (size === 0) return {};
  const type = headers['content-type'];
  if (type && !/^application\/([a-z.+-]*\+)?json\b/i.test(type)) {
    throw new KeywardError(
      'UNSUPPORTED_MEDIA_TYPE',
      `expected Content-Type application/json, got ${type.slice(0, 100)}`,
    );
  }
  // One chunk (the usual small body) is decoded where it lies, without a copy.
  const bytes = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
  // ASCII (the usual body: base64 and names) is UTF-8 as it is, and read as Latin-1 is the cheapest
  // decode; anything else goes through the strict UTF-8 decoder.
  const ascii = isAscii(bytes);
  let text: string;
  try {
    text = ascii ? bytes.toString('latin1') : UTF8.decode(bytes);
  } catch {
    throw new KeywardError('INVALID_JSON', 'request body is not valid JSON: expected UTF-8 text, got invalid bytes');
  }
  return parseJsonStrict(text, 'INVALID_JSON', 'VALIDATION_FAILED', 'request body', '(body)', ascii);
}

/** Strict UTF-8: invalid bytes are an error, not U+FFFD; a BOM is kept (and JSON.parse refuses it). */
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Formats zod issues as `field: message; ...` (lib/json.ts), never echoing values, which may be
 * secret. With the `schema` that produced them, an unknown field names the fields allowed there.
 */
function describeIssues(issues: readonly z.core.$ZodIssue[], schema?: z.ZodType): string {
  return describeIssuesIn(issues, { schema, root: '(body)' });
}

/** `raw` validated against `schema`; a mismatch is 400 VALIDATION_FAILED listing every offending field. */
export function validate<S extends z.ZodType>(schema: S, raw: unknown): z.output<S> {
  const r = schema.safeParse(raw);
  if (!r.success) throw new KeywardError('VALIDATION_FAILED', describeIssues(r.error.issues, schema));
  return r.data;
}

/**
 * Reads and validates the body. The parsed JSON is kept in `ctx.state.json` (an approval's execute
 * route reads it first, to check it against the parked request, and leaves it there).
 */
export async function parseBody<S extends z.ZodType>(ctx: HotContext, schema: S, limit: number): Promise<z.output<S>> {
  const raw = ctx.state.json !== undefined ? ctx.state.json : await readJson(ctx, limit);
  ctx.state.json = raw;
  return validate(schema, raw);
}

/** The parsed JSON body, unvalidated (`parseBody` with a schema that accepts anything), kept in `ctx.state.json`. */
export async function readBody(ctx: HotContext, limit: number): Promise<unknown> {
  const raw = ctx.state.json !== undefined ? ctx.state.json : await readJson(ctx, limit);
  ctx.state.json = raw;
  return raw;
}

/**
 * Reads the query parameters `schema` names (others are ignored) and validates them; failures are
 * 400 VALIDATION_FAILED naming the parameter. A number field's decimal text becomes a number first;
 * a parameter given twice arrives as an array, which no field accepts.
 */
export function parseQuery<S extends z.ZodObject>(ctx: Context, schema: S): z.output<S> {
  const shape = schema.shape as Record<string, z.ZodType>;
  // Percent-encoding that is not UTF-8 (%ff) would arrive as U+FFFD from the query parser: refuse it.
  for (const part of ctx.querystring.split('&')) {
    const eq = part.indexOf('=');
    const name = decodeQueryPart(eq < 0 ? part : part.slice(0, eq));
    if (name === undefined || (Object.hasOwn(shape, name) && decodeQueryPart(part.slice(eq + 1)) === undefined)) {
      const which = name === undefined ? 'a parameter name' : `query parameter ${name}`;
      throw new KeywardError('VALIDATION_FAILED', `${which}: expected percent-encoded UTF-8`);
    }
  }
  const raw: Record<string, unknown> = {};
  for (const [name, field] of Object.entries(shape)) {
    const value = ctx.query[name];
    if (value === undefined) continue;
    const bad = findUnsafeText(value, name);
    if (bad) throw new KeywardError('VALIDATION_FAILED', `query parameter ${name}: ${bad.message}`);
    raw[name] =
      typeof value === 'string' && unwrap(field) instanceof z.ZodNumber && /^[0-9]{1,16}$/.test(value)
        ? Number(value)
        : value;
  }
  return validate(schema, raw);
}

/** One `application/x-www-form-urlencoded` component decoded, or undefined if it is not UTF-8. */
function decodeQueryPart(text: string): string | undefined {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}
