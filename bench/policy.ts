/**
 * bench/policy: what a policy decision costs.
 *
 * - Per-evaluation latency (p50/p99) of the built-in RBAC policy with gas metering and isolation on,
 *   over 1,200 generated requests, against the same decisions made by Cedar's official wasm build
 *   (`@cedar-policy/cedar-wasm`, `statefulIsAuthorized` with a pre-parsed policy set) on an
 *   equivalent Cedar policy. Both engines must agree on every request, and on every operation of
 *   the catalog (engine/operations.ts, plus names outside it) under every set of the five roles
 *   with 0, 1 and 2 approvals; the bench fails (exit 1) on the first disagreement. The Cedar
 *   translation is built from the same independent statement of the role matrix as the policy's
 *   tests (test/engine/policy/rbac-oracle.ts) and from the catalog, so a new operation or a new
 *   approval rule shows up here as a disagreement, not as a silently narrower comparison.
 * - Where the time goes: encoding alone, evaluating pre-encoded bytes, the same module without gas or
 *   isolation on a reused instance, and the alternative isolation method (a fresh instance per
 *   evaluation).
 * - Loading (validate + meter + compile + instantiate) of a generated ~64 KiB policy.
 *
 * Latencies are per call, timed one call at a time (hrtime adds a few tens of ns to each).
 *
 * Options: --json, --smoke (fewer timed calls and loads, the same agreement checks).
 */
import { register } from 'node:module';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { Checks, isSmoke, table, time } from './util.js';
import {
  APP_OPS as ORACLE_APP_OPS,
  DUAL_CONTROL_OPS as ORACLE_DUAL_CONTROL_OPS,
  OPERATOR_OPS as ORACLE_OPERATOR_OPS,
} from '../test/engine/policy/rbac-oracle.js';
import type { BenchOptions, Stats } from './util.js';
import { OPERATION_NAMES } from '../engine/operations.js';
import { AbiExport, encodePolicyInput } from '../engine/policy/sandbox/abi.js';
import { loadBinaryen, readModule } from '../engine/policy/sandbox/binaryen.js';
import { compilePolicy } from '../engine/policy/toolchain/compile.js';
import { GAS_BUDGET_DEFAULT, GAS_BUDGET_START, MeterExport, meterModule } from '../engine/policy/sandbox/gas.js';
import { loadPolicy } from '../engine/policy/sandbox/host.js';
import type { PolicyInput } from '../engine/policy/sandbox/input.js';
import { defaultPolicySourcePath } from '../engine/policy/toolchain/paths.js';
import { preflight, validateModule, validatePolicy } from '../engine/policy/sandbox/validate.js';
import { Wasm } from '../engine/policy/sandbox/wasm.js';
import type { WasmGlobal, WasmMemory } from '../engine/policy/sandbox/wasm.js';

// Under tsx, binaryen's 13 MB module would be re-parsed to rewrite its dynamic imports (~8 s):
// serve it (and asc) untouched. Registered after tsx, so it runs first.
const HOOK = `import { readFile } from 'node:fs/promises';
const BIG = ['/node_modules/binaryen/index.js', '/node_modules/assemblyscript/dist/asc.js', '/node_modules/assemblyscript/dist/assemblyscript.js'];
export async function load(url, context, next) {
  if (url.startsWith('file:') && BIG.some((s) => url.endsWith(s))) return { format: 'module', source: await readFile(new URL(url)), shortCircuit: true };
  return next(url, context);
}`;

// The role matrix, from the same independent statement of the default policy that its tests check
// it against (test/engine/policy/rbac-oracle.ts).
const OPERATOR_OPS = [...ORACLE_OPERATOR_OPS];
const APP_OPS = [...ORACLE_APP_OPS];
const DUAL_CONTROL_OPS = [...ORACLE_DUAL_CONTROL_OPS];
// Every operation of the catalog, and names outside it that prefix rules could wrongly match.
const OTHER_OPS = ['frobnicate', 'audit', 'auditing.read', 'audit.verify', 'approval', 'approvals.list', 'key'];
const OPS = [...new Set([...OPERATION_NAMES, ...OPERATOR_OPS, ...APP_OPS, ...DUAL_CONTROL_OPS, ...OTHER_OPS])];
/** The policy's prefix rules (`audit.*` for auditors, `approval.*` for anyone) as Cedar action groups. */
const AUDIT_OPS = OPS.filter((o) => o.startsWith('audit.'));
const APPROVAL_OPS = OPS.filter((o) => o.startsWith('approval.'));
const ROLES = ['admin', 'operator', 'app', 'auditor', 'monitor', 'root'];

