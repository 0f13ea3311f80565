/**
 * The one request pipeline (docs/architecture.md, "A request, step by step"), one small function
 * per step:
 *
 *   sealed? → authenticate → load key → decide → precheck → approval gate → operation → audit → respond
 *
 * The sealed state is checked first, as Vault's barrier does; nothing else runs and nothing is
 * recorded. From then on every outcome — allowed, denied, failed, unauthenticated, parked — is an
 * audit record, and nothing (value or error) is returned before that record is durable: when it
 * can't be committed the caller gets AUDIT_UNAVAILABLE instead (fail closed). The one exception is
 * failed authentication, bounded per client by the request's {@link AuthFailureGuard}
 * (server/refusals.ts; docs/architecture.md, "Floods and refusals"): a client that failed too often
 * is refused (RATE_LIMITED) before the token lookup, and its failures after the first of an interval
 * are counted into one folded record written when the interval ends.
 *
 * The key of a keyed operation is loaded here, after authentication (so an unauthenticated caller
 * can't probe which keys exist), put in the policy input so its bound policies apply, and handed to
 * the operation in {@link Authorized}. Authorization is the composed decision of every applicable
 * WebAssembly policy: RBAC is the default policy, not code here.
 *
 * A state change writes its record in the same transaction as the change: the operation gets a
 * CommitScope (engine/store/commit-scope.ts) and the services' write transactions append the record
 * as their last statement. Requests that change nothing go through the group-commit queue.
 *
 * A request the policies answer with `require_approval` is parked, and that is a value
 * (`{kind: 'parked'}`), not an error: the approval row and the request's record commit together.
 * @module
 */
import { hash, randomUUID } from 'node:crypto';
import { KeywardError, isKeywardError } from '../lib/errors.js';
import type { Principal, TokenAuthenticator } from './auth/tokens.js';
import { encodePolicyInput } from './policy/sandbox/index.js';
import type { ComposedDecision, PolicyInput, PolicyKey } from './policy/sandbox/index.js';
import type { PolicyService } from './policy/bindings/service.js';
import type { AuditLog } from './audit/log/log.js';
import type { AuditRecord } from './audit/math/record.js';
import type { KeyService } from './keys/service.js';
import type { SealManager } from './seal/index.js';
import { CommitScope } from './store/index.js';
import { STORAGE_DEADLINE_MS_DEFAULT, withDeadline } from './store/deadline.js';
import { classifyStorageError } from './store/storage-errors.js';
import type { CommitNote, KeyRow } from './store/index.js';
import type { AuditInput as StoredInput } from './audit/log/inputs.js';
import { canonicalBody } from './approvals/index.js';
import type { ApprovalService, ExecutionGate, PendingApproval, RequestOrigin } from './approvals/index.js';
import type { AuditEvent, Operation } from './operations.js';
import type { EngineEvents } from './metrics.js';

/** The key a keyed operation acts on: loaded by the pipeline after authentication. */
export interface KeyTarget {
  name: string;
  /** Load the key whatever its state (a key pending deletion can still be read, configured, deleted). */
  anyState?: boolean;
  /**
   * The version the policies see, read from the request (a ciphertext's prefix): it only counts if
   * the key has it, else the policies see the latest.
   */
  version?: (row: KeyRow) => number | undefined;
}

