/**
 * The one request pipeline (DESIGN.md §2), used by the server and in-process callers alike:
 *
 *   sealed? → authenticate → decide (policies) → precheck → [approval gate] → operation → audit → respond
 *
 * The sealed state is checked first, as Vault's barrier does. Authorization is the composed decision
 * of every applicable WebAssembly policy (the active global ones and the target key's): RBAC is the
 * built-in default policy, installed and activated at init, not special code here.
 *
 * Every request that gets past the seal check — allowed, denied, failed, unauthenticated — and every
 * ceremony event is an audit record (DESIGN.md §6), and nothing (output or error) is returned before
 * that record is durable: when it can't be committed the caller gets AUDIT_UNAVAILABLE instead.
 *
 * A request that changes state writes its record in the same transaction as the change: the
 * operation runs in a CommitScope (engine/store/commit-scope.ts) and the services' write
 * transactions append the record as their last statement. Requests that change nothing (crypto
 * operations, reads, denials) go through the group-commit queue instead.
 * @module
 */
import { createHash, randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { KeywardError, isKeywardError } from '../lib/errors.js';
import type { HolderPublicKey, Submission } from '../ceremony/index.js';
import { TokenAuthenticator, issueToken, newTokenId } from './auth/tokens.js';
import type { IssuedToken, Principal } from './auth/tokens.js';
import { encodePolicyInput } from './policy/sandbox/index.js';
import type { ComposedDecision, PolicyInput, PolicyKey } from './policy/sandbox/index.js';
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
import type { CryptoPool } from './crypto/index.js';
import { KeyService } from './keys/service.js';
import { SealManager, SecretStore } from './seal/index.js';
import type { CeremonyResult, SealStatus } from './seal/index.js';
import { CommitScope } from './store/index.js';
import type { CommitNote, Db, Store, StoredInput } from './store/index.js';
import type { ApprovalRow } from './store/schema.js';
import { ApprovalService, canonicalBody } from './approvals/index.js';
import type { ExecutionGate, RequestOrigin } from './approvals/index.js';

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
}

/** The epoch of the audit HMAC key (DESIGN.md §6); a new epoch would come with root-key rotation. */
export const AUDIT_HMAC_EPOCH = 1;

export interface RequestContext {
  /** The bearer token as sent (undefined when missing). */
  bearer: string | undefined;
  /** The operation name policies see, e.g. `sys.seal`, `encrypt`. */
  operation: string;
  /**
   * The target key, for keyed operations (its bound policies apply too). A function is called only
   * after authentication, so unauthenticated callers can't probe which keys exist.
   */
  key?: PolicyKey | (() => Promise<PolicyKey>);
  /** Request attributes policies may read (encryption context, scope, ...). Never secrets. */
  attributes?: Record<string, string>;
  /** Size of the request's payload in bytes. */
  payloadBytes?: number;
  /** The request id (the server's X-Request-Id); one is made up when missing. */
  requestId?: string;
  /**
   * The HTTP request behind this one (method, path, parsed body), so a `require_approval` decision
   * can park it (202) to be executed later; without it such a decision is APPROVAL_REQUIRED.
   */
  origin?: () => RequestOrigin;
  /**
   * The approval this request acts on, named in its audit record; with `execute`, the request is
   * that approval's one execution (its policies see the approvals gathered).
   */
  approval?: { id: string; execute: boolean };
  /**
   * Refuses, once the policies have not denied, a request that could not run whatever approvals it
   * gathered (a key that is not exportable, a version it lacks): so approvers are never asked for
   * it. Runs after the key is loaded and before the request is parked, and again before an
   * approved request executes. Must not touch secrets or change anything.
   */
  precheck?: () => void | Promise<void>;
  /**
   * Non-secret details the audit record carries whatever the outcome (denied, parked, run): e.g. an
   * export's wrapping algorithm and wrapping key fingerprint. The caller vouches that none is secret.
   */
  auditDetails?: Record<string, string | number | boolean>;
}

/** What `request` hands the operation: who asked, and the decision that let it run. */
export interface Authorized {
  principal: Principal;
  decision: ComposedDecision;
  input: PolicyInput;
  /**
   * The request's commit scope: pass it to the service that writes the state change, whose
   * transaction then commits this request's audit record too (undefined when auditing is off).
   */
  commit: CommitScope | undefined;
}

