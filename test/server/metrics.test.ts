/**
 * GET /metrics (server/metrics.ts, server/routes/metrics.ts; docs/operations.md, "Metrics"): after a
 * known sequence of requests a scrape is read with a reader written from the exposition format's
 * specification (test/helpers/prometheus.ts) and, for counters and gauges, also with the npm
 * package parse-prometheus-text-format; the counts must be the requests made, histogram buckets
 * monotone, and the seal state, audit, pool, cache and approval gauges right. Then the rule: a token
 * whose policy grants `metrics` (admin, operator, monitor) gets 200, any other 403, none 401; only a
 * server started with --metrics-unauthenticated answers without one (sealed too).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { issueToken } from '../../engine/auth/tokens.js';
import { CryptoPool } from '../../engine/crypto/index.js';
import { devBootstrap, devUnseal } from '../../engine/dev.js';
import { auditHeadSize } from '../../engine/store/index.js';
import { silentLogger } from '../../server/log.js';
import { listen } from '../../server/main.js';
import type { RunningServer } from '../../server/main.js';
import { histogramSeries, parseExposition, valueOf } from '../helpers/prometheus.js';
import type { Family } from '../helpers/prometheus.js';
import { startTestServer } from '../helpers/server.js';
import type { TestServer } from '../helpers/server.js';
import { assertError, b64 } from '../helpers/wire.js';

describe('GET /metrics', () => {
  let s: TestServer;
  /** A second listener on the same HSM, started as with --metrics-unauthenticated, with a crypto pool. */
  let open: RunningServer;
  let pool: CryptoPool;
  let root: string;
  let share: Uint8Array;
  const tokens: Record<string, string> = {};

  const scrapeOpen = async (): Promise<{ text: string; families: Map<string, Family> }> => {
    const res = await fetch(open.url + '/metrics');
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4; charset=utf-8$/);
    const text = await res.text();
    return { text, families: parseExposition(text) };
  };

  before(async () => {
    s = await startTestServer();
    pool = new CryptoPool({ size: 1 });
    open = await listen({ hsm: s.hsm, log: silentLogger, listen: '127.0.0.1:0', metricsUnauthenticated: true, pool });
  });
  after(async () => {
    await open?.close();
    await s?.close();
    await pool?.close();
  });

  it('before init: not initialized and sealed, without a token on the open listener', async () => {
    const { text, families } = await scrapeOpen();
    // No checkpoint yet: NaN, spelled as the text format specifies ("NaN, +Inf, and -Inf"); prom-client
    // on its own writes "Nan". Every sample's value is a plain float or one of those three spellings.
    assert.match(text, /^keyward_audit_checkpoint_age_seconds NaN$/m);
    for (const line of text.split('\n').filter((l) => l !== '' && !l.startsWith('#')))
      assert.match(line, / (NaN|[+-]Inf|-?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?)$/, line);
    assert.equal(valueOf(families, 'keyward_initialized'), 0);
    assert.equal(valueOf(families, 'keyward_sealed'), 1);
    assert.equal(valueOf(families, 'keyward_crypto_pool_workers'), 1);
  });

  it('counts a known sequence of requests: by operation and status, latency, policy decisions, audit, caches', async () => {
    const dev = await devBootstrap(s.hsm);
    root = dev.rootToken;
    share = new Uint8Array(Buffer.from(dev.unsealShare, 'base64'));
    for (const role of ['app', 'auditor', 'operator', 'monitor'])
      tokens[role] = (await issueToken(s.hsm.store.db, { principal: role, roles: [role], now: new Date() })).token;
    const headBefore = await auditHeadSize(s.hsm.store.db);
    const base = await scrapeOpen();
    const appendedBefore =
      (valueOf(base.families, 'keyward_audit_records_appended_total', { path: 'queue' }) ?? 0) +
      (valueOf(base.families, 'keyward_audit_records_appended_total', { path: 'transaction' }) ?? 0);

    // The sequence: 1 key.create (201), 3 encrypts (200), 1 decrypt of garbage (400), 1 encrypt denied
    // (403), 1 encrypt without a token (401), 1 key deletion parked (202).
    assert.equal(
      (await s.call('POST', '/v1/keys', { token: root, body: { name: 'm', type: 'aes256-gcm' } })).status,
      201,
    );
    for (let i = 0; i < 3; i++)
      assert.equal(
        (await s.call('POST', '/v1/keys/m/encrypt', { token: tokens.app!, body: { plaintext: b64('hi') } })).status,
        200,
      );
    const bad = await s.call('POST', '/v1/keys/m/decrypt', { token: tokens.app!, body: { ciphertext: 'kw:v1:AAAA' } });
    assert.equal(bad.status, 400, JSON.stringify(bad.body));
    assertError(
      await s.call('POST', '/v1/keys/m/encrypt', { token: tokens.auditor!, body: { plaintext: b64('hi') } }),
      403,
      'POLICY_DENIED',
    );
    assertError(await s.call('POST', '/v1/keys/m/encrypt', { body: { plaintext: b64('hi') } }), 401, 'UNAUTHENTICATED');
    assert.equal(
      (await s.call('POST', '/v1/keys/m/config', { token: root, body: { deletionAllowed: true } })).status,
      200,
    );
    assert.equal((await s.call('DELETE', '/v1/keys/m', { token: tokens.operator! })).status, 202);
    await s.hsm.integrator!.integrate();

    const { text, families } = await scrapeOpen();
    const delta = (family: string, labels: Record<string, string>) =>
      (valueOf(families, family, labels) ?? 0) - (valueOf(base.families, family, labels) ?? 0);
    // Requests by operation and the status of their audit record.
    assert.equal(delta('keyward_requests_total', { operation: 'key.create', status: '200' }), 1);
    assert.equal(delta('keyward_requests_total', { operation: 'encrypt', status: '200' }), 3);
    assert.equal(delta('keyward_requests_total', { operation: 'decrypt', status: '400' }), 1);
    assert.equal(delta('keyward_requests_total', { operation: 'encrypt', status: '403' }), 1);
    assert.equal(delta('keyward_requests_total', { operation: 'encrypt', status: '401' }), 1);
    assert.equal(delta('keyward_requests_total', { operation: 'key.config', status: '200' }), 1);
    assert.equal(delta('keyward_requests_total', { operation: 'key.delete', status: '202' }), 1);
    const requests = families.get('keyward_requests_total')!;
    assert.equal(requests.type, 'counter');
    assert.equal(
      requests.samples.reduce((n, x) => n + x.value, 0),
      9,
      'nothing else went through the pipeline',
    );
    // Latency: a histogram per operation, as many observations as requests.
    const latency = families.get('keyward_request_duration_seconds')!;
    assert.equal(latency.type, 'histogram');
    const encrypt = histogramSeries(latency).find((x) => x.labels.operation === 'encrypt')!;
    assert.equal(encrypt.count, 5);
    assert.ok(encrypt.sum > 0 && encrypt.sum < 30, `encrypt latency sum ${encrypt.sum}`);
    assert.ok(encrypt.buckets.length >= 10);
    // Policy decisions: the 401 never reached the policies; the garbage decrypt was allowed, then failed.
    const evaluation = families.get('keyward_policy_evaluation_seconds')!;
    const decisions = Object.fromEntries(histogramSeries(evaluation).map((x) => [x.labels.decision, x.count]));
    assert.deepEqual(decisions, { allow: 6, deny: 1, require_approval: 1 });
    const gas = histogramSeries(families.get('keyward_policy_evaluation_gas')!).find(
      (x) => x.labels.decision === 'allow',
    )!;
    assert.equal(gas.count, 6);
    assert.ok(gas.sum > 0, 'policies use gas');
    assert.equal(valueOf(families, 'keyward_policy_faults_total'), 0);
    // The audit log: every record appended since the first scrape is counted, by path.
    const appended =
      valueOf(families, 'keyward_audit_records_appended_total', { path: 'queue' })! +
      (valueOf(families, 'keyward_audit_records_appended_total', { path: 'transaction' }) ?? 0);
    const head = await auditHeadSize(s.hsm.store.db);
    assert.equal(head - headBefore, 9);
    assert.equal(appended - appendedBefore, 9);
    assert.equal(valueOf(families, 'keyward_audit_head_size'), head);
    assert.equal(valueOf(families, 'keyward_audit_tree_size'), head, 'integrated just before');
    assert.equal(valueOf(families, 'keyward_audit_integrator_lag'), 0);
    assert.equal(valueOf(families, 'keyward_audit_queue_depth'), 0);
    const age = valueOf(families, 'keyward_audit_checkpoint_age_seconds')!;
    assert.ok(age >= 0 && age < 60, `checkpoint age ${age}`);
    const batches = histogramSeries(families.get('keyward_audit_batch_records')!)[0]!;
    assert.ok(batches.count >= 1 && batches.sum >= batches.count);
    assert.ok(histogramSeries(families.get('keyward_audit_append_duration_seconds')!)[0]!.count >= 1);
    // The group commit's lingers, as the log counts them (the log's own count: how many there were depends on the load).
    assert.equal(families.get('keyward_audit_lingers_total')?.type, 'counter');
    assert.equal(valueOf(families, 'keyward_audit_lingers_total'), s.hsm.audit!.lingers);
    // State.
    assert.equal(valueOf(families, 'keyward_initialized'), 1);
    assert.equal(valueOf(families, 'keyward_sealed'), 0);
    assert.equal(valueOf(families, 'keyward_unseal_threshold'), 1);
    assert.equal(valueOf(families, 'keyward_storage_up'), 1);
    assert.equal(valueOf(families, 'keyward_approvals_pending'), 1);
    assert.equal(valueOf(families, 'keyward_crypto_pool_workers'), 1);
    assert.equal(valueOf(families, 'keyward_crypto_pool_busy_workers'), 0);
    assert.equal(valueOf(families, 'keyward_crypto_pool_queue_length'), 0);
    // Key material: decrypted once, then found (3 encrypts, the garbage decrypt failed before the lookup or hit).
    const hits = valueOf(families, 'keyward_key_material_cache_hits_total', { cache: 'material' })!;
    const misses = valueOf(families, 'keyward_key_material_cache_misses_total', { cache: 'material' })!;
    assert.ok(misses >= 1 && hits >= 2, `material cache: ${hits} hits, ${misses} misses`);
    // Node's process metrics.
    assert.equal(families.get('process_cpu_user_seconds_total')?.type, 'counter');
    assert.ok(valueOf(families, 'nodejs_heap_size_used_bytes')! > 0);
    // No key name, principal or token in any label.
    for (const f of families.values())
      for (const x of f.samples)
        for (const v of Object.values(x.labels))
          assert.ok(!['m', 'app', 'auditor', 'operator'].includes(v), `${x.name} ${v}`);
    assert.ok(!text.includes(tokens.app!) && !text.includes(root));

    // The same scrape through an independent parser: counters and gauges agree.
    const theirs = new Map(parsePrometheusTextFormat(text).map((f) => [f.name, f]));
    for (const f of families.values()) {
      const t = theirs.get(f.name);
      assert.ok(t, `${f.name} missing from the other parser`);
      assert.equal(t.type.toLowerCase(), f.type, f.name);
      if (f.type !== 'counter' && f.type !== 'gauge') continue;
      const ours = f.samples.map((x) => [JSON.stringify(x.labels), x.value]);
      const got = t.metrics.map((m) => [JSON.stringify(m.labels ?? {}), Number(m.value)]);
      assert.deepEqual(got.sort(), ours.sort(), f.name);
    }
  });

  it('needs a token whose policy grants metrics: 401 without, 403 for app and auditor, 200 for monitor, operator, admin', async () => {
    assertError(await s.call('GET', '/metrics'), 401, 'UNAUTHENTICATED');
    assertError(await s.call('GET', '/metrics', { token: tokens.app! }), 403, 'POLICY_DENIED');
    assertError(await s.call('GET', '/metrics', { token: tokens.auditor! }), 403, 'POLICY_DENIED');
    for (const token of [tokens.monitor!, tokens.operator!, root]) {
      const res = await fetch(s.url + '/metrics', { headers: { authorization: `Bearer ${token}` } });
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
      const families = parseExposition(await res.text());
      // This server's own responses, by status: the 401 and the two 403s above.
      assert.ok(valueOf(families, 'keyward_http_responses_total', { status: '401' })! >= 1);
      assert.ok(valueOf(families, 'keyward_http_responses_total', { status: '403' })! >= 2);
    }
    // Each scrape is a request like any other: decided and recorded.
    const { families } = await scrapeOpen();
    assert.equal(valueOf(families, 'keyward_requests_total', { operation: 'metrics', status: '401' }), 1);
    assert.equal(valueOf(families, 'keyward_requests_total', { operation: 'metrics', status: '403' }), 2);
    assert.equal(valueOf(families, 'keyward_requests_total', { operation: 'metrics', status: '200' }), 3);
  });

  it('sealed: the token route answers 503 SEALED, the open listener still shows the seal state', async () => {
    assert.equal((await s.call('POST', '/v1/sys/seal', { token: root })).status, 200);
    try {
      assertError(await s.call('GET', '/metrics', { token: tokens.monitor! }), 503, 'SEALED');
      const { families } = await scrapeOpen();
      assert.equal(valueOf(families, 'keyward_sealed'), 1);
      assert.equal(valueOf(families, 'keyward_unseal_progress'), 0);
      assert.equal(valueOf(families, 'keyward_initialized'), 1);
      assert.ok(valueOf(families, 'keyward_audit_head_size')! > 0, 'stored gauges are read while sealed');
    } finally {
      await devUnseal(s.hsm, share);
    }
  });
});
