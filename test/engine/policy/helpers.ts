/**
 * Shared by the policy tests: fixture compilation (once per process), modules written in WAT for
 * the cases asc cannot produce, and a sample input.
 */
import { fileURLToPath } from 'node:url';
import { loadBinaryen } from '../../../engine/policy/sandbox/binaryen.js';
import { compilePolicy } from '../../../engine/policy/toolchain/compile.js';
import type { PolicyInput } from '../../../engine/policy/sandbox/input.js';

export const FIXTURES = fileURLToPath(new URL('../../fixtures/policies/', import.meta.url));
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

const compiled = new Map<string, Promise<Uint8Array>>();

/** Compiles test/fixtures/policies/NAME.ts (or a path under the repository), once per process. */
export function compileFixture(name: string): Promise<Uint8Array> {
  const path = name.includes('/') ? ROOT + name : `${FIXTURES}${name}.ts`;
  let p = compiled.get(path);
  if (!p) {
    p = compilePolicy(path).then((r) => r.wasm);
    compiled.set(path, p);
  }
  return p;
}

/** A module from WAT text (binaryen's parser, all features on). */
export async function wat(text: string): Promise<Uint8Array> {
  const b = await loadBinaryen();
  const m = b.parseText(text);
  try {
    m.setFeatures(b.Features.All);
    return m.emitBinary();
  } finally {
    m.dispose();
  }
}

export interface AbiModuleParts {
  /** Imports (they must come first). */
  imports?: string;
  /** The memory declaration. */
  memory?: string;
  abiVersion?: number;
  inputPtr?: number;
  inputCapacity?: number;
  outputPtr?: number;
  outputCapacity?: number;
  /** The whole `evaluate` function, or '' for none. */
  evaluate?: string;
  /** Anything else to put in the module. */
  extra?: string;
}

/** `evaluate` writing a fixed output record: `decision`, `approvals`, no strings; returns `ret`. */
export function fixedEvaluate(decision: number, approvals = 0, ret = 16): string {
  return `(func $evaluate (export "evaluate") (param $len i32) (result i32)
    (i32.store (i32.const 17408) (i32.const ${decision}))
    (i32.store offset=4 (i32.const 17408) (i32.const ${approvals}))
    (i32.store offset=8 (i32.const 17408) (i32.const 0))
    (i32.store offset=12 (i32.const 17408) (i32.const 0))
    (i32.const ${ret}))`;
}

/** WAT of an ABI v1 module (by default a valid one that allows everything), with parts replaced. */
export function abiModule(parts: AbiModuleParts = {}): string {
  const g = (name: string, v: number) => `(global (export "${name}") i32 (i32.const ${v}))`;
  return `(module
  ${parts.imports ?? ''}
  ${parts.memory ?? '(memory (export "memory") 2 2)'}
  ${g('keyward_abi_version', parts.abiVersion ?? 1)}
  ${g('keyward_input_ptr', parts.inputPtr ?? 1024)}
  ${g('keyward_input_capacity', parts.inputCapacity ?? 16384)}
  ${g('keyward_output_ptr', parts.outputPtr ?? 17408)}
  ${g('keyward_output_capacity', parts.outputCapacity ?? 4096)}
  ${parts.evaluate ?? fixedEvaluate(1)}
  ${parts.extra ?? ''}
)`;
}

export const SAMPLE_INPUT: PolicyInput = {
  operation: 'encrypt',
  principal: 'alice',
  roles: ['app'],
  key: { name: 'payments', type: 'aes256-gcm', version: 3, labels: { tier: 'gold' } },
  attributes: { 'context.tenant': 'acme' },
  payloadBytes: 512,
  time: 1767225600000,
  approvals: 0,
};
