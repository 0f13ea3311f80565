/**
 * Reads a JSON request body within a byte limit and validates it against a zod schema. The body is
 * attacker-controlled: a declared or actual size over the limit is 413 without reading the rest;
 * a non-JSON content type 415; unparsable JSON 400 INVALID_JSON; a shape mismatch 400
 * VALIDATION_FAILED listing every offending field with what was expected.
 * @module
 */
import type { Context } from 'koa';
import type { z } from 'zod';
import { KeywardError } from '../ceremony/errors.js';

export const DEFAULT_BODY_LIMIT = 1024 * 1024;

export async function readJson(ctx: Context, limit: number): Promise<unknown> {
  const declared = ctx.get('content-length');
  if (declared && Number(declared) > limit) {
    throw new KeywardError('BODY_TOO_LARGE', `request body is ${declared} bytes; the limit is ${limit}`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      ctx.req.destroy();
      throw new KeywardError('BODY_TOO_LARGE', `request body exceeds the limit of ${limit} bytes`);
    }
    chunks.push(chunk);
  }
  if (size === 0) return {};
  const type = ctx.get('content-type');
  if (type && !/^application\/([a-z.+-]*\+)?json\b/i.test(type)) {
    throw new KeywardError('UNSUPPORTED_MEDIA_TYPE', `expected Content-Type application/json, got ${type.slice(0, 100)}`);
  }
  try {
    return JSON.parse(Buffer.concat(chunks, size).toString('utf8'));
  } catch (err) {
    throw new KeywardError('INVALID_JSON', `request body is not valid JSON: ${(err as Error).message.slice(0, 200)}`);
  }
}

/** Formats zod issues as `field: message; ...` (never echoing values, which may be secret). */
export function describeIssues(issues: readonly z.core.$ZodIssue[]): string {
  return issues
    .slice(0, 10)
    .map((i) => `${i.path.length ? i.path.join('.') : '(body)'}: ${i.message}`)
    .join('; ');
}

/**
 * Reads and validates the body. The parsed JSON is kept in `ctx.state.json` (an approval's execute
 * route reads it first, to check it against the parked request, and leaves it there).
 */
export async function parseBody<S extends z.ZodType>(ctx: Context, schema: S, limit: number): Promise<z.output<S>> {
  const raw = ctx.state.json !== undefined ? ctx.state.json : await readJson(ctx, limit);
  ctx.state.json = raw;
  const r = schema.safeParse(raw);
  if (!r.success) throw new KeywardError('VALIDATION_FAILED', describeIssues(r.error.issues));
  return r.data;
}
