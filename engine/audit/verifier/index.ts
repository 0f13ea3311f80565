/**
 * engine/audit/verifier: checks a whole log from record 0 (docs/architecture.md, "The audit log",
 * step 7): re-hashes every leaf, checks the chain values, rebuilds the tree and compares its roots
 * with signed checkpoints, naming the first record that fails. Used offline by `keyward audit
 * verify`, with the records fetched by the caller.
 *
 * No database and no network, but Node-only: chunks are checked on worker threads
 * (verify-worker.ts) and hashed with node:crypto (sha256-fast.ts). The pure math is ../math.
 * @module
 */
export { LeafHashes, LogVerifier, RootMismatch, VerifyPool, checkChunk } from './verify-log.js';
export type { ChunkFailure, ChunkResult, LogVerifierOptions, RootCheck, StoredRecord } from './verify-log.js';
