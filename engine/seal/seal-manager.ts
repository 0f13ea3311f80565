/**
 * The sealed core: seal state, the unseal and rekey ceremonies, root rotation (docs/architecture.md,
 * "Keys at rest").
 *
 *   unseal key (32, Shamir-split to holders)
 *     └─ decrypts root key (seal_config.root_key_blob)
 *          └─ decrypts keyring (terms of barrier keys)
 *               └─ barrier keys encrypt everything at rest
 *
 * State lives in memory: a restarted process is sealed. Unseal and rekey sessions collect shares that
 * holders re-encrypted to the session's ephemeral key; each share is checked before it counts
 * (ceremony.ts). Rekey is rekey.ts, the audit HMAC keys audit-hmac.ts; this class holds the state
 * and runs every change under one async lock, so concurrent submissions can't interleave a combine.
 * @module
 */
import { KeywardError } from '../../lib/errors.js';
import { toBase64, toHex, wipe } from '../../lib/bytes.js';
import type { HolderPublicKey, Submission } from '../../ceremony/index.js';
import type { CommitScope, Db } from '../store/index.js';
import { getKeyring, lockKeyring, putKeyring, writeTransaction } from '../store/index.js';
import { deriveAuditHmacKey } from './audit-hmac.js';
import { Barrier } from './barrier.js';
import type { KeyringSource } from './barrier.js';
import { acceptPart, assertCeremonyParams, combine, createCeremony, loadConfig } from './ceremony.js';
import type { CeremonyResult, HolderInfo, LoadedConfig } from './ceremony.js';
import { sealedError } from './errors.js';
import { Keyring } from './keyring.js';
import { Rekey } from './rekey.js';
import type { RekeyResult, RekeyStatus } from './rekey.js';
import { UnsealSession } from './unseal-session.js';

export { UNSEAL_KEY_LEN, assertCeremonyParams } from './ceremony.js';
export type { CeremonyResult, HolderInfo } from './ceremony.js';
export type { RekeyResult, RekeyStatus } from './rekey.js';

export interface SealStatus {
  initialized: boolean;
  sealed: boolean;
  threshold: number;
  shares: number;
  progress: number;
  ceremonyId: string | null;
  generation: number;
  /** The unseal session: nonce and ephemeral public key (base64) that submissions are sealed to. */
  nonce: string | null;
  sessionPublicKey: string | null;
  holders: Array<HolderInfo & { commitment: string }>;
  /** The share indexes of the holders whose shards the current unseal session holds (the console shows who). */
  submitted: number[];
}

export interface UnsealResult {
  sealed: boolean;
  progress: number;
  threshold: number;
  holder: string;
  index: number;
}

interface Unsealed {
  rootKey: Uint8Array;
  keyring: Keyring;
}

export class SealManager implements KeyringSource {
  readonly #db: Db;
  readonly barrier: Barrier;
  #unsealed: Unsealed | undefined;
  #session: UnsealSession | undefined;
  readonly #rekey = new Rekey();
  #config: LoadedConfig | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  readonly #sealListeners = new Set<() => void>();

  private constructor(db: Db) {
    this.#db = db;
    this.barrier = new Barrier(this);
  }

  /** Reads the seal configuration and opens an unseal session if initialized. Starts sealed. */
  static async open(db: Db): Promise<SealManager> {
    const m = new SealManager(db);
    await m.#reloadConfig();
    if (m.#config) m.#session = await UnsealSession.start('unseal');
    return m;
  }

  /** Serializes state changes: one at a time, in arrival order. */
  #locked<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #reloadConfig(): Promise<LoadedConfig | undefined> {
    this.#config = await loadConfig(this.#db, this.#config);
    return this.#config;
  }

  #requireConfig(): LoadedConfig {
    if (!this.#config)
      throw new KeywardError('NOT_INITIALIZED', 'keyward is not initialized: run `keyward ceremony init` first');
    return this.#config;
  }

  #requireUnsealed(): Unsealed {
    if (!this.#unsealed) throw sealedError();
    return this.#unsealed;
  }

  get initialized(): boolean {
    return this.#config !== undefined;
  }

  get sealed(): boolean {
    return this.#unsealed === undefined;
  }

