/**
 * The sealed core: seal state, the unseal and rekey ceremonies, root rotation (DESIGN.md §3).
 *
 *   unseal key (32, Shamir-split to holders)
 *     └─ decrypts root key (seal_config.root_key_blob)
 *          └─ decrypts keyring (terms of barrier keys)
 *               └─ barrier keys encrypt everything at rest
 *
 * State lives in memory: a restarted process is sealed. Unseal and rekey sessions collect shares that
 * holders re-encrypted to the session's ephemeral key; each submitted share is checked against the
 * commitment stored at init (ceremony id, index, share) *before* it is kept, so a wrong, forged,
 * foreign or duplicated shard is rejected with a reason and progress does not move.
 *
 * All state changes go through one async lock: concurrent submissions can't interleave a combine.
 * @module
 */
import { hkdfSync, randomBytes, randomUUID } from 'node:crypto';
import { KeywardError } from '../../lib/errors.js';
import { toBase64, wipe } from '../../lib/bytes.js';
import { MAX_SHARES, combineShares, openSubmission, sealShard, shardCommitment, splitSecret, verifyShardCommitment } from '../../ceremony/index.js';
import type { HolderPublicKey, ShardFile, Submission, SubmissionPurpose } from '../../ceremony/index.js';
import type { CommitScope, Db } from '../store/index.js';
import { getCommitments, getKeyring, getSealConfig, initCeremony, lockKeyring, putKeyring, replaceCeremony, writeTransaction } from '../store/index.js';
import { Barrier } from './barrier.js';
import type { KeyringSource } from './barrier.js';
import { Keyring } from './keyring.js';
import { openRootKey, sealRootKey } from './root-key.js';
import { UnsealSession } from './unseal-session.js';

export const UNSEAL_KEY_LEN = 32;

export interface HolderInfo {
  name: string;
  fingerprint: string;
  index: number;
}

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
}

export interface UnsealResult {
  sealed: boolean;
  progress: number;
  threshold: number;
  holder: string;
  index: number;
}

export interface CeremonyResult {
  ceremonyId: string;
  generation: number;
  threshold: number;
  shares: number;
  shardFiles: ShardFile[];
}

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

interface Unsealed {
  rootKey: Uint8Array;
  keyring: Keyring;
}

interface RekeyState {
  session: UnsealSession;
  holders: HolderPublicKey[];
  threshold: number;
}

interface LoadedConfig {
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
    throw new KeywardError('CEREMONY_PARAMS_INVALID', `expected a threshold from 1 to ${n} (the number of holders), got ${threshold}`);
  }
  const names = new Set<string>();
  const prints = new Set<string>();
  for (const h of holders) {
    if (names.has(h.name)) throw new KeywardError('CEREMONY_PARAMS_INVALID', `holder name "${h.name}" appears twice`);
    if (prints.has(h.fingerprint)) {
      throw new KeywardError('CEREMONY_PARAMS_INVALID', `holder "${h.name}" uses the same key (fingerprint ${h.fingerprint}) as another holder`);
    }
    names.add(h.name);
    prints.add(h.fingerprint);
  }
}

