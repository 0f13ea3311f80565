/**
 * The HSM's wiring (docs/architecture.md, "The parts"): `Hsm.open` builds the services over a store,
 * starts the audit integrator and the key purger, and hands every request to the one pipeline
 * (engine/pipeline.ts), whose operation gets the engine's named operations bound to what was
 * authorized (engine/actions.ts). Also here: the unauthenticated ceremony events (init, unseal
 * submissions and reset, rekey submissions), recorded by the pipeline's `event`, and the records of
 * the server's own sweeps (key purges, approval expiries), which commit in their own transactions.
 * @module
 */
import { hostname } from 'node:os';
import { KeywardError, isKeywardError } from '../lib/errors.js';
import type { HolderPublicKey, Submission } from '../ceremony/index.js';
import { TokenAuthenticator, issueToken, newTokenId } from './auth/tokens.js';
import type { IssuedToken } from './auth/tokens.js';
import { AuditLog } from './audit/log/log.js';
import type { AuditLogOptions } from './audit/log/log.js';
import { AuditIntegrator } from './audit/log/integrator.js';
import type { Checkpoint } from './audit/log/integrator.js';
import { parseVerifierKey, verifyNote } from './audit/math/note.js';
import { hmacField } from './audit/math/record.js';
import { loadAuditSigner } from './audit/log/signing.js';
import type { AuditSigner } from './audit/log/signing.js';
import type { AuditRecord } from './audit/math/record.js';
import { PolicyService } from './policy/bindings/service.js';
import { StorageProbe } from './store/health.js';
import type { StorageHealth } from './store/health.js';
import type { CryptoPool } from './crypto/index.js';
import { KeyService } from './keys/service.js';
import { SealManager, SecretStore } from './seal/index.js';
import type { CeremonyResult, SealStatus } from './seal/index.js';
import type { Db, KeyRow, Store } from './store/index.js';
import type { ApprovalRow } from './store/schema.js';
import { ApprovalService } from './approvals/index.js';
import { Pipeline } from './pipeline.js';
export { refusedWithoutKey } from './pipeline.js';
import type { Authorized, KeyTarget, Outcome, RequestContext } from './pipeline.js';
import { Actions } from './actions.js';
import { verifyRestored } from './backup.js';
import type { ActionServices } from './actions.js';
import { EngineEvents } from './metrics.js';

export type { Authorized, KeyTarget, Outcome, RequestContext } from './pipeline.js';
export type { Actions } from './actions.js';
export { VERSION } from './version.js';
import { VERSION } from './version.js';

export interface HsmOptions {
  store: Store;
  /** Worker pool for slow asymmetric operations (none: they run in-thread). */
  pool?: CryptoPool;
  /** The clock; injectable for tests. */
  now?: () => Date;
  /** This node's name in audit records (default `<hostname>:<pid>`). */
  node?: string;
  /** HTTP-like status of an error code, for audit records (the server passes its error table). */
  statusOf?: (code: string) => number | undefined;
  /** Audit queue settings; `false` turns auditing off — only the audit benchmark's baseline does that. */
  audit?: (AuditLogOptions & { integrateIntervalMs?: number }) | false;
  /** Errors of the background audit integrator (a corrupt log, a database failure). */
  onAuditError?: (err: unknown) => void;
  /** How long a parked request waits for approvals and execution (default 24 h). */
  approvalTtlMs?: number;
  /** The budget of each storage call on the request path, in ms (default 2000: engine/store/deadline.ts). */
  storageDeadlineMs?: number;
}

/** The epoch of the audit HMAC key (docs/architecture.md, "The audit log"); a new epoch would come with root-key rotation. */
export const AUDIT_HMAC_EPOCH = 1;

export interface Health {
  initialized: boolean;
  sealed: boolean;
  threshold: number;
  shares: number;
  progress: number;
  version: string;
}

/** A refusal's record, as server/refusals.ts hands it to {@link Hsm.recordRefusal}. */
export interface RefusalRecord {
  operation: 'request.refused' | 'request.refused.folded';
  time: Date;
  /** The request's id (a folded record gets a new one). */
  requestId: string | undefined;
  status: number;
  code: string;
  bytesIn: number;
  details: Record<string, string | number | boolean | null>;
}

