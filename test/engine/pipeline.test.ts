/**
 * The request pipeline (engine/pipeline.ts) in-process, through `Hsm.request`, without the HTTP
 * server: sealed and uninitialized refusals (nothing recorded), unauthenticated (recorded, with the
 * token's HMAC and no key), the key loaded only after authentication, a deny, a parked request as a
 * value (with its record committed beside the approval), no parking without an origin, a state
 * change's record in its transaction, fail-closed audit: no value without a durable record, and a
 * bindings read that never answers failing its decisions at the storage deadline.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { KeywardError } from '../../lib/errors.js';
import { decodeRecord } from '../../engine/audit/math/record.js';
import type { AuditRecord } from '../../engine/audit/math/record.js';
import { issueToken } from '../../engine/auth/tokens.js';
import { devBootstrap } from '../../engine/dev.js';
import { Hsm } from '../../engine/hsm.js';
import { readAuditRecords } from '../../engine/store/index.js';
import { statusFor } from '../../server/errors.js';
import { countedHsm } from '../helpers/counted-db.js';
import { openTestStore } from '../helpers/store.js';

const ORIGIN = () => ({ method: 'DELETE', path: '/v1/keys/k-del', body: {} });

async function records(hsm: Hsm): Promise<AuditRecord[]> {
  return (await readAuditRecords(hsm.store.db, 0, 1_000_000)).map((r) => decodeRecord(r.leaf));
}

async function rejects(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => err instanceof KeywardError && err.code === code);
}

describe('the request pipeline (engine/pipeline.ts)', () => {
  let hsm: Hsm;
  let root: string;
  let app: string;
  before(async () => {
    hsm = await Hsm.open({ store: await openTestStore(), statusOf: statusFor });
  });
  after(() => hsm?.close());

  it('not initialized, then sealed: refused before anything runs, and nothing is recorded', async () => {
    let ran = false;
    await rejects(
      hsm.request({ bearer: 'x', operation: 'random' }, async () => (ran = true)),
      'NOT_INITIALIZED',
    );
    root = (await devBootstrap(hsm)).rootToken;
    app = (await issueToken(hsm.store.db, { principal: 'app-1', roles: ['app'], now: new Date() })).token;
    // Sealing is itself a request (recorded); what comes after it is refused unrecorded.
    const sealed = await hsm.request({ bearer: root, operation: 'sys.seal' }, (a) => a.seal());
    assert.equal(sealed.kind, 'done');
    const before = (await records(hsm)).length;
    await rejects(
      hsm.request({ bearer: root, operation: 'random' }, async () => (ran = true)),
      'SEALED',
    );
    assert.equal(ran, false);
    assert.equal((await records(hsm)).length, before);
    // Unseal again for the rest (a fresh dev HSM is simpler than re-submitting the share).
    await hsm.close();
    hsm = await Hsm.open({ store: await openTestStore(), statusOf: statusFor });
    root = (await devBootstrap(hsm)).rootToken;
    app = (await issueToken(hsm.store.db, { principal: 'app-1', roles: ['app'], now: new Date() })).token;
  });

  it('unauthenticated: refused before the key is loaded; the record has the token HMAC, no principal and no key', async () => {
    let ran = false;
    await rejects(
      hsm.request(
        { bearer: 'kwt_wrong', operation: 'encrypt', key: { name: 'no-such-key' }, requestId: 'req-unauth' },
        async () => (ran = true),
      ),
      'UNAUTHENTICATED',
    );
    assert.equal(ran, false);
    const rec = (await records(hsm)).find((r) => r.requestId === 'req-unauth')!;
    assert.equal(rec.status, 401);
    assert.equal(rec.principal, null);
    // A missing key is not revealed to a stranger: the failure is authentication, not KEY_NOT_FOUND.
    assert.equal(rec.key, null);
    assert.match(String(rec.details?.token), /^hmac-sha256:1:/);
    assert.ok(!JSON.stringify(rec).includes('kwt_wrong'));
  });

  it('loads the key after authentication and hands the row to the operation; a missing key is KEY_NOT_FOUND, recorded', async () => {
    const created = await hsm.request(
      {
        bearer: root,
        operation: 'key.create',
        newKey: { name: 'k1', type: 'aes256-gcm', version: 1, labels: {} },
        origin: ORIGIN,
      },
      (a) => a.createKey({ name: 'k1', type: 'aes256-gcm' }),
    );
    assert.equal(created.kind, 'done');
    const out = await hsm.request(
      { bearer: app, operation: 'encrypt', key: { name: 'k1' }, requestId: 'req-enc' },
      async (a) => {
        assert.equal(a.key.name, 'k1');
        return a.encrypt(new TextEncoder().encode('hi'));
      },
    );
    assert.equal(out.kind, 'done');
    assert.match(out.kind === 'done' ? out.value.ciphertext : '', /^kw:v1:/);
    await rejects(
      hsm.request(
        { bearer: app, operation: 'encrypt', key: { name: 'k-missing' }, requestId: 'req-missing' },
        async () => 1,
      ),
      'KEY_NOT_FOUND',
    );
    const recs = await records(hsm);
    const enc = recs.find((r) => r.requestId === 'req-enc')!;
    assert.deepEqual(
      [enc.principal, enc.key, enc.keyVersion, enc.decision, enc.status],
      ['app-1', 'k1', 1, 'allow', 200],
    );
    const missing = recs.find((r) => r.requestId === 'req-missing')!;
    assert.deepEqual(
      [missing.principal, missing.key, missing.status, missing.code],
      ['app-1', null, 404, 'KEY_NOT_FOUND'],
    );
  });

  it('a deny is POLICY_DENIED with the reason, recorded with the decision; the operation never runs', async () => {
    let ran = false;
    await assert.rejects(
      hsm.request({ bearer: app, operation: 'sys.rotate', requestId: 'req-deny' }, async () => (ran = true)),
      (err: unknown) =>
        err instanceof KeywardError &&
        err.code === 'POLICY_DENIED' &&
        /no role of \[app\] permits sys\.rotate/.test(err.message),
    );
    assert.equal(ran, false);
    const rec = (await records(hsm)).find((r) => r.requestId === 'req-deny')!;
    assert.deepEqual([rec.decision, rec.status, rec.code], ['deny', 403, 'POLICY_DENIED']);
    assert.equal(rec.policies.length, 1);
  });

  it('require_approval parks the request as a value: the approval, and a 202 record naming it; nothing runs', async () => {
    await hsm.request(
      { bearer: root, operation: 'key.create', newKey: { name: 'k-del', type: 'aes256-gcm', version: 1, labels: {} } },
      (a) => a.createKey({ name: 'k-del', type: 'aes256-gcm' }),
    );
    await hsm.request({ bearer: root, operation: 'key.config', key: { name: 'k-del', anyState: true } }, (a) =>
      a.configureKey({ deletionAllowed: true }),
    );
    let ran = false;
    const out = await hsm.request(
      {
        bearer: root,
        operation: 'key.delete',
        key: { name: 'k-del', anyState: true },
        origin: ORIGIN,
        requestId: 'req-park',
      },
      async () => (ran = true),
    );
    assert.equal(ran, false);
    assert.equal(out.kind, 'parked');
    const approval = out.kind === 'parked' ? out.approval : undefined;
    assert.equal(approval?.required, 2);
    assert.equal(approval?.group, 'operator');
    assert.match(approval?.approvalId ?? '', /^apr_[0-9a-f]{32}$/);
    const rec = (await records(hsm)).find((r) => r.requestId === 'req-park')!;
    assert.deepEqual(
      [rec.status, rec.code, rec.approvalId, rec.decision, rec.key],
      [202, 'APPROVAL_PENDING', approval?.approvalId, 'require_approval', 'k-del'],
    );
  });

  it('without an HTTP origin a require_approval is APPROVAL_REQUIRED (in-process callers cannot come back), recorded', async () => {
    await rejects(
      hsm.request(
        { bearer: root, operation: 'key.delete', key: { name: 'k-del', anyState: true }, requestId: 'req-noorigin' },
        async () => 1,
      ),
      'APPROVAL_REQUIRED',
    );
    const rec = (await records(hsm)).find((r) => r.requestId === 'req-noorigin')!;
    assert.deepEqual([rec.status, rec.code], [403, 'APPROVAL_REQUIRED']);
  });

  it('a precheck refuses before parking: no approval is created', async () => {
    await hsm.request(
      { bearer: root, operation: 'key.create', newKey: { name: 'k-keep', type: 'aes256-gcm', version: 1, labels: {} } },
      (a) => a.createKey({ name: 'k-keep', type: 'aes256-gcm' }),
    );
    const precheck = () => {
      throw new KeywardError('KEY_DELETION_NOT_ALLOWED', 'not allowed');
    };
    await rejects(
      hsm.request(
        {
          bearer: root,
          operation: 'key.delete',
          key: { name: 'k-keep', anyState: true },
          origin: ORIGIN,
          precheck,
          requestId: 'req-pre',
        },
        async () => 1,
      ),
      'KEY_DELETION_NOT_ALLOWED',
    );
    const rec = (await records(hsm)).find((r) => r.requestId === 'req-pre')!;
    assert.deepEqual([rec.approvalId, rec.code], [null, 'KEY_DELETION_NOT_ALLOWED']);
  });

  it('a state change commits its record in its own transaction (with the change); a read through the queue', async () => {
    const out = await hsm.request(
      { bearer: root, operation: 'key.rotate', key: { name: 'k1' }, requestId: 'req-rot' },
      (a) => a.rotateKey(),
    );
    assert.equal(out.kind === 'done' && out.value.latestVersion, 2);
    const rec = (await records(hsm)).find((r) => r.requestId === 'req-rot')!;
    assert.deepEqual([rec.status, rec.key], [200, 'k1']);
  });

  it('fails closed: when the audit record cannot be committed, the caller gets AUDIT_UNAVAILABLE, not the value', async () => {
    const audit = hsm.audit!;
    const append = audit.append.bind(audit);
    audit.append = async () => {
      throw new KeywardError('AUDIT_UNAVAILABLE', 'the audit log is unavailable');
    };
    try {
      let ran = false;
      await rejects(
        hsm.request({ bearer: app, operation: 'encrypt', key: { name: 'k1' } }, async (a) => {
          ran = true;
          return a.encrypt(new TextEncoder().encode('secret'));
        }),
        'AUDIT_UNAVAILABLE',
      );
      assert.equal(ran, true, 'the operation ran, but its value was withheld');
      // A state change's record commits in its transaction: when that fails, the change rolls back.
      const appendTx = audit.appendInTransaction.bind(audit);
      audit.appendInTransaction = async () => {
        throw new Error('disk full');
      };
      try {
        await rejects(
          hsm.request({ bearer: root, operation: 'key.rotate', key: { name: 'k1' } }, (a) => a.rotateKey()),
          'AUDIT_UNAVAILABLE',
        );
      } finally {
        audit.appendInTransaction = appendTx;
      }
    } finally {
      audit.append = append;
    }
    const info = await hsm.request({ bearer: root, operation: 'key.read', key: { name: 'k1' } }, (a) => a.keyInfo());
    assert.equal(
      info.kind === 'done' && info.value.latestVersion,
      2,
      'the rotation whose record failed was rolled back',
    );
  });
});

describe("a record's time", () => {
  it("is the request's start as toISOString spells it, whatever milliseconds and seconds follow each other", async () => {
    // The pipeline spells a time from its second's text and the milliseconds when the second is the
    // one it spelled last: milliseconds that need padding, the same second again after another, the
    // next second, a minute and a day boundary.
    const base = Math.floor(Date.now() / 86_400_000) * 86_400_000 + 86_399_000; // 23:59:59.000 today
    const offsets = [0, 5, 50, 999, 1000, 1007, 998, 60_000, 60_042, 3, 1000, 1000, 86_400_123];
    let at = base;
    const hsm = await Hsm.open({ store: await openTestStore(), statusOf: statusFor, now: () => new Date(at) });
    try {
      const { rootToken } = await devBootstrap(hsm);
      const before = (await records(hsm)).length;
      for (const o of offsets) {
        at = base + o;
        await hsm.request({ bearer: rootToken, operation: 'random' }, async () => 1);
      }
      const times = (await records(hsm)).slice(before).map((r) => r.time);
      assert.deepEqual(
        times,
        offsets.map((o) => new Date(base + o).toISOString()),
      );
    } finally {
      await hsm.close();
    }
  });
});

describe('a bindings read that never answers', { timeout: 5000 }, () => {
  it('fails the decisions that joined it at the storage deadline (503), and a request after it reads again', async () => {
    const { hsm, counted } = await countedHsm(100); // a fixed clock: the bindings go stale only when forgotten
    try {
      const { rootToken } = await devBootstrap(hsm);
      const random = () => hsm.request({ bearer: rootToken, operation: 'random' }, async () => 1);
      await random(); // the token is cached: the next SELECT a request sends is the bindings read
      hsm.policies.forgetBindings();
      counted.holdNext(); // never released: a database that stopped answering
      const before = counted.reads('policy_bindings');
      const start = performance.now();
      await Promise.all(Array.from({ length: 3 }, () => rejects(random(), 'STORAGE_UNAVAILABLE')));
      assert.ok(performance.now() - start < 1000, 'answered at about the deadline');
      assert.equal(counted.reads('policy_bindings') - before, 1, 'they shared the one read');
      await random();
      assert.equal(counted.reads('policy_bindings') - before, 2, 'a new read, not the stuck one');
    } finally {
      await hsm.close();
    }
  });
});