  status(): SealStatus {
    const c = this.#config;
    const session = c && !this.#unsealed ? this.#session : undefined;
    return {
      initialized: c !== undefined,
      sealed: this.#unsealed === undefined,
      threshold: c?.threshold ?? 0,
      shares: c?.shares ?? 0,
      progress: this.#unsealed ? 0 : (this.#session?.progress ?? 0),
      ceremonyId: c?.ceremonyId ?? null,
      generation: c?.generation ?? 0,
      nonce: session ? session.nonce : null,
      sessionPublicKey: session ? toBase64(session.publicKey) : null,
      holders: (c?.holders ?? []).map((h) => ({
        ...h,
        commitment: toHex(c!.commitments.get(h.index) ?? new Uint8Array(0)),
      })),
      submitted: this.#unsealed ? [] : (this.#session?.indexes() ?? []),
    };
  }

  /** KeyringSource: the keyring while unsealed. */
  keyring(): Keyring {
    return this.#requireUnsealed().keyring;
  }

  /** KeyringSource: re-reads the keyring (a root rotation made by another node). */
  async reloadKeyring(): Promise<Keyring> {
    const u = this.#requireUnsealed();
    const row = await getKeyring(this.#db);
    if (!row) throw new KeywardError('STORAGE_CORRUPT', 'the keyring row is missing');
    const fresh = Keyring.open(u.rootKey, row.blob);
    if (this.#unsealed === u) {
      u.keyring.zeroize();
      u.keyring = fresh;
    }
    return fresh;
  }

  /**
   * Initializes: new unseal key, root key and keyring; shards sealed to the holders. The server stays
   * sealed (as Vault's does) and the caller never sees a plaintext shard.
   */
  init(holders: readonly HolderPublicKey[], threshold: number, commit?: CommitScope): Promise<CeremonyResult> {
    return this.#locked(async () => {
      assertCeremonyParams(holders, threshold);
      if (await this.#reloadConfig())
        throw new KeywardError(
          'ALREADY_INITIALIZED',
          'keyward is already initialized; use rekey to change holders or threshold',
        );
      const result = await createCeremony(this.#db, holders, threshold, commit);
      await this.#reloadConfig();
      this.#session?.close();
      this.#session = await UnsealSession.start('unseal');
      return result;
    });
  }

  /**
   * One holder's unseal submission. Below the threshold it reports progress; at it, unseals.
   * `beforeUnseal` runs with a barrier over the opened keyring before anything is served: when it
   * throws, the keys are wiped and the HSM stays sealed (a restored store's backup seal,
   * engine/backup.ts).
   */
  submitUnseal(
    submission: Submission,
    opts: { beforeUnseal?: (barrier: Barrier) => Promise<void> } = {},
  ): Promise<UnsealResult> {
    return this.#locked(async () => {
      this.#requireConfig();
      if (this.#unsealed) throw new KeywardError('ALREADY_UNSEALED', 'keyward is already unsealed');
      const before = this.#config;
      const config = (await this.#reloadConfig())!;
      if (config !== before || !this.#session || this.#session.closed) {
        // A rekey elsewhere changed the ceremony: the old session's parts are void.
        this.#session?.close();
        this.#session = await UnsealSession.start('unseal');
      }
      const session = this.#session;
      const part = await acceptPart(config, session, 'unseal', submission);
      if (session.progress < config.threshold) {
        return { sealed: true, progress: session.progress, threshold: config.threshold, ...part };
      }
      const rootKey = await combine(config, session);
      this.#session = await UnsealSession.start('unseal');
      if (!rootKey) {
        // Unreachable with valid commitments; kept so a corrupt root key blob can never unseal.
        throw new KeywardError('UNSEAL_FAILED', 'the combined shards do not open the root key; progress was reset');
      }
      const row = await getKeyring(this.#db);
      if (!row) {
        wipe(rootKey);
        throw new KeywardError('STORAGE_CORRUPT', 'the keyring row is missing');
      }
      let keyring: Keyring | undefined;
      try {
        keyring = Keyring.open(rootKey, row.blob);
        const opened = keyring;
        await opts.beforeUnseal?.(new Barrier({ keyring: () => opened, reloadKeyring: async () => opened }));
        this.#unsealed = { rootKey, keyring };
      } catch (err) {
        keyring?.zeroize();
        wipe(rootKey);
        throw err;
      }
      return { sealed: false, progress: 0, threshold: config.threshold, ...part };
    });
  }

  /** Discards the parts gathered so far and starts a new session (new nonce, new key). */
  resetUnseal(): Promise<SealStatus> {
    return this.#locked(async () => {
      this.#requireConfig();
      if (this.#unsealed)
        throw new KeywardError(
          'ALREADY_UNSEALED',
          'keyward is already unsealed: there is no unseal in progress to reset',
        );
      this.#session?.close();
      this.#session = await UnsealSession.start('unseal');
      return this.status();
    });
  }

  /**
   * The audit log's HMAC key for an epoch (audit-hmac.ts), derived from the root key while unsealed
   * and never stored; the caller owns (and wipes) the copy.
   */
  auditHmacKey(epoch: number): Uint8Array {
    if (!Number.isSafeInteger(epoch) || epoch < 1)
      throw new TypeError(`"epoch" expected a positive integer, got ${String(epoch)}`);
    return deriveAuditHmacKey(this.#requireUnsealed().rootKey, epoch);
  }

  /** Seals: zeroizes the root key and keyring (best effort in JS), ends any rekey. */
  seal(): Promise<void> {
    return this.#locked(async () => {
      this.#requireConfig();
      this.#zeroize();
      this.#session?.close();
      this.#session = await UnsealSession.start('unseal');
    });
  }

