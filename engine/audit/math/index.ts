/**
 * engine/audit/math: the audit log's math and formats (docs/architecture.md, "The audit log"):
 * canonical records as Merkle leaves (record.ts), RFC 9162 trees stored as perfect subtrees and
 * their proofs (merkle.ts), C2SP signed-note checkpoints (note.ts), attestation bundles and their
 * offline verifier (bundle.ts). The format for third parties is docs/audit-bundle.md.
 *
 * Pure: no database, no clock, no network, and no Node-only module (only @noble, zod, canonicalize
 * and lib/), so the bundle verifier can run in a browser; the caller hands in times, keys and a node
 * reader. The database side is ../log; the whole-log verifier, on worker threads, is ../verifier.
 * @module
 */
export type { AuditErrorCode } from './errors.js';
export {
  HMAC_FIELD_KEY_LEN,
  HMAC_FIELD_RE,
  MAX_DETAILS_ENTRIES,
  MAX_LEAF_BYTES,
  MAX_RECORD_POLICIES,
  RECORD_FORMAT,
  decodeRecord,
  decodeLeafText,
  encodeRecord,
  encodeRecordText,
  hmacField,
  sha256Hex,
  validateRecord,
  type AuditPolicyResult,
  type AuditRecord,
  type PolicyVerdict,
  type RecordDecision,
} from './record.js';
export {
  EMPTY_ROOT,
  HASH_LEN,
  appendLeaves,
  consistencyProof,
  consistencyProofNodes,
  frontierFromBytes,
  frontierNodes,
  frontierToBytes,
  inclusionProof,
  inclusionProofNodes,
  inclusionProofRanges,
  leafHash,
  nodeHash,
  rangeNodes,
  rangeProof,
  rootFromFrontier,
  rootFromRange,
  rootOf,
  verifyConsistency,
  verifyInclusion,
  verifyRange,
  type AppendResult,
  type GetNode,
  type NodeHash,
  type NodeId,
  type RangeProof,
} from './merkle.js';
export {
  ED25519_PUBLIC_KEY_LEN,
  KEY_ID_LEN,
  MAX_NOTE_CHARS,
  MAX_NOTE_SIGNATURES,
  MAX_TIMESTAMP_SECONDS,
  ML_DSA_44_PUBLIC_KEY_LEN,
  SignatureType,
  checkpointBody,
  cosignedMessage,
  ed25519Signer,
  keyId,
  mlDsa44CosignerSigner,
  openNote,
  parseCheckpoint,
  parseNote,
  parseTrustedKeysFile,
  parseVerifierKey,
  signNote,
  verifierKeyString,
  verifyNote,
  type Checkpoint,
  type NoteSignature,
  type NoteSigner,
  type NoteVerifyOptions,
  type VerifiedCheckpoint,
  type VerifiedSignature,
  type VerifierKey,
} from './note.js';
export {
  BUNDLE_FORMAT,
  MAX_BUNDLE_KEYS,
  MAX_BUNDLE_RECORDS,
  buildBundle,
  verifyBundle,
  type AttestationBundle,
  type BundleParts,
  type BundlePolicy,
  type BundleVerification,
  type ReplayFn,
  type VerifyBundleOptions,
} from './bundle.js';
