/**
 * Submissions (docs/architecture.md, "Keys at rest"): how a holder hands a share to the server to unseal it or to approve a
 * rekey. The holder decrypts its shard locally (shard-file.ts), then re-seals the share with HPKE
 * (RFC 9180 base mode, suite in envelope.ts) to the ephemeral public key of the server's current
 * session, which seal status publishes together with the session nonce. The share never crosses the
 * wire in the clear, and a submission only opens in the session (nonce) and for the purpose it was
 * made for, so it can't be replayed into a later session or from an unseal into a rekey.
 *
 *   Submission (JSON) = { nonce, enc: b64(1120 bytes), ciphertext: b64(plaintext ‖ 16-byte tag) }
 *
 *   info = "keyward/submission/v1" ‖ 0x00 ‖ lp(utf8(purpose)) ‖ lp(utf8(nonce))
 *   aad  = empty (the context is bound through info)
 *
 *   plaintext:
 *   ┌────────────┬──────────────────────┬──────────┬──────────────────┬─────────────────────┐
 *   │ u8 version │ lp(utf8(ceremonyId)) │ u8 index │ lp(utf8(holder)) │ share (to the end)  │
 *   │   = 0x01   │ u16be len ‖ bytes    │ 0..254   │ u16be len ‖ bytes│ y bytes ‖ x, x ≠ 0  │
 *   └────────────┴──────────────────────┴──────────┴──────────────────┴─────────────────────┘
 *
 * The server treats every byte of a submission as attacker-controlled: unauthenticated clients may
 * post anything. Having opened, the server must still check the share against the stored
 * commitment for its claimed ceremony and index (commitment.ts) before it counts.
 * @module
 */
import { z } from 'zod';
import { concatBytes, describe, fromBase64, fromUtf8, toBase64, utf8, wipe } from '../lib/bytes.js';
import { base64Of, strictObject, matching, parseDocument } from '../lib/json.js';
import { ByteReader, lp, u8 } from './bytes.js';
import { CEREMONY_ID_PATTERN } from './commitment.js';
import {
  ENVELOPE_TAG_LEN,
  XWING_ENC_LEN,
  XWING_PUBLIC_KEY_LEN,
  XWING_SEED_LEN,
  openEnvelope,
  sealEnvelope,
} from './envelope.js';
import { KeywardError } from '../lib/errors.js';
import { HOLDER_NAME_PATTERN } from './holder-key.js';
import { MAX_SHARES, SHARE_OVERHEAD } from './shamir.js';
import { MAX_SHARE_LEN } from './shard-file.js';

/** What a submission is for; part of the HPKE info, so one can't be used as the other. */
export type SubmissionPurpose = 'unseal' | 'rekey';
export const SUBMISSION_PURPOSES: readonly SubmissionPurpose[] = ['unseal', 'rekey'];
/** Version byte of the plaintext layout. */
export const SUBMISSION_VERSION = 1;
/** Session nonces: 1–128 printable ASCII characters without spaces. */
export const SESSION_NONCE_PATTERN = /^[\x21-\x7e]{1,128}$/;
// b"keyward/submission/v1\0"
const SUBMISSION_INFO_LABEL = utf8('keyward/submission/v1\0');
const EMPTY = new Uint8Array(0);
/** Longest plaintext: version, ceremony id, index, holder name and the longest share. */
const MAX_PLAINTEXT_LEN = 1 + 2 + 128 + 1 + 2 + 64 + MAX_SHARE_LEN;

/** What the CLI posts to `POST /v1/sys/unseal` (and the rekey route). */
/**
 * A submission as sent (JSON), strictly. The server's unseal and rekey bodies (server/schemas.ts)
 * are this schema with the session nonce's exact form.
 */
export const SubmissionSchema = strictObject({
  nonce: matching(SESSION_NONCE_PATTERN, '1 to 128 printable ASCII characters'),
  /** base64, 1120 bytes */
  enc: base64Of(XWING_ENC_LEN),
  /** base64 */
  ciphertext: base64Of({ min: ENVELOPE_TAG_LEN, max: MAX_PLAINTEXT_LEN + ENVELOPE_TAG_LEN }),
});

