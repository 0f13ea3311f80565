/**
 * Random nonces from a pooled CSPRNG buffer (docs/architecture.md, "A request, step by step"): one
 * `randomFillSync` of {@link POOL_BYTES} bytes, handed out {@link NONCE_LEN}-byte slices at a time,
 * front to back, each slice exactly once, then refilled. Measured under `autocannon -c 16` on 1 KiB
 * encrypts: `randomBytes(12)` per AEAD nonce was 5% of the dev server's CPU and 19% of bench/api's
 * bare endpoint's (the OpenSSL call costs about as much for 12 bytes as for 4 KiB); pooled, one
 * in-process 1 KiB encrypt went from ~13 to ~7 µs and the bare endpoint from 65 to 59 µs of CPU
 * per request.
 *
 * Still SP 800-38D §8.2.2's random construction: every nonce is 96 bits of the same CSPRNG output,
 * only drawn in larger reads, and no byte is handed out twice (the cursor only moves forward and the
 * whole buffer is refilled before it wraps). Each thread (the crypto pool's workers) loads its own
 * copy of this module, so pools never share bytes.
 *
 * For public values only: a nonce is sent in the clear inside the ciphertext body, and GCM and
 * ChaCha20-Poly1305 need nonces unique, not secret or unpredictable, so bytes not yet handed out
 * are not wiped on seal (anyone who could read this buffer could read the keys beside it, and
 * knowing the next nonces gives no advantage). Never take keys, seeds or data keys from here: those
 * come from `randomBytes`/`randomFillSync` directly into their own buffers, which can be wiped.
 * @module
 */
import { randomFillSync } from 'node:crypto';

/** The AEAD nonce length (96 bits) this pool is cut for. */
export const NONCE_LEN = 12;
/** 341 nonces per fill (4092 bytes; the 4 left over are discarded). */
const POOL_BYTES = 4096;

const pool = new Uint8Array(POOL_BYTES);
let next = POOL_BYTES;

/**
 * A fresh random 12-byte nonce, copied out of the pool into `out` at `offset` (so the caller's
 * buffer holds it and the pool can move on). Returns `out`.
 */
export function fillNonce(out: Uint8Array, offset = 0): Uint8Array {
  if (next + NONCE_LEN > POOL_BYTES) {
    randomFillSync(pool);
    next = 0;
  }
  out.set(pool.subarray(next, next + NONCE_LEN), offset);
  next += NONCE_LEN;
  return out;
}

/** A fresh random 12-byte nonce in its own array. */
export function randomNonce(): Uint8Array {
  return fillNonce(new Uint8Array(NONCE_LEN));
}