export class SealManager implements KeyringSource {
  readonly #db: Db;
  readonly barrier: Barrier;
  #unsealed: Unsealed | undefined;
  #session: UnsealSession | undefined;
  #rekey: RekeyState | undefined;
  #config: LoadedConfig | undefined;
  #queue: Promise<unknown> = Promise.resolve();

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
    const row = await getSealConfig(this.#db);
    if (!row) {
      this.#config = undefined;
      return undefined;
    }
    if (this.#config?.ceremonyId === row.ceremonyId && this.#config.generation === row.generation) return this.#config;
    const commitments = new Map<number, Uint8Array>();
    for (const c of await getCommitments(this.#db, row.ceremonyId)) commitments.set(c.idx, c.commitment);
    this.#config = {
      ceremonyId: row.ceremonyId,
      generation: row.generation,
      threshold: row.threshold,
      shares: row.shares,
      holders: row.holders as HolderInfo[],
      rootKeyBlob: row.rootKeyBlob,
      commitments,
    };
    return this.#config;
  }

  get initialized(): boolean {
    return this.#config !== undefined;
  }

  get sealed(): boolean {
    return this.#unsealed === undefined;
  }

  status(): SealStatus {
    const c = this.#config;
    return {
      initialized: c !== undefined,
      sealed: this.#unsealed === undefined,
      threshold: c?.threshold ?? 0,
      shares: c?.shares ?? 0,
      progress: this.#unsealed ? 0 : (this.#session?.progress ?? 0),
      ceremonyId: c?.ceremonyId ?? null,
      generation: c?.generation ?? 0,
      nonce: c && !this.#unsealed && this.#session ? this.#session.nonce : null,
      sessionPublicKey: c && !this.#unsealed && this.#session ? toBase64(this.#session.publicKey) : null,
      holders: (c?.holders ?? []).map((h) => ({ ...h, commitment: Buffer.from(c!.commitments.get(h.index) ?? []).toString('hex') })),
    };
  }

  /** KeyringSource: the keyring while unsealed. */
  keyring(): Keyring {
    if (!this.#unsealed) throw new KeywardError('SEALED', 'keyward is sealed: unseal it with a quorum of shards first');
    return this.#unsealed.keyring;
  }

  /** KeyringSource: re-reads the keyring (a root rotation made by another node). */
  async reloadKeyring(): Promise<Keyring> {
    const u = this.#unsealed;
    if (!u) throw new KeywardError('SEALED', 'keyward is sealed: unseal it with a quorum of shards first');
    const row = await getKeyring(this.#db);
    if (!row) throw new KeywardError('STORAGE_CORRUPT', 'the keyring row is missing');
    const fresh = Keyring.open(u.rootKey, row.blob);
    if (this.#unsealed === u) {
      u.keyring.zeroize();
      u.keyring = fresh;
    }
    return fresh;
  }

  #requireConfig(): LoadedConfig {
    if (!this.#config) throw new KeywardError('NOT_INITIALIZED', 'keyward is not initialized: run `keyward ceremony init` first');
    return this.#config;
  }

  /** Splits a fresh unseal key to `holders` and seals each share to its holder (HPKE). */
  async #makeCeremony(unsealKey: Uint8Array, holders: readonly HolderPublicKey[], threshold: number, generation: number) {
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
        holders.map((holder, i) => sealShard({ ceremonyId, holder, index: i, threshold, shares: holders.length, share: shares[i]! })),
      );
      const holderInfo: HolderInfo[] = holders.map((h, i) => ({ name: h.name, fingerprint: h.fingerprint, index: i }));
      return { ceremonyId, generation, commitments, shardFiles, holderInfo };
    } finally {
      wipe(...shares);
    }
  }

  /**
   * Initializes: new unseal key, root key and keyring; shards sealed to the holders. The server stays
   * sealed (as Vault's does) and the caller never sees a plaintext shard.
   */
  init(holders: readonly HolderPublicKey[], threshold: number, commit?: CommitScope): Promise<CeremonyResult> {
    return this.#locked(async () => {
      assertCeremonyParams(holders, threshold);
      if (await this.#reloadConfig()) throw new KeywardError('ALREADY_INITIALIZED', 'keyward is already initialized; use rekey to change holders or threshold');
      const unsealKey = new Uint8Array(randomBytes(UNSEAL_KEY_LEN));
      const rootKey = new Uint8Array(randomBytes(32));
      const keyring = Keyring.create();
      try {
        const c = await this.#makeCeremony(unsealKey, holders, threshold, 1);
        await initCeremony(
          this.#db,
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
        await this.#reloadConfig();
        this.#session?.close();
        this.#session = await UnsealSession.start('unseal');
        return { ceremonyId: c.ceremonyId, generation: 1, threshold, shares: holders.length, shardFiles: c.shardFiles };
      } finally {
        wipe(unsealKey, rootKey);
        keyring.zeroize();
      }
    });
  }

  /**
   * Opens a submission and checks it against the current ceremony before it may count: the ceremony
   * id (foreign), the index (out of range), the stored commitment (forged or corrupted), and the
   * session's parts (duplicate). Throws with the reason; the session is left as it was.
   */
  async #acceptPart(config: LoadedConfig, session: UnsealSession, purpose: SubmissionPurpose, submission: Submission) {
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
  async #combine(config: LoadedConfig, session: UnsealSession): Promise<Uint8Array | undefined> {
    const unsealKey = await combineShares(session.shares());
    try {
      return openRootKey(unsealKey, config.rootKeyBlob, config.ceremonyId);
    } finally {
      wipe(unsealKey);
      session.close();
    }
  }

  /** One holder's unseal submission. Below the threshold it reports progress; at it, unseals. */
  submitUnseal(submission: Submission): Promise<UnsealResult> {
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
      const part = await this.#acceptPart(config, session, 'unseal', submission);
      if (session.progress < config.threshold) {
        return { sealed: true, progress: session.progress, threshold: config.threshold, ...part };
      }
      const rootKey = await this.#combine(config, session);
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
      try {
        this.#unsealed = { rootKey, keyring: Keyring.open(rootKey, row.blob) };
      } catch (err) {
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
      if (this.#unsealed) throw new KeywardError('ALREADY_UNSEALED', 'keyward is already unsealed: there is no unseal in progress to reset');
      this.#session?.close();
      this.#session = await UnsealSession.start('unseal');
      return this.status();
    });
  }

