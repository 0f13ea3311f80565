/**
 * A worker_threads pool for slow asymmetric operations (SLH-DSA signing takes seconds, ML-DSA
 * signing ~10 ms in pure JS, RSA keygen up to seconds): the event loop keeps serving health checks
 * and cheap requests while they run. Workers run the same pure functions as the main thread
 * (calls.ts), so results are identical.
 *
 * - Size: `os.availableParallelism()` by default. Workers start lazily, on demand.
 * - Bounded queue: calls wait in FIFO order when every worker is busy; beyond `maxQueue` waiting
 *   calls a new call is refused at once with `CRYPTO_BUSY` (the server answers 503).
 * - Buffers: inputs are copied into fresh buffers that are transferred (never the caller's own
 *   buffers, which may be cached key material); results are transferred back.
 * - A worker that dies fails its in-flight call with `CRYPTO_WORKER_FAILED` and is replaced.
 * - `close()` refuses queued calls with `CRYPTO_POOL_CLOSED` and terminates the workers.
 *
 * Worker entry: `worker.js` next to this module when running compiled (dist/); when this module is
 * itself a `.ts` file (tests), the worker is started through a tiny eval bootstrap that registers
 * the TypeScript hooks and imports `worker.ts` (engine/workers.ts; Node 20 ignores `--import` in a
 * worker's execArgv for the entry module).
 * @module
 */
import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import { startWorker } from '../workers.js';
import { KeywardError, type KeywardCode } from '../../lib/errors.js';
import { copyKey, transferablesOf, type CallMap, type CallName } from './calls.js';
import type { ExpandedKey, WorkingKey } from './expanded.js';
import type { Encapsulation } from './kem.js';
import type { KeyPair } from './material.js';
import { pqBackend, type PqBackendChoice, type PqBackendInfo } from './pq.js';
import type { SignOptions, VerifyOptions } from './sign.js';
import type { KeyType } from './types.js';

export interface CryptoPoolOptions {
  /** Number of workers (default `os.availableParallelism()`). */
  readonly size?: number | undefined;
  /** Calls allowed to wait for a worker before `CRYPTO_BUSY` (default 64 × size). */
  readonly maxQueue?: number | undefined;
}

interface Task {
  readonly id: number;
  readonly name: CallName;
  readonly args: unknown[];
  readonly resolve: (v: unknown) => void;
  readonly reject: (e: unknown) => void;
}

interface Slot {
  readonly worker: Worker;
  task: Task | undefined;
}

interface Reply {
  readonly id: number;
  readonly ok: boolean;
  readonly result?: unknown;
  /** `code` is a KeywardError's own (engine/crypto/worker.ts sends it as caught). */
  readonly error?: { kind: string; code?: KeywardCode; message: string };
}

function copyArg(v: unknown): unknown {
  return v instanceof Uint8Array ? new Uint8Array(v) : v;
}

function copyOpts(o: SignOptions | VerifyOptions | undefined): unknown {
  if (o === undefined) return undefined;
  return { ...o, context: o.context === undefined ? undefined : new Uint8Array(o.context) };
}

function rebuildError(e: NonNullable<Reply['error']>): Error {
  if (e.kind === 'KeywardError') return new KeywardError(e.code ?? 'CRYPTO_FAILED', e.message);
  if (e.kind === 'TypeError') return new TypeError(e.message);
  if (e.kind === 'RangeError') return new RangeError(e.message);
  return new Error(e.message);
}

/**
 * A worker takes this thread's post-quantum backend (pq.ts): `auto` when it is pqclean (a worker that
 * cannot load the addon falls back to noble, with the same answers), `noble` when it is noble.
 */
function spawn(): Worker {
  const choice: PqBackendChoice = pqBackend().name === 'pqclean' ? 'auto' : 'noble';
  return startWorker(import.meta.url, 'worker', { workerData: { pqBackend: choice } });
}

/** The pool. One per process is enough; the engine owns it and closes it on shutdown. */
export class CryptoPool {
  readonly size: number;
  readonly maxQueue: number;
  #slots: Slot[] = [];
  #queue: Task[] = [];
  #nextId = 1;
  #closed = false;

  constructor(options: CryptoPoolOptions = {}) {
    const size = options.size ?? availableParallelism();
    if (!Number.isSafeInteger(size) || size < 1)
      throw new RangeError(`"size" expected a positive integer, got ${String(size)}`);
    const maxQueue = options.maxQueue ?? 64 * size;
    if (!Number.isSafeInteger(maxQueue) || maxQueue < 0)
      throw new RangeError(`"maxQueue" expected a non-negative integer, got ${String(maxQueue)}`);
    this.size = size;
    this.maxQueue = maxQueue;
  }

  /** Calls waiting for a worker. */
  get queued(): number {
    return this.#queue.length;
  }

  /** Calls running on a worker. */
  get running(): number {
    return this.#slots.filter((s) => s.task !== undefined).length;
  }

  generateKey(type: KeyType): Promise<KeyPair> {
    return this.#call('generateKey', [type]);
  }