export interface RequestContext {
  /** The bearer token as sent (undefined when missing). */
  bearer: string | undefined;
  /** The operation name policies see (engine/operations.ts). */
  operation: Operation;
  /** The existing key the operation acts on (its bound policies apply too). */
  key?: KeyTarget;
  /** A key that does not exist yet (`key.create`, `key.import`): what the policies see of it. */
  newKey?: PolicyKey;
  /** Request attributes policies may read (encryption context, scope, ...). Never secrets. */
  attributes?: Record<string, string>;
  /**
   * What the connection proves, as attributes under `tls.` (a verified client certificate's
   * `tls.client.subject`, `tls.client.cn`, `tls.client.fingerprint`: server/tls.ts). They replace
   * any `tls.` attribute of `attributes`, so nothing a request sends can pose as one.
   */
  transport?: Record<string, string>;
  /** Size of the request's payload in bytes. */
  payloadBytes?: number;
  /** The request id (the server's X-Request-Id); one is made up when missing. */
  requestId?: string;
  /**
   * The HTTP request behind this one (method, path, parsed body), so a `require_approval` decision
   * can park it to be executed later; without it such a decision is APPROVAL_REQUIRED.
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
  precheck?: (key: KeyRow | undefined) => void | Promise<void>;
  /**
   * Non-secret details the audit record carries whatever the outcome (denied, parked, run): e.g. an
   * export's wrapping algorithm and wrapping key fingerprint. The caller vouches that none is secret.
   */
  auditDetails?: Record<string, string | number | boolean>;
  /**
   * Bounds failed authentication from this request's client (server/refusals.ts): asked before the
   * token lookup, told of the failure after it.
   */
  authGuard?: AuthFailureGuard;
}

/**
 * The per-client bound on failed authentication (docs/architecture.md, "Floods and refusals"),
 * kept by the server per client address.
 */
export interface AuthFailureGuard {
  /** Throws RATE_LIMITED (with `details.retryAfter`) when the client has failed too often: before any database work. */
  admit(): void;
  /** The token was good: what {@link admit} set aside for a failure is given back. */
  passed(): void;
  /**
   * A request that failed authentication (UNAUTHENTICATED) or was refused by {@link admit}
   * (RATE_LIMITED), with its record. True: the failure is counted into a folded record written later,
   * so this one is not written. False: write it now (it may have gained `details.client`).
   */
  fold(rec: AuditRecord): boolean;
}

/** What the pipeline hands the operation: who asked, the decision that let it run, and the key. */
export interface Authorized<K extends KeyRow | undefined = KeyRow | undefined> {
  principal: Principal;
  decision: ComposedDecision;
  input: PolicyInput;
  /** The key row of a keyed operation, loaded after authentication. */
  key: K;
  /**
   * The request's commit scope: pass it to the service that writes the state change, whose
   * transaction then commits this request's audit record too (undefined when auditing is off).
   */
  commit: CommitScope | undefined;
}

/** How a request ended when it did not fail: it ran, or it was parked for approvals. */
/** POLICY_DENIED answers given on a missing key (`Pipeline#keyMissing`); see {@link refusedWithoutKey}. */
const refusedWithoutKeys = new WeakSet<KeywardError>();

/**
 * True for a POLICY_DENIED the policies gave a keyed request whose key does not exist (deciding with
 * no key in their input). The caller was told only POLICY_DENIED; a route that creates missing keys
 * (the transit encrypt's upsert) decides again on the key to be.
 */
export function refusedWithoutKey(err: unknown): boolean {
  return err instanceof KeywardError && refusedWithoutKeys.has(err);
}

export type Outcome<T> = { kind: 'done'; value: T } | { kind: 'parked'; approval: PendingApproval };

/** What the pipeline needs from the HSM it serves. */
export interface PipelineDeps {
  seal: SealManager;
  tokens: TokenAuthenticator;
  keys: KeyService;
  policies: PolicyService;
  approvals: ApprovalService;
  /** Undefined only when auditing is off (a benchmark baseline). */
  audit: AuditLog | undefined;
  now: () => Date;
  node: string;
  statusOf: (code: string) => number | undefined;
  auditHash: (value: string) => string;
  /** The budget of each storage call on the request path, in ms (default 2000, as the audit append's). */
  storageDeadlineMs?: number;
  /** Hears each composed decision and its time (metrics: engine/metrics.ts). */
  events?: EngineEvents;
}

/** One request in flight: its record, its stored policy input, its commit scope. */
interface Flight {
  rec: AuditRecord;
  stored: StoredInput | undefined;
  scope: CommitScope | undefined;
  /** Set when authentication failed: the guard that may fold the failure's record. */
  authFailed?: AuthFailureGuard | undefined;
  /** The target key does not exist: the answer once the policies allowed the request (#keyMissing). */
  missing?: KeywardError | undefined;
}