const cedarActions = (ops: readonly string[]) => ops.map((o) => `Action::"${o}"`).join(', ');
/**
 * The RBAC policy in Cedar. `audit.*` and `approval.*` become action groups (Cedar has no prefix
 * match on ids). Cedar has no "require approval": a dual-control operation is forbidden until two
 * approvals are in the context, and Keyward's require_approval counts as not allowed (deny) when the
 * two are compared — the same outcome as the pipeline, which runs nothing until the approvals exist.
 * The `approval.*` permit comes before the dual-control forbid in the policy's order, but Cedar
 * needs no order: no approval operation is under dual control.
 */
const CEDAR_POLICY = `
forbid(principal, action in [${cedarActions(DUAL_CONTROL_OPS)}], resource) unless { context.approvals >= 2 };
permit(principal, action == Action::"auth.whoami", resource);
permit(principal, action in Action::"group:approval", resource);
permit(principal in Role::"admin", action, resource);
permit(principal in Role::"operator", action in [${cedarActions([...OPERATOR_OPS, ...DUAL_CONTROL_OPS])}], resource);
permit(principal in Role::"app", action in [${cedarActions(APP_OPS)}], resource);
permit(principal in Role::"auditor", action in Action::"group:audit", resource);
permit(principal in Role::"monitor", action == Action::"metrics", resource);
`;
const CEDAR_ACTIONS = [
  ...AUDIT_OPS.map((id) => ({
    uid: { type: 'Action', id },
    attrs: {},
    parents: [{ type: 'Action', id: 'group:audit' }],
  })),
  ...APPROVAL_OPS.map((id) => ({
    uid: { type: 'Action', id },
    attrs: {},
    parents: [{ type: 'Action', id: 'group:approval' }],
  })),
];

/** Every operation under every subset of the roles, with 0, 1 and 2 approvals. */
function everyCase(): PolicyInput[] {
  const out: PolicyInput[] = [];
  for (const operation of OPS)
    for (let mask = 0; mask < 1 << ROLES.length; mask++)
      for (const approvals of [0, 1, 2])
        out.push({
          operation,
          principal: 'user-1',
          roles: ROLES.filter((_, b) => mask & (1 << b)),
          key: { name: 'key-1', type: 'aes256-gcm', version: 1, labels: {} },
          attributes: {},
          payloadBytes: 16,
          time: 1767225600000,
          approvals,
        });
  return out;
}

/** Deterministic requests: every operation under rotating role sets, principals and keys. */
function requests(n: number): PolicyInput[] {
  let seed = 0x2545f491;
  const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
  const out: PolicyInput[] = [];
  for (let i = 0; i < n; i++) {
    const roleMask = next() % (1 << ROLES.length);
    const roles = ROLES.filter((_, b) => roleMask & (1 << b) && next() % 3 !== 0);
    const operation = OPS[i % OPS.length]!;
    out.push({
      operation,
      principal: `user-${next() % 97}`,
      roles,
      key:
        operation.startsWith('key.') || APP_OPS.includes(operation)
          ? {
              name: `key-${next() % 13}`,
              type: 'aes256-gcm',
              version: 1 + (next() % 5),
              labels: { team: `t${next() % 7}`, env: next() % 2 ? 'prod' : 'dev' },
            }
          : null,
      attributes: next() % 2 ? { 'context.tenant': `tenant-${next() % 11}` } : {},
      payloadBytes: next() % 65536,
      time: 1767225600000 + i,
      approvals: next() % 3,
    });
  }
  return out;
}

function cedarDecision(input: PolicyInput): 'allow' | 'deny' {
  const r = cedar.statefulIsAuthorized({
    principal: { type: 'User', id: input.principal },
    action: { type: 'Action', id: input.operation },
    resource: { type: 'Key', id: input.key?.name ?? '-' },
    context: { approvals: input.approvals },
    preparsedPolicySetId: 'keyward-rbac',
    entities: [
      {
        uid: { type: 'User', id: input.principal },
        attrs: {},
        parents: input.roles.map((id) => ({ type: 'Role', id })),
      },
      ...CEDAR_ACTIONS,
    ],
  });
  if (r.type !== 'success') throw new Error(`cedar: ${JSON.stringify(r.errors)}`);
  return r.response.decision === 'allow' ? 'allow' : 'deny';
}

