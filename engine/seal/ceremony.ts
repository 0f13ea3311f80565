/**
 * The ceremony steps the sealed core shares between init, unseal and rekey (docs/architecture.md,
 * "Keys at rest"): the parameters' checks, splitting a fresh unseal key to holders, the seal
 * configuration as loaded from the store, checking one submitted share before it may count, and
 * combining a session's shares into the root key.
 *
 * Each submitted share is checked against the commitment stored at init (ceremony id, index, share)
 * *before* it is kept, so a wrong, forged, foreign or duplicated shard is rejected with a reason and
 * progress does not move.
 * @module
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { KeywardError } from '../../lib/errors.js';
import { wipe } from '../../lib/bytes.js';
import {
  MAX_SHARES,
  combineShares,
  openSubmission,
  sealShard,
  shardCommitment,
  splitSecret,
  verifyShardCommitment,
} from '../../ceremony/index.js';
import type { HolderPublicKey, ShardFile, Submission, SubmissionPurpose } from '../../ceremony/index.js';
import type { CommitScope, Db } from '../store/index.js';
import { getCommitments, getSealConfig, initCeremony } from '../store/index.js';
import { Keyring } from './keyring.js';
import { openRootKey, sealRootKey } from './root-key.js';
import type { UnsealSession } from './unseal-session.js';

export const UNSEAL_KEY_LEN = 32;

export interface HolderInfo {
  name: string;
  fingerprint: string;
  index: number;
}

export interface CeremonyResult {
  ceremonyId: string;
  generation: number;
  threshold: number;
  shares: number;
  shardFiles: ShardFile[];
}

/** The seal configuration and its commitments, as stored. */
export interface LoadedConfig {
  ceremonyId: string;
  generation: number;
  threshold: number;
  shares: number;
  holders: HolderInfo[];
  rootKeyBlob: Uint8Array;
  commitments: Map<number, Uint8Array>;
}

/** Checks 1 ≤ T ≤ N ≤ 255 and that holder names and keys are distinct. */
export function assertCeremonyParams(holders: readonly HolderPublicKey[], threshold: number): void {
  const n = holders.length;
  if (n < 1 || n > MAX_SHARES) {
    throw new KeywardError('CEREMONY_PARAMS_INVALID', `expected 1 to ${MAX_SHARES} holders, got ${n}`);
  }
  if (!Number.isInteger(threshold) || threshold < 1 || threshold > n) {
    throw new KeywardError(
      'CEREMONY_PARAMS_INVALID',
      `expected a threshold from 1 to ${n} (the number of holders), got ${threshold}`,
    );
  }
  const names = new Set<string>();
  const prints = new Set<string>();
  for (const h of holders) {
    if (names.has(h.name)) throw new KeywardError('CEREMONY_PARAMS_INVALID', `holder name "${h.name}" appears twice`);
    if (prints.has(h.fingerprint)) {
      throw new KeywardError(
        'CEREMONY_PARAMS_INVALID',
        `holder "${h.name}" uses the same key (fingerprint ${h.fingerprint}) as another holder`,
      );
    }
    names.add(h.name);
    prints.add(h.fingerprint);
  }
}

/**
 * The seal configuration, re-read from the store: `cached` itself when the ceremony and generation
 * are unchanged (callers compare by identity to notice a rekey made by another node).
 */
export async function loadConfig(db: Db, cached: LoadedConfig | undefined): Promise<LoadedConfig | undefined> {
  const row = await getSealConfig(db);
  if (!row) return undefined;
  if (cached?.ceremonyId === row.ceremonyId && cached.generation === row.generation) return cached;
  const commitments = new Map<number, Uint8Array>();
  for (const c of await getCommitments(db, row.ceremonyId)) commitments.set(c.idx, c.commitment);
  return {
    ceremonyId: row.ceremonyId,
    generation: row.generation,
    threshold: row.threshold,
    shares: row.shares,
    holders: row.holders as HolderInfo[],
    rootKeyBlob: row.rootKeyBlob,
    commitments,
  };
}