export class Hsm {
  readonly store: Store;
  readonly seal: SealManager;
  readonly secrets: SecretStore;
  readonly policies: PolicyService;
  readonly keys: KeyService;
  readonly now: () => Date;
  /** The audit log's write side; undefined only when auditing was turned off (a benchmark baseline). */
  readonly audit: AuditLog | undefined;
  readonly node: string;
  /** Extends the Merkle tree and signs checkpoints; undefined when auditing is off. */
  readonly integrator: AuditIntegrator | undefined;
  readonly tokens: TokenAuthenticator;
  /** Dual control: parked requests, their approvals and their one execution. */
  readonly approvals: ApprovalService;
  /** Requests, policy decisions and audit commits as they happen, for metrics (engine/metrics.ts). */
  readonly events: EngineEvents;
  readonly #pipeline: Pipeline;
  /** Whether the database answers (health), probed at most once a second within the deadline. */
  readonly #storage: StorageProbe;
  readonly #services: ActionServices;
  #hmacKey: Uint8Array | undefined;
  #signer: Promise<AuditSigner> | undefined;

  private constructor(
    store: Store,
    seal: SealManager,
    audit: AuditLog | undefined,
    opts: HsmOptions,
    events: EngineEvents,
  ) {
    const now = opts.now ?? (() => new Date());
    this.events = events;
    this.store = store;
    this.seal = seal;
    this.secrets = new SecretStore(store.db, seal.barrier);
    // The real clock's milliseconds without a Date per request (the bindings cache asks on every one).
    const nowMs = opts.now ? () => now().getTime() : Date.now;
    const deadline = opts.storageDeadlineMs;
    this.policies = new PolicyService(store.db, {
      now: nowMs,
      ...(deadline !== undefined ? { deadlineMs: deadline } : {}),
    });
    this.keys = new KeyService(store.db, seal, {
      now,
      ...(opts.pool ? { pool: opts.pool } : {}),
      ...(audit ? { recordPurge: (tx: Db, key: { name: string; id: string }) => this.#recordPurge(tx, key) } : {}),
      ...(deadline !== undefined ? { storageDeadlineMs: deadline } : {}),
    });
    this.now = now;
    this.tokens = new TokenAuthenticator(store.db, deadline !== undefined ? { deadlineMs: deadline } : {});
    this.approvals = new ApprovalService(store.db, {
      now,
      ...(opts.approvalTtlMs !== undefined ? { ttlMs: opts.approvalTtlMs } : {}),
      // Keyed, like every sensitive audit field: a body may hold a low-entropy secret.
      digest: (canonical) => this.auditHash(canonical),
      onExpired: (tx, row) => this.#recordExpiry(tx, row),
      onRecovered: (tx, row, outcome) => this.#recordRecovery(tx, row, outcome),
      // The parked body, kept under the barrier like every secret at rest, so execute can default to it.
      sealBody: (path, canonical) => seal.barrier.encrypt(path, canonical),
      openBody: (path, blob) => seal.barrier.decrypt(path, blob),
    });
    this.audit = audit;
    this.node = opts.node ?? `${hostname()}:${process.pid}`;
    this.onAuditError = opts.onAuditError;
    this.integrator = audit
      ? new AuditIntegrator(store.db, {
          signer: () => this.#auditSigner(),
          now,
          committed: audit.committedBatches,
          ...(opts.audit && opts.audit.integrateIntervalMs ? { intervalMs: opts.audit.integrateIntervalMs } : {}),
          ...(opts.onAuditError ? { onError: opts.onAuditError } : {}),
        })
      : undefined;
    this.#storage = new StorageProbe(
      store,
      opts.storageDeadlineMs !== undefined ? { deadlineMs: opts.storageDeadlineMs } : {},
    );
    this.#pipeline = new Pipeline({
      seal,
      tokens: this.tokens,
      keys: this.keys,
      policies: this.policies,
      approvals: this.approvals,
      audit,
      now,
      node: this.node,
      statusOf: opts.statusOf ?? (() => undefined),
      auditHash: (value) => this.auditHash(value),
      events,
      ...(opts.storageDeadlineMs !== undefined ? { storageDeadlineMs: opts.storageDeadlineMs } : {}),
    });
    this.#services = {
      db: store.db,
      seal,
      keys: this.keys,
      policies: this.policies,
      approvals: this.approvals,
      tokens: this.tokens,
      integrator: this.integrator,
      now,
      auditHash: (value) => this.auditHash(value),
      auditKeys: () => this.auditKeys(),
      driver: store.driver,
      node: this.node,
    };
    seal.onSeal(() => {
      // Nothing read before the seal is cached after it (the key rows drop theirs in KeyCatalog).
      this.tokens.clear();
      this.policies.forgetBindings();
      this.#hmacKey?.fill(0);
      this.#hmacKey = undefined;
      const signer = this.#signer;
      this.#signer = undefined;
      signer?.then(
        (s) => s.destroy(),
        () => undefined,
      );
    });
  }

  /** The audit signing keys while unsealed (loaded, or made on first use, once per unseal). */
  async #auditSigner(): Promise<AuditSigner | undefined> {
    if (this.seal.sealed) return undefined;
    const p = (this.#signer ??= loadAuditSigner(this.store.db, this.seal.barrier));
    try {
      return await p;
    } catch (err) {
      if (this.#signer === p) this.#signer = undefined;
      throw err;
    }
  }

  /** The audit log's verification keys (made on first use; needs the HSM unsealed). */
  async auditKeys(): Promise<AuditSigner['keys']> {
    const signer = await this.#auditSigner();
    if (!signer) throw new KeywardError('SEALED', 'keyward is sealed: unseal it with a quorum of shards first');
    return signer.keys;
  }

  /** The newest checkpoint this node knows of (for the response header). */
  latestCheckpoint(): Checkpoint | undefined {
    return this.integrator?.latest;
  }

  /** Opens the HSM over a store. It starts sealed (or uninitialized). */
  static async open(opts: HsmOptions): Promise<Hsm> {
    const events = new EngineEvents();
    const seal = await SealManager.open(opts.store.db);
    const audit =
      opts.audit === false
        ? undefined
        : await AuditLog.open(opts.store.db, {
            // One append statement in flight on both drivers: with two, on PostgreSQL the second
            // often reaches the head before the first and misses its compare-and-set, then waits and
            // rebuilds (bench/audit, 1 KiB encrypts at 16 in flight, fsync on: 1,947 req/s with two,
            // 2,500 with one, in the same session).
            flushesInFlight: 1,
            observer: events,
            sealer: seal.barrier,
            ...(opts.audit ?? {}),
          });
    const hsm = new Hsm(opts.store, seal, audit, opts, events);
    hsm.integrator?.start();
    // Keys past their deletion window are purged every minute while unsealed (any node may sweep).
    hsm.keys.startPurger(opts.onAuditError ? { onError: opts.onAuditError } : {});
    // Init stores the ceremony, then installs the default policy. A crash between the two would leave
    // no global policy and so deny everything forever (the API refuses to remove the last one):
    // finish the job here. Idempotent, and safe with several nodes starting at once.
    if (hsm.seal.initialized && !(await hsm.policies.hasGlobal())) await hsm.policies.installDefault('recovery');
    return hsm;
  }

  health(): Health {
    const s = this.seal.status();
    return {
      initialized: s.initialized,
      sealed: s.sealed,
      threshold: s.threshold,
      shares: s.shares,
      progress: s.progress,
      version: VERSION,
    };
  }

  /** The storage's state for health checks: whether the database answers, and why not. */
  storageHealth(): Promise<StorageHealth> {
    return this.#storage.check();
  }

  sealStatus(): SealStatus & { version: string; node: string } {
    return { ...this.seal.status(), version: VERSION, node: this.node };
  }

  /** The rekey's progress (unauthenticated, like seal status: holders need it). */
  rekeyStatus() {
    return this.seal.rekeyStatus();
  }

  /**
   * The method and path an approval was parked for, when `bearer` authenticates its requester;
   * undefined for anyone else and for an unknown id alike (so neither learns whether it exists). Not
   * recorded and not decided: a caller only learns it by executing, whose dispatched request is.
   */
  async approvalTarget(bearer: string | undefined, id: string): Promise<{ method: string; path: string } | undefined> {
    if (!this.seal.initialized || this.seal.sealed) return undefined;
    const p = await this.tokens.authenticate(bearer, this.now()).catch(() => undefined);
    return p ? this.approvals.target(id, p.principal) : undefined;
  }

  /**
   * The body an approval was parked with, when `bearer` authenticates its requester; undefined for
   * anyone else, or when sealed. Authenticated here without a record: the execution it feeds is
   * authenticated and recorded again by the pipeline.
   */
  async parkedBody(bearer: string | undefined, id: string): Promise<unknown> {
    if (!this.seal.initialized || this.seal.sealed) return undefined;
    const p = await this.tokens.authenticate(bearer, this.now()).catch(() => undefined);
    return p ? this.approvals.storedBody(id, p.principal) : undefined;
  }

  /** A precheck: refuses an export no approval could make possible (not exportable, no such version). */
  assertExportable(row: KeyRow, version?: number): void {
    this.keys.assertExportable(row, version);
  }

  /**
   * Initializes the HSM: the ceremony (shards sealed to holders) and the initial root token, an
   * `admin` principal named `root`. The HSM stays sealed until a quorum unseals it.
   */
  async init(
    holders: readonly HolderPublicKey[],
    threshold: number,
    opts: { rootToken?: string } = {},
  ): Promise<CeremonyResult & { rootToken: IssuedToken }> {
    // The record commits with the ceremony's rows (ceremonyId, generation, threshold, shares); the
    // root token's id is chosen first so the record can name it.
    const rootTokenId = newTokenId();
    return this.#pipeline.event(
      'sys.init',
      async (commit) => {
        const result = await this.seal.init(holders, threshold, commit);
        await this.policies.installDefault('init');
        const rootToken = await issueToken(this.store.db, {
          id: rootTokenId,
          principal: 'root',
          roles: ['admin'],
          now: this.now(),
          createdBy: 'init',
          ...(opts.rootToken !== undefined ? { token: opts.rootToken } : {}),
        });
        return {
          value: { ...result, rootToken },
          details: { ceremonyId: result.ceremonyId, threshold, shares: holders.length, rootTokenId },
        };
      },
      { rootTokenId },
    );
  }

  /** One unseal submission; each is an audit record naming the holder and the progress. */
  submitUnseal(submission: Submission) {
    return this.#pipeline.event('sys.unseal', async () => {
      // A restored store: its backup's seal must open under the restored keyring before anything is
      // served, or it stays sealed (engine/backup.ts). The record names the backup it checked.
      let restored: string | undefined;
      const res = await this.seal.submitUnseal(submission, {
        beforeUnseal: async (barrier) => void (restored = (await verifyRestored(this.store.db, barrier))?.id),
      });
      // Unsealed: integrate what was appended meanwhile (this checks the tail's chain) and sign.
      if (!res.sealed) this.#afterUnseal();
      return {
        value: res,
        details: {
          holder: res.holder,
          index: res.index,
          progress: res.progress,
          threshold: res.threshold,
          unsealed: !res.sealed,
          ...(restored !== undefined ? { restoredBackup: restored } : {}),
        },
      };
    });
  }

  /** Discards the unseal progress (an audit record too). */
  resetUnseal() {
    return this.#pipeline.event('sys.unseal.reset', async () => ({
      value: await this.seal.resetUnseal(),
      details: null,
    }));
  }

  /** One rekey submission (an audit record naming the holder, or the new ceremony when complete). */
  submitRekey(submission: Submission) {
    // Only the submission that completes the rekey writes (the new ceremony, with this record).
    return this.#pipeline.event(
      'sys.rekey.submit',
      async (commit) => {
        const res = await this.seal.submitRekey(submission, commit);
        const details: AuditRecord['details'] = res.complete
          ? {
              complete: true,
              ceremonyId: res.ceremonyId,
              generation: res.generation,
              threshold: res.threshold,
              shares: res.shares,
            }
          : { complete: false, holder: res.holder, index: res.index, progress: res.progress, required: res.required };
        return { value: res, details };
      },
      { complete: true },
    );
  }

  /** The audit record of a key purge, committed in the purge's transaction. */
  async #recordPurge(tx: Db, key: { name: string; id: string }): Promise<void> {
    const rec = this.#pipeline.baseRecord('key.purge', this.now(), undefined, 0);
    rec.key = key.name;
    rec.details = { keyId: key.id };
    await this.audit?.appendInTransaction(tx, [rec]);
  }

  /** `hmac-sha256:<epoch>:<b64url>` of a sensitive value under this epoch's audit HMAC key (unsealed only). */
  auditHash(value: string): string {
    this.#hmacKey ??= this.seal.auditHmacKey(AUDIT_HMAC_EPOCH);
    return hmacField(this.#hmacKey, AUDIT_HMAC_EPOCH, value);
  }

  /**
   * Runs `fn` for an authenticated, authorized request through the pipeline (engine/pipeline.ts):
   * `fn` gets the engine's named operations bound to what was authorized (the key loaded, the
   * principal, the commit scope). Returns `{kind: 'done', value}` or, when the policies ask for
   * approvals, `{kind: 'parked', approval}`; failures (SEALED, UNAUTHENTICATED, POLICY_DENIED, ...)
   * are thrown, each recorded first.
   */
  request<T>(ctx: RequestContext & { key: KeyTarget }, fn: (a: Actions<KeyRow>) => Promise<T>): Promise<Outcome<T>>;
  request<T>(ctx: RequestContext, fn: (a: Actions) => Promise<T>): Promise<Outcome<T>>;
  request<T>(ctx: RequestContext, fn: (a: Actions<never>) => Promise<T>): Promise<Outcome<T>> {
    // The pipeline tells the observers (this.events) how each request ended, and its time.
    return this.#pipeline.request(ctx, (a: Authorized) => fn(new Actions(this.#services, a) as Actions<never>));
  }

  /**
   * Records a request refused before the pipeline, or one client's folded refusals
   * (server/refusals.ts; docs/architecture.md, "Floods and refusals"); resolves once durable. Nothing
   * is recorded before init (there is no log to speak of yet) or when auditing is off.
   */
  async recordRefusal(r: RefusalRecord): Promise<void> {
    if (!this.audit || !this.seal.initialized) return;
    const rec = this.#pipeline.baseRecord(r.operation, r.time, r.requestId, r.bytesIn);
    rec.status = r.status;
    rec.code = r.code;
    rec.details = r.details;
    await this.#pipeline.commit(rec);
  }

  /** The audit record of an approval that expired unused (written once, by the node that noticed). */
  async #recordExpiry(tx: Db, row: ApprovalRow): Promise<void> {
    const rec = this.#pipeline.baseRecord('approval.expire', this.now(), undefined, 0);
    rec.key = row.key;
    rec.approvalId = row.id;
    rec.details = { operation: row.operation, expiresAt: row.expiresAt.toISOString() };
    await this.audit?.appendInTransaction(tx, [rec]);
  }

  /** An execution past its lease settled (engine/approvals recoverExecutions): the state it was given. */
  async #recordRecovery(tx: Db, row: ApprovalRow, outcome: { status: number; code: string | null }): Promise<void> {
    const rec = this.#pipeline.baseRecord('approval.recover', this.now(), undefined, 0);
    rec.key = row.key;
    rec.approvalId = row.id;
    rec.details = {
      operation: row.operation,
      state: outcome.code ? 'failed' : 'executed',
      status: outcome.status,
      code: outcome.code,
      leaseEnded: row.executionDeadline?.toISOString() ?? null,
    };
    await this.audit?.appendInTransaction(tx, [rec]);
  }

  /** Checks the log's tail against the newest checkpoint, then integrates what came meanwhile. */
  #afterUnseal(): void {
    const integrator = this.integrator;
    if (!integrator) return;
    (async () => {
      const keys = await this.auditKeys();
      const trusted = [parseVerifierKey(keys.ed25519), parseVerifierKey(keys.mlDsa44)];
      await integrator.verifyTail((note) => verifyNote(note, trusted));
      await integrator.integrate();
    })().catch((err) => this.#onAuditError(err));
  }

  #onAuditError(err: unknown): void {
    this.onAuditError?.(err);
  }

  readonly onAuditError: ((err: unknown) => void) | undefined;

  async close(): Promise<void> {
    await this.keys.stopPurger();
    await this.integrator?.stop();
    await this.audit?.close();
    this.seal.close();
    await this.store.close();
  }
}