  /** Registers `fn` to run when the keys are zeroized (seal, close): caches of key material drop theirs. */
  onSeal(fn: () => void): void {
    this.#sealListeners.add(fn);
  }

  #zeroize(): void {
    for (const fn of this.#sealListeners) fn();
    if (this.#unsealed) {
      wipe(this.#unsealed.rootKey);
      this.#unsealed.keyring.zeroize();
      this.#unsealed = undefined;
    }
    this.#rekey.end();
  }

  /** Releases everything at shutdown. */
  close(): void {
    this.#zeroize();
    this.#session?.close();
    this.#session = undefined;
  }

  /**
   * Root rotation: a new keyring term becomes active; old terms stay readable. The keyring row is
   * locked for the read-modify-write so two nodes rotating at once can't lose a term.
   */
  rotate(commit?: CommitScope): Promise<{ term: number; terms: number[] }> {
    return this.#locked(async () => {
      const u = this.#requireUnsealed();
      const fresh = await writeTransaction(
        this.#db,
        commit,
        async (tx) => {
          const row = await lockKeyring(tx);
          if (!row) throw new KeywardError('STORAGE_CORRUPT', 'the keyring row is missing');
          const k = Keyring.open(u.rootKey, row.blob);
          k.rotate();
          await putKeyring(tx, { blob: k.seal(u.rootKey), activeTerm: k.activeTerm });
          return k;
        },
        (k) => ({ term: k.activeTerm }),
      );
      u.keyring.zeroize();
      u.keyring = fresh;
      return { term: fresh.activeTerm, terms: fresh.terms };
    });
  }

  rekeyStatus(): RekeyStatus {
    return this.#rekey.status(this.#config?.threshold ?? 0);
  }

  /** Starts a rekey to new holders and threshold; needs a quorum of *current* shards to complete. */
  startRekey(holders: readonly HolderPublicKey[], threshold: number): Promise<RekeyStatus> {
    return this.#locked(async () => {
      this.#requireConfig();
      if (!this.#unsealed) throw sealedError('unseal it before a rekey');
      await this.#rekey.start(holders, threshold);
      return this.rekeyStatus();
    });
  }

  cancelRekey(): Promise<RekeyStatus> {
    return this.#locked(async () => {
      this.#rekey.cancel();
      return this.rekeyStatus();
    });
  }

  /** One holder's rekey submission (a shard of the current ceremony); see rekey.ts. */
  submitRekey(submission: Submission, commit?: CommitScope): Promise<RekeyResult> {
    return this.#locked(async () => {
      const config = this.#requireConfig();
      return this.#rekey.submit(this.#db, config, () => this.#reloadConfig(), submission, commit);
    });
  }
}
