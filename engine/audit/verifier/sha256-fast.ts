/**
 * SHA-256 for the log verifier's hot loop: node:crypto's one-shot `hash()` (Node ≥ 20.12), which
 * skips the Hash object that `createHash` allocates per call, else `createHash`. Returns a fresh
 * Buffer. (noble's SHA-256, used where code must also run in browsers, is ~2.5× slower here.)
 * @module
 */
import * as nodeCrypto from 'node:crypto';

const oneShot = (nodeCrypto as { hash?: (alg: string, data: Uint8Array, enc: 'buffer') => Buffer }).hash;

export const sha256Fast: (data: Uint8Array) => Buffer =
  typeof oneShot === 'function'
    ? (data) => oneShot('sha256', data, 'buffer')
    : (data) => nodeCrypto.createHash('sha256').update(data).digest();