/** Cycles through `items`, timing one call per sample. */
function cycling<T>(items: readonly T[], fn: (item: T) => unknown): () => unknown {
  let i = 0;
  return () => fn(items[i++ % items.length]!);
}

interface MeteredExports {
  memory: WasmMemory;
  [MeterExport.run]: (len: number, budget: number) => number;
  [MeterExport.init]: (budget: number) => void;
  [MeterExport.gas]: WasmGlobal;
}

const abort = () => {
  throw new Error('abort');
};

/** A ~64 KiB policy: many distinct rules. */
function bigPolicySource(rules: number): string {
  const lines = ['import { Request, Decision } from "keyward";', ''];
  for (let i = 0; i < rules; i++) {
    lines.push(`function rule${i}(req: Request): bool {`);
    lines.push(
      `  return req.operationIs("operation.number.${i}") && (req.hasRole("role-${i}") || req.labelIs("label-${i}", "value-${i}")) && req.payloadBytes < ${1000 + i};`,
    );
    lines.push('}');
  }
  lines.push('export function decide(req: Request): Decision {');
  for (let i = 0; i < rules; i++) lines.push(`  if (rule${i}(req)) return Decision.allow("rule ${i}");`);
  lines.push('  return Decision.deny("no rule matched");', '}', '');
  return lines.join('\n');
}

