/**
 * The server's Prometheus metrics (docs/operations.md, "Metrics"; docs/architecture.md, "Metrics
 * and logs"): one prom-client Registry per app (never the global one, so several servers in one
 * process keep theirs apart), served by `GET /metrics` (server/routes/metrics.ts) in the text
 * exposition format.
 *
 * Events are counted as they happen, from the engine's observers (engine/metrics.ts): requests by
 * operation and status, their latency, policy decisions with gas and time, audit group commits.
 * State is read when scraped, by `collect()`: seal state and unseal progress, the audit queue, the
 * crypto pool, the key-material caches, and from the database the audit head and tree sizes, the
 * newest checkpoint's age and the pending approvals. Labels are operation names, statuses and
 * decisions only: never a key name, a principal or a token, so the series stay few.
 * @module
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Metric } from 'prom-client';
import type { Hsm } from '../engine/hsm.js';
import type { CryptoPool } from '../engine/crypto/index.js';
import { readStoredGauges } from '../engine/metrics.js';
import type { StoredGauges } from '../engine/metrics.js';

/** Request and policy latency buckets, in seconds: 0.5 ms to 5 s. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
/** Policy evaluation is microseconds (bench/policy: ~2 µs per policy): 5 µs to 50 ms. */
const POLICY_BUCKETS = [
  0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05,
];
/** Gas used by all of a request's policies (the default budget is 1 000 000 per policy). */
const GAS_BUCKETS = [100, 300, 1000, 3000, 10_000, 30_000, 100_000, 300_000, 1_000_000, 3_000_000];
/** Records per audit group commit (at most 256). */
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256];
/** How long a database read at scrape time may take before the stored gauges are left out of a scrape. */
const STORED_READ_TIMEOUT_MS = 2000;

/** Each app's metrics (server/app.ts sets it; server/main.ts closes it with the listener). */
export const appMetrics = new WeakMap<object, ServerMetrics>();

export interface MetricsOptions {
  /** The crypto worker pool, when the server runs one (its queue and busy workers are reported). */
  pool?: CryptoPool | undefined;
}

export class ServerMetrics {
  readonly registry = new Registry();
  readonly #hsm: Hsm;
  readonly #stopObserving: () => void;
  #defaults = false;
  /** One database read per scrape, shared by the gauges that need it. */
  #stored: Promise<StoredGauges | undefined> | undefined;
  readonly #http: TallyCounter;