/** The request's attributes with the connection's `tls.` ones in place of any the request itself named. */
function withTransport(
  attributes: Record<string, string> | undefined,
  transport: Record<string, string> | undefined,
): Record<string, string> {
  const own = attributes ?? {};
  if (!transport) return own;
  let posing = false;
  for (const k in own) if (k.startsWith('tls.')) posing = true;
  if (!posing && isEmpty(transport)) return own;
  const kept = Object.entries(own).filter(([k]) => !k.startsWith('tls.'));
  return { ...Object.fromEntries(kept), ...transport };
}

function isEmpty(o: object): boolean {
  for (const _ in o) return false;
  return true;
}

/** A record with a state change's note merged into its details. */
function withNote(rec: AuditRecord, note: CommitNote): AuditRecord {
  return Object.keys(note).length === 0 ? rec : { ...rec, details: { ...(rec.details ?? {}), ...note } };
}

export class Pipeline {
  readonly #d: PipelineDeps;

  readonly #deadlineMs: number;

  constructor(deps: PipelineDeps) {
    this.#d = deps;
    this.#deadlineMs = deps.storageDeadlineMs ?? STORAGE_DEADLINE_MS_DEFAULT;
  }

  /**
   * Runs `fn` for an authenticated, authorized request. Sealed ⇒ SEALED; no or bad token ⇒
   * UNAUTHENTICATED; a deny ⇒ POLICY_DENIED with the policy's reason; `require_approval` ⇒ parked.
   */
  request<T>(ctx: RequestContext & { key: KeyTarget }, fn: (a: Authorized<KeyRow>) => Promise<T>): Promise<Outcome<T>>;
  request<T>(ctx: RequestContext, fn: (a: Authorized) => Promise<T>): Promise<Outcome<T>>;
  request<T>(ctx: RequestContext, fn: (a: Authorized<never>) => Promise<T>): Promise<Outcome<T>> {
    // The observers hear how it ended: the status its record carries, and its time (from here, the
    // sealed check included, to the durable record). Timed only when someone listens; what they
    // are told is captured here (the operation, the start), not the request's context.
    const events = this.#d.events?.active ? this.#d.events : undefined;
    if (!events) return this.#run(ctx, fn);
    const start = performance.now();
    const operation = ctx.operation;
    return this.#run(ctx, fn).then(
      (out) => {
        events.request(operation, out.kind === 'parked' ? 202 : 200, (performance.now() - start) / 1000);
        return out;
      },
      (err: unknown) => {
        const code = isKeywardError(err) ? err.code : 'INTERNAL';
        events.request(operation, this.#d.statusOf(code) ?? 500, (performance.now() - start) / 1000);
        throw err;
      },
    );
  }

