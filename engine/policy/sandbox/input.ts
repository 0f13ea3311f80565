/**
 * PolicyInput: what a policy sees of a request, in its JSON form for people, cases files and tests.
 *
 * ```json
 * {"operation": "decrypt", "principal": "alice", "roles": ["app"],
 *  "key": {"name": "payments", "type": "aes256-gcm", "version": 3, "labels": {"tier": "critical"}},
 *  "attributes": {"context.tenant": "acme"}, "payloadBytes": 512, "time": 1767225600000, "approvals": 0}
 * ```
 *
 * The zod validator is built from `POLICY_INPUT_FIELDS` (schema.ts), so its limits are the
 * encoder's. `operation` and `principal` are required; everything else defaults to empty/zero, and
 * `key` may be absent or `null` for operations that name no key. Unknown fields are rejected (a typo
 * in a cases file should fail loudly, not be ignored).
 * @module
 */
import { z } from 'zod';
import { KeywardError } from '../../../lib/errors.js';
import { MAX_I64_FIELD, POLICY_INPUT_FIELDS } from './schema.js';
import type { Field } from './schema.js';
import { utf8Length } from './utf8.js';
import { problemsOf, wordProblems } from '../../../lib/json.js';

/** The key a request targets. */
export interface PolicyKey {
  name: string;
  type: string;
  version: number;
  labels: Record<string, string>;
}

/** The input of one policy evaluation (see schema.ts for the bounds of each field). */
export interface PolicyInput {
  operation: string;
  principal: string;
  roles: string[];
  key?: PolicyKey | null;
  attributes: Record<string, string>;
  /** Non-negative safe integer. */
  payloadBytes: number;
  /** Unix milliseconds, non-negative safe integer. */
  time: number;
  approvals: number;
}

function boundedString(maxBytes: number): z.ZodType<string> {
  return z.string().superRefine((s, ctx) => {
    const n = utf8Length(s);
    if (n < 0) ctx.addIssue({ code: 'custom', message: 'expected well-formed Unicode, got a lone surrogate' });
    else if (n > maxBytes)
      ctx.addIssue({ code: 'custom', message: `expected at most ${maxBytes} UTF-8 bytes, got ${n}` });
  });
}

function fieldValidator(field: Field): z.ZodType {
  switch (field.kind) {
    case 'string':
      return boundedString(field.maxBytes);
    case 'i32':
      return z.number().int().min(field.min).max(field.max).default(0);
    case 'i64':
      return z.number().int().min(field.min).max(MAX_I64_FIELD).default(0);
    case 'set':
      return z.array(boundedString(field.maxBytes)).max(field.maxEntries).default([]);
    case 'map':
      return z
        .record(boundedString(field.maxKeyBytes), boundedString(field.maxValueBytes))
        .superRefine((m, ctx) => {
          const n = Object.keys(m).length;
          if (n > field.maxEntries)
            ctx.addIssue({ code: 'custom', message: `expected at most ${field.maxEntries} entries, got ${n}` });
        })
        .default({});
    case 'optional':
      return recordValidator(field.fields).nullable().optional();
  }
}

function recordValidator(fields: readonly Field[]) {
  return z.strictObject(Object.fromEntries(fields.map((f) => [f.name, fieldValidator(f)])));
}

/** The zod schema of the JSON form, derived from `POLICY_INPUT_FIELDS`. */
export const policyInputSchema = recordValidator(POLICY_INPUT_FIELDS);

/**
 * Validates the JSON form of a PolicyInput (a parsed value, or JSON text) and fills in defaults.
 * The result is guaranteed to encode (`encodePolicyInput`) unless the whole encoding exceeds
 * MAX_INPUT_BYTES, which the encoder reports.
 * @throws {@link KeywardError} `POLICY_INPUT_INVALID` listing every offending field.
 */
export function parsePolicyInput(json: unknown): PolicyInput {
  let value = json;
  if (typeof json === 'string') {
    try {
      value = JSON.parse(json);
    } catch (cause) {
      throw new KeywardError(
        'POLICY_INPUT_INVALID',
        `policy input: expected JSON, got a parse error: ${(cause as Error).message}`,
        { cause },
      );
    }
  }
  const res = policyInputSchema.safeParse(value);
  if (!res.success) {
    const issues = problemsOf(res.error.issues, { schema: policyInputSchema });
    throw new KeywardError('POLICY_INPUT_INVALID', `invalid policy input: ${wordProblems(issues)}`, {
      details: { issues },
    });
  }
  return res.data as unknown as PolicyInput;
}
