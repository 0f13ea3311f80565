/**
 * `keyward policy new NAME`: a starting policy and its cases file that build and pass as they are,
 * showing the SDK's main calls (roles, labels, attributes, payload size, approvals).
 * @module
 */
import { KeywardError } from '../../../lib/errors.js';

/** Policy names: a letter, then letters, digits, '-' or '_' (they become file names). */
export const POLICY_NAME_PATTERN = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;

export interface PolicyScaffold {
  /** NAME.ts */
  source: string;
  /** NAME.cases.json */
  cases: string;
}

/**
 * The files of a new policy called `name`.
 * @throws {@link KeywardError} `POLICY_NAME_INVALID` unless `name` matches POLICY_NAME_PATTERN.
 */
export function scaffoldPolicy(name: string): PolicyScaffold {
  if (typeof name !== 'string' || !POLICY_NAME_PATTERN.test(name)) {
    throw new KeywardError(
      'POLICY_NAME_INVALID',
      `policy name: expected a letter then up to 63 letters, digits, "-" or "_", got ${JSON.stringify(name)}`,
    );
  }
  const source = `/**
 * ${name}: a Keyward policy (AssemblyScript).
 *
 * Build:  keyward policy build ${name}.ts --out ${name}.wasm
 * Test:   keyward policy test ${name}.wasm --cases ${name}.cases.json
 *
 * A policy exports decide(req) and returns Decision.allow(), Decision.deny(reason) or
 * Decision.requireApproval(count, group, reason). It sees only the request (no clock, no
 * randomness, no I/O), runs under a gas budget and starts from a clean state every time.
 * All applicable policies must agree: any deny wins, and a request nobody allows is denied.
 */
import { Request, Decision } from "keyward";

/** Largest payload this policy lets through, in bytes. */
const MAX_PAYLOAD_BYTES: i64 = 1 << 20;

export function decide(req: Request): Decision {
  if (req.payloadBytes > MAX_PAYLOAD_BYTES) {
    return Decision.deny("payloads are limited to 1 MiB");
  }
  // Keys labelled env=prod are for applications only.
  if (req.labelIs("env", "prod") && !req.hasRole("app")) {
    return Decision.deny("production keys are reserved for the app role");
  }
  // Decrypting with a key labelled tier=critical needs two operators' approval.
  if (req.operationIs("decrypt") && req.labelIs("tier", "critical") && req.approvals < 2) {
    return Decision.requireApproval(2, "operator", "critical keys need two operators to approve a decryption");
  }
  return Decision.allow();
}
`;
  const key = (labels: Record<string, string>) => ({ name: 'payments', type: 'aes256-gcm', version: 1, labels });
  const cases = [
    {
      name: 'an app may encrypt with a production key',
      input: {
        operation: 'encrypt',
        principal: 'svc-billing',
        roles: ['app'],
        key: key({ env: 'prod' }),
        payloadBytes: 512,
      },
      expect: { decision: 'allow' },
    },
    {
      name: 'an operator may not use a production key',
      input: {
        operation: 'encrypt',
        principal: 'bob',
        roles: ['operator'],
        key: key({ env: 'prod' }),
        payloadBytes: 512,
      },
      expect: { decision: 'deny', reason: 'production keys are reserved for the app role' },
    },
    {
      name: 'payloads over 1 MiB are denied',
      input: {
        operation: 'encrypt',
        principal: 'svc-billing',
        roles: ['app'],
        key: key({}),
        payloadBytes: 2 * 1024 * 1024,
      },
      expect: { decision: 'deny', reasonContains: '1 MiB' },
    },
    {
      name: 'decrypting with a critical key needs two approvals',
      input: {
        operation: 'decrypt',
        principal: 'svc-billing',
        roles: ['app'],
        key: key({ tier: 'critical' }),
        approvals: 1,
      },
      expect: { decision: 'require_approval', approvals: 2, group: 'operator' },
    },
    {
      name: 'with two approvals it is allowed',
      input: {
        operation: 'decrypt',
        principal: 'svc-billing',
        roles: ['app'],
        key: key({ tier: 'critical' }),
        approvals: 2,
      },
      expect: { decision: 'allow' },
    },
    {
      name: 'requests without a key are allowed by this policy',
      input: { operation: 'auth.whoami', principal: 'alice', roles: [] },
      expect: { decision: 'allow' },
    },
  ];
  return { source, cases: JSON.stringify(cases, null, 2) + '\n' };
}
