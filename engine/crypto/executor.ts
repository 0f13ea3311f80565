/**
 * The one place that decides whether a crypto call runs on the event loop or on the worker pool
 * (pool.ts), so no caller writes "pool if slow, else inline" itself (docs/architecture.md, the
 * crypto core). The rule is the capability table's measured `slow` lists (types.ts: calls that take
 * ≳1 ms in pure JS, e.g. ML-DSA-65 sign ≈ 11 ms, RSA-4096 keygen up to seconds) plus `expand`, the
 * post-quantum key schedule (≈ 3 ms for ML-DSA-65, expanded.ts), which always leaves the loop when
 * there is a pool. One exception: on the native post-quantum backend (pq.ts) an ML-KEM decapsulation
 * takes under 0.1 ms, less than the trip to a worker, and stays inline. Without a pool everything
 * runs inline. Both paths run the same functions
 * (calls.ts), so the answer does not depend on where a call ran.
 *
 * The pool copies its arguments before transferring them; inline calls read the caller's buffers
 * and leave them alone, so a cached key may be passed either way.
 * @module
 */
import { runCall, type CallMap, type CallName } from './calls.js';
import type { CryptoPool } from './pool.js';
import { isMlKem } from './algs.js';
import { pqBackend } from './pq.js';
import { isSlow, type KeyType } from './types.js';

export class CryptoExecutor {
  readonly pool: CryptoPool | undefined;

  constructor(pool?: CryptoPool) {
    this.pool = pool;
  }

  /** True when `call` on a key of `type` goes to the pool (there is one, and the call is slow). */
  offloads(call: CallName, type: KeyType | undefined): boolean {
    if (this.pool === undefined || type === undefined || call === 'pqBackend') return false;
    if (call === 'decapsulate' && isMlKem(type) && pqBackend().name === 'pqclean') return false;
    return call === 'expand' || isSlow(type, call);
  }

  /** Runs `call(...args)` where `offloads` says; a throw inline becomes a rejection, as on the pool. */
  async run<N extends CallName>(call: N, ...args: CallMap[N]['args']): Promise<CallMap[N]['result']> {
    return this.runNow(call, ...args);
  }

  /**
   * `run` for a hot path: the answer itself when the call runs inline (a throw is a throw), a promise
   * of it when it goes to the pool. A caller that awaits only a promise saves the promise and the
   * microtask turns of `run` on each fast call (an Ed25519 signature takes ~25 µs; each turn a few
   * hundred ns). Results are never promises, so `instanceof Promise` tells the two apart.
   */
  runNow<N extends CallName>(
    call: N,
    ...args: CallMap[N]['args']
  ): CallMap[N]['result'] | Promise<CallMap[N]['result']> {
    if (!this.offloads(call, args[0])) return runCall(call, args);
    return onPool(this.pool!, call, args) as Promise<CallMap[N]['result']>;
  }
}

/** The pool's method for `call` (each copies its arguments before transferring them). */
function onPool(pool: CryptoPool, call: CallName, args: CallMap[CallName]['args']): Promise<unknown> {
  switch (call) {
    case 'generateKey':
      return pool.generateKey(...(args as CallMap['generateKey']['args']));
    case 'sign':
      return pool.sign(...(args as CallMap['sign']['args']));
    case 'verify':
      return pool.verify(...(args as CallMap['verify']['args']));
    case 'encapsulate':
      return pool.encapsulate(...(args as CallMap['encapsulate']['args']));
    case 'decapsulate':
      return pool.decapsulate(...(args as CallMap['decapsulate']['args']));
    case 'decrypt':
      return pool.decrypt(...(args as CallMap['decrypt']['args']));
    case 'expand':
      return pool.expand(...(args as CallMap['expand']['args']));
    case 'pqBackend':
      return pool.pqBackend();
    default:
      throw new RangeError(`unknown crypto call ${String(call)}`);
  }
}
