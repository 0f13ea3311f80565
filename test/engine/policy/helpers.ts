/**
 * Shared by the policy tests: fixture compilation (once per process), modules written in WAT for
 * the cases asc cannot produce, and a sample input.
 */
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadBinaryen } from '../../../engine/policy/sandbox/binaryen.js';
import { compilePolicy } from '../../../engine/policy/toolchain/compile.js';
import type { PolicyInput } from '../../../engine/policy/sandbox/input.js';

export const FIXTURES = fileURLToPath(new URL('../../fixtures/policies/', import.meta.url));
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

const compiled = new Map<string, Promise<Uint8Array>>();

/**
 * Compiles test/fixtures/policies/NAME.ts (or a path under the repository), once per process, and
 * once per content across processes: builds are reproducible, so the module is kept in the OS temp
 * dir under the SHA-256 of everything that makes it (the fixture, the policy SDK, every file of
 * engine/policy/ and the compiler's version). The toolchain's own tests compile for real.
 */
export function compileFixture(name: string): Promise<Uint8Array> {
  const path = name.includes('/') ? ROOT + name : `${FIXTURES}${name}.ts`;
  let p = compiled.get(path);
  if (!p) {
    p = cachedCompile(path);
    compiled.set(path, p);
  }
  return p;
}

let toolchainDigest: string | undefined;

async function cachedCompile(path: string): Promise<Uint8Array> {
  toolchainDigest ??= digestOf([join(ROOT, 'engine', 'policy'), join(ROOT, 'policies', 'sdk')]);
  const key = createHash('sha256').update(toolchainDigest).update(readFileSync(path)).digest('hex');
  const file = join(tmpdir(), 'keyward-test-policies', `${key}.wasm`);
  const hit = await readFile(file).catch(() => undefined);
  if (hit) return new Uint8Array(hit);
  const { wasm } = await compilePolicy(path);
  await mkdir(dirname(file), { recursive: true });
  // Write-then-rename, so parallel test processes never read half a module.
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, wasm);
  await rename(tmp, file);
  return wasm;
}

/** SHA-256 over the compiler's version and every file under `dirs`, by path. */
function digestOf(dirs: string[]): string {
  const h = createHash('sha256').update(
    `assemblyscript ${(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }).dependencies.assemblyscript}\n`,
  );
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else h.update(`${p}\n`).update(readFileSync(p));
    }
  };
  for (const d of dirs) walk(d);
  return h.digest('hex');
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
