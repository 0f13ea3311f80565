/**
 * The bench plumbing (bench/util.ts, bench/helpers/figures.ts): options with smoke defaults, the
 * consistency checks that fail a run, and issue 14's table as `npm run bench -- all --json` builds it
 * from the benches' JSON (met, missed, not measured, and the fallbacks). The benches themselves run
 * in CI through `npm run bench:smoke`.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { issueTable } from '../../bench/helpers/figures.js';
import { BenchCheckFailed, Checks, isSmoke, option } from '../../bench/util.js';

describe('bench options', () => {
  it('reads --name=value and --name value, the smoke default only under --smoke, and refuses junk', () => {
    assert.equal(option(['--duration=2.5'], 'duration', 3), 2.5);
    assert.equal(option(['--requests', '40'], 'requests', 1000, 200), 40);
    assert.equal(option([], 'duration', 3, 0.5), 3);
    assert.equal(option(['--smoke'], 'duration', 3, 0.5), 0.5);
    assert.equal(option(['--smoke', '--duration=4'], 'duration', 3, 0.5), 4, 'an explicit option beats --smoke');
    assert.equal(option(['--smoke'], 'concurrency', 16), 16, 'no smoke default: the default');
    assert.equal(option(['--durations=9'], 'duration', 3), 3, 'another option of a longer name');
    for (const bad of [['--duration=0'], ['--duration=-1'], ['--duration=x'], ['--duration='], ['--requests']])
      assert.throws(() => option(bad, bad[0]!.slice(2).split('=')[0]!, 1), RangeError, bad.join(' '));
    assert.equal(isSmoke(['--json', '--smoke']), true);
    assert.equal(isSmoke(['--json']), false);
  });

  it('Checks: passes with every check met, throws BenchCheckFailed naming each failure', () => {
    const ok = new Checks();
    ok.that(true, 'fine');
    ok.noErrors('load', { errors: 0 });
    ok.assert();
    ok.noErrors('load with a few answers shed', { errors: 0, shed: 30, completed: 1000 });
    assert.deepEqual(ok.toJSON(), { passed: 5, failed: [] });
    const bad = new Checks();
    bad.that(false, 'the log is not gap-free');
    bad.noErrors('encrypt', { errors: 3, firstError: '500 oops' });
    bad.noErrors('sign', { errors: 0, shed: 80, completed: 1000 });
    assert.throws(
      () => bad.assert(),
      (e: unknown) =>
        e instanceof BenchCheckFailed &&
        e.failures.length === 3 &&
        /gap-free/.test(e.message) &&
        /encrypt: 3 failed requests \(first: 500 oops\)/.test(e.message) &&
        /sign: 80 answers were 503/.test(e.message),
    );
  });
});

describe("issue 14's table", () => {
  const api = {
    encryptPipelineOverBare: 0.62,
    autocannon: { pipelineOverBare: 0.41 },
    cases: { mlDsa65Sign: { inProcess: { opsPerSec: 120 } }, mlKem768Decapsulate: { inProcess: { opsPerSec: 900 } } },
  };
  const audit = {
    database: { driver: 'postgres', version: '15', source: 'cluster', fsync: 'on', synchronousCommit: 'on' },
    encrypt1k: { onOverOff: 0.85, onOverBare: 0.3, autocannon: { onOverOff: 0.7, onOverBare: 0.55 } },
    verify: { endToEnd: { recordsPerSec: 120_000 } },
  };
  const verify = {
    drivers: {
      pglite: { records: 50_000, cli: { recordsPerSec: 61_000 } },
      postgres: { records: 50_000, cli: { recordsPerSec: 40_000 }, database: audit.database },
    },
  };

  it('says met or missed against each target, and names the source', () => {
    const t = issueTable({ api: { figures: api }, audit: { figures: audit }, verify: { figures: verify } });
    assert.equal(t.encryptPipelineOverBarePglite!.status, 'met');
    assert.equal(t.encryptPipelineOverBarePglite!.value, 0.62);
    assert.equal(t.encryptPipelineOverBarePglite_autocannon!.status, 'missed');
    assert.equal(t.encryptPipelineOverBarePostgres!.status, 'missed');
    assert.match(t.encryptPipelineOverBarePostgres!.note!, /fsync=on/);
    assert.equal(t.encryptAuditOnOverOffPostgres!.status, 'met');
    assert.equal(t.encryptPipelineOverBarePostgres_autocannon!.status, 'met');
    assert.equal(t.encryptAuditOnOverOffPostgres_autocannon!.status, 'missed');
    assert.equal(t.encryptAuditOnOverOffPostgres_autocannon!.value, 0.7);
    assert.equal(t.auditVerifyFetchVerifyRecordsPerSec!.status, 'met');
    assert.equal(t.auditVerifyHttpRecordsPerSecPglite!.status, 'met');
    assert.equal(t.auditVerifyHttpRecordsPerSecPostgres!.status, 'missed');
    assert.equal(t.auditVerifyHttpRecordsPerSecPostgres!.target, '>= 50000');
    // No bench/crypto: the classical ratios are not measured, the PQ rates fall back to bench/api's ceilings.
    assert.equal(t.ed25519SignInProcessOverNodeCrypto!.status, 'not measured');
    assert.match(t.ed25519SignInProcessOverNodeCrypto!.note!, /bench\/crypto did not run/);
    assert.equal(t.mlDsa65SignPerSec!.value, 120);
    assert.equal(t.mlDsa65SignPerSec!.status, 'missed');
    assert.match(t.mlDsa65SignPerSec!.source, /^api:/);
  });

  it("takes bench/crypto's figures when it ran, whatever their keys are called", () => {
    const crypto = {
      targets: {
        ed25519SignOverNodeCrypto: { value: 0.93, target: '>= 0.8', status: 'met' },
        ecdsaP256SignOverNodeCrypto: { value: 0.7, target: '>= 0.8', status: 'missed' },
        mlDsa65SignPerSec: { value: 1500, target: '>= 1000', status: 'met' },
        mlKem768DecapsulatePerSec: { value: 6000, target: '>= 5000', status: 'met' },
      },
    };
    const t = issueTable({ api: { figures: api }, crypto: { figures: crypto } });
    assert.equal(t.ed25519SignInProcessOverNodeCrypto!.value, 0.93);
    assert.equal(t.ecdsaP256SignInProcessOverNodeCrypto!.status, 'missed');
    assert.equal(t.mlDsa65SignPerSec!.value, 1500);
    assert.match(t.mlDsa65SignPerSec!.source, /^crypto:/);
    assert.equal(t.mlKem768DecapsulatePerSec!.value, 6000);
  });

  it("reads bench/crypto's rows (cases: [{case, keyward, ratio}])", () => {
    const crypto = {
      bench: 'crypto',
      cases: [
        { case: 'Ed25519 sign', keyward: 30_000, baseline: 33_000, ratio: 0.91 },
        { case: 'ECDSA P-256 sign', keyward: 20_000, baseline: 30_000, ratio: 0.66 },
        { case: 'ML-DSA-65 sign', keyward: 1_600, baseline: 170, ratio: 9.4 },
        { case: 'ML-DSA-65 verify', keyward: 5_000, baseline: 900, ratio: 5.5 },
        { case: 'ML-KEM-768 decapsulate', keyward: 7_000, baseline: 1_000, ratio: 7 },
      ],
    };
    const t = issueTable({ crypto: { figures: crypto } });
    assert.equal(t.ed25519SignInProcessOverNodeCrypto!.value, 0.91);
    assert.equal(t.ecdsaP256SignInProcessOverNodeCrypto!.value, 0.66);
    assert.equal(t.ecdsaP256SignInProcessOverNodeCrypto!.status, 'missed');
    assert.equal(t.mlDsa65SignPerSec!.value, 1_600);
    assert.equal(t.mlKem768DecapsulatePerSec!.value, 7_000);
    assert.equal(t.mlKem768DecapsulatePerSec!.status, 'met');
  });

  it('a bench that failed leaves its figures not measured, with the reason', () => {
    const t = issueTable({ audit: { error: 'exit 1: the log is not gap-free' } });
    assert.equal(t.encryptAuditOnOverOffPostgres!.status, 'not measured');
    assert.equal(t.encryptAuditOnOverOffPostgres!.value, null);
    assert.match(t.encryptAuditOnOverOffPostgres!.note!, /bench\/audit failed: exit 1/);
    assert.match(t.encryptPipelineOverBarePglite!.note!, /bench\/api did not run/);
  });
});