export type Submission = z.output<typeof SubmissionSchema>;

/** An opened submission. `share` is the holder's share: wipe it when done. */
export interface SubmissionContent {
  ceremonyId: string;
  index: number;
  holder: string;
  share: Uint8Array;
}

/** Seals a holder's share to the session key for `purpose`, bound to the session `nonce`. */
export async function sealSubmission(params: {
  purpose: SubmissionPurpose;
  sessionPublicKey: Uint8Array;
  nonce: string;
  ceremonyId: string;
  index: number;
  holder: string;
  share: Uint8Array;
}): Promise<Submission> {
  const { purpose, sessionPublicKey, nonce, ceremonyId, index, holder, share } = params;
  assertPurpose('sealSubmission', purpose);
  if (!(sessionPublicKey instanceof Uint8Array) || sessionPublicKey.byteLength !== XWING_PUBLIC_KEY_LEN) {
    throw new RangeError(
      `"sealSubmission" expected sessionPublicKey of length ${XWING_PUBLIC_KEY_LEN}, got ${describe(sessionPublicKey)}`,
    );
  }
  if (typeof nonce !== 'string' || !SESSION_NONCE_PATTERN.test(nonce)) {
    throw new RangeError(
      `"sealSubmission" expected a session nonce (${SESSION_NONCE_PATTERN}), got ${describe(nonce)}`,
    );
  }
  if (typeof ceremonyId !== 'string' || !CEREMONY_ID_PATTERN.test(ceremonyId)) {
    throw new RangeError(
      `"sealSubmission" expected a ceremony id (${CEREMONY_ID_PATTERN}), got ${describe(ceremonyId)}`,
    );
  }
  if (!Number.isInteger(index) || index < 0 || index >= MAX_SHARES) {
    throw new RangeError(`"sealSubmission" expected index from 0 to ${MAX_SHARES - 1}, got ${describe(index)}`);
  }
  if (typeof holder !== 'string' || !HOLDER_NAME_PATTERN.test(holder)) {
    throw new RangeError(`"sealSubmission" expected a holder name (${HOLDER_NAME_PATTERN}), got ${describe(holder)}`);
  }
  if (!(share instanceof Uint8Array) || share.byteLength < 1 + SHARE_OVERHEAD || share.byteLength > MAX_SHARE_LEN) {
    throw new RangeError(`"sealSubmission" expected a share of 2 to ${MAX_SHARE_LEN} bytes, got ${describe(share)}`);
  }

  const plaintext = concatBytes(u8(SUBMISSION_VERSION), lp(utf8(ceremonyId)), u8(index), lp(utf8(holder)), share);
  try {
    const { enc, ciphertext } = await sealEnvelope(sessionPublicKey, plaintext, submissionInfo(purpose, nonce), EMPTY);
    return { nonce, enc: toBase64(enc), ciphertext: toBase64(ciphertext) };
  } finally {
    wipe(plaintext);
  }
}

/**
 * Opens a submission (any JSON value: it comes from an unauthenticated request) with the session's
 * seed.
 *
 * Throws `UNSEAL_NONCE_MISMATCH` when it was made for another session, and `SUBMISSION_INVALID`
 * when it is malformed, does not open (wrong key, wrong purpose, modified bytes) or its plaintext
 * does not follow the layout. Does not check the share itself: see commitment.ts.
 */
