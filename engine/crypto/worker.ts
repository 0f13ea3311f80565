/**
 * Worker entry of the crypto pool: receives `{id, name, args}`, runs the pure function of the same
 * name (calls.ts) and answers `{id, ok, result}` or `{id, ok: false, error}`, transferring result
 * buffers. Private key copies it received are wiped after the call (best effort). It runs the
post-quantum backend the pool chose (pq.ts), passed in `workerData`.
 * @module
 */
import { parentPort, workerData } from 'node:worker_threads';
import { KeywardError } from '../../lib/errors.js';
import { PRIVATE_KEY_CALLS, runCall, transferablesOf, wipeKey, type CallName } from './calls.js';
import { selectPqBackend, type PqBackendChoice } from './pq.js';

interface Request {
  readonly id: number;
  readonly name: CallName;
  readonly args: unknown[];
}

const port = parentPort;
if (port === null) throw new Error('engine/crypto/worker.ts must run in a worker thread');

// The pool's choice of post-quantum backend (pool.ts `spawn`), made before the first call.
// The main thread self-tested the same addon file: a worker does not again.
const wanted = (workerData as { pqBackend?: PqBackendChoice } | null)?.pqBackend;
selectPqBackend({ choice: wanted, selfTested: wanted === 'auto' });

port.on('message', (req: Request) => {
  try {
    const result = runCall(req.name, req.args as never);
    port.postMessage({ id: req.id, ok: true, result }, transferablesOf(result));
  } catch (e) {
    const error =
      e instanceof KeywardError
        ? { kind: 'KeywardError', code: e.code, message: e.message }
        : {
            kind: e instanceof TypeError ? 'TypeError' : e instanceof RangeError ? 'RangeError' : 'Error',
            message: e instanceof Error ? e.message : String(e),
          };
    port.postMessage({ id: req.id, ok: false, error });
  } finally {
    // args[1] is the private key (seed or expanded) of these calls: this copy was transferred to us.
    if (PRIVATE_KEY_CALLS.has(req.name)) wipeKey(req.args[1]);
  }
});
