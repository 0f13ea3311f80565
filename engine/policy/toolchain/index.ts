/**
 * engine/policy/toolchain: writing policies (docs/architecture.md, "The parts"). Compiles
 * AssemblyScript with the pinned asc, reproducibly (compile.ts); scaffolds a new policy
 * (scaffold.ts); runs a policy's test cases (cases.ts); generates the SDK's ABI file from the field
 * list (abi-gen.ts); finds the package's files (paths.ts).
 *
 * Reads and writes files. Used by the CLI (`keyward policy build|new|test`), the build scripts and
 * the tests; the server reaches it only through ../bindings/default.ts, to compile the default policy
 * when build/ was never made. It imports ../sandbox, never the database.
 * @module
 */
export { generateSdkAbi } from './abi-gen.js';
export { parseCases, runCases } from './cases.js';
export type { CaseExpectation, CaseResult, PolicyCase } from './cases.js';
export { ASC_OPTIONS, POLICY_MEMORY_PAGES, compilePolicy } from './compile.js';
export type { CompileOptions, CompileResult } from './compile.js';
export { defaultPolicyPath, defaultPolicySourcePath, packageRoot, sdkDir } from './paths.js';
export { POLICY_NAME_PATTERN, scaffoldPolicy } from './scaffold.js';
export type { PolicyScaffold } from './scaffold.js';