export async function openSubmission(
  session: { purpose: SubmissionPurpose; sessionSeed: Uint8Array; expectedNonce: string },
  submission: unknown,
): Promise<SubmissionContent> {
  const { purpose, sessionSeed, expectedNonce } = session;
  assertPurpose('openSubmission', purpose);
  if (!(sessionSeed instanceof Uint8Array) || sessionSeed.byteLength !== XWING_SEED_LEN) {
    throw new RangeError(
      `"openSubmission" expected sessionSeed of length ${XWING_SEED_LEN}, got ${describe(sessionSeed)}`,
    );
  }
  if (typeof expectedNonce !== 'string' || !SESSION_NONCE_PATTERN.test(expectedNonce)) {
    throw new RangeError(
      `"openSubmission" expected a session nonce (${SESSION_NONCE_PATTERN}), got ${describe(expectedNonce)}`,
    );
  }

  const doc = parseDocument(SubmissionSchema, submission, 'SUBMISSION_INVALID', 'submission');
  const { nonce } = doc;
  const enc = fromBase64(doc.enc, 'enc');
  const ciphertext = fromBase64(doc.ciphertext, 'ciphertext');

  // The nonce is public (seal status shows it), so a plain comparison is fine.
  if (nonce !== expectedNonce) {
    const session = purpose === 'unseal' ? 'unseal session' : 'rekey session';
    throw new KeywardError(
      'UNSEAL_NONCE_MISMATCH',
      `the submission was made for another ${session} (nonce ${nonce}, current nonce ${expectedNonce}): a session was reset or completed since; fetch seal status and retry`,
      { details: { nonce, expectedNonce } },
    );
  }

  let plaintext: Uint8Array;
  try {
    plaintext = await openEnvelope(sessionSeed, { enc, ciphertext }, submissionInfo(purpose, expectedNonce), EMPTY);
  } catch (err) {
    // One message for every reason (wrong session key, wrong purpose, modified bytes): no oracle.
    throw new KeywardError(
      'SUBMISSION_INVALID',
      `submission does not open with the key of the current ${purpose} session`,
      { cause: err },
    );
  }
  try {
    return readPlaintext(plaintext);
  } finally {
    wipe(plaintext);
  }
}

/** Parses the plaintext layout (module comment); the share is copied out. */
function readPlaintext(plaintext: Uint8Array): SubmissionContent {
  const r = new ByteReader(plaintext, 'SUBMISSION_INVALID', 'submission plaintext');
  const version = r.u8('version');
  if (version !== SUBMISSION_VERSION) return invalid(`version: expected ${SUBMISSION_VERSION}, got ${version}`);
  const ceremonyId = fromUtf8(r.lp('ceremonyId'));
  if (ceremonyId === undefined || !CEREMONY_ID_PATTERN.test(ceremonyId))
    return invalid('ceremonyId: expected 1 to 128 characters of A-Z a-z 0-9 . _ : -');
  const index = r.u8('index');
  if (index >= MAX_SHARES) return invalid(`index: expected 0 to ${MAX_SHARES - 1}, got ${index}`);
  const holder = fromUtf8(r.lp('holder'));
  if (holder === undefined || !HOLDER_NAME_PATTERN.test(holder))
    return invalid('holder: expected 1 to 64 characters of A-Z a-z 0-9 . _ -');
  const share = r.rest();
  if (share.byteLength < 1 + SHARE_OVERHEAD || share.byteLength > MAX_SHARE_LEN) {
    return invalid(`share: expected 2 to ${MAX_SHARE_LEN} bytes, got ${share.byteLength}`);
  }
  if (share[share.byteLength - 1] === 0) return invalid('share: expected a nonzero x-coordinate, got 0');
  return { ceremonyId, index, holder, share: share.slice() };
}

function invalid(message: string): never {
  throw new KeywardError('SUBMISSION_INVALID', `submission plaintext: ${message}`);
}

function submissionInfo(purpose: SubmissionPurpose, nonce: string): Uint8Array {
  return concatBytes(SUBMISSION_INFO_LABEL, lp(utf8(purpose)), lp(utf8(nonce)));
}

function assertPurpose(fn: string, purpose: SubmissionPurpose): void {
  if (!SUBMISSION_PURPOSES.includes(purpose)) {
    throw new RangeError(`"${fn}" expected purpose "unseal" or "rekey", got ${describe(purpose)}`);
  }
}
