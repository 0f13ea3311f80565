/**
 * The key-custody protocol (docs/architecture.md, "The parts" and "Keys at rest"): holder keys, shard files, Shamir split/combine,
 * shard commitments and unseal/rekey submissions. Pure: bytes and plain values in and out, no I/O.
 * This list is the whole public surface; files not named here are internal.
 * @module
 */
// Errors and generic byte helpers are in lib/ (lib/errors.ts, lib/bytes.ts), the layer below;
// the length-prefixed layout of the ceremony's binary fields stays here.
export { lp, u32be, u8 } from './bytes.js';

export {
  ENVELOPE_SUITE,
  ENVELOPE_TAG_LEN,
  EnvelopeSuiteId,
  XWING_ENC_LEN,
  XWING_PUBLIC_KEY_LEN,
  XWING_SEED_LEN,
  deriveXWingPublicKey,
  generateSessionKey,
  generateXWingKeyPair,
  openEnvelope,
  sealEnvelope,
} from './envelope.js';
export type { Envelope, EnvelopeSuite, XWingKeyPair } from './envelope.js';

export {
  HOLDER_FINGERPRINT_LEN,
  HOLDER_KEM,
  HOLDER_KEY_CIPHER,
  HOLDER_NAME_PATTERN,
  HOLDER_PRIVATE_KEY_FORMAT,
  HOLDER_PUBLIC_KEY_FORMAT,
  SCRYPT_N_DEFAULT,
  SCRYPT_N_MAX,
  SCRYPT_N_MIN,
  assertHolderName,
  decryptHolderKey,
  encryptHolderKey,
  generateHolderKey,
  HolderPublicKeyFileSchema,
  holderFingerprint,
  parseHolderPublicKey,
  toPublicKeyFile,
} from './holder-key.js';
export type {
  EncryptHolderKeyOptions,
  HolderKey,
  HolderPrivateKeyFile,
  HolderPublicKey,
  HolderPublicKeyFile,
  ScryptParams,
} from './holder-key.js';

export { MAX_SHARES, SHARE_OVERHEAD, assertSplitParams, combineShares, shareX, splitSecret } from './shamir.js';

export {
  CEREMONY_ID_PATTERN,
  COMMITMENT_LEN,
  isCeremonyId,
  shardCommitment,
  verifyShardCommitment,
} from './commitment.js';

export { MAX_SHARE_LEN, SHARD_FORMAT, openShard, parseShardFile, sealShard } from './shard-file.js';
export type { ShardFile, ShardOpener } from './shard-file.js';

export {
  SESSION_NONCE_PATTERN,
  SUBMISSION_PURPOSES,
  SubmissionSchema,
  SUBMISSION_VERSION,
  openSubmission,
  sealSubmission,
} from './submission.js';
export type { Submission, SubmissionContent, SubmissionPurpose } from './submission.js';