export async function main({ json, args }: BenchOptions): Promise<void> {
  const smoke = isSmoke(args);
  register('data:text/javascript,' + encodeURIComponent(HOOK));
  const log = (s: string) => {
    if (!json) console.error(s);
  };

  log('compiling the RBAC policy...');
  const { wasm } = await compilePolicy(defaultPolicySourcePath());
  const policy = await loadPolicy(wasm);
  const reqs = requests(1200);
  const encoded = reqs.map(encodePolicyInput);

  // Agreement: the generated requests, then every operation × role set × approvals.
  const pre = cedar.preparsePolicySet('keyward-rbac', { staticPolicies: CEDAR_POLICY });
  if (pre.type !== 'success') throw new Error(`cedar policy: ${JSON.stringify(pre)}`);
  const checks = new Checks();
  const agree = (inputs: PolicyInput[], what: string) => {
    const disagreements: string[] = [];
    const tally = { allow: 0, deny: 0, requireApproval: 0 };
    for (const r of inputs) {
      const decision = policy.evaluate(r).decision;
      const ours = decision === 'allow' ? 'allow' : 'deny';
      const theirs = cedarDecision(r);
      if (ours !== theirs)
        disagreements.push(
          `${r.operation} as [${r.roles.join(', ')}] with ${r.approvals} approvals: ours ${decision}, cedar ${theirs}`,
        );
      if (decision === 'require_approval') tally.requireApproval++;
      else tally[ours]++;
    }
    const some = disagreements.slice(0, 5).join('; ');
    checks.that(
      disagreements.length === 0,
      `the engines disagree on ${disagreements.length} of ${inputs.length} ${what}: ${some}`,
    );
    return { disagreements, tally };
  };
  const generated = agree(reqs, 'generated requests');
  const exhaustive = agree(everyCase(), 'operation × role set × approvals cases');
  const disagreements = [...generated.disagreements, ...exhaustive.disagreements];
  const tally = generated.tally;
  // A disagreement makes the timings meaningless: fail before them.
  checks.assert();

  // Baseline without gas or isolation: the unmetered module on one reused instance. Without
  // isolation the stub runtime's bump allocator never gets its memory back, so the instance is
  // replaced every 250 calls (one slow sample in 250, 0.4%: p99 is unaffected).
  const info = policy.info;
  const rawModule = preflight(wasm);
  let rawCalls = 0;
  let rawMem = new Uint8Array(0);
  let rawView = new DataView(rawMem.buffer);
  let rawEvaluate: (len: number) => number = () => 0;
  const rawInstantiate = () => {
    const ex = new Wasm.Instance(rawModule, { env: { abort } }).exports as Record<string, unknown>;
    (ex[AbiExport.start] as () => void)();
    rawMem = new Uint8Array((ex.memory as WasmMemory).buffer);
    rawView = new DataView(rawMem.buffer);
    rawEvaluate = ex[AbiExport.evaluate] as (len: number) => number;
  };
  const utf16 = new TextDecoder('utf-16le');
  const raw = (bytes: Uint8Array) => {
    if (rawCalls++ % 250 === 0) rawInstantiate();
    rawMem.set(bytes, info.input.ptr);
    rawEvaluate(bytes.length);
    const p = info.output.ptr;
    const g = rawView.getUint32(p + 8, true);
    const r = rawView.getUint32(p + 12, true);
    return { decision: rawView.getUint32(p, true), reason: utf16.decode(rawMem.subarray(p + 16 + g, p + 16 + g + r)) };
  };

  // Alternative isolation: a fresh instance of the metered module per evaluation.
  const b = await loadBinaryen();
  const m = readModule(b, wasm);
  validateModule(b, m, wasm);
  meterModule(b, m);
  const meteredModule = new Wasm.Module(m.emitBinary());
  m.dispose();
  const fresh = (bytes: Uint8Array) => {
    const ex = new Wasm.Instance(meteredModule, { env: { abort } }).exports as unknown as MeteredExports;
    ex[MeterExport.init](GAS_BUDGET_START);
    const mem = new Uint8Array(ex.memory.buffer);
    mem.set(bytes, info.input.ptr);
    ex[MeterExport.run](bytes.length, GAS_BUDGET_DEFAULT);
    const view = new DataView(mem.buffer);
    const p = info.output.ptr;
    const g = view.getUint32(p + 8, true);
    const r = view.getUint32(p + 12, true);
    return { decision: view.getUint32(p, true), reason: utf16.decode(mem.subarray(p + 16 + g, p + 16 + g + r)) };
  };

  const N = smoke ? 200 : 20_000;
  log('timing...');
  const stats: Record<string, Stats> = {};
  const warm = smoke ? 20 : 5000;
  stats.cedar = await time(cycling(reqs, cedarDecision), N, warm);
  stats.keyward = await time(
    cycling(reqs, (r) => policy.evaluate(r)),
    N * 5,
    warm,
  );
  stats.keywardBytes = await time(
    cycling(encoded, (e) => policy.evaluate(e)),
    N * 5,
    warm,
  );
  stats.encode = await time(cycling(reqs, encodePolicyInput), N * 5, warm);
  stats.raw = await time(cycling(encoded, raw), N * 5, warm);
  stats.freshInstance = await time(cycling(encoded, fresh), N, smoke ? 20 : 1000);
  const gas = reqs.map((r) => policy.evaluate(r).gas).sort((x, y) => x - y);

  // Loading a ~64 KiB module.
  log('compiling a ~64 KiB policy...');
  const dir = await mkdtemp(join(tmpdir(), 'keyward-bench-'));
  let big: Uint8Array;
  try {
    await writeFile(join(dir, 'big.ts'), bigPolicySource(230));
    big = (await compilePolicy(join(dir, 'big.ts'))).wasm;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const bigInput: PolicyInput = {
    ...reqs[0]!,
    operation: 'operation.number.229',
    roles: ['role-229'],
    payloadBytes: 10,
  };
  const loads = smoke ? 2 : 25;
  const load = await time(() => loadPolicy(big), loads, smoke ? 1 : 3);
  const validateOnly = await time(() => validatePolicy(big), loads, smoke ? 1 : 3);
  const firstEval = await time(async () => (await loadPolicy(big)).evaluate(bigInput), loads, smoke ? 1 : 3);
  const bigLoaded = await loadPolicy(big);
  const bigResult = bigLoaded.evaluate(bigInput);
  checks.that(bigResult.reason === 'rule 229', `the big policy misbehaves: ${JSON.stringify(bigResult)}`);
  const bigEval = await time(() => bigLoaded.evaluate(bigInput), N, smoke ? 20 : 2000);

  const us = (ms: number) => Math.round(ms * 1e6) / 1e3; // ms → µs, 3 decimals
  const figures = {
    smoke,
    requests: reqs.length,
    allow: tally.allow,
    deny: tally.deny,
    requireApproval: tally.requireApproval,
    agreement: {
      operations: OPS.length,
      catalogOperations: OPERATION_NAMES.length,
      exhaustiveCases: exhaustive.tally.allow + exhaustive.tally.deny + exhaustive.tally.requireApproval,
      exhaustive: exhaustive.tally,
    },
    disagreements,
    p50Us: {
      keyward: us(stats.keyward.p50),
      keywardPreEncoded: us(stats.keywardBytes.p50),
      encodeOnly: us(stats.encode.p50),
      noGasNoIsolation: us(stats.raw.p50),
      freshInstancePerCall: us(stats.freshInstance.p50),
      cedar: us(stats.cedar.p50),
    },
    p99Us: {
      keyward: us(stats.keyward.p99),
      keywardPreEncoded: us(stats.keywardBytes.p99),
      encodeOnly: us(stats.encode.p99),
      noGasNoIsolation: us(stats.raw.p99),
      freshInstancePerCall: us(stats.freshInstance.p99),
      cedar: us(stats.cedar.p99),
    },
    cedarOverKeywardP50: Math.round((stats.cedar.p50 / stats.keyward.p50) * 10) / 10,
    cedarOverKeywardP99: Math.round((stats.cedar.p99 / stats.keyward.p99) * 10) / 10,
    gasAndIsolationOverRawP50: Math.round((stats.keywardBytes.p50 / stats.raw.p50) * 100) / 100,
    freshInstanceOverSnapshotP50: Math.round((stats.freshInstance.p50 / stats.keywardBytes.p50) * 10) / 10,
    gas: { min: gas[0], p50: gas[Math.floor(gas.length / 2)], max: gas[gas.length - 1] },
    bigModule: {
      bytes: big.length,
      loadMsP50: Math.round(load.p50 * 100) / 100,
      validateMsP50: Math.round(validateOnly.p50 * 100) / 100,
      loadAndFirstEvalMsP50: Math.round(firstEval.p50 * 100) / 100,
      evalUsP50: us(bigEval.p50),
    },
  };
  if (json) {
    console.log(JSON.stringify({ ...figures, checks }));
    checks.assert();
    return;
  }
  const row = (name: string, s: Stats) => ({
    engine: name,
    'p50 µs': us(s.p50),
    'p99 µs': us(s.p99),
    'mean µs': us(s.mean),
    n: s.n,
  });
  console.log(
    `RBAC decision over ${reqs.length} requests (${tally.allow} allow, ${tally.deny} deny, ${tally.requireApproval} require approval); the engines agree on all of them,\n` +
      `and on all ${figures.agreement.exhaustiveCases} cases of ${OPS.length} operations (the ${OPERATION_NAMES.length} of the catalog and names outside it) × ${1 << ROLES.length} role sets × 0-2 approvals` +
      ` (${exhaustive.tally.allow} allow, ${exhaustive.tally.deny} deny, ${exhaustive.tally.requireApproval} require approval).\n`,
  );
  console.log(
    table([
      row('keyward (encode + gas + isolation)', stats.keyward),
      row('keyward, pre-encoded input', stats.keywardBytes),
      row('  encode only', stats.encode),
      row('  no gas, no isolation, reused instance', stats.raw),
      row('  fresh instance per evaluation', stats.freshInstance),
      row('cedar-wasm statefulIsAuthorized', stats.cedar),
    ]),
  );
  console.log(`\ncedar / keyward: ${figures.cedarOverKeywardP50}× at p50, ${figures.cedarOverKeywardP99}× at p99`);
  console.log(
    `gas + isolation over the bare module: ${figures.gasAndIsolationOverRawP50}× at p50; a fresh instance per call would be ${figures.freshInstanceOverSnapshotP50}× the snapshot restore`,
  );
  console.log(
    `gas used per decision: min ${figures.gas.min}, p50 ${figures.gas.p50}, max ${figures.gas.max} (budget ${GAS_BUDGET_DEFAULT})\n`,
  );
  console.log(
    table([
      {
        step: `load ${big.length}-byte module (validate + meter + compile + instantiate)`,
        'p50 ms': figures.bigModule.loadMsP50,
        'p99 ms': Math.round(load.p99 * 100) / 100,
      },
      {
        step: '  validate only',
        'p50 ms': figures.bigModule.validateMsP50,
        'p99 ms': Math.round(validateOnly.p99 * 100) / 100,
      },
      {
        step: '  load + first evaluation',
        'p50 ms': figures.bigModule.loadAndFirstEvalMsP50,
        'p99 ms': Math.round(firstEval.p99 * 100) / 100,
      },
    ]),
  );
  console.log(`\nthe ${big.length}-byte policy evaluates in ${figures.bigModule.evalUsP50} µs at p50`);
  checks.assert();
}