  /**
   * `priv`: the canonical key or its working form (for ML-DSA and the composite the expanded key,
   * expanded.ts; for RSA, ECDSA and Ed25519 the parsed KeyObject, which postMessage clones).
   */
  sign(type: KeyType, priv: WorkingKey, message: Uint8Array, opts?: SignOptions): Promise<Uint8Array> {
    return this.#call('sign', [type, copyKey(priv), copyArg(message), copyOpts(opts)]);
  }

  verify(
    type: KeyType,
    pub: Uint8Array,
    message: Uint8Array,
    signature: Uint8Array,
    opts?: VerifyOptions,
  ): Promise<boolean> {
    return this.#call('verify', [type, copyArg(pub), copyArg(message), copyArg(signature), copyOpts(opts)]);
  }

  encapsulate(type: KeyType, pub: Uint8Array): Promise<Encapsulation> {
    return this.#call('encapsulate', [type, copyArg(pub)]);
  }

  /** `priv`: the seed or its expanded form (expanded.ts). */
  decapsulate(type: KeyType, priv: WorkingKey, ciphertext: Uint8Array): Promise<Uint8Array> {
    return this.#call('decapsulate', [type, copyKey(priv), copyArg(ciphertext)]);
  }

  /** The expanded form of the seed `priv` (expanded.ts), derived off the event loop. */
  expand(type: KeyType, priv: Uint8Array): Promise<ExpandedKey> {
    return this.#call('expand', [type, copyArg(priv)]);
  }

  /** RSA-OAEP decryption (oaep.ts); fails with the same generic `DECRYPTION_FAILED` as in-thread. */
  decrypt(type: KeyType, priv: Uint8Array, ciphertext: Uint8Array, label?: Uint8Array): Promise<Uint8Array> {
    return this.#call('decrypt', [type, copyArg(priv), copyArg(ciphertext), copyArg(label)]);
  }

  /** The post-quantum backend a worker runs (pq.ts; starts one if none runs yet). */
  pqBackend(): Promise<PqBackendInfo> {
    return this.#call('pqBackend', []);
  }

  /** Refuses waiting calls with `CRYPTO_POOL_CLOSED`, fails running ones, terminates the workers. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const closed = () => new KeywardError('CRYPTO_POOL_CLOSED', 'crypto pool closed');
    for (const t of this.#queue.splice(0)) t.reject(closed());
    const slots = this.#slots.splice(0);
    for (const s of slots) s.task?.reject(closed());
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }

  #call<N extends CallName>(name: N, args: unknown[]): Promise<CallMap[N]['result']> {
    if (this.#closed) return Promise.reject(new KeywardError('CRYPTO_POOL_CLOSED', 'crypto pool closed'));
    return new Promise((resolve, reject) => {
      const task: Task = { id: this.#nextId++, name, args, resolve: resolve as (v: unknown) => void, reject };
      const slot = this.#idleSlot();
      if (slot) return this.#dispatch(slot, task);
      if (this.#queue.length >= this.maxQueue) {
        reject(
          new KeywardError(
            'CRYPTO_BUSY',
            `crypto pool busy: ${this.#queue.length} calls waiting (max ${this.maxQueue})`,
          ),
        );
        return;
      }
      this.#queue.push(task);
    });
  }

  #idleSlot(): Slot | undefined {
    const idle = this.#slots.find((s) => s.task === undefined);
    if (idle) return idle;
    if (this.#slots.length < this.size) return this.#addSlot();
    return undefined;
  }

  #addSlot(): Slot {
    const slot: Slot = { worker: spawn(), task: undefined };
    slot.worker.unref();
    slot.worker.on('message', (reply: Reply) => this.#onReply(slot, reply));
    slot.worker.on('error', (err) => this.#onFailure(slot, err));
    slot.worker.on('exit', (code) => this.#onFailure(slot, new Error(`crypto worker exited with code ${code}`)));
    this.#slots.push(slot);
    return slot;
  }

  #dispatch(slot: Slot, task: Task): void {
    slot.task = task;
    slot.worker.ref(); // an awaited promise alone does not keep the process alive
    slot.worker.postMessage({ id: task.id, name: task.name, args: task.args }, transferablesOf(task.args));
  }

  #release(slot: Slot): void {
    slot.task = undefined;
    const next = this.#queue.shift();
    if (next) this.#dispatch(slot, next);
    else slot.worker.unref();
  }

  #onReply(slot: Slot, reply: Reply): void {
    const task = slot.task;
    if (!task || task.id !== reply.id) return;
    this.#release(slot);
    if (reply.ok) task.resolve(reply.result);
    else task.reject(reply.error ? rebuildError(reply.error) : new Error('crypto worker failed'));
  }

  #onFailure(slot: Slot, err: unknown): void {
    const i = this.#slots.indexOf(slot);
    if (i < 0) return; // already removed (close, or error followed by exit)
    this.#slots.splice(i, 1);
    slot.task?.reject(new KeywardError('CRYPTO_WORKER_FAILED', 'crypto worker failed', { cause: err }));
    slot.task = undefined;
    void slot.worker.terminate();
    if (this.#closed) return;
    const next = this.#queue.shift();
    if (next) this.#dispatch(this.#addSlot(), next);
  }
}
