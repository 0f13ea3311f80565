/**
 * The policy decision point of the pipeline: stored policies (by SHA-256 of their wasm), their
 * global and per-key bindings, and the evaluation of every applicable policy for a request.
 *
 * Bindings are cached per node for at most `BINDINGS_TTL_MS` (another node's activation is seen
 * within that time; this node's own changes at once), and read by one query at a time. Loaded modules are cached by hash in the
 * registry, so a request costs one evaluation per applicable policy and no I/O.
 *
 * Lockout guard: removing the last global binding is refused — with no global policy nothing
 * allows, and nothing could re-activate one.
 * @module
 */
import { KeywardError } from '../../../lib/errors.js';
import type { CommitScope, Db } from '../../store/index.js';
import {
  bindPolicy,
  getPolicy,
  insertPolicy,
  listBindings,
  listPolicies,
  unbindPolicy,
  writeTransaction,
} from '../../store/index.js';
import type { PolicyBindingRow, PolicyMeta } from '../../store/index.js';
import { STORAGE_DEADLINE_MS_DEFAULT, withDeadline } from '../../store/deadline.js';
import { SharedReads } from '../../store/shared-reads.js';
import { encodePolicyInput } from '../sandbox/abi.js';
import { composeDecisions } from '../sandbox/compose.js';
import type { ComposedDecision } from '../sandbox/compose.js';
import { defaultPolicyWasm } from './default.js';
import { bundledMetering } from './prebuilt.js';
import type { EvaluationResult, LoadedPolicy } from '../sandbox/host.js';
import type { PolicyInput } from '../sandbox/input.js';
import { PolicyRegistry } from '../sandbox/registry.js';

export const BINDINGS_TTL_MS = 1000;
/** Key names whose applicable policies are kept per bindings snapshot (then the memo starts over). */
const APPLICABLE_MEMO_MAX = 10_000;
export const DEFAULT_POLICY_NAME = 'keyward-default-rbac';
const HASH_RE = /^[0-9a-f]{64}$/;
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export type BindingScope = 'global' | 'key';

export interface PolicySummary extends PolicyMeta {
  bindings: Array<{ scope: BindingScope; key: string | null; activatedAt: Date; activatedBy: string | null }>;
}

export function assertPolicyHash(hash: string): void {
  if (!HASH_RE.test(hash))
    throw new KeywardError(
      'VALIDATION_FAILED',
      `expected a policy hash of 64 lowercase hex characters, got "${hash.slice(0, 80)}"`,
    );
}

export class PolicyService {
  readonly #db: Db;
  readonly registry: PolicyRegistry;
  readonly #now: () => number;
  readonly #deadlineMs: number;
  #bindings: { at: number; rows: PolicyBindingRow[] } | undefined;
  /**
   * The bindings read in flight, one key for all of them (engine/store/shared-reads.ts): requests that
   * miss the cache meanwhile await it rather than each sending their own. This node's changes and seal
   * drop it (`forgetBindings`), so a request after one starts a new read and the earlier read caches
   * nothing when it lands.
   */
  readonly #reads: SharedReads<'bindings', PolicyBindingRow[]>;
  /** The applicable policies by key name (undefined: keyless) for the cached bindings `rows`. */
  #applicableFor: { rows: PolicyBindingRow[]; byKey: Map<string | undefined, LoadedPolicy[]> } | undefined;

  /**
   * `deadlineMs`: the budget of each storage read a decision needs (the shared bindings read, a
   * policy's module), default STORAGE_DEADLINE_MS_DEFAULT (engine/store/deadline.ts).
   */
  constructor(db: Db, opts: { registry?: PolicyRegistry; now?: () => number; deadlineMs?: number } = {}) {
    this.#db = db;
    this.registry = opts.registry ?? new PolicyRegistry({ prebuilt: bundledMetering() });
    this.#now = opts.now ?? Date.now;
    this.#deadlineMs = opts.deadlineMs ?? STORAGE_DEADLINE_MS_DEFAULT;
    this.#reads = new SharedReads({ what: 'the policy bindings lookup', deadlineMs: this.#deadlineMs });
  }

