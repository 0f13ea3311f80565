/**
 * The pure functions the worker pool runs, as one dispatch table shared by the pool (pool.ts) and
 * its worker (worker.ts), so a call gives the same answer in a worker and in-thread.
 * @module
 */
import { KeyObject } from 'node:crypto';
import { expandPrivateKey, isExpandedKey, wipeExpandedKey, type ExpandedKey, type WorkingKey } from './expanded.js';
import { decapsulate, encapsulate, type Encapsulation } from './kem.js';
import { generateKey, type KeyPair } from './material.js';
import { oaepDecrypt } from './oaep.js';
import { pqBackend, type PqBackendInfo } from './pq.js';
import { sign, verify, type SignOptions, type VerifyOptions } from './sign.js';
import type { KeyType } from './types.js';

export interface CallMap {
  generateKey: { args: [type: KeyType]; result: KeyPair };
  sign: {
    args: [type: KeyType, priv: WorkingKey, message: Uint8Array, opts?: SignOptions];
    result: Uint8Array;
  };
  verify: {
    args: [type: KeyType, pub: Uint8Array, message: Uint8Array, signature: Uint8Array, opts?: VerifyOptions];
    result: boolean;
  };
  encapsulate: { args: [type: KeyType, pub: Uint8Array]; result: Encapsulation };
  decapsulate: { args: [type: KeyType, priv: WorkingKey, ciphertext: Uint8Array]; result: Uint8Array };
  /** The expanded form of a seed (expanded.ts), for the caller to cache. */
  expand: { args: [type: KeyType, priv: Uint8Array]; result: ExpandedKey };
  /** RSA-OAEP decryption (oaep.ts); AEAD decryption never goes to the pool. */
  decrypt: { args: [type: KeyType, priv: Uint8Array, ciphertext: Uint8Array, label?: Uint8Array]; result: Uint8Array };
  /** The post-quantum backend of the thread that runs the call (pq.ts), to check the pool's matches. */
  pqBackend: { args: []; result: PqBackendInfo };
}
export type CallName = keyof CallMap;

export const CALL_NAMES: readonly CallName[] = [
  'generateKey',
  'sign',
  'verify',
  'encapsulate',
  'decapsulate',
  'decrypt',
  'expand',
  'pqBackend',
];

/** Calls whose second argument is private key material (a copy made for the call, wiped after it). */
export const PRIVATE_KEY_CALLS: ReadonlySet<CallName> = new Set(['sign', 'decapsulate', 'decrypt', 'expand']);

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
    case 'expand':
      return expandPrivateKey(...(args as CallMap['expand']['args'])) as CallMap[N]['result'];
    case 'pqBackend':
      return pqBackend() as CallMap[N]['result'];
    default:
      throw new RangeError(`unknown crypto call ${String(name)}`);
  }
}

/**
 * The distinct ArrayBuffers of the Uint8Arrays in `value`, up to three levels deep into objects and
 * arrays (call arguments → an ExpandedKey → its parts).
 */
export function transferablesOf(value: unknown): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  const add = (v: unknown, depth: number): void => {
    if (v instanceof Uint8Array) {
      if (v.buffer instanceof ArrayBuffer && v.byteLength > 0) out.add(v.buffer);
    } else if (v instanceof KeyObject) {
      // Cloned by postMessage (node:crypto copies the key into the worker), never transferred.
    } else if (depth < 3 && v !== null && typeof v === 'object') {
      for (const x of Array.isArray(v) ? v : Object.values(v)) add(x, depth + 1);
    }
  };
  add(value, 0);
  return [...out];
}

/**
 * A fresh copy of key material (a Uint8Array or an ExpandedKey), for transfer to a worker. A parsed
 * KeyObject is passed as it is: postMessage clones it, and the caller's stays untouched.
 */
export function copyKey<K extends WorkingKey>(k: K): K {
  if (k instanceof KeyObject) return k;
  if (isExpandedKey(k))
    return { kind: 'expanded', type: k.type, parts: k.parts.map((p) => new Uint8Array(p)) } as ExpandedKey as K;
  return new Uint8Array(k as Uint8Array) as K;
}

/** Wipes key material received for a call (best effort; a KeyObject is freed, and cleared, by OpenSSL). */
export function wipeKey(k: unknown): void {
  if (k instanceof Uint8Array) k.fill(0);
  else if (isExpandedKey(k)) wipeExpandedKey(k);
}