/** Splits a fresh unseal key to `holders` and seals each share to its holder (HPKE). */
export async function makeCeremony(
  unsealKey: Uint8Array,
  holders: readonly HolderPublicKey[],
  threshold: number,
  generation: number,
) {
  const ceremonyId = randomUUID();
  const shares = await splitSecret(unsealKey, holders.length, threshold);
  try {
    const commitments = shares.map((s, i) => ({
      ceremonyId,
      idx: i,
      holder: holders[i]!.name,
      fingerprint: holders[i]!.fingerprint,
      commitment: shardCommitment(ceremonyId, i, s),
    }));
    const shardFiles = await Promise.all(
      holders.map((holder, i) =>
        sealShard({ ceremonyId, holder, index: i, threshold, shares: holders.length, share: shares[i]! }),
      ),
    );
    const holderInfo: HolderInfo[] = holders.map((h, i) => ({ name: h.name, fingerprint: h.fingerprint, index: i }));
    return { ceremonyId, generation, commitments, shardFiles, holderInfo };
  } finally {
    wipe(...shares);
  }
}

/**
 * The first ceremony (init): a new unseal key, root key and keyring; the shards sealed to `holders`,
 * the configuration, commitments and keyring stored (in `commit`'s transaction when given). The
 * caller never sees a plaintext shard, and the keys are wiped before this returns.
 */
export async function createCeremony(
  db: Db,
  holders: readonly HolderPublicKey[],
  threshold: number,
  commit?: CommitScope,
): Promise<CeremonyResult> {
  const unsealKey = new Uint8Array(randomBytes(UNSEAL_KEY_LEN));
  const rootKey = new Uint8Array(randomBytes(32));
  const keyring = Keyring.create();
  try {
    const c = await makeCeremony(unsealKey, holders, threshold, 1);
    await initCeremony(
      db,
      {
        config: {
          id: 1,
          ceremonyId: c.ceremonyId,
          generation: 1,
          threshold,
          shares: holders.length,
          holders: c.holderInfo,
          rootKeyBlob: sealRootKey(unsealKey, rootKey, c.ceremonyId),
        },
        commitments: c.commitments,
        keyring: { blob: keyring.seal(rootKey), activeTerm: keyring.activeTerm },
      },
      commit,
    );
    return { ceremonyId: c.ceremonyId, generation: 1, threshold, shares: holders.length, shardFiles: c.shardFiles };
  } finally {
    wipe(unsealKey, rootKey);
    keyring.zeroize();
  }
}

/**
 * Opens a submission and checks it against the current ceremony before it may count: the ceremony
 * id (foreign), the index (out of range), the stored commitment (forged or corrupted), and the
 * session's parts (duplicate). Throws with the reason; the session is left as it was.
 */
export async function acceptPart(
  config: LoadedConfig,
  session: UnsealSession,
  purpose: SubmissionPurpose,
  submission: Submission,
) {
  const part = await openSubmission({ purpose, sessionSeed: session.seed, expectedNonce: session.nonce }, submission);
  const who = `holder "${part.holder}" (index ${part.index})`;
  if (part.ceremonyId !== config.ceremonyId) {
    wipe(part.share);
    throw new KeywardError(
      'SHARD_FOREIGN',
      `shard of ${who} belongs to ceremony ${part.ceremonyId}, but this server's ceremony is ${config.ceremonyId} (generation ${config.generation}); shards of another server or from before a rekey do not work`,
      { details: { holder: part.holder, index: part.index } },
    );
  }
  const expected = config.commitments.get(part.index);
  if (!expected || !verifyShardCommitment(config.ceremonyId, part.index, part.share, expected)) {
    wipe(part.share);
    throw new KeywardError(
      'SHARD_FORGED',
      expected
        ? `shard of ${who} does not match the commitment stored for index ${part.index} at init: forged or corrupted`
        : `shard of ${who} names index ${part.index}, but this ceremony has indexes 0 to ${config.shares - 1}`,
      { details: { holder: part.holder, index: part.index } },
    );
  }
  if (session.has(part.index)) {
    wipe(part.share);
    throw new KeywardError(
      'SHARD_DUPLICATE',
      `shard of ${who} was already submitted in this session; progress stays ${session.progress} of ${config.threshold}`,
      { details: { holder: part.holder, index: part.index } },
    );
  }
  const holder = config.holders.find((h) => h.index === part.index)?.name ?? part.holder;
  session.add({ index: part.index, holder, share: part.share });
  return { index: part.index, holder };
}

/** Combines the session's shares and opens the root key with the result; wipes the shares. */
export async function combine(config: LoadedConfig, session: UnsealSession): Promise<Uint8Array | undefined> {
  const unsealKey = await combineShares(session.shares());
  try {
    return openRootKey(unsealKey, config.rootKeyBlob, config.ceremonyId);
  } finally {
    wipe(unsealKey);
    session.close();
  }
}
