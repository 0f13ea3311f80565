/**
 * SHA-256 for the log verifier's hot loop: node:crypto's one-shot `hash()` (Node ≥ 20.12; package.json
 * asks for ≥ 20.19), which skips the Hash object that `createHash` allocates per call. Returns a fresh
 * Buffer. (noble's SHA-256, used where code must also run in browsers, is ~2.5× slower here.)
 * @module
 */
import { hash } from 'node:crypto';

export const sha256Fast = (data: Uint8Array): Buffer => hash('sha256', data, 'buffer');