  constructor(hsm: Hsm, opts: MetricsOptions = {}) {
    this.#hsm = hsm;
    const registers = [this.registry];
    const pool = opts.pool;

    // --- Counted as they happen -------------------------------------------------------------
    // The five series every request touches are tallies (see TallyCounter): same families, a few
    // increments per event instead of prom-client's label validation, hashing and bucket lookup.
    const requests = new TallyCounter(
      {
        name: 'keyward_requests_total',
        help: 'Requests through the pipeline (decided by the policies and audited), by operation and the status their audit record carries',
        labelNames: ['operation', 'status'],
      },
      this.registry,
    );
    const requestSeconds = new TallyHistogram(
      {
        name: 'keyward_request_duration_seconds',
        help: 'Time of a request through the pipeline, from the sealed check to its durable audit record, by operation',
        labelName: 'operation',
        buckets: LATENCY_BUCKETS,
      },
      this.registry,
    );
    this.#http = new TallyCounter(
      {
        name: 'keyward_http_responses_total',
        help: 'HTTP responses by status, every route included (health, unseal, refusals before the pipeline)',
        labelNames: ['status'],
      },
      this.registry,
    );
    const decisionSeconds = new TallyHistogram(
      {
        name: 'keyward_policy_evaluation_seconds',
        help: 'Time to decide a request (its applicable policies evaluated and composed), by the composed decision',
        labelName: 'decision',
        buckets: POLICY_BUCKETS,
      },
      this.registry,
    );
    const decisionGas = new TallyHistogram(
      {
        name: 'keyward_policy_evaluation_gas',
        help: 'Gas used by all the policies that decided a request, by the composed decision',
        labelName: 'decision',
        buckets: GAS_BUCKETS,
      },
      this.registry,
    );
    const faults = new Counter({
      name: 'keyward_policy_faults_total',
      help: 'Policy evaluations that faulted (trap, out of gas, bad output): each denies',
      registers,
    });
    // The three series every group commit touches are tallies too (issue 14: what a statement costs
    // is what the audit adds per request, divided by the records it carries).
    const batchRecords = new TallyHistogram(
      {
        name: 'keyward_audit_batch_records',
        help: 'Records per group commit of the audit queue (one statement each)',
        buckets: BATCH_BUCKETS,
      },
      this.registry,
    );
    const appendSeconds = new TallyHistogram(
      {
        name: 'keyward_audit_append_duration_seconds',
        help: "Time of one group commit's append statement, by result (ok, error)",
        labelName: 'result',
        buckets: LATENCY_BUCKETS,
      },
      this.registry,
    );
    const appended = new TallyCounter(
      {
        name: 'keyward_audit_records_appended_total',
        help: "Audit records this node appended: through the queue (group commit), or in a state change's own transaction",
        labelNames: ['path'],
      },
      this.registry,
    );
    this.#stopObserving = hsm.events.observe({
      request(operation, status, seconds) {
        requests.inc2(operation, status);
        requestSeconds.observe(operation, seconds);
      },
      decision(d, seconds) {
        let gas = 0;
        for (const p of d.policies) {
          gas += p.gas;
          if (p.fault) faults.inc();
        }
        decisionSeconds.observe(d.decision, seconds);
        decisionGas.observe(d.decision, gas);
      },
      auditBatch(records, seconds, ok) {
        appendSeconds.observe(ok ? 'ok' : 'error', seconds);
        if (!ok) return;
        batchRecords.observe('', records);
        appended.add1('queue', records);
      },
      auditInTransaction(records) {
        appended.add1('transaction', records);
      },
    });

    // --- Read when scraped ------------------------------------------------------------------
    const gauge = (name: string, help: string, collect: (g: Gauge) => void | Promise<void>): void => {
      new Gauge({
        name,
        help,
        registers,
        collect() {
          return collect(this);
        },
      });
    };
    gauge('keyward_initialized', '1 once the init ceremony has run', (g) => g.set(hsm.health().initialized ? 1 : 0));
    gauge('keyward_sealed', '1 while sealed (or not initialized), 0 when unsealed', (g) =>
      g.set(hsm.health().sealed ? 1 : 0),
    );
    gauge('keyward_unseal_progress', 'Valid unseal submissions gathered toward the threshold', (g) =>
      g.set(hsm.health().progress),
    );
    gauge('keyward_unseal_threshold', 'Submissions needed to unseal (0 before init)', (g) =>
      g.set(hsm.health().threshold),
    );
    gauge(
      'keyward_storage_up',
      '1 when the database answered the last health probe (at most one a second)',
      async (g) => g.set((await hsm.storageHealth()).ok ? 1 : 0),
    );
    gauge('keyward_audit_queue_depth', 'Audit records queued on this node, not yet in an append statement', (g) =>
      g.set(hsm.audit?.queued ?? 0),
    );
    // From the database: NaN when it did not answer in time (keyward_storage_up says why).
    const stored = (name: string, help: string, value: (s: StoredGauges) => number) =>
      gauge(name, help, async (g) => {
        const s = await this.#storedGauges();
        g.set(s ? value(s) : NaN);
      });
    stored('keyward_audit_head_size', 'Audit records committed (the log head, all nodes)', (s) => s.auditHead);
    stored('keyward_audit_tree_size', 'Audit records integrated into the signed Merkle tree', (s) => s.auditTree);
    stored(
      'keyward_audit_integrator_lag',
      'Records committed but not yet integrated: head size − tree size',
      (s) => s.auditHead - s.auditTree,
    );
    stored(
      'keyward_audit_checkpoint_age_seconds',
      'Seconds since the newest checkpoint was signed (NaN before the first)',
      (s) => (s.checkpointAt ? Math.max(0, (Date.now() - s.checkpointAt.getTime()) / 1000) : NaN),
    );
    // Counted by the log itself (AuditLog.lingers), read when scraped.
    new Counter({
      name: 'keyward_audit_lingers_total',
      help: 'Group commits this node held back a little for more records after a slow append statement (the adaptive linger; PostgreSQL only)',
      registers,
      collect() {
        this.reset();
        this.inc(hsm.audit?.lingers ?? 0);
      },
    });
    gauge(
      'keyward_audit_integrator_halted',
      '1 when the integrator found the log corrupt and stopped signing (until restart)',
      (g) => g.set(hsm.integrator?.halted ? 1 : 0),
    );
    stored(
      'keyward_approvals_pending',
      'Approvals waiting for approvers or for their execution',
      (s) => s.approvalsPending,
    );
    gauge(
      'keyward_crypto_pool_workers',
      'Worker threads the crypto pool may run (0: no pool, work runs in-thread)',
      (g) => g.set(pool?.size ?? 0),
    );
    gauge('keyward_crypto_pool_busy_workers', 'Crypto pool workers running a call', (g) => g.set(pool?.running ?? 0));
    gauge('keyward_crypto_pool_queue_length', 'Calls waiting for a crypto pool worker', (g) =>
      g.set(pool?.queued ?? 0),
    );
    const cacheCounter = (name: string, help: string, pick: (s: { hits: number; misses: number }) => number) =>
      new Counter({
        name,
        help,
        labelNames: ['cache'] as const,
        registers,
        collect() {
          const stats = hsm.keys.materialCacheStats;
          this.reset();
          this.inc({ cache: 'material' }, pick(stats.material));
          this.inc({ cache: 'expanded' }, pick(stats.expanded));
        },
      });
    cacheCounter(
      'keyward_key_material_cache_hits_total',
      "Lookups of this node's key-material caches that found the value (material: decrypted versions; expanded: post-quantum key schedules)",
      (s) => s.hits,
    );
    cacheCounter(
      'keyward_key_material_cache_misses_total',
      "Lookups of this node's key-material caches that had to read (decrypt) or derive the value",
      (s) => s.misses,
    );
  }

  /** The exposition's content type (text format 0.0.4). */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** Counts one HTTP response (every route; the request log calls it). */
  response(status: number): void {
    this.#http.inc1(status);
  }

  /**
   * The exposition text. Node's process metrics (CPU, memory, event-loop lag, GC) are registered at
   * the first scrape, so a server never scraped pays nothing for them (their event-loop and GC
   * monitors run from then on).
   */
  async render(): Promise<string> {
    if (!this.#defaults) {
      this.#defaults = true;
      collectDefaultMetrics({ register: this.registry });
    }
    try {
      return nanAsSpecified(await this.registry.metrics());
    } finally {
      this.#stored = undefined;
    }
  }

  /** Stops hearing the engine (the app closed). */
  close(): void {
    this.#stopObserving();
  }

  /** The database's part, read once per scrape; undefined (gauges left as they were) when it does not answer in time. */
  #storedGauges(): Promise<StoredGauges | undefined> {
    this.#stored ??= (async () => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), STORED_READ_TIMEOUT_MS);
        timer.unref();
      });
      try {
        return await Promise.race([readStoredGauges(this.#hsm.store.db).catch(() => undefined), timeout]);
      } finally {
        clearTimeout(timer);
      }
    })();
    return this.#stored;
  }
}

