/**
 * Table-driven policy tests (`keyward policy test`): a cases file is a JSON array of
 *
 * ```json
 * {"name": "app may encrypt", "input": {PolicyInput JSON}, "expect": {"decision": "allow"}}
 * ```
 *
 * `expect.decision` is required; `approvals`, `group`, `reason` (exact), `reasonContains`, `fault`
 * and `gas` (exact, gas is deterministic) are compared when present. `gasBudget` per case is
 * optional. Cases run against the compiled module, exactly as the server would run it.
 * @module
 */
import { z } from 'zod';
import { KeywardError } from '../../../lib/errors.js';
import { GAS_BUDGET_MAX } from '../sandbox/gas.js';
import { POLICY_FAULTS } from '../sandbox/host.js';
import type { EvaluationResult, LoadedPolicy } from '../sandbox/host.js';
import { parsePolicyInput } from '../sandbox/input.js';
import type { PolicyInput } from '../sandbox/input.js';
import { problemsOf, wordProblems } from '../../../lib/json.js';

const expectSchema = z.strictObject({
  decision: z.enum(['allow', 'deny', 'require_approval']),
  approvals: z.number().int().min(0).optional(),
  group: z.string().optional(),
  reason: z.string().optional(),
  reasonContains: z.string().optional(),
  fault: z.enum(POLICY_FAULTS).nullable().optional(),
  gas: z.number().int().min(0).optional(),
});

const caseSchema = z.strictObject({
  name: z.string().min(1),
  input: z.unknown(),
  expect: expectSchema,
  gasBudget: z.number().int().min(1).max(GAS_BUDGET_MAX).optional(),
});

export type CaseExpectation = z.infer<typeof expectSchema>;

export interface PolicyCase {
  name: string;
  input: PolicyInput;
  expect: CaseExpectation;
  gasBudget?: number;
}

export interface CaseResult {
  name: string;
  pass: boolean;
  expected: CaseExpectation;
  actual: EvaluationResult;
  /** One line per expectation that failed, e.g. `decision: expected allow, got deny`. */
  mismatches: string[];
}

/**
 * Validates a cases file (parsed JSON or JSON text).
 * @throws {@link KeywardError} `POLICY_CASES_INVALID` naming the case and the field.
 */
export function parseCases(json: unknown): PolicyCase[] {
  let value = json;
  if (typeof json === 'string') {
    try {
      value = JSON.parse(json);
    } catch (cause) {
      throw new KeywardError(
        'POLICY_CASES_INVALID',
        `cases: expected JSON, got a parse error: ${(cause as Error).message}`,
        { cause },
      );
    }
  }
  if (!Array.isArray(value))
    throw new KeywardError(
      'POLICY_CASES_INVALID',
      `cases: expected a JSON array of cases, got ${value === null ? 'null' : typeof value}`,
    );
  return value.map((raw, i) => {
    const res = caseSchema.safeParse(raw);
    const label =
      typeof (raw as { name?: unknown })?.name === 'string'
        ? `case ${i} "${(raw as { name: string }).name}"`
        : `case ${i}`;
    if (!res.success) {
      const issues = problemsOf(res.error.issues, { schema: caseSchema });
      throw new KeywardError('POLICY_CASES_INVALID', `${label}: ${wordProblems(issues)}`, {
        details: { case: i, issues },
      });
    }
    let input: PolicyInput;
    try {
      input = parsePolicyInput(res.data.input);
    } catch (err) {
      throw new KeywardError('POLICY_CASES_INVALID', `${label}: ${(err as Error).message}`, {
        cause: err,
        details: { case: i },
      });
    }
    const c: PolicyCase = { name: res.data.name, input, expect: res.data.expect };
    if (res.data.gasBudget !== undefined) c.gasBudget = res.data.gasBudget;
    return c;
  });
}

/**
 * Runs every case and reports each one, passing or not. `cases` may be the cases file's JSON (text
 * or parsed) or `parseCases` output (validated again: parsing is idempotent).
 * @throws {@link KeywardError} `POLICY_CASES_INVALID` for a malformed cases file.
 */
export function runCases(policy: LoadedPolicy, cases: readonly PolicyCase[] | unknown): CaseResult[] {
  return parseCases(cases).map((c) => {
    const actual = policy.evaluate(c.input, c.gasBudget === undefined ? undefined : { gasBudget: c.gasBudget });
    const e = c.expect;
    const mismatches: string[] = [];
    const check = (field: string, expected: unknown, got: unknown) => {
      if (expected !== undefined && expected !== got)
        mismatches.push(`${field}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(got)}`);
    };
    check('decision', e.decision, actual.decision);
    check('approvals', e.approvals, actual.approvals);
    check('group', e.group, actual.group);
    check('reason', e.reason, actual.reason);
    check('fault', e.fault, actual.fault);
    check('gas', e.gas, actual.gas);
    if (e.reasonContains !== undefined && !actual.reason.includes(e.reasonContains)) {
      mismatches.push(
        `reason: expected to contain ${JSON.stringify(e.reasonContains)}, got ${JSON.stringify(actual.reason)}`,
      );
    }
    return { name: c.name, pass: mismatches.length === 0, expected: e, actual, mismatches };
  });
}
