/**
 * Rekey (docs/architecture.md, "Keys at rest"): a quorum of the *current* shards, submitted to a
 * rekey session, proves the right to split a new unseal key to new holders. At the threshold the
 * combined key must open the root key; then the root key is re-encrypted under the new unseal key and
 * the old commitments are replaced, so old shards stop working. Data is not re-encrypted (the root
 * key does not change). State lives in memory, like the unseal session; SealManager runs every call
 * under its lock.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { KeywardError } from '../../lib/errors.js';
import { toBase64, wipe } from '../../lib/bytes.js';
import type { HolderPublicKey, Submission } from '../../ceremony/index.js';
import type { CommitScope, Db } from '../store/index.js';
import { replaceCeremony } from '../store/index.js';
import { UNSEAL_KEY_LEN, acceptPart, assertCeremonyParams, combine, makeCeremony } from './ceremony.js';
import type { CeremonyResult, LoadedConfig } from './ceremony.js';
import { sealRootKey } from './root-key.js';
import { UnsealSession } from './unseal-session.js';

export interface RekeyStatus {
  started: boolean;
  nonce: string | null;
  sessionPublicKey: string | null;
  progress: number;
  /** Shards of the *current* ceremony needed to complete the rekey. */
  required: number;
  newShares: number;
  newThreshold: number;
  newHolders: string[];
}

export type RekeyResult =
  | { complete: false; progress: number; required: number; holder: string; index: number }
  | ({ complete: true } & CeremonyResult);

interface RekeyState {
  session: UnsealSession;
  holders: HolderPublicKey[];
  threshold: number;
}

/** The rekey in progress, if any. */
export class Rekey {
  #state: RekeyState | undefined;

  get started(): boolean {
    return this.#state !== undefined;
  }

  /** `required`: the current ceremony's threshold. */
  status(required: number): RekeyStatus {
    const r = this.#state;
    return {
      started: r !== undefined,
      nonce: r?.session.nonce ?? null,
      sessionPublicKey: r ? toBase64(r.session.publicKey) : null,
      progress: r?.session.progress ?? 0,
      required,
      newShares: r?.holders.length ?? 0,
      newThreshold: r?.threshold ?? 0,
      newHolders: r?.holders.map((h) => h.name) ?? [],
    };
  }

  async start(holders: readonly HolderPublicKey[], threshold: number): Promise<void> {
    if (this.#state) throw new KeywardError('REKEY_IN_PROGRESS', 'a rekey is already in progress; cancel it first');
    assertCeremonyParams(holders, threshold);
    this.#state = { session: await UnsealSession.start('rekey'), holders: [...holders], threshold };
  }

  cancel(): void {
    if (!this.#state) throw new KeywardError('REKEY_NOT_STARTED', 'no rekey is in progress');
    this.end();
  }

  /** Ends any rekey, discarding its parts (on seal and shutdown). */
  end(): void {
    this.#state?.session.close();
    this.#state = undefined;
  }

  /**
   * One holder's submission (a shard of `config`, the current ceremony). `reload` re-reads the seal
   * configuration: when a rekey on another node changed it, this rekey's parts are void.
   */
  async submit(
    db: Db,
    config: LoadedConfig,
    reload: () => Promise<LoadedConfig | undefined>,
    submission: Submission,
    commit?: CommitScope,
  ): Promise<RekeyResult> {
    const r = this.#state;
    if (!r)
      throw new KeywardError(
        'REKEY_NOT_STARTED',
        'no rekey is in progress: start one with `keyward ceremony rekey init`',
      );
    if ((await reload()) !== config) {
      this.end();
      throw new KeywardError(
        'REKEY_NOT_STARTED',
        'the ceremony changed while the rekey was in progress; start it again',
      );
    }
    const part = await acceptPart(config, r.session, 'rekey', submission);
    if (r.session.progress < config.threshold) {
      return { complete: false, progress: r.session.progress, required: config.threshold, ...part };
    }
    this.#state = undefined;
    const rootKey = await combine(config, r.session);
    if (!rootKey)
      throw new KeywardError('REKEY_FAILED', 'the combined shards do not open the root key; the rekey was cancelled');
    const unsealKey = new Uint8Array(randomBytes(UNSEAL_KEY_LEN));
    try {
      const generation = config.generation + 1;
      const c = await makeCeremony(unsealKey, r.holders, r.threshold, generation);
      await replaceCeremony(
        db,
        {
          config: {
            id: 1,
            ceremonyId: c.ceremonyId,
            generation,
            threshold: r.threshold,
            shares: r.holders.length,
            holders: c.holderInfo,
            rootKeyBlob: sealRootKey(unsealKey, rootKey, c.ceremonyId),
          },
          commitments: c.commitments,
        },
        commit,
      );
      await reload();
      return {
        complete: true,
        ceremonyId: c.ceremonyId,
        generation,
        threshold: r.threshold,
        shares: r.holders.length,
        shardFiles: c.shardFiles,
      };
    } finally {
      wipe(unsealKey, rootKey);
    }
  }
}