/**
 * The text with NaN sample values spelled `NaN`, as the text format specifies (prometheus.io,
 * "Exposition formats": "NaN, +Inf, and -Inf are valid values"; OpenMetrics spells them so too).
 * prom-client 15 writes `Nan`, which Go's case-blind ParseFloat happens to read but stricter readers
 * do not. Only a sample line's value is touched: comment lines (`#`) are left alone, and a label
 * value cannot end a line (it is quoted inside braces, its newlines escaped).
 */
export function nanAsSpecified(text: string): string {
  return text.includes(' Nan') ? text.replace(/^([^#\n].*) Nan$/gm, '$1 NaN') : text;
}

/** What prom-client's registry reads from a metric's `get()` to write its text. */
interface Snapshot {
  name: string;
  help: string;
  type: 'counter' | 'histogram';
  aggregator: 'sum';
  values: Array<{ metricName?: string; labels: Record<string, string | number>; value: number }>;
}

/**
 * A counter family with one or two labels, counted on the request path as one Map lookup and one
 * increment (prom-client's Counter validates the labels, hashes them and looks the series up on
 * every `inc`: with the histograms, ~3 µs of each request). The registry reads it as it reads a
 * prom-client Counter (registerMetric and `get()`, prom-client's metric interface), so the family —
 * name, help, type, labels, values — is the same text. Series appear in the order first counted.
 */
export class TallyCounter {
  readonly type = 'counter';
  readonly aggregator = 'sum';
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  /** By label values joined with a NUL (no label value here holds one: operation names, statuses, decisions). */
  #series = new Map<string, { labels: Record<string, string | number>; value: number }>();

  constructor(o: { name: string; help: string; labelNames: readonly string[] }, registry: Registry) {
    if (o.labelNames.length < 1 || o.labelNames.length > 2)
      throw new RangeError(`"labelNames" expected one or two names, got ${o.labelNames.length}`);
    this.name = o.name;
    this.help = o.help;
    this.labelNames = o.labelNames;
    registry.registerMetric(this as unknown as Metric);
  }

  /** Counts one event of the single-label family. */
  inc1(a: string | number): void {
    this.add1(a, 1);
  }

  /** Counts `n` events of the single-label family at once (n ≥ 0). */
  add1(a: string | number, n: number): void {
    if (!(n >= 0) || !Number.isFinite(n)) return;
    const key = typeof a === 'string' ? a : String(a);
    const s = this.#series.get(key);
    if (s) s.value += n;
    else this.#series.set(key, { labels: { [this.labelNames[0]!]: a }, value: n });
  }

  /** Counts one event of the two-label family. */
  inc2(a: string | number, b: string | number): void {
    const key = `${a}\0${b}`;
    const s = this.#series.get(key);
    if (s) s.value++;
    else this.#series.set(key, { labels: { [this.labelNames[0]!]: a, [this.labelNames[1]!]: b }, value: 1 });
  }

  get(): Promise<Snapshot> {
    return Promise.resolve({
      name: this.name,
      help: this.help,
      type: 'counter',
      aggregator: 'sum',
      values: [...this.#series.values()].map((s) => ({ labels: { ...s.labels }, value: s.value })),
    });
  }

  reset(): void {
    this.#series.clear();
  }
}

/**
 * A histogram family with one label or none, observed on the request path as a bucket search and
 * three additions (prom-client's Histogram validates and hashes the labels and turns the bound into
 * a property name on every `observe`). Read by the registry like {@link TallyCounter}, in
 * prom-client's histogram shape: cumulative `_bucket` series with `le` first, then `+Inf`, `_sum`
 * and `_count`, so the family's text is the same. Without a label name the family has one series,
 * written (at zero) from the start, as prom-client writes an unlabelled histogram's.
 */
export class TallyHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly name: string;
  readonly help: string;
  readonly labelName: string | undefined;
  readonly buckets: readonly number[];
  #series = new Map<string, { label: string | number; counts: Float64Array; sum: number; count: number }>();

  constructor(o: { name: string; help: string; labelName?: string; buckets: readonly number[] }, registry: Registry) {
    this.name = o.name;
    this.help = o.help;
    this.labelName = o.labelName;
    this.buckets = [...o.buckets];
    if (o.labelName === undefined)
      this.#series.set('', { label: '', counts: new Float64Array(this.buckets.length), sum: 0, count: 0 });
    registry.registerMetric(this as unknown as Metric);
  }

  /**
   * One observation, of the series `label` (of a family without a label name: pass ''); a value that
   * is not finite is dropped (prom-client would throw on the request path).
   */
  observe(label: string, value: number): void {
    if (!Number.isFinite(value)) return;
    let s = this.#series.get(label);
    if (!s) this.#series.set(label, (s = { label, counts: new Float64Array(this.buckets.length), sum: 0, count: 0 }));
    const b = this.buckets;
    for (let i = 0; i < b.length; i++)
      if (value <= b[i]!) {
        s.counts[i]!++;
        break;
      }
    s.sum += value;
    s.count++;
  }

  get(): Promise<Snapshot> {
    const bucket = `${this.name}_bucket`;
    const values: Snapshot['values'] = [];
    const name = this.labelName;
    for (const s of this.#series.values()) {
      const labels = (): Record<string, string | number> => (name === undefined ? {} : { [name]: s.label });
      let acc = 0;
      for (let i = 0; i < this.buckets.length; i++) {
        acc += s.counts[i]!;
        values.push({ metricName: bucket, labels: { le: this.buckets[i]!, ...labels() }, value: acc });
      }
      values.push({ metricName: bucket, labels: { le: '+Inf', ...labels() }, value: s.count });
      values.push({ metricName: `${this.name}_sum`, labels: labels(), value: s.sum });
      values.push({ metricName: `${this.name}_count`, labels: labels(), value: s.count });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: 'histogram', aggregator: 'sum', values });
  }

  reset(): void {
    this.#series.clear();
  }
}
