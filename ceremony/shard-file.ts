/**
 * Shard files (docs/architecture.md, "Keys at rest"): the file `keyward ceremony init` writes for each holder,
 * `DIR/NAME.shard`. The holder's share is sealed to the holder's X-Wing public key with HPKE
 * (RFC 9180 base mode, suite in envelope.ts); the header is plaintext, authenticated as AAD.
 *
 *   { format: "keyward.shard/v1", ceremonyId, holder, holderFingerprint,
 *     index, threshold, shares, suite: "HPKE-X-Wing-HKDF-SHA256-AES-256-GCM",
 *     enc: b64(1120 bytes), ciphertext: b64(share ‖ 16-byte tag) }
 *
 *   index      0-based position of this share, index < shares
 *   threshold  shares needed to unseal, 1 ≤ threshold ≤ shares ≤ 255
 *
 * HPKE inputs:
 *
 *   info      = "keyward/shard/v1" ‖ 0x00 ‖ lp(utf8(ceremonyId)) ‖ u8(index)
 *   aad       = lp(format) ‖ lp(ceremonyId) ‖ lp(holder) ‖ lp(holderFingerprint)
 *             ‖ u8(index) ‖ u8(threshold) ‖ u8(shares) ‖ lp(suite)          (strings as UTF-8)
 *   plaintext = share = y bytes ‖ x (shamir.ts)
 *
 * A shard file is attacker input to whoever opens it: parseShardFile checks every field before any
 * crypto, and any change to the header or ciphertext makes the tag fail (`SHARD_CORRUPTED`).
 * @module
 */
import { z } from 'zod';
import { concatBytes, describe, fromBase64, toBase64, utf8, wipe } from '../lib/bytes.js';
import { base64Of, strictObject, intIn, literal, matching, parseDocument } from '../lib/json.js';
import { lp, u8 } from './bytes.js';
import { CEREMONY_ID_PATTERN } from './commitment.js';
import { ENVELOPE_SUITE, ENVELOPE_TAG_LEN, XWING_ENC_LEN, openEnvelope, sealEnvelope } from './envelope.js';
import { KeywardError } from '../lib/errors.js';
import { HOLDER_NAME_PATTERN, holderFingerprint } from './holder-key.js';
import type { HolderPublicKey } from './holder-key.js';
import { MAX_SHARES, SHARE_OVERHEAD, assertSplitParams } from './shamir.js';

export const SHARD_FORMAT = 'keyward.shard/v1';
/** Longest share a shard file may carry (a 32-byte unseal key gives 33). */
export const MAX_SHARE_LEN = 1024;
// b"keyward/shard/v1\0"
const SHARD_INFO_LABEL = utf8('keyward/shard/v1\0');
const FINGERPRINT_PATTERN = /^[0-9a-f]{32}$/;

/** A shard file as stored (JSON), strictly: a field the format lacks is a problem. */
const ShardFileSchema = strictObject({
  format: literal(SHARD_FORMAT),
  ceremonyId: matching(CEREMONY_ID_PATTERN, '1 to 128 characters of A-Z a-z 0-9 . _ : -'),
  holder: matching(HOLDER_NAME_PATTERN, '1 to 64 characters of A-Z a-z 0-9 . _ -'),
  holderFingerprint: matching(FINGERPRINT_PATTERN, '32 lowercase hex characters'),
  index: intIn(0, MAX_SHARES - 1),
  threshold: intIn(1, MAX_SHARES),
  shares: intIn(1, MAX_SHARES),
  suite: literal(ENVELOPE_SUITE),
  /** base64, 1120 bytes */
  enc: base64Of(XWING_ENC_LEN),
  /** base64, share length + 16 bytes */
  ciphertext: base64Of({ min: 1 + SHARE_OVERHEAD + ENVELOPE_TAG_LEN, max: MAX_SHARE_LEN + ENVELOPE_TAG_LEN }),
}).check((ctx) => {
  const { index, threshold, shares } = ctx.value;
  if (index >= shares)
    ctx.issues.push({
      code: 'custom',
      path: ['index'],
      message: `expected less than shares (${shares}), got ${index}`,
      input: index,
    });
  if (threshold > shares)
    ctx.issues.push({
      code: 'custom',
      path: ['threshold'],
      message: `expected at most shares (${shares}), got ${threshold}`,
      input: threshold,
    });
});

