/**
 * engine/policy: deterministic WebAssembly policies (DESIGN.md §4).
 *
 * compile (asc, reproducible) → validate (what a policy may contain) → meter (gas, isolation) →
 * load and evaluate (deny on any fault) → compose (deny wins). No I/O besides reading policy
 * files when asked to; no clock (time is an input field).
 * @module
 */
export { ABI_VERSION, AbiExport, DecisionCode, MAX_GROUP_CHARS, MAX_REASON_CHARS, MAX_REQUIRED_APPROVALS, decodePolicyInput, encodePolicyInput, encodePolicyInputInto } from './abi.js';
export type { DecisionName } from './abi.js';
export { parseCases, runCases } from './cases.js';
export type { CaseExpectation, CaseResult, PolicyCase } from './cases.js';
export { ASC_OPTIONS, POLICY_MEMORY_PAGES, compilePolicy } from './compile.js';
export type { CompileOptions, CompileResult } from './compile.js';
export { composeDecisions } from './compose.js';
export type { ApprovalRequirement, ComposedDecision, PolicyDecisionRecord } from './compose.js';
export { defaultPolicyPath, defaultPolicyWasm, loadDefaultPolicy } from './default.js';
export { GAS_BUDGET_DEFAULT, GAS_BUDGET_MAX } from './gas.js';
export { LoadedPolicy, loadPolicy } from './host.js';
export type { EvaluateOptions, EvaluationResult, PolicyFault } from './host.js';
export { parsePolicyInput, policyInputSchema } from './input.js';
export type { PolicyInput, PolicyKey } from './input.js';
export { POLICY_REGISTRY_DEFAULT_SIZE, PolicyRegistry } from './registry.js';
export { POLICY_NAME_PATTERN, scaffoldPolicy } from './scaffold.js';
export type { PolicyScaffold } from './scaffold.js';
export { MAX_INPUT_BYTES, POLICY_INPUT_FIELDS } from './schema.js';
export { MAX_MEMORY_PAGES, MAX_MODULE_BYTES, validatePolicy } from './validate.js';
export type { ModuleInfo } from './validate.js';