  /**
   * The steps of {@link request}, up to the outcome and its record's append. The wait until that
   * record is durable (group commit: usually the longest part of a request) is not in this frame:
   * it resolves to the promise of the outcome once durable, so while a request waits it holds only
   * its outcome, not its context, key, policy input, decision or record (issue 14: the requests
   * waiting for the statement outlived young collections with all of that, and were copied and
   * promoted with it). One async frame for the steps (each frame is promises and resumptions).
   */
  async #run<T>(ctx: RequestContext, fn: (a: Authorized<never>) => Promise<T>): Promise<Outcome<T>> {
    this.assertUnsealed();
    const now = this.#d.now();
    const f = this.#begin(ctx, now);
    let out: Outcome<T>;
    try {
      // Each step answers at once when it needs no I/O (a cached token, key row and bindings: the
      // usual request), and is only awaited when it returned a promise.
      const p = this.#authenticate(f, ctx, now);
      const principal = p instanceof Promise ? await p : p;
      const k = this.#loadKey(f, ctx);
      const key = k instanceof Promise ? await k : k;
      const input = this.#input(ctx, principal, key, now);
      const g = f.missing ? undefined : this.#openExecution(f, ctx, principal, input);
      const gate = g instanceof Promise ? await g : g;
      const d = this.#decide(f, ctx, input);
      const decision = d instanceof Promise ? await d : d;
      if (f.missing) throw this.#notFound(f, f.missing);
      const checked = ctx.precheck?.(key);
      if (checked) await checked;
      if (decision.decision === 'require_approval') {
        if (gate) throw insufficient(ctx.operation, decision, gate);
        out = await this.#park(f, ctx, principal, decision);
      } else {
        out = {
          kind: 'done',
          value: await this.#operate(f, gate, () =>
            fn({ principal, decision, input, key: key as never, commit: f.scope }),
          ),
        };
      }
    } catch (thrown) {
      // A database failure is STORAGE_UNAVAILABLE (503, Retry-After) in the record and the answer alike.
      const err = classifyStorageError(thrown);
      if (f.missing?.code === 'KEY_NOT_FOUND' && err instanceof KeywardError && err.code === 'POLICY_DENIED')
        refusedWithoutKeys.add(err);
      await this.#failed(f, err);
      throw err;
    }
    // Outside the try: a record that could not be committed is not recorded again as a failure, and
    // its AUDIT_UNAVAILABLE is the answer. (Nothing to wait for when auditing is off.)
    const settled = this.#settleRecord(f);
    return settled ? once(settled, out) : out;
  }

  /** Sealed? Not initialized is NOT_INITIALIZED, sealed is SEALED; nothing is recorded. */
  assertUnsealed(): void {
    if (!this.#d.seal.initialized)
      throw new KeywardError('NOT_INITIALIZED', 'keyward is not initialized: run `keyward ceremony init` first');
    if (this.#d.seal.sealed)
      throw new KeywardError('SEALED', 'keyward is sealed: unseal it with a quorum of shards first');
  }

  /** The record is started: from here on, every outcome is recorded. */
  #begin(ctx: RequestContext, now: Date): Flight {
    const rec = this.baseRecord(ctx.operation, now, ctx.requestId, ctx.payloadBytes ?? 0);
    if (ctx.auditDetails) rec.details = { ...ctx.auditDetails };
    return { rec, stored: undefined, scope: undefined };
  }

  /**
   * Authenticate the bearer token; a failure records an HMAC of the token, never the token. A client
   * that failed too often is refused (RATE_LIMITED) before the lookup, and its failures fold.
   */
  #authenticate(f: Flight, ctx: RequestContext, now: Date): Principal | Promise<Principal> {
    try {
      // Refused (RATE_LIMITED) before the lookup when this client failed too often.
      ctx.authGuard?.admit();
    } catch (err) {
      f.authFailed = ctx.authGuard;
      throw err;
    }
    let hit: Principal | undefined;
    try {
      // A token this node read within the cache's TTL costs no I/O, so no deadline either.
      hit = this.#d.tokens.cached(ctx.bearer, now);
    } catch (err) {
      this.#authFailed(f, ctx);
      throw err;
    }
    return hit ? this.#authenticated(f, ctx, hit) : this.#lookupToken(f, ctx, now);
  }

  async #lookupToken(f: Flight, ctx: RequestContext, now: Date): Promise<Principal> {
    let principal: Principal;
    try {
      // Bounded already: every database lookup of the authenticator runs under the storage deadline.
      principal = await this.#d.tokens.authenticate(ctx.bearer, now);
    } catch (err) {
      this.#authFailed(f, ctx);
      throw err;
    }
    return this.#authenticated(f, ctx, principal);
  }

  #authenticated(f: Flight, ctx: RequestContext, principal: Principal): Principal {
    ctx.authGuard?.passed();
    f.rec.principal = principal.principal;
    return principal;
  }

  #authFailed(f: Flight, ctx: RequestContext): void {
    // Correlatable (the same bad token gives the same HMAC) without storing the token.
    if (ctx.bearer) f.rec.details = { ...f.rec.details, token: this.#d.auditHash(ctx.bearer) };
    f.authFailed = ctx.authGuard;
  }

  /** Load the target key, only now that the caller is authenticated. */
  #loadKey(f: Flight, ctx: RequestContext): KeyRow | undefined | Promise<KeyRow | undefined> {
    if (ctx.newKey) {
      f.rec.key = ctx.newKey.name;
      f.rec.keyVersion = ctx.newKey.version;
    }
    if (!ctx.key) return undefined;
    const t = ctx.key;
    // A usable row this node read within the cache's TTL costs no I/O, so no deadline either.
    let hit: KeyRow | undefined;
    try {
      hit = t.anyState ? undefined : this.#d.keys.cachedUsable(t.name);
    } catch (err) {
      return this.#keyMissing(f, t, err); // a cached row scheduled for deletion
    }
    if (hit) return this.#keyLoaded(f, t, hit);
    // A usable row's shared read runs under the storage deadline already (KeyCatalog.usable); the
    // plain row read of a request on a key in any state has none of its own.
    const read = t.anyState
      ? withDeadline(this.#d.keys.row(t.name), this.#deadlineMs, 'the key lookup')
      : this.#d.keys.usable(t.name);
    return read.then(
      (row) => this.#keyLoaded(f, t, row),
      (err: unknown) => this.#keyMissing(f, t, err),
    );
  }

  /**
   * A missing key (or one scheduled for deletion, whose answer names its deletion time) is not
   * answered before the policies decide (with no key in their input): a caller they refuse gets
   * POLICY_DENIED whether the key exists or not, as Vault checks its ACL before a handler looks
   * anything up and as the approvals answer a stranger (engine/approvals); a caller they allow then
   * gets KEY_NOT_FOUND (KEY_PENDING_DELETION). A refusal's record names the key asked for and the
   * decision; the not-found one is as it was (#notFound). An approval's execution is not opened for a
   * missing key. A refusal of a request on a missing key is marked (`refusedWithoutKey`): a policy
   * may refuse for want of the key's attributes, and Vault's upsert then decides on the key to be.
   */
  #keyMissing(f: Flight, t: KeyTarget, err: unknown): undefined {
    if (!(err instanceof KeywardError && (err.code === 'KEY_NOT_FOUND' || err.code === 'KEY_PENDING_DELETION')))
      throw err;
    f.rec.key = t.name;
    f.missing = err;
    return undefined;
  }

  /** The policies allowed a request on a missing key: its record is the not-found one it always was (no key, no decision). */
  #notFound(f: Flight, err: KeywardError): KeywardError {
    Object.assign(f.rec, {
      key: null,
      keyVersion: null,
      policies: [],
      decision: 'none',
      reason: null,
      inputDigest: null,
    });
    f.stored = undefined;
    return err;
  }

  #keyLoaded(f: Flight, t: KeyTarget, row: KeyRow): KeyRow {
    f.rec.key = row.name;
    f.rec.keyVersion = policyVersion(row, t.version?.(row));
    return row;
  }

  /** The policy input: operation, principal, roles, key, attributes, payload size, time, approvals. */
  #input(ctx: RequestContext, principal: Principal, row: KeyRow | undefined, now: Date): PolicyInput {
    const key: PolicyKey | null = row
      ? { name: row.name, type: row.type, version: policyVersion(row, ctx.key?.version?.(row)), labels: row.labels }
      : (ctx.newKey ?? null);
    return {
      operation: ctx.operation,
      principal: principal.principal,
      roles: principal.roles,
      key,
      attributes: withTransport(ctx.attributes, ctx.transport),
      payloadBytes: ctx.payloadBytes ?? 0,
      time: now.getTime(),
      approvals: 0,
    };
  }

  /** The approval acted on; for its execution, check it (requester, request, still approved) and count its approvals. */
  #openExecution(
    f: Flight,
    ctx: RequestContext,
    principal: Principal,
    input: PolicyInput,
  ): ExecutionGate | undefined | Promise<ExecutionGate> {
    // Dual control: acting on an approval names it in the record (once the caller is known and the key found).
    f.rec.approvalId = ctx.approval?.id ?? null;
    if (!ctx.approval?.execute) return undefined;
    return this.#gate(f, ctx, ctx.approval.id, principal, input);
  }

  async #gate(
    f: Flight,
    ctx: RequestContext,
    id: string,
    principal: Principal,
    input: PolicyInput,
  ): Promise<ExecutionGate> {
    const gate = await withDeadline(
      this.#d.approvals.openExecution(id, {
        principal: principal.principal,
        operation: ctx.operation,
        key: f.rec.key,
        ...originOf(ctx),
      }),
      this.#deadlineMs,
      'the approval lookup',
    );
    input.approvals = gate.approvals;
    return gate;
  }

  /** Decide: every applicable policy, composed; the input is kept (encrypted) for replay. */
  #decide(f: Flight, ctx: RequestContext, input: PolicyInput): ComposedDecision | Promise<ComposedDecision> {
    const encoded = encodePolicyInput(input);
    // Kept for replay only when there is a log to keep it in (auditing off: a benchmark baseline).
    if (this.#d.audit) {
      f.stored = this.#storedInput(encoded);
      f.rec.inputDigest = f.stored.digest;
    }
    const events = this.#d.events?.active ? this.#d.events : undefined;
    const start = events ? performance.now() : 0;
    // Cached bindings and loaded modules: evaluated at once, without a promise.
    const now = this.#d.policies.decideNow(input, encoded);
    if (now) return this.#decided(f, ctx, now, events, start);
    return this.#d.policies.decide(input, undefined, encoded).then((d) => this.#decided(f, ctx, d, events, start));
  }

  /** The decision recorded (and timed for the metrics); a deny is POLICY_DENIED with the policy's reason. */
  #decided(
    f: Flight,
    ctx: RequestContext,
    decision: ComposedDecision,
    events: PipelineDeps['events'],
    start: number,
  ): ComposedDecision {
    events?.decision(decision, (performance.now() - start) / 1000);
    f.rec.policies = decision.policies.map((p) => ({
      sha256: p.sha256,
      decision: p.fault ? 'fault' : p.decision,
      gas: p.gas,
    }));
    f.rec.decision = decision.decision;
    f.rec.reason = decision.reason || null;
    if (decision.decision === 'deny') {
      throw new KeywardError('POLICY_DENIED', `denied ${ctx.operation}: ${decision.reason || 'no policy allows it'}`, {
        details: { policies: decision.policies },
      });
    }
    return decision;
  }

  /** Approval gate: park the request; its record (202 APPROVAL_PENDING, naming the approval) commits with the approval row. */
  async #park(
    f: Flight,
    ctx: RequestContext,
    principal: Principal,
    decision: ComposedDecision,
  ): Promise<Outcome<never>> {
    // In-process callers without an HTTP request can't come back to execute: fail closed.
    if (!ctx.origin)
      throw new KeywardError(
        'APPROVAL_REQUIRED',
        `${ctx.operation} needs ${decision.approvals} approvals from ${decision.group}: ${decision.reason}`,
        { details: { policies: decision.policies } },
      );
    const parked = (r: AuditRecord, approvalId: string): AuditRecord => ({
      ...r,
      approvalId,
      status: this.#d.statusOf('APPROVAL_PENDING') ?? 500,
      code: 'APPROVAL_PENDING',
    });
    f.scope = this.#scope(f.rec, f.stored, (r, { approvalId, ...note }) =>
      parked(withNote(r, note), String(approvalId)),
    );
    const approval = await this.#d.approvals.create(
      {
        requester: principal.principal,
        operation: ctx.operation,
        key: f.rec.key,
        ...originOf(ctx),
        policies: decision.policies.map((p) => p.sha256),
        required: decision.approvals,
        group: decision.group,
        reason: decision.reason,
      },
      f.scope,
    );
    f.rec = parked(f.rec, approval.approvalId);
    return { kind: 'parked', approval };
  }

  /**
   * Operation: runs with a commit scope; an approved request's execution is claimed first and settled
   * after (once only). Without an approval, the operation's own promise (no frame of its own).
   */
  #operate<T>(f: Flight, gate: ExecutionGate | undefined, op: () => Promise<T>): Promise<T> {
    f.scope = this.#scope(f.rec, f.stored);
    if (!gate) return op();
    return this.#operateApproved(gate, op);
  }

  async #operateApproved<T>(gate: ExecutionGate, op: () => Promise<T>): Promise<T> {
    const approvals = this.#d.approvals;
    await approvals.claim(gate.id);
    // A failure to record the outcome leaves the row 'executing', which refuses another execution
    // just the same; the audit record still has the outcome.
    const settle = (status: number, code: string | null) =>
      approvals.settle(gate.id, { status, code }).catch(() => undefined);
    let value: T;
    try {
      value = await op();
    } catch (err) {
      const code = isKeywardError(err) ? err.code : 'INTERNAL';
      await settle(this.#d.statusOf(code) ?? 500, code);
      throw err;
    }
    await settle(200, null);
    return value;
  }

  /**
   * Audit: a state change committed the record with it; otherwise append it now and wait until
   * durable. Undefined when there is nothing to wait for.
   */
  #settleRecord(f: Flight): Promise<unknown> | undefined {
    f.scope?.close();
    if (f.scope?.committed || !this.#d.audit) return undefined;
    return this.#d.audit.append(f.rec, f.stored);
  }

  /**
   * A failure is recorded with its code and status. One that a state change already committed (a
   * later step then failed) is not recorded twice: the change happened and its record says so.
   */
  async #failed(f: Flight, err: unknown): Promise<void> {
    f.scope?.close();
    if (f.scope?.committed) return;
    this.fail(f.rec, err);
    // Repeated failed authentication from one client: counted into one record per interval.
    if (f.authFailed?.fold(f.rec)) return;
    await this.commit(f.rec, f.stored);
  }

  /**
   * Runs an unauthenticated ceremony step and records it (with its error code when it fails). The
   * record is durable before the result or the error is returned; a step that writes the ceremony
   * (init, the last rekey submission) commits it with the record, which then carries `details` and
   * the write's note.
   */
  async event<T>(
    operation: AuditEvent,
    fn: (commit: CommitScope | undefined) => Promise<{ value: T; details: AuditRecord['details'] }>,
    details: CommitNote = {},
  ): Promise<T> {
    const rec = this.baseRecord(operation, this.#d.now(), undefined, 0);
    // Ceremony steps are not on the request path's budget: init writes the whole ceremony at once.
    const scope = this.#scope(rec, undefined, (r, note) => ({ ...r, details: { ...details, ...note } }), 0);
    let out: { value: T; details: AuditRecord['details'] };
    try {
      out = await fn(scope);
    } catch (thrown) {
      const err = classifyStorageError(thrown);
      scope?.close();
      if (scope?.committed) throw err;
      this.fail(rec, err);
      await this.commit(rec);
      throw err;
    }
    scope?.close();
    if (scope?.committed) return out.value;
    rec.details = out.details;
    await this.commit(rec);
    return out.value;
  }

  /**
   * The commit scope of a request whose record is `rec` (undefined when auditing is off): a state
   * change's write transaction appends `shape(rec, note)` as its last statement.
   */
  #scope(
    rec: AuditRecord,
    stored: StoredInput | undefined,
    shape: (rec: AuditRecord, note: CommitNote) => AuditRecord = withNote,
    deadlineMs = this.#deadlineMs,
  ): CommitScope | undefined {
    const audit = this.#d.audit;
    if (!audit) return undefined;
    return new CommitScope(async (tx, note) => {
      try {
        await audit.appendInTransaction(tx, [shape(rec, note ?? {})], stored ? [stored] : []);
      } catch (err) {
        // The change rolls back with its record.
        const cause = err instanceof Error ? err : new Error(String(err));
        throw new KeywardError(
          'AUDIT_UNAVAILABLE',
          'the audit record could not be committed, so the change was not made; retry shortly',
          { cause, details: { retryAfter: 1 } },
        );
      }
    }, deadlineMs);
  }

  baseRecord(
    operation: Operation | AuditEvent,
    now: Date,
    requestId: string | undefined,
    payloadBytes: number,
  ): AuditRecord {
    return {
      v: 1,
      time: isoTime(now),
      node: this.#d.node,
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

  fail(rec: AuditRecord, err: unknown): void {
    const code = isKeywardError(err) ? err.code : 'INTERNAL';
    rec.code = code;
    rec.status = this.#d.statusOf(code) ?? 500;
  }

  /** Appends `rec` through the group commit; resolves once durable (at once when auditing is off). */
  async commit(rec: AuditRecord, input?: StoredInput): Promise<void> {
    if (this.#d.audit) await this.#d.audit.append(rec, input);
  }

  /** The policy input's canonical bytes, keyed by their SHA-256 (the log encrypts them once per batch, for replay). */
  #storedInput(bytes: Uint8Array): StoredInput {
    // node:crypto's one-shot hash: no Hash object per call, unlike createHash.
    return { digest: hash('sha256', bytes, 'hex'), bytes };
  }
}

let isoAt = NaN;
let isoText = '';
/** The second `isoText` falls in (ms since the epoch, a multiple of 1000) and its text up to the dot. */
let isoSecond = NaN;
let isoPrefix = '';
/**
 * `now.toISOString()`, made once per millisecond (every record of a request carries its start's),
 * and within a second from that second's text and the milliseconds (toISOString's calendar
 * arithmetic cost ~0.3% of the dev server's CPU, once a millisecond at 1.5k req/s).
 */
function isoTime(now: Date): string {
  const t = now.getTime();
  if (t !== isoAt) {
    const ms = t % 1000;
    if (t - ms !== isoSecond || ms < 0) {
      isoText = now.toISOString();
      // Years past 9999 are spelled with six digits and a sign: those always take toISOString.
      isoSecond = ms < 0 || isoText.length !== 24 ? NaN : t - ms;
      isoPrefix = isoText.slice(0, 20);
    } else isoText = `${isoPrefix}${ms < 10 ? '00' : ms < 100 ? '0' : ''}${ms}Z`;
    isoAt = t;
  }
  return isoText;
}

/**
 * `value` once `settled` resolves (its rejection otherwise). A function of its own, so that the
 * continuation's closure holds `value` alone, not the variables of the frame that made it.
 */
function once<T>(settled: Promise<unknown>, value: T): Promise<T> {
  return settled.then(() => value);
}

/** A version read from attacker input only counts if the key has it; else policies see the latest. */
function policyVersion(row: KeyRow, v: number | undefined): number {
  return v !== undefined && v >= 1 && v <= row.latestVersion ? v : row.latestVersion;
}

function originOf(ctx: RequestContext): { origin: RequestOrigin; canonical: string } {
  if (!ctx.origin) throw new TypeError('"ctx.origin" expected for an approval execution, got undefined');
  const origin = ctx.origin();
  return { origin, canonical: canonicalBody(origin.body) };
}

/** An execution that still lacks approvals. */
function insufficient(operation: string, decision: ComposedDecision, gate: ExecutionGate): KeywardError {
  const more = Math.max(decision.approvals - gate.approvals, 1);
  return new KeywardError(
    'APPROVAL_INSUFFICIENT',
    `${operation} needs ${decision.approvals} approvals from "${decision.group}": ${gate.approvals} of ${decision.approvals} gathered, ${more} more needed: ${decision.reason}`,
    { details: { required: decision.approvals, gathered: gate.approvals, group: decision.group } },
  );
}
