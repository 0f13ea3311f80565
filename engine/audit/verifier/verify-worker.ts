/**
 * Worker thread of the log verifier (verify-log.ts): runs `checkChunk` on the chunks it is sent and
 * replies in order with the leaf hashes (transferred) and the first failure, if any.
 * @module
 */
import { parentPort } from 'node:worker_threads';
import { checkChunk, unpack } from './verify-log.js';
import type { Packed } from './verify-log.js';

const port = parentPort;
if (!port) throw new Error('verify-worker.ts runs only as a worker thread');
port.on('message', (m: { leaves: Packed; chains: Packed; first: number; prev: Uint8Array }) => {
  try {
    const r = checkChunk(unpack(m.leaves), unpack(m.chains), m.first, m.prev);
    port.postMessage({ hashes: r.hashes, failure: r.failure }, [r.hashes.buffer as ArrayBuffer]);
  } catch (err) {
    port.postMessage({ error: err instanceof Error ? err.message : String(err) });
  }
});
