/**
 * The part of the WebAssembly JS API the policy host uses, typed locally: Node has the global at
 * runtime, but @types/node 20 does not declare it, and pulling in lib.dom (or asc's own .d.ts)
 * would change the globals of the whole program.
 * @module
 */

/** A compiled module (opaque). */
export interface WasmModule {
  readonly __wasmModule?: never;
}

export interface WasmMemory {
  readonly buffer: ArrayBuffer;
}

export interface WasmGlobal {
  value: number | bigint;
}

export interface WasmModuleDescriptor {
  module?: string;
  name: string;
  kind: 'function' | 'table' | 'memory' | 'global' | 'tag' | string;
}

interface WebAssemblyApi {
  Module: {
    new (bytes: Uint8Array): WasmModule;
    imports(module: WasmModule): (WasmModuleDescriptor & { module: string })[];
    exports(module: WasmModule): WasmModuleDescriptor[];
  };
  Instance: new (
    module: WasmModule,
    imports: Record<string, Record<string, unknown>>,
  ) => { exports: Record<string, unknown> };
  RuntimeError: new (message?: string) => Error;
  CompileError: new (message?: string) => Error;
}

/** `globalThis.WebAssembly`, typed. */
export const Wasm = (globalThis as unknown as { WebAssembly: WebAssemblyApi }).WebAssembly;