/** A shard file as stored (JSON). */
export type ShardFile = z.output<typeof ShardFileSchema>;

/** What a holder needs to open a shard: its decrypted key (holder-key.ts decryptHolderKey). */
export interface ShardOpener {
  name: string;
  seed: Uint8Array;
  publicKey: Uint8Array;
  /** If given, must be the fingerprint of `publicKey`. */
  fingerprint?: string;
}

/** Seals share number `index` of ceremony `ceremonyId` to `holder`. */
export async function sealShard(params: {
  ceremonyId: string;
  holder: HolderPublicKey;
  index: number;
  threshold: number;
  shares: number;
  share: Uint8Array;
}): Promise<ShardFile> {
  const { ceremonyId, holder, index, threshold, shares, share } = params;
  if (typeof ceremonyId !== 'string' || !CEREMONY_ID_PATTERN.test(ceremonyId)) {
    throw new RangeError(`"sealShard" expected a ceremony id (${CEREMONY_ID_PATTERN}), got ${describe(ceremonyId)}`);
  }
  assertSplitParams(shares, threshold);
  if (!Number.isInteger(index) || index < 0 || index >= shares) {
    throw new RangeError(`"sealShard" expected index from 0 to ${shares - 1}, got ${describe(index)}`);
  }
  if (!(share instanceof Uint8Array) || share.byteLength < 1 + SHARE_OVERHEAD || share.byteLength > MAX_SHARE_LEN) {
    throw new RangeError(`"sealShard" expected a share of 2 to ${MAX_SHARE_LEN} bytes, got ${describe(share)}`);
  }
  if (typeof holder !== 'object' || holder === null || !(holder.publicKey instanceof Uint8Array)) {
    throw new TypeError(`"sealShard" expected holder { name, publicKey, fingerprint }, got ${describe(holder)}`);
  }
  if (typeof holder.name !== 'string' || !HOLDER_NAME_PATTERN.test(holder.name)) {
    throw new KeywardError(
      'HOLDER_NAME_INVALID',
      `holder name: expected 1 to 64 characters of A-Z a-z 0-9 . _ -, got ${describe(holder.name)}`,
    );
  }
  let fingerprint: string;
  try {
    fingerprint = holderFingerprint(holder.publicKey);
  } catch (err) {
    throw new KeywardError(
      'HOLDER_KEY_INVALID',
      `holder "${holder.name}": expected an X-Wing public key of 1216 bytes, got ${holder.publicKey.byteLength}`,
      { cause: err },
    );
  }
  if (holder.fingerprint !== fingerprint) {
    throw new KeywardError(
      'HOLDER_KEY_INVALID',
      `holder "${holder.name}": fingerprint ${describe(holder.fingerprint)} is not the one of its public key (${fingerprint})`,
    );
  }

  const header = {
    format: SHARD_FORMAT,
    ceremonyId,
    holder: holder.name,
    holderFingerprint: fingerprint,
    index,
    threshold,
    shares,
    suite: ENVELOPE_SUITE,
  } as const;
  let sealed;
  try {
    sealed = await sealEnvelope(holder.publicKey, share, shardInfo(ceremonyId, index), shardAad(header));
  } catch (err) {
    if (err instanceof KeywardError && err.code === 'ENVELOPE_SEAL_FAILED') {
      throw new KeywardError(
        'HOLDER_KEY_INVALID',
        `holder "${holder.name}" (fingerprint ${fingerprint}): the public key is not a valid X-Wing key`,
        {
          cause: err,
        },
      );
    }
    throw err;
  }
  return { ...header, enc: toBase64(sealed.enc), ciphertext: toBase64(sealed.ciphertext) };
}

