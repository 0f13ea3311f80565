/**
 * The one request pipeline (DESIGN.md §2), used by the server and in-process callers alike:
 *
 *   sealed? → authenticate → decide (policies) → [approval gate] → operation → [audit] → respond
 *
 * The sealed state is checked first, as Vault's barrier does. Authorization is the composed decision
 * of every applicable WebAssembly policy (the active global ones and the target key's): RBAC is the
 * built-in default policy, installed and activated at init, not special code here.
 * The approval gate and the audit append are added by their own modules.
 * @module
 */
import { KeywardError } from '../ceremony/errors.js';
import type { HolderPublicKey, Submission } from '../ceremony/index.js';
import { authenticateToken, issueToken } from './auth/tokens.js';
import type { IssuedToken, Principal } from './auth/tokens.js';
import type { ComposedDecision, PolicyInput, PolicyKey } from './policy/index.js';
import { PolicyService } from './policy/service.js';
import type { CryptoPool } from './crypto/index.js';
import { KeyService } from './keys/service.js';
import { SealManager, SecretStore } from './seal/index.js';
import type { CeremonyResult, SealStatus } from './seal/index.js';
import type { Store } from './store/index.js';

export { VERSION } from './version.js';
import { VERSION } from './version.js';

export interface HsmOptions {
  store: Store;
  /** Worker pool for slow asymmetric operations (none: they run in-thread). */
  pool?: CryptoPool;
  /** The clock; injectable for tests. */
  now?: () => Date;
}

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
}

/** What `request` hands the operation: who asked, and the decision that let it run. */
export interface Authorized {
  principal: Principal;
  decision: ComposedDecision;
  input: PolicyInput;
}

export interface Health {
  initialized: boolean;
  sealed: boolean;
  threshold: number;
  shares: number;
  progress: number;
  version: string;
}

export class Hsm {
  readonly store: Store;
  readonly seal: SealManager;
  readonly secrets: SecretStore;
  readonly policies: PolicyService;
  readonly keys: KeyService;
  readonly now: () => Date;

  private constructor(store: Store, seal: SealManager, now: () => Date, pool: CryptoPool | undefined) {
    this.store = store;
    this.seal = seal;
    this.secrets = new SecretStore(store.db, seal.barrier);
    this.policies = new PolicyService(store.db, { now: () => now().getTime() });
    this.keys = new KeyService(store.db, seal, { now, ...(pool ? { pool } : {}) });
    this.now = now;
  }

  /** Opens the HSM over a store. It starts sealed (or uninitialized). */
  static async open(opts: HsmOptions): Promise<Hsm> {
    const hsm = new Hsm(opts.store, await SealManager.open(opts.store.db), opts.now ?? (() => new Date()), opts.pool);
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
    const result = await this.seal.init(holders, threshold);
    await this.policies.installDefault('init');
    const rootToken = await issueToken(this.store.db, { principal: 'root', roles: ['admin'], now: this.now(), createdBy: 'init', ...(opts.rootToken ? { token: opts.rootToken } : {}) });
    return { ...result, rootToken };
  }

  submitUnseal(submission: Submission) {
    return this.seal.submitUnseal(submission);
  }

  /**
   * Runs `fn` for an authenticated, authorized request. Sealed ⇒ SEALED; no or bad token ⇒
   * UNAUTHENTICATED; a deny ⇒ POLICY_DENIED with the policy's reason.
   */
  async request<T>(ctx: RequestContext, fn: (principal: Principal, authorized: Authorized) => Promise<T>): Promise<T> {
    if (!this.seal.initialized) throw new KeywardError('NOT_INITIALIZED', 'keyward is not initialized: run `keyward ceremony init` first');
    if (this.seal.sealed) throw new KeywardError('SEALED', 'keyward is sealed: unseal it with a quorum of shards first');
    const now = this.now();
    const principal = await authenticateToken(this.store.db, ctx.bearer, now);
    const input: PolicyInput = {
      operation: ctx.operation,
      principal: principal.principal,
      roles: principal.roles,
      key: typeof ctx.key === 'function' ? await ctx.key() : (ctx.key ?? null),
      attributes: ctx.attributes ?? {},
      payloadBytes: ctx.payloadBytes ?? 0,
      time: now.getTime(),
      approvals: 0,
    };
    const decision = await this.policies.decide(input);
    if (decision.decision === 'deny') {
      throw new KeywardError('POLICY_DENIED', `denied ${ctx.operation}: ${decision.reason || 'no policy allows it'}`, { details: { policies: decision.policies } });
    }
    if (decision.decision === 'require_approval') {
      // The approval workflow (pending approvals, 202) is its own module; until it exists, fail closed.
      throw new KeywardError('APPROVAL_REQUIRED', `${ctx.operation} needs ${decision.approvals} approvals from ${decision.group}: ${decision.reason}`, { details: { policies: decision.policies } });
    }
    return fn(principal, { principal, decision, input });
  }

  async close(): Promise<void> {
    this.seal.close();
    await this.store.close();
  }
}
