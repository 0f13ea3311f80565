/**
 * The pure functions the worker pool runs, as one dispatch table shared by the pool (pool.ts) and
 * its worker (worker.ts), so a call gives the same answer in a worker and in-thread.
 * @module
 */
import { decapsulate, encapsulate, type Encapsulation } from './kem.js';
import { generateKey, type KeyPair } from './material.js';
import { oaepDecrypt } from './oaep.js';
import { sign, verify, type SignOptions, type VerifyOptions } from './sign.js';
import type { KeyType } from './types.js';

export interface CallMap {
  generateKey: { args: [type: KeyType]; result: KeyPair };
  sign: { args: [type: KeyType, priv: Uint8Array, message: Uint8Array, opts?: SignOptions]; result: Uint8Array };
  verify: { args: [type: KeyType, pub: Uint8Array, message: Uint8Array, signature: Uint8Array, opts?: VerifyOptions]; result: boolean };
  encapsulate: { args: [type: KeyType, pub: Uint8Array]; result: Encapsulation };
  decapsulate: { args: [type: KeyType, priv: Uint8Array, ciphertext: Uint8Array]; result: Uint8Array };
  /** RSA-OAEP decryption (oaep.ts); AEAD decryption never goes to the pool. */
  decrypt: { args: [type: KeyType, priv: Uint8Array, ciphertext: Uint8Array, label?: Uint8Array]; result: Uint8Array };
}
export type CallName = keyof CallMap;

export const CALL_NAMES: readonly CallName[] = ['generateKey', 'sign', 'verify', 'encapsulate', 'decapsulate', 'decrypt'];

/** Runs `name(...args)` in this thread. */
export function runCall<N extends CallName>(name: N, args: CallMap[N]['args']): CallMap[N]['result'] {
  switch (name) {
    case 'generateKey':
      return generateKey(...(args as CallMap['generateKey']['args'])) as CallMap[N]['result'];
    case 'sign':
      return sign(...(args as CallMap['sign']['args'])) as CallMap[N]['result'];
    case 'verify':
      return verify(...(args as CallMap['verify']['args'])) as CallMap[N]['result'];
    case 'encapsulate':
      return encapsulate(...(args as CallMap['encapsulate']['args'])) as CallMap[N]['result'];
    case 'decapsulate':
      return decapsulate(...(args as CallMap['decapsulate']['args'])) as CallMap[N]['result'];
    case 'decrypt':
      return oaepDecrypt(...(args as CallMap['decrypt']['args'])) as CallMap[N]['result'];
    default:
      throw new RangeError(`unknown crypto call ${String(name)}`);
  }
}

/** The distinct ArrayBuffers of the Uint8Arrays in `value` (one level deep into objects/arrays). */
export function transferablesOf(value: unknown): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  const add = (v: unknown): void => {
    if (v instanceof Uint8Array && v.buffer instanceof ArrayBuffer && v.byteLength > 0) out.add(v.buffer);
  };
  if (Array.isArray(value)) value.forEach(add);
  else if (value && typeof value === 'object' && !(value instanceof Uint8Array)) Object.values(value).forEach(add);
  else add(value);
  return [...out];
}