export interface Health {
  initialized: boolean;
  sealed: boolean;
  threshold: number;
  shares: number;
  progress: number;
  version: string;
}

/** A record with a state change's note merged into its details. */
function withNote(rec: AuditRecord, note: CommitNote): AuditRecord {
  return Object.keys(note).length === 0 ? rec : { ...rec, details: { ...(rec.details ?? {}), ...note } };
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
  readonly #statusOf: (code: string) => number | undefined;
  #hmacKey: Uint8Array | undefined;
  #signer: Promise<AuditSigner> | undefined;

  private constructor(store: Store, seal: SealManager, audit: AuditLog | undefined, opts: HsmOptions) {
    const now = opts.now ?? (() => new Date());
    this.store = store;
    this.seal = seal;
    this.secrets = new SecretStore(store.db, seal.barrier);
    this.policies = new PolicyService(store.db, { now: () => now().getTime() });
    this.keys = new KeyService(store.db, seal, {
      now,
      ...(opts.pool ? { pool: opts.pool } : {}),
      ...(audit ? { recordPurge: (tx: Db, key: { name: string; id: string }) => this.#recordPurge(tx, key) } : {}),
    });
    this.now = now;
    this.tokens = new TokenAuthenticator(store.db);
    this.approvals = new ApprovalService(store.db, {
      now,
      ...(opts.approvalTtlMs !== undefined ? { ttlMs: opts.approvalTtlMs } : {}),
      // Keyed, like every sensitive audit field: a body may hold a low-entropy secret.
      digest: (canonical) => this.auditHash(canonical),
      onExpired: (tx, row) => this.#recordExpiry(tx, row),
      // The parked body, kept under the barrier like every secret at rest, so execute can default to it.
      sealBody: (path, canonical) => seal.barrier.encrypt(path, canonical),
      openBody: (path, blob) => seal.barrier.decrypt(path, blob),
    });
    this.audit = audit;
    this.node = opts.node ?? `${hostname()}:${process.pid}`;
    this.#statusOf = opts.statusOf ?? (() => undefined);
    this.onAuditError = opts.onAuditError;
    this.integrator = audit
      ? new AuditIntegrator(store.db, {
          signer: () => this.#auditSigner(),
          now,
          ...(opts.audit && opts.audit.integrateIntervalMs ? { intervalMs: opts.audit.integrateIntervalMs } : {}),
          ...(opts.onAuditError ? { onError: opts.onAuditError } : {}),
        })
      : undefined;
    seal.onSeal(() => {
      this.tokens.clear();
      this.#hmacKey?.fill(0);
      this.#hmacKey = undefined;
      const signer = this.#signer;
      this.#signer = undefined;
      signer?.then((s) => s.destroy(), () => undefined);
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
    const audit =
      opts.audit === false ? undefined : await AuditLog.open(opts.store.db, { flushesInFlight: opts.store.driver === 'postgres' ? 2 : 1, ...(opts.audit ?? {}) });
    const hsm = new Hsm(opts.store, await SealManager.open(opts.store.db), audit, opts);
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
    return { initialized: s.initialized, sealed: s.sealed, threshold: s.threshold, shares: s.shares, progress: s.progress, version: VERSION };
  }

  sealStatus(): SealStatus & { version: string } {
    return { ...this.seal.status(), version: VERSION };
  }

  /**
   * Initializes the HSM: the ceremony (shards sealed to holders) and the initial root token, an
   * `admin` principal named `root`. The HSM stays sealed until a quorum unseals it.
   */
  async init(holders: readonly HolderPublicKey[], threshold: number, opts: { rootToken?: string } = {}): Promise<CeremonyResult & { rootToken: IssuedToken }> {
    // The record commits with the ceremony's rows (ceremonyId, generation, threshold, shares); the
    // root token's id is chosen first so the record can name it.
    const rootTokenId = newTokenId();
    return this.#event(
      'sys.init',
      async (commit) => {
        const result = await this.seal.init(holders, threshold, commit);
        await this.policies.installDefault('init');
        const rootToken = await issueToken(this.store.db, { id: rootTokenId, principal: 'root', roles: ['admin'], now: this.now(), createdBy: 'init', ...(opts.rootToken !== undefined ? { token: opts.rootToken } : {}) });
        return { value: { ...result, rootToken }, details: { ceremonyId: result.ceremonyId, threshold, shares: holders.length, rootTokenId } };
      },
      { rootTokenId },
    );
  }

  /** One unseal submission; each is an audit record naming the holder and the progress. */
  submitUnseal(submission: Submission) {
    return this.#event('sys.unseal', async () => {
      const res = await this.seal.submitUnseal(submission);
      // Unsealed: integrate what was appended meanwhile (this checks the tail's chain) and sign.
      if (!res.sealed) this.#afterUnseal();
      return { value: res, details: { holder: res.holder, index: res.index, progress: res.progress, threshold: res.threshold, unsealed: !res.sealed } };
    });
  }

  /** Discards the unseal progress (an audit record too). */
  resetUnseal() {
    return this.#event('sys.unseal.reset', async () => ({ value: await this.seal.resetUnseal(), details: null }));
  }

  /** One rekey submission (an audit record naming the holder, or the new ceremony when complete). */
  submitRekey(submission: Submission) {
    // Only the submission that completes the rekey writes (the new ceremony, with this record).
    return this.#event(
      'sys.rekey.submit',
      async (commit) => {
        const res = await this.seal.submitRekey(submission, commit);
        const details: AuditRecord['details'] = res.complete
          ? { complete: true, ceremonyId: res.ceremonyId, generation: res.generation, threshold: res.threshold, shares: res.shares }
          : { complete: false, holder: res.holder, index: res.index, progress: res.progress, required: res.required };
        return { value: res, details };
      },
      { complete: true },
    );
  }

  /**
   * Runs an unauthenticated ceremony step and records it (with its error code when it fails). The
   * record is durable before the result or the error is returned; a step that writes the ceremony
   * (init, the last rekey submission) commits it with the record, which then carries `details` and
   * the write's note.
   */
  async #event<T>(operation: string, fn: (commit: CommitScope | undefined) => Promise<{ value: T; details: AuditRecord['details'] }>, details: CommitNote = {}): Promise<T> {
    const rec = this.#baseRecord(operation, this.now(), undefined, 0);
    const scope = this.#scope(rec, undefined, (r, note) => ({ ...r, details: { ...details, ...note } }));
    let out: { value: T; details: AuditRecord['details'] };
    try {
      out = await fn(scope);
    } catch (err) {
      scope?.close();
      if (scope?.committed) throw err;
      this.#fail(rec, err);
      await this.#commit(rec);
      throw err;
    }
    scope?.close();
    if (scope?.committed) return out.value;
    rec.details = out.details;
    await this.#commit(rec);
    return out.value;
  }

  /**
   * The commit scope of a request whose record is `rec` (undefined when auditing is off): a state
   * change's write transaction appends `shape(rec, note)` as its last statement.
   */
  #scope(rec: AuditRecord, stored: StoredInput | undefined, shape: (rec: AuditRecord, note: CommitNote) => AuditRecord = withNote): CommitScope | undefined {
    const audit = this.audit;
    if (!audit) return undefined;
    return new CommitScope(async (tx, note) => {
      try {
        await audit.appendInTransaction(tx, [shape(rec, note ?? {})], stored ? [stored] : []);
      } catch (err) {
        // The change rolls back with its record.
        const cause = err instanceof Error ? err : new Error(String(err));
        throw new KeywardError('AUDIT_UNAVAILABLE', 'the audit record could not be committed, so the change was not made; retry shortly', { cause, details: { retryAfter: 1 } });
      }
    });
  }

  /** The audit record of a key purge, committed in the purge's transaction. */
  async #recordPurge(tx: Db, key: { name: string; id: string }): Promise<void> {
    const rec = this.#baseRecord('key.purge', this.now(), undefined, 0);
    rec.key = key.name;
    rec.details = { keyId: key.id };
    await this.audit?.appendInTransaction(tx, [rec]);
  }

  #baseRecord(operation: string, now: Date, requestId: string | undefined, payloadBytes: number): AuditRecord {
    return {
      v: 1,
      time: now.toISOString(),
      node: this.node,
      requestId: requestId ?? randomUUID(),
      principal: null,
      operation,
      key: null,
      keyVersion: null,
      policies: [],
      decision: 'none',
      reason: null,
      approvalId: null,
      inputDigest: null,
      status: 200,
      code: null,
      sizes: { in: payloadBytes, out: 0 },
      details: null,
    };
  }

  #fail(rec: AuditRecord, err: unknown): void {
    const code = isKeywardError(err) ? err.code : 'INTERNAL';
    rec.code = code;
    rec.status = this.#statusOf(code) ?? 500;
  }

  async #commit(rec: AuditRecord, input?: StoredInput): Promise<void> {
    if (this.audit) await this.audit.append(rec, input);
  }

  /** `hmac-sha256:<epoch>:<b64url>` of a sensitive value under this epoch's audit HMAC key (unsealed only). */
  auditHash(value: string): string {
    this.#hmacKey ??= this.seal.auditHmacKey(AUDIT_HMAC_EPOCH);
    return hmacField(this.#hmacKey, AUDIT_HMAC_EPOCH, value);
  }

  /**
   * Runs `fn` for an authenticated, authorized request. Sealed ⇒ SEALED; no or bad token ⇒
   * UNAUTHENTICATED; a deny ⇒ POLICY_DENIED with the policy's reason.
   */
  async request<T>(ctx: RequestContext, fn: (principal: Principal, authorized: Authorized) => Promise<T>): Promise<T> {
    if (!this.seal.initialized) throw new KeywardError('NOT_INITIALIZED', 'keyward is not initialized: run `keyward ceremony init` first');
    if (this.seal.sealed) throw new KeywardError('SEALED', 'keyward is sealed: unseal it with a quorum of shards first');
    const now = this.now();
    const rec = this.#baseRecord(ctx.operation, now, ctx.requestId, ctx.payloadBytes ?? 0);
    if (ctx.auditDetails) rec.details = { ...ctx.auditDetails };
    let stored: StoredInput | undefined;
    let scope: CommitScope | undefined;
    let result: T;
    try {
      let principal: Principal;
      try {
        principal = await this.tokens.authenticate(ctx.bearer, now);
      } catch (err) {
        // Correlatable (the same bad token gives the same HMAC) without storing the token.
        if (ctx.bearer) rec.details = { ...rec.details, token: this.auditHash(ctx.bearer) };
        throw err;
      }
      rec.principal = principal.principal;
      const key = typeof ctx.key === 'function' ? await ctx.key() : (ctx.key ?? null);
      rec.key = key?.name ?? null;
      rec.keyVersion = key?.version ?? null;
      const input: PolicyInput = {
        operation: ctx.operation,
        principal: principal.principal,
        roles: principal.roles,
        key,
        attributes: ctx.attributes ?? {},
        payloadBytes: ctx.payloadBytes ?? 0,
        time: now.getTime(),
        approvals: 0,
      };
      // Dual control: acting on an approval names it in the record; executing one re-runs the
      // policies with the distinct approvals it gathered.
      rec.approvalId = ctx.approval?.id ?? null;
      let gate: ExecutionGate | undefined;
      if (ctx.approval?.execute) {
        const origin = this.#origin(ctx);
        gate = await this.approvals.openExecution(ctx.approval.id, { principal: principal.principal, operation: ctx.operation, key: key?.name ?? null, ...origin });
        input.approvals = gate.approvals;
      }
      const encoded = encodePolicyInput(input);
      stored = this.#storedInput(encoded);
      rec.inputDigest = stored.digest;
      const decision = await this.policies.decide(input, undefined, encoded);
      rec.policies = decision.policies.map((p) => ({ sha256: p.sha256, decision: p.fault ? 'fault' : p.decision, gas: p.gas }));
      rec.decision = decision.decision;
      rec.reason = decision.reason || null;
      if (decision.decision === 'deny') {
        throw new KeywardError('POLICY_DENIED', `denied ${ctx.operation}: ${decision.reason || 'no policy allows it'}`, { details: { policies: decision.policies } });
      }
      // What can be checked before parking is checked before parking (and again at execution).
      await ctx.precheck?.();
      if (decision.decision === 'require_approval') {
        if (gate) {
          const more = Math.max(decision.approvals - gate.approvals, 1);
          throw new KeywardError(
            'APPROVAL_INSUFFICIENT',
            `${ctx.operation} needs ${decision.approvals} approvals from "${decision.group}": ${gate.approvals} of ${decision.approvals} gathered, ${more} more needed: ${decision.reason}`,
            { details: { required: decision.approvals, gathered: gate.approvals, group: decision.group } },
          );
        }
        // In-process callers without an HTTP request can't come back to execute: fail closed.
        if (!ctx.origin) throw new KeywardError('APPROVAL_REQUIRED', `${ctx.operation} needs ${decision.approvals} approvals from ${decision.group}: ${decision.reason}`, { details: { policies: decision.policies } });
        // The parked request's record (202 APPROVAL_PENDING, naming the approval) commits with it.
        const parked = this.#statusOf('APPROVAL_PENDING') ?? 500; // as #fail would give
        scope = this.#scope(rec, stored, (r, { approvalId, ...note }) => ({ ...withNote(r, note), approvalId: String(approvalId), status: parked, code: 'APPROVAL_PENDING' }));
        const pending = await this.approvals.create(
          {
            requester: principal.principal,
            operation: ctx.operation,
            key: key?.name ?? null,
            ...this.#origin(ctx),
            policies: decision.policies.map((p) => p.sha256),
            required: decision.approvals,
            group: decision.group,
            reason: decision.reason,
          },
          scope,
        );
        rec.approvalId = pending.approvalId;
        throw new KeywardError('APPROVAL_PENDING', `${ctx.operation} needs ${pending.required} approvals from ${pending.group}: approval ${pending.approvalId}`, { details: { ...pending } });
      }
      // A state change commits this record in its own transaction (see #scope).
      const commit = (scope = this.#scope(rec, stored));
      const op = () => fn(principal, { principal, decision, input, commit });
      if (gate) {
        await this.approvals.claim(gate.id);
        result = await this.#executeOnce(gate.id, op);
      } else result = await op();
    } catch (err) {
      scope?.close();
      // Committed with a state change that a later step then failed: the change happened and its
      // record says so; the error still reaches the caller.
      if (scope?.committed) throw err;
      this.#fail(rec, err);
      await this.#commit(rec, stored);
      throw err;
    }
    scope?.close();
    if (!scope?.committed) await this.#commit(rec, stored);
    return result;
  }

  #origin(ctx: RequestContext): { origin: RequestOrigin; canonical: string } {
    if (!ctx.origin) throw new TypeError('"ctx.origin" expected for an approval execution, got undefined');
    const origin = ctx.origin();
    return { origin, canonical: canonicalBody(origin.body) };
  }

  /** Runs a claimed approval's operation and records how it ended on the approval. */
  async #executeOnce<T>(id: string, fn: () => Promise<T>): Promise<T> {
    // A failure to record the outcome leaves the row 'executing', which refuses another execution
    // just the same; the audit record still has the outcome.
    const settle = (status: number, code: string | null) => this.approvals.settle(id, { status, code }).catch(() => undefined);
    let result: T;
    try {
      result = await fn();
    } catch (err) {
      const code = isKeywardError(err) ? err.code : 'INTERNAL';
      await settle(this.#statusOf(code) ?? 500, code);
      throw err;
    }
    await settle(200, null);
    return result;
  }

  /** The audit record of an approval that expired unused (written once, by the node that noticed). */
  async #recordExpiry(tx: Db, row: ApprovalRow): Promise<void> {
    const rec = this.#baseRecord('approval.expire', this.now(), undefined, 0);
    rec.key = row.key;
    rec.approvalId = row.id;
    rec.details = { operation: row.operation, expiresAt: row.expiresAt.toISOString() };
    await this.audit?.appendInTransaction(tx, [rec]);
  }

  /** The policy input's canonical bytes (encodePolicyInput), encrypted under the barrier, keyed by their SHA-256 (for replay). */
  #storedInput(bytes: Uint8Array): StoredInput {
    const digest = createHash('sha256').update(bytes).digest('hex');
    return { digest, blob: this.seal.barrier.encrypt(`audit/input/${digest}`, bytes) };
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
