/**
 * An audit record's inclusion proof, verified in the browser with the offline verifier's own code
 * (engine/audit/math: RFC 9162 inclusion, C2SP signed notes, RFC 8785 records; docs/audit-bundle.md),
 * trusting the server for nothing: the leaf hash is computed here from the record's exact bytes, the
 * checkpoint's signatures are checked against keys the operator pinned, and the proof is checked
 * against the signed root. The server only supplies data; any lie fails one of these checks.
 * @module
 */
import { fromBase64, toBase64, toHex, utf8 } from '../../lib/bytes.js';
import { leafHash, verifyInclusion } from '../../engine/audit/math/merkle.js';
import { parseTrustedKeysFile, verifyNote } from '../../engine/audit/math/note.js';
import { decodeRecord } from '../../engine/audit/math/record.js';
import type { AuditRecord } from '../../engine/audit/math/record.js';

export interface ProofInputs {
  index: number;
  /** The record's leaf, exactly as the log holds it (RFC 8785 JSON text). */
  leaf: string;
  /** The checkpoint's signed note, verbatim. */
  note: string;
  /** Trusted verifier keys, one per line (the format of `keyward audit verify --trusted-key`). */
  trustedKeys: string;
  /** Fetches the inclusion proof of `index` in the tree of `size` (base64 hashes). */
  fetchProof: (index: number, size: number) => Promise<{ proof: string[]; leafHash: string }>;
}

export interface ProofResult {
  index: number;
  record: AuditRecord;
  leafHash: string;
  treeSize: number;
  root: string;
  origin: string;
  signedBy: string[];
  proofLength: number;
  /** Whether the server's own leaf hash agreed with the one computed here (informational). */
  serverLeafHashAgrees: boolean;
}

/**
 * Verifies that `leaf` is record `index` of the log whose checkpoint `note` the pinned keys signed.
 * @throws the verifier's KeywardError (AUDIT_CHECKPOINT_INVALID, AUDIT_PROOF_INVALID,
 *   AUDIT_LEAF_NOT_CANONICAL, AUDIT_RECORD_INVALID) naming what failed, or an Error for a record not
 *   yet covered by the checkpoint.
 */
export async function proveInclusion(p: ProofInputs): Promise<ProofResult> {
  const keys = parseTrustedKeysFile(p.trustedKeys);
  const checkpoint = verifyNote(p.note, keys);
  const bytes = utf8(p.leaf);
  const record = decodeRecord(bytes);
  if (p.index >= checkpoint.size)
    throw new Error(
      `record ${p.index} is not yet in the newest signed checkpoint (size ${checkpoint.size}); retry in a moment`,
    );
  const hash = leafHash(bytes);
  const { proof, leafHash: claimed } = await p.fetchProof(p.index, checkpoint.size);
  const hashes = proof.map((h, i) => fromBase64(h, `proof[${i}]`, 32));
  verifyInclusion(hash, p.index, checkpoint.size, hashes, checkpoint.root);
  return {
    index: p.index,
    record,
    leafHash: toHex(hash),
    treeSize: checkpoint.size,
    root: toBase64(checkpoint.root),
    origin: checkpoint.origin,
    signedBy: checkpoint.signatures.map((s) => s.key),
    proofLength: hashes.length,
    serverLeafHashAgrees: claimed === toBase64(hash),
  };
}