  /**
   * The audit log's HMAC key for an epoch: HKDF-SHA-256(root key, salt "", info
   * "keyward/audit-hmac/v1/epoch-<N>") (DESIGN.md §6). Derived in the sealed core and never stored;
   * the caller owns (and wipes) the copy.
   */
  auditHmacKey(epoch: number): Uint8Array {
    if (!Number.isSafeInteger(epoch) || epoch < 1) throw new TypeError(`"epoch" expected a positive integer, got ${String(epoch)}`);
    const u = this.#unsealed;
    if (!u) throw new KeywardError('SEALED', 'keyward is sealed: unseal it with a quorum of shards first');
    return new Uint8Array(hkdfSync('sha256', u.rootKey, new Uint8Array(0), `keyward/audit-hmac/v1/epoch-${epoch}`, 32));
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

  readonly #sealListeners = new Set<() => void>();

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
    this.#rekey?.session.close();
    this.#rekey = undefined;
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
      const u = this.#unsealed;
      if (!u) throw new KeywardError('SEALED', 'keyward is sealed: unseal it with a quorum of shards first');
      const fresh = await writeTransaction(this.#db, commit, async (tx) => {
        const row = await lockKeyring(tx);
        if (!row) throw new KeywardError('STORAGE_CORRUPT', 'the keyring row is missing');
        const k = Keyring.open(u.rootKey, row.blob);
        k.rotate();
        await putKeyring(tx, { blob: k.seal(u.rootKey), activeTerm: k.activeTerm });
        return k;
      }, (k) => ({ term: k.activeTerm }));
      u.keyring.zeroize();
      u.keyring = fresh;
      return { term: fresh.activeTerm, terms: fresh.terms };
    });
  }

  rekeyStatus(): RekeyStatus {
    const r = this.#rekey;
    return {
      started: r !== undefined,
      nonce: r?.session.nonce ?? null,
      sessionPublicKey: r ? toBase64(r.session.publicKey) : null,
      progress: r?.session.progress ?? 0,
      required: this.#config?.threshold ?? 0,
      newShares: r?.holders.length ?? 0,
      newThreshold: r?.threshold ?? 0,
      newHolders: r?.holders.map((h) => h.name) ?? [],
    };
  }

  /** Starts a rekey to new holders and threshold; needs a quorum of *current* shards to complete. */
  startRekey(holders: readonly HolderPublicKey[], threshold: number): Promise<RekeyStatus> {
    return this.#locked(async () => {
      this.#requireConfig();
      if (!this.#unsealed) throw new KeywardError('SEALED', 'keyward is sealed: unseal it before a rekey');
      if (this.#rekey) throw new KeywardError('REKEY_IN_PROGRESS', 'a rekey is already in progress; cancel it first');
      assertCeremonyParams(holders, threshold);
      this.#rekey = { session: await UnsealSession.start('rekey'), holders: [...holders], threshold };
      return this.rekeyStatus();
    });
  }

  cancelRekey(): Promise<RekeyStatus> {
    return this.#locked(async () => {
      if (!this.#rekey) throw new KeywardError('REKEY_NOT_STARTED', 'no rekey is in progress');
      this.#rekey.session.close();
      this.#rekey = undefined;
      return this.rekeyStatus();
    });
  }

  /**
   * One holder's rekey submission (a shard of the current ceremony). At the threshold the combined
   * key must open the root key (proof of quorum); then a new unseal key is split to the new holders,
   * the root key re-encrypted under it, and the old commitments replaced: old shards stop working.
   * Data is not re-encrypted (the root key does not change).
   */
  submitRekey(submission: Submission, commit?: CommitScope): Promise<RekeyResult> {
    return this.#locked(async () => {
      const config = this.#requireConfig();
      const r = this.#rekey;
      if (!r) throw new KeywardError('REKEY_NOT_STARTED', 'no rekey is in progress: start one with `keyward ceremony rekey init`');
      const fresh = (await this.#reloadConfig())!;
      if (fresh !== config) {
        r.session.close();
        this.#rekey = undefined;
        throw new KeywardError('REKEY_NOT_STARTED', 'the ceremony changed while the rekey was in progress; start it again');
      }
      const part = await this.#acceptPart(config, r.session, 'rekey', submission);
      if (r.session.progress < config.threshold) {
        return { complete: false, progress: r.session.progress, required: config.threshold, ...part };
      }
      this.#rekey = undefined;
      const rootKey = await this.#combine(config, r.session);
      if (!rootKey) throw new KeywardError('REKEY_FAILED', 'the combined shards do not open the root key; the rekey was cancelled');
      const unsealKey = new Uint8Array(randomBytes(UNSEAL_KEY_LEN));
      try {
        const generation = config.generation + 1;
        const c = await this.#makeCeremony(unsealKey, r.holders, r.threshold, generation);
        await replaceCeremony(
          this.#db,
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
        await this.#reloadConfig();
        return { complete: true, ceremonyId: c.ceremonyId, generation, threshold: r.threshold, shares: r.holders.length, shardFiles: c.shardFiles };
      } finally {
        wipe(unsealKey, rootKey);
      }
    });
  }
}
