/**
 * The audit log's signing keys (docs/architecture.md): an Ed25519 key (C2SP signed-note type 0x01, readable
 * by existing verifiers) and an ML-DSA-44 cosigner (type 0x06), plus the log's origin line. They
 * are made once per database, stored as one barrier entry (so only an unsealed node can sign), and
 * shared by every node; the first node to need them creates them, and a concurrent creator loses
 * the insert race and reads the winner's.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { KeywardError } from '../../../lib/errors.js';
import { fromBase64, toBase64, wipe } from '../../../lib/bytes.js';
import type { Barrier } from '../../seal/barrier.js';
import type { Db } from '../../store/index.js';
import { getEntry, insertEntryIfAbsent } from '../../store/index.js';
import type { CheckpointSigner } from './integrator.js';
import { checkpointBody, ed25519Signer, mlDsa44CosignerSigner, signNote } from '../math/note.js';
import type { NoteSigner } from '../math/note.js';
import { mlDsaSign } from '../../crypto/pq.js';

const NO_CONTEXT = new Uint8Array(0);

export const AUDIT_KEYS_PATH = 'audit/signing-keys/v1';

/** The public half, as GET /v1/audit/keys serves it. */
export interface AuditVerifierKeys {
  origin: string;
  /** C2SP verifier key strings `<name>+<hex key id>+<base64(type ‖ public key)>`. */
  ed25519: string;
  mlDsa44: string;
}

export interface AuditSigner extends CheckpointSigner {
  readonly keys: AuditVerifierKeys;
  destroy(): void;
}

interface StoredKeys {
  origin: string;
  ed25519: string;
  mlDsa44: string;
}

/** Loads the signing keys from the barrier, creating them on first use. Needs the barrier unsealed. */
export async function loadAuditSigner(db: Db, barrier: Barrier): Promise<AuditSigner> {
  let blob = await getEntry(db, AUDIT_KEYS_PATH);
  if (!blob) {
    const fresh: StoredKeys = {
      origin: `keyward/log/${randomBytes(8).toString('hex')}`,
      ed25519: toBase64(randomBytes(32)),
      mlDsa44: toBase64(randomBytes(32)),
    };
    const plain = new TextEncoder().encode(JSON.stringify(fresh));
    // Two nodes starting at once: the first insert wins, and both read back the one that did.
    await insertEntryIfAbsent(db, AUDIT_KEYS_PATH, barrier.encrypt(AUDIT_KEYS_PATH, plain));
    wipe(plain);
    blob = await getEntry(db, AUDIT_KEYS_PATH);
    if (!blob) throw new KeywardError('STORAGE_UNAVAILABLE', 'the audit signing keys could not be stored');
  }
  const plain = await barrier.decrypt(AUDIT_KEYS_PATH, blob);
  let stored: StoredKeys;
  try {
    stored = JSON.parse(new TextDecoder().decode(plain)) as StoredKeys;
  } finally {
    wipe(plain);
  }
  const edSeed = fromBase64(stored.ed25519, 'audit Ed25519 key', 32);
  const mlSeed = fromBase64(stored.mlDsa44, 'audit ML-DSA-44 seed', 32);
  const signers: NoteSigner[] = [
    ed25519Signer(stored.origin, edSeed),
    // Signed by the crypto core's ML-DSA (native when the pqclean addon loads; FIPS 204, hedged, empty context).
    mlDsa44CosignerSigner(`${stored.origin}/ml-dsa-44`, mlSeed, {
      sign: (message, sk) => mlDsaSign('ml-dsa-44', sk, message, NO_CONTEXT),
    }),
  ];
  wipe(edSeed, mlSeed);
  const origin = stored.origin;
  return {
    origin,
    keys: { origin, ed25519: signers[0]!.verifierKey, mlDsa44: signers[1]!.verifierKey },
    sign(size: number, root: Uint8Array, now: Date): string {
      return signNote(checkpointBody({ origin, size, root }), signers, { time: Math.floor(now.getTime() / 1000) });
    },
    destroy(): void {
      for (const s of signers) s.destroy();
    },
  };
}