  /** Validates (POLICY_INVALID names what offends) and stores a policy; idempotent by hash. */
  async push(
    wasm: Uint8Array,
    name: string,
    by: string | null,
    commit?: CommitScope,
  ): Promise<{ sha256: string; name: string; size: number; created: boolean }> {
    if (!NAME_RE.test(name))
      throw new KeywardError(
        'VALIDATION_FAILED',
        `expected a policy name of 1-64 characters [A-Za-z0-9._-], got "${name.slice(0, 80)}"`,
      );
    const { sha256 } = await this.registry.load(wasm);
    const created = await writeTransaction(
      this.#db,
      commit,
      (tx) => insertPolicy(tx, { sha256, name, wasm, createdBy: by }),
      (c) => ({ sha256, name, created: c }),
    );
    return { sha256, name, size: wasm.length, created };
  }

  async #requirePolicy(sha256: string): Promise<void> {
    assertPolicyHash(sha256);
    if (!this.registry.has(sha256) && !(await getPolicy(this.#db, sha256))) {
      throw new KeywardError('POLICY_NOT_FOUND', `no policy with hash ${sha256}; push it first`);
    }
  }

  async activate(
    sha256: string,
    scope: BindingScope,
    key: string | undefined,
    by: string | null,
    commit?: CommitScope,
  ): Promise<{ created: boolean }> {
    await this.#requirePolicy(sha256);
    const target = scope === 'global' ? '' : key!;
    const created = await writeTransaction(
      this.#db,
      commit,
      (tx) => bindPolicy(tx, { sha256, scope, target, activatedBy: by }),
      (c) => ({ sha256, scope, created: c }),
    );
    this.forgetBindings();
    return { created };
  }

  async deactivate(sha256: string, scope: BindingScope, key: string | undefined, commit?: CommitScope): Promise<void> {
    assertPolicyHash(sha256);
    await writeTransaction(
      this.#db,
      commit,
      async (tx) => {
        if (scope === 'global') {
          const globals = (await listBindings(tx)).filter((b) => b.scope === 'global');
          if (globals.length === 1 && globals[0]!.sha256 === sha256) {
            throw new KeywardError(
              'POLICY_LOCKOUT',
              'refusing to deactivate the last global policy: with none active every request would be denied; activate another first',
            );
          }
        }
        if (!(await unbindPolicy(tx, { sha256, scope, target: scope === 'global' ? '' : key! }))) {
          throw new KeywardError(
            'POLICY_NOT_FOUND',
            `policy ${sha256} is not active ${scope === 'global' ? 'globally' : `on key "${key}"`}`,
          );
        }
      },
      { sha256, scope },
    );
    // After the commit: a reload during the transaction would have cached the old bindings.
    this.forgetBindings();
  }

  /**
   * After this node changed the bindings, and on seal: neither the cached nor an in-flight read may
   * serve a later request.
   */
  forgetBindings(): void {
    this.#bindings = undefined;
    this.#reads.clear();
  }

  async list(): Promise<PolicySummary[]> {
    const [metas, bindings] = await Promise.all([listPolicies(this.#db), listBindings(this.#db)]);
    return metas.map((m) => ({
      ...m,
      bindings: bindings
        .filter((b) => b.sha256 === m.sha256)
        .map((b) => ({
          scope: b.scope,
          key: b.scope === 'key' ? b.target : null,
          activatedAt: b.activatedAt,
          activatedBy: b.activatedBy,
        })),
    }));
  }

  /** Stores the built-in RBAC policy and binds it globally (at init, and for dev mode). */
  async installDefault(by: string): Promise<string> {
    const { sha256 } = await this.push(await defaultPolicyWasm(), DEFAULT_POLICY_NAME, by);
    await this.activate(sha256, 'global', undefined, by);
    return sha256;
  }

  /** Whether any policy is active globally (read from storage, not the cache). */
  async hasGlobal(): Promise<boolean> {
    return (await listBindings(this.#db)).some((b) => b.scope === 'global');
  }

  async #currentBindings(): Promise<PolicyBindingRow[]> {
    const b = this.#bindings;
    if (b && this.#now() - b.at <= BINDINGS_TTL_MS) return b.rows;
    return this.#reads.joined('bindings') ?? this.#readBindings();
  }

  /** Starts the shared read of the bindings (the pipeline's decide has no deadline of its own: the read's is the one). */
  #readBindings(): Promise<PolicyBindingRow[]> {
    // Fresh as of the read's start, not its landing: a change committed meanwhile may be missing from it.
    const at = this.#now();
    return this.#reads.start(
      'bindings',
      () => listBindings(this.#db),
      (rows) => {
        this.#bindings = { at, rows };
      },
    );
  }

  async #loaded(sha256: string): Promise<LoadedPolicy> {
    const cached = this.registry.get(sha256);
    if (cached) return cached;
    const row = await withDeadline(getPolicy(this.#db, sha256), this.#deadlineMs, 'the policy lookup');
    if (!row) throw new KeywardError('STORAGE_CORRUPT', `active policy ${sha256} is missing from the policies table`);
    return (await this.registry.load(row.wasm)).policy;
  }

  /** The policies that decide a request on `keyName` (or a keyless request): global ones, then the key's. */
  async applicable(keyName: string | undefined): Promise<LoadedPolicy[]> {
    const now = this.applicableNow(keyName);
    if (now) return now;
    const rows = (await this.#currentBindings()).filter(
      (b) => b.scope === 'global' || (keyName !== undefined && b.target === keyName),
    );
    const hashes = [...new Set(rows.map((b) => b.sha256))];
    return Promise.all(hashes.map((h) => this.#loaded(h)));
  }

  /**
   * `applicable(keyName)` without I/O or a promise, when the bindings are cached (within
   * BINDINGS_TTL_MS) and every applicable module is loaded; undefined otherwise. The set is kept per
   * key name for as long as the cached bindings are, so a request does not rebuild it.
   */
  applicableNow(keyName: string | undefined): LoadedPolicy[] | undefined {
    const b = this.#bindings;
    if (!b || this.#now() - b.at > BINDINGS_TTL_MS) return undefined;
    let memo = this.#applicableFor;
    if (memo?.rows !== b.rows) memo = this.#applicableFor = { rows: b.rows, byKey: new Map() };
    const known = memo.byKey.get(keyName);
    if (known) return known;
    const hashes = new Set<string>();
    for (const r of b.rows)
      if (r.scope === 'global' || (keyName !== undefined && r.target === keyName)) hashes.add(r.sha256);
    const set: LoadedPolicy[] = [];
    for (const h of hashes) {
      const p = this.registry.get(h);
      if (!p) return undefined;
      set.push(p);
    }
    if (memo.byKey.size >= APPLICABLE_MEMO_MAX) memo.byKey.clear();
    memo.byKey.set(keyName, set);
    return set;
  }

  /**
   * `decide(input, undefined, encoded)` when {@link applicableNow} has the policies: the request
   * path's fast path (the same evaluation and composition, without a promise); undefined otherwise.
   */
  decideNow(input: PolicyInput, encoded: Uint8Array): ComposedDecision | undefined {
    const set = this.applicableNow(input.key?.name);
    if (!set) return undefined;
    const results: EvaluationResult[] = [];
    for (let i = 0; i < set.length; i++) results.push(set[i]!.evaluate(encoded));
    return composeDecisions(results);
  }

  /**
   * Evaluates every applicable policy and composes: any deny or fault denies; no allow denies; the
   * strongest approval requirement wins over allow. No policy at all ⇒ deny. `encoded` is
   * `encodePolicyInput(input)` when the caller already has it (the pipeline keeps it for the audit log).
   */
  async decide(
    input: PolicyInput,
    policies?: readonly LoadedPolicy[],
    encoded?: Uint8Array,
  ): Promise<ComposedDecision> {
    const set = policies ?? (await this.applicable(input.key?.name));
    const bytes = encoded ?? encodePolicyInput(input); // once, not once per policy
    return composeDecisions(set.map((p) => p.evaluate(bytes)));
  }

  /** Evaluates one stored (or any pushed) policy on an input, for `POST /v1/policies/evaluate`. */
  async evaluateOne(sha256: string, input: PolicyInput) {
    await this.#requirePolicy(sha256);
    return (await this.#loaded(sha256)).evaluate(input);
  }
}
