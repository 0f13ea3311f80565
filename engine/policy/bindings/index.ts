/**
 * engine/policy/bindings: the policy decision point the pipeline calls (docs/architecture.md, "A
 * request, step by step", step 9). Policies stored by hash, their global and per-key bindings
 * (through ../../store), the built-in default policy (read from build/, or compiled through
 * ../toolchain when it was never built), and the evaluation of every applicable policy in
 * ../sandbox. This is the database-backed part of engine/policy.
 * @module
 */
export { BINDINGS_TTL_MS, DEFAULT_POLICY_NAME, PolicyService, assertPolicyHash } from './service.js';
export type { BindingScope, PolicySummary } from './service.js';
export { defaultPolicyPath, defaultPolicyWasm, loadDefaultPolicy } from './default.js';
export { builtPoliciesDir, bundledMetering, prebuiltLookup, sandboxFingerprint } from './prebuilt.js';
export type { PrebuiltManifest } from './prebuilt.js';
