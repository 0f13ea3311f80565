/**
 * bench/unseal: the cost of the key ceremony.
 *
 * - init: split the unseal key and seal each share to its holder (HPKE X-Wing) plus commitments,
 *   for N = 5 (T = 3) and N = 255 (T = 128);
 * - unseal: what the server does with T submissions (HPKE open, commitment check, combine, root key
 *   open), next to the bare `shamir-secret-sharing` combine of the same T shares — the ratio is the
 *   price of the envelope and the checks.
 *
 * Every timed unseal checks that the root key opens, and the bare combine that it gives the unseal key
 * back: a failure ends the run (exit 1).
 *
 * Options: --json, --smoke (one or two timed runs of each step, the same steps and checks).
 */
import { randomBytes } from 'node:crypto';
import { combine } from 'shamir-secret-sharing';
import {
  combineShares,
  generateHolderKey,
  generateSessionKey,
  openSubmission,
  sealShard,
  sealSubmission,
  shardCommitment,
  splitSecret,
  verifyShardCommitment,
} from '../ceremony/index.js';
import type { HolderKey } from '../ceremony/index.js';
import { openRootKey, sealRootKey } from '../engine/seal/root-key.js';
import { isSmoke, table, time } from './util.js';
import type { BenchOptions } from './util.js';

/** Timed runs per step (fewer with --smoke). */
let runs = (n: number) => n;

async function initCost(holders: HolderKey[], threshold: number) {
  const unsealKey = new Uint8Array(randomBytes(32));
  const ceremonyId = 'bench-ceremony';
  return time(
    async () => {
      const shares = await splitSecret(unsealKey, holders.length, threshold);
      shares.forEach((s, i) => shardCommitment(ceremonyId, i, s));
      await Promise.all(
        holders.map((holder, i) =>
          sealShard({ ceremonyId, holder, index: i, threshold, shares: holders.length, share: shares[i]! }),
        ),
      );
    },
    runs(holders.length > 100 ? 3 : 20),
    1,
  );
}

async function unsealCost(n: number, t: number) {
  const unsealKey = new Uint8Array(randomBytes(32));
  const rootKey = new Uint8Array(randomBytes(32));
  const ceremonyId = 'bench-ceremony';
  const blob = sealRootKey(unsealKey, rootKey, ceremonyId);
  const shares = (await splitSecret(unsealKey, n, t)).slice(0, t);
  const commitments = shares.map((s, i) => shardCommitment(ceremonyId, i, s));
  const session = await generateSessionKey();
  const nonce = randomBytes(16).toString('hex');
  const submissions = await Promise.all(
    shares.map((share, i) =>
      sealSubmission({
        purpose: 'unseal',
        sessionPublicKey: session.publicKey,
        nonce,
        ceremonyId,
        index: i,
        holder: `h${i}`,
        share,
      }),
    ),
  );
  const iterations = runs(t > 50 ? 5 : 50);
  const again = await combine(shares);
  if (!Buffer.from(again).equals(unsealKey))
    throw new Error(`shamir-secret-sharing combine: not the unseal key (T=${t})`);
  const ours = await time(async () => {
    const parts: Uint8Array[] = [];
    for (const sub of submissions) {
      const p = await openSubmission({ purpose: 'unseal', sessionSeed: session.seed, expectedNonce: nonce }, sub);
      if (!verifyShardCommitment(ceremonyId, p.index, p.share, commitments[p.index]!)) throw new Error('commitment');
      parts.push(p.share);
    }
    const key = await combineShares(parts);
    if (!openRootKey(key, blob, ceremonyId)) throw new Error('root key');
  }, iterations);
  const combineOnly = await time(async () => {
    const key = await combineShares(shares);
    if (!openRootKey(key, blob, ceremonyId)) throw new Error('root key');
  }, iterations * 4);
  const bare = await time(() => combine(shares), iterations * 4);
  return { ours, combineOnly, bare };
}

export async function main({ json, args }: BenchOptions): Promise<void> {
  if (isSmoke(args)) runs = (n) => Math.max(1, Math.ceil(n / 20));
  const holders = await Promise.all(Array.from({ length: 255 }, (_, i) => generateHolderKey(`h${i}`)));
  const init5 = await initCost(holders.slice(0, 5), 3);
  const init255 = await initCost(holders, 128);
  const u5 = await unsealCost(5, 3);
  const u255 = await unsealCost(255, 128);
  const figures = {
    initMs: { n5t3: init5.p50, n255t128: init255.p50 },
    unsealMs: { n5t3: u5.ours.p50, n255t128: u255.ours.p50 },
    combineVerifyMs: { n5t3: u5.combineOnly.p50, n255t128: u255.combineOnly.p50 },
    bareCombineMs: { n5t3: u5.bare.p50, n255t128: u255.bare.p50 },
    ratioUnsealToBareCombine: { n5t3: u5.ours.p50 / u5.bare.p50, n255t128: u255.ours.p50 / u255.bare.p50 },
    ratioCombineVerifyToBareCombine: {
      n5t3: u5.combineOnly.p50 / u5.bare.p50,
      n255t128: u255.combineOnly.p50 / u255.bare.p50,
    },
  };
  if (json) {
    console.log(JSON.stringify(figures, null, 2));
    return;
  }
  console.log(
    table([
      { step: 'init: split + seal to holders', 'N=5,T=3 p50 ms': init5.p50, 'N=255,T=128 p50 ms': init255.p50 },
      {
        step: 'unseal: T × (HPKE open + commitment) + combine + root key',
        'N=5,T=3 p50 ms': u5.ours.p50,
        'N=255,T=128 p50 ms': u255.ours.p50,
      },
      {
        step: 'combine + root key open (verify)',
        'N=5,T=3 p50 ms': u5.combineOnly.p50,
        'N=255,T=128 p50 ms': u255.combineOnly.p50,
      },
      {
        step: 'bare shamir-secret-sharing combine',
        'N=5,T=3 p50 ms': u5.bare.p50,
        'N=255,T=128 p50 ms': u255.bare.p50,
      },
    ]),
  );
  console.log(
    `\nunseal / bare combine: ${figures.ratioUnsealToBareCombine.n5t3.toFixed(1)}× (N=5), ${figures.ratioUnsealToBareCombine.n255t128.toFixed(1)}× (N=255)`,
  );
  console.log(
    `combine+verify / bare combine: ${figures.ratioCombineVerifyToBareCombine.n5t3.toFixed(2)}× (N=5), ${figures.ratioCombineVerifyToBareCombine.n255t128.toFixed(2)}× (N=255)`,
  );
}
