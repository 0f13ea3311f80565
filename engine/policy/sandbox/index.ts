/**
 * engine/policy/sandbox: running deterministic WebAssembly policies (docs/architecture.md, "The
 * parts"; the ABI is documented in abi.ts).
 *
 * validate (what a policy module may contain) → meter (gas, isolation) → load and evaluate (deny on
 * any fault) → compose (deny wins); the ABI: the one field list (schema.ts), its canonical encoding
 * (abi.ts) and its JSON form (input.ts); an in-memory cache of loaded modules (registry.ts).
 * No I/O: no database, no file system, no network, no clock (time is an input field). Module bytes
 * come in from the caller: policies in the database go through ../bindings, authoring through
 * ../toolchain.
 * @module
 */
export {
  ABI_VERSION,
  AbiExport,
  DecisionCode,
  MAX_GROUP_CHARS,
  MAX_REASON_CHARS,
  MAX_REQUIRED_APPROVALS,
  decodePolicyInput,
  encodePolicyInput,
  encodePolicyInputInto,
} from './abi.js';
export type { DecisionName } from './abi.js';
export { composeDecisions } from './compose.js';
export type { ApprovalRequirement, ComposedDecision, PolicyDecisionRecord } from './compose.js';
export { GAS_BUDGET_DEFAULT, GAS_BUDGET_MAX } from './gas.js';
export { LoadedPolicy, POLICY_FAULTS, loadPolicy, meterPolicy } from './host.js';
export type { MeteredPolicy } from './host.js';
export type { EvaluateOptions, EvaluationResult, PolicyFault } from './host.js';
export { parsePolicyInput, policyInputSchema } from './input.js';
export type { PolicyInput, PolicyKey } from './input.js';
export { POLICY_REGISTRY_DEFAULT_SIZE, PolicyRegistry } from './registry.js';
export { MAX_INPUT_BYTES, POLICY_INPUT_FIELDS } from './schema.js';
export { MAX_MEMORY_PAGES, MAX_MODULE_BYTES, validatePolicy } from './validate.js';
export type { ModuleInfo } from './validate.js';