/**
 * Reads a shard file (JSON text or parsed object), checking every field; throws `SHARD_MALFORMED`
 * naming each bad field. Does not decrypt (see {@link openShard}).
 */
export function parseShardFile(input: unknown): ShardFile {
  return readShardFile(input).file;
}

/**
 * Decrypts a shard with the holder's key and returns the share (wipe it when done).
 *
 * Throws `SHARD_MALFORMED` for a malformed file, `SHARD_NOT_FOR_HOLDER` when the shard is sealed to
 * another key (fingerprints differ), and `SHARD_CORRUPTED` when decryption fails (a modified header
 * or ciphertext).
 */
export async function openShard(input: unknown, holder: ShardOpener): Promise<Uint8Array> {
  if (
    typeof holder !== 'object' ||
    holder === null ||
    !(holder.seed instanceof Uint8Array) ||
    !(holder.publicKey instanceof Uint8Array)
  ) {
    throw new TypeError(`"openShard" expected holder { name, seed, publicKey }, got ${describe(holder)}`);
  }
  const { file, enc, ciphertext } = readShardFile(input);
  // Identity is the public key: recompute its fingerprint rather than trust a passed-in string.
  const mine = holderFingerprint(holder.publicKey);
  if (holder.fingerprint !== undefined && holder.fingerprint !== mine) {
    throw new RangeError(
      `"openShard" expected holder.fingerprint to be the one of holder.publicKey (${mine}), got ${describe(holder.fingerprint)}`,
    );
  }
  if (file.holderFingerprint !== mine) {
    throw new KeywardError(
      'SHARD_NOT_FOR_HOLDER',
      `shard is sealed to holder "${file.holder}" (fingerprint ${file.holderFingerprint}), not to the key of "${holder.name}" (fingerprint ${mine})`,
      {
        details: {
          shardHolder: file.holder,
          shardFingerprint: file.holderFingerprint,
          keyHolder: holder.name,
          keyFingerprint: mine,
        },
      },
    );
  }
  let share: Uint8Array;
  try {
    share = await openEnvelope(
      holder.seed,
      { enc, ciphertext },
      shardInfo(file.ceremonyId, file.index),
      shardAad(file),
    );
  } catch (err) {
    throw new KeywardError(
      'SHARD_CORRUPTED',
      `shard ${file.index} of ceremony ${file.ceremonyId} for "${file.holder}" does not decrypt with this key: the file was modified or damaged`,
      { cause: err, details: { holder: file.holder, index: file.index } },
    );
  }
  // Only a buggy sealer could get here (the tag verified), but a share must carry a nonzero x.
  if (share.byteLength < 1 + SHARE_OVERHEAD || share[share.byteLength - 1] === 0) {
    wipe(share);
    throw new KeywardError(
      'SHARD_CORRUPTED',
      `shard ${file.index} of ceremony ${file.ceremonyId} decrypted to bytes that are not a share`,
    );
  }
  return share;
}

function readShardFile(input: unknown): { file: ShardFile; enc: Uint8Array; ciphertext: Uint8Array } {
  const file = parseDocument(ShardFileSchema, input, 'SHARD_MALFORMED', 'shard file');
  return { file, enc: fromBase64(file.enc, 'enc'), ciphertext: fromBase64(file.ciphertext, 'ciphertext') };
}

function shardInfo(ceremonyId: string, index: number): Uint8Array {
  return concatBytes(SHARD_INFO_LABEL, lp(utf8(ceremonyId)), u8(index));
}

function shardAad(h: Omit<ShardFile, 'enc' | 'ciphertext'>): Uint8Array {
  return concatBytes(
    lp(utf8(h.format)),
    lp(utf8(h.ceremonyId)),
    lp(utf8(h.holder)),
    lp(utf8(h.holderFingerprint)),
    u8(h.index),
    u8(h.threshold),
    u8(h.shares),
    lp(utf8(h.suite)),
  );
}
