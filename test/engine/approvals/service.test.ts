/**
 * ApprovalService (docs/approvals.md; its place in docs/architecture.md) against a real store and
 * barrier: parking, the state machine (pending → executing → executed|failed; denied; expired), the
 * separation-of-duties rules, visibility, paging, the kept body, and the pipeline's CommitScope.
 * Races are in concurrency.test.ts.
 *
 * There is no 'approved' state: approvals accumulate on a pending request, and whether they are
 * enough is the policies' decision at execution (openExecution reports the count).
 * @module
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  APPROVAL_PAGE_MAX,
  APPROVAL_STATES,
  APPROVAL_TTL_MS_DEFAULT,
  ApprovalService,
  MAX_DENY_REASON,
  approvalBodyPath,
  canonicalBody,
} from '../../../engine/approvals/index.js';
import type { ApprovalView } from '../../../engine/approvals/index.js';
import { isKeywardError } from '../../../lib/errors.js';
import { CommitScope, getEntry, putEntry } from '../../../engine/store/index.js';
import type { Db } from '../../../engine/store/index.js';
import { approvals as approvalsTable } from '../../../engine/store/schema.js';
import { eq } from 'drizzle-orm';
import { openUnsealed, type Unsealed } from '../keys/helpers.js';
import { Clock, ORIGIN, code, execInput, fresh, hmac, makeService, park } from './helpers.js';

const ID_RE = /^apr_[0-9a-f]{32}$/;
/** APPROVAL_NOT_PENDING naming the state it is in. */
const notPending = (state: string) => (e: unknown) =>
  isKeywardError(e, 'APPROVAL_NOT_PENDING') && (e as { details?: { state?: string } }).details?.state === state;

let u: Unsealed;
const clock = new Clock();
let svc: ApprovalService;
let calls: ReturnType<typeof makeService>['calls'];

before(async () => {
  u = await openUnsealed();
  ({ svc, calls } = makeService(u, clock));
});
after(() => u.close());

describe('ApprovalService: parking and reading', () => {
  it('create parks a pending approval: the 202 body, the row, the keyed digest, the sealed body at approvals/<id>/body', async () => {
    const p = fresh();
    const before = calls.sealed.length;
    const parked = await park(svc, clock, p.requester, p.group);
    const createdAt = clock.now();
    assert.match(parked.approvalId, ID_RE);
    // The id starts with the creation time in hex (ids sort by creation).
    assert.equal(parked.approvalId.slice(4, 16), createdAt.getTime().toString(16).padStart(12, '0'));
    assert.deepEqual(parked, {
      approvalId: parked.approvalId,
      required: 2,
      group: p.group,
      reason: 'deleting a key needs two operators',
      expiresAt: new Date(createdAt.getTime() + APPROVAL_TTL_MS_DEFAULT).toISOString(),
    });
    const view = await svc.get(parked.approvalId, p.requester);
    assert.deepEqual(view, {
      id: parked.approvalId,
      state: 'pending',
      requester: p.requester.principal,
      operation: 'key.delete',
      key: 'orders',
      method: 'DELETE',
      path: '/v1/keys/orders?force=true',
      requestDigest: hmac('{"n":1,"reason":"rotation done"}'),
      policies: ['a'.repeat(64)],
      required: 2,
      group: p.group,
      reason: 'deleting a key needs two operators',
      approvedBy: [],
      approvals: 0,
      createdAt: createdAt.toISOString(),
      expiresAt: parked.expiresAt,
      finishedAt: null,
      deniedBy: null,
      denyReason: null,
      resultStatus: null,
      resultCode: null,
    } satisfies ApprovalView);
    // sealBody saw the path and the canonical (RFC 8785) body; the store holds ciphertext.
    const path = approvalBodyPath(parked.approvalId);
    assert.equal(path, `approvals/${parked.approvalId}/body`);
    assert.deepEqual(calls.sealed.slice(before), [{ path, text: '{"n":1,"reason":"rotation done"}' }]);
    const blob = await getEntry(u.store.db, path);
    assert.ok(blob && blob.length > 32);
    assert.equal(Buffer.from(blob).includes(Buffer.from('rotation done')), false);
    assert.equal(svc.digest('{}'), hmac('{}'));
  });

  it('target names the method and path (for dispatch) to the requester only; anyone else and unknown ids get undefined, malformed ones VALIDATION_FAILED', async () => {
    const p = fresh();
    const { approvalId } = await park(svc, clock, p.requester, p.group);
    assert.deepEqual(await svc.target(approvalId, p.requester.principal), {
      method: 'DELETE',
      path: '/v1/keys/orders?force=true',
    });
    assert.equal(await svc.target(approvalId, p.requester.principal + '-other'), undefined);
    assert.equal(await svc.target('apr_' + '0'.repeat(32), p.requester.principal), undefined);
    await assert.rejects(svc.target('apr_XYZ', p.requester.principal), code('VALIDATION_FAILED'));
    await assert.rejects(
      svc.target('apr_' + '0'.repeat(32) + "' OR 1=1", p.requester.principal),
      code('VALIDATION_FAILED'),
    );
  });

  it('refuses a bad quorum or TTL before writing anything', async () => {
    const p = fresh();
    for (const required of [0, -1, 1.5, Number.NaN]) {
      await assert.rejects(park(svc, clock, p.requester, p.group, { required }), RangeError);
    }
    assert.deepEqual((await svc.list(p.requester, { limit: 10 })).approvals, []);
    for (const ttlMs of [0, -5, 1.5])
      assert.throws(() => new ApprovalService(u.store.db, { now: clock.now, digest: hmac, ttlMs }), RangeError);
  });

  it('get: the requester, the approver group and admins see an approval; others get APPROVAL_NOT_FOUND, as for an unknown id', async () => {
    const p = fresh();
    const { approvalId } = await park(svc, clock, p.requester, p.group);
    for (const who of [p.requester, p.a1, p.admin, { principal: p.requester.principal, roles: [] }]) {
      assert.equal((await svc.get(approvalId, who)).id, approvalId, who.principal);
    }
    for (const who of [
      p.stranger,
      { principal: 'x', roles: [] },
      { principal: 'y', roles: [`${p.group}-other`, 'operator'] },
    ]) {
      await assert.rejects(svc.get(approvalId, who), code('APPROVAL_NOT_FOUND'), who.principal);
    }
    await assert.rejects(svc.get('apr_' + 'f'.repeat(32), p.admin), code('APPROVAL_NOT_FOUND'));
    await assert.rejects(svc.get('not-an-id', p.admin), code('VALIDATION_FAILED'));
  });
});

describe('ApprovalService: approve and deny', () => {
  it('the requester can approve or deny neither their own request, even holding the approver role', async () => {
    const p = fresh();
    const { approvalId } = await park(svc, clock, p.requester, p.group);
    assert.ok(p.requester.roles.includes(p.group));
    await assert.rejects(svc.approve(approvalId, p.requester), code('APPROVAL_SELF'));
    await assert.rejects(svc.deny(approvalId, p.requester, 'no'), code('APPROVAL_SELF'));
    assert.equal((await svc.get(approvalId, p.requester)).state, 'pending');
  });

  it('approvers must hold the named role: admin alone is APPROVAL_GROUP; who may not see it is APPROVAL_NOT_FOUND', async () => {
    const p = fresh();
    const { approvalId } = await park(svc, clock, p.requester, p.group);
    await assert.rejects(svc.approve(approvalId, p.admin), code('APPROVAL_GROUP'));
    await assert.rejects(svc.deny(approvalId, p.admin, undefined), code('APPROVAL_GROUP'));
    // Other roles, no roles: they may not see it, so they are told what an unknown id is told.
    for (const who of [p.stranger, { principal: 'nobody', roles: [] }]) {
      await assert.rejects(svc.approve(approvalId, who), code('APPROVAL_NOT_FOUND'), who.principal);
      await assert.rejects(svc.deny(approvalId, who, undefined), code('APPROVAL_NOT_FOUND'), who.principal);
    }
    assert.deepEqual((await svc.get(approvalId, p.admin)).approvedBy, []);
  });

  it('approvals accumulate in order, each principal once (APPROVAL_DUPLICATE); the request stays pending and openExecution counts them', async () => {
    const p = fresh();
    const { approvalId } = await park(svc, clock, p.requester, p.group);
    assert.equal((await svc.openExecution(approvalId, execInput(p.requester))).approvals, 0);
    clock.tick();
    const v1 = await svc.approve(approvalId, p.a1);
    assert.deepEqual([v1.state, v1.approvedBy, v1.approvals], ['pending', [p.a1.principal], 1]);
    await assert.rejects(svc.approve(approvalId, p.a1), code('APPROVAL_DUPLICATE'));
    // The same principal with other roles is still the same principal.
    await assert.rejects(
      svc.approve(approvalId, { principal: p.a1.principal, roles: [p.group, 'admin'] }),
      code('APPROVAL_DUPLICATE'),
    );
    clock.tick();
    const v2 = await svc.approve(approvalId, p.a2);
    assert.deepEqual([v2.state, v2.approvedBy, v2.approvals], ['pending', [p.a1.principal, p.a2.principal], 2]);
    // Past the quorum approvals still count (the policies decide what is enough).
    clock.tick();
    assert.equal((await svc.approve(approvalId, p.a3)).approvals, 3);
    assert.deepEqual(await svc.openExecution(approvalId, execInput(p.requester)), { id: approvalId, approvals: 3 });
    assert.deepEqual((await svc.get(approvalId, p.admin)).approvedBy, [p.a1.principal, p.a2.principal, p.a3.principal]);
  });

  it('one denial is final: who, why (cut to MAX_DENY_REASON), when; the kept body goes; nothing else is possible', async () => {
    const p = fresh();
    const { approvalId } = await park(svc, clock, p.requester, p.group);
    await svc.approve(approvalId, p.a1);
    assert.ok(await getEntry(u.store.db, approvalBodyPath(approvalId)));
    clock.tick(5);
    const v = await svc.deny(approvalId, p.a2, 'x'.repeat(MAX_DENY_REASON + 50));
    assert.equal(v.state, 'denied');
    assert.equal(v.deniedBy, p.a2.principal);
    assert.equal(v.denyReason, 'x'.repeat(MAX_DENY_REASON));
    assert.equal(v.finishedAt, clock.now().toISOString());
    assert.deepEqual(v.approvedBy, [p.a1.principal]);
    assert.equal(await getEntry(u.store.db, approvalBodyPath(approvalId)), undefined);
    await assert.rejects(svc.approve(approvalId, p.a3), notPending('denied'));
    await assert.rejects(svc.deny(approvalId, p.a3, 'again'), notPending('denied'));
    await assert.rejects(svc.openExecution(approvalId, execInput(p.requester)), notPending('denied'));
    await assert.rejects(svc.assertExecutable(approvalId, p.requester), notPending('denied'));
    await assert.rejects(svc.claim(approvalId), notPending('denied'));
    assert.equal(await svc.storedBody(approvalId, p.requester.principal), undefined);
    assert.equal((await svc.get(approvalId, p.requester)).state, 'denied');

    const other = await park(svc, clock, p.requester, p.group);
    assert.equal((await svc.deny(other.approvalId, p.a1, undefined)).denyReason, null);
  });

  it('a rejected approve writes nothing; unknown and malformed ids are APPROVAL_NOT_FOUND / VALIDATION_FAILED', async () => {
    const p = fresh();
    await assert.rejects(svc.approve('apr_' + '1'.repeat(32), p.a1), code('APPROVAL_NOT_FOUND'));
    await assert.rejects(svc.deny('apr_' + '1'.repeat(32), p.a1, 'x'), code('APPROVAL_NOT_FOUND'));
    await assert.rejects(svc.approve('apr_1', p.a1), code('VALIDATION_FAILED'));
  });
});

describe('ApprovalService: execution', () => {
  it('openExecution: only the requester, for the same operation, key, method, path and body (by digest, canonical form)', async () => {
    const p = fresh();
    const { approvalId } = await park(svc, clock, p.requester, p.group);
    await assert.rejects(
      svc.openExecution(approvalId, execInput(p.requester, ORIGIN, { principal: p.a1.principal })),
      code('APPROVAL_NOT_REQUESTER'),
    );
    await assert.rejects(
      svc.openExecution(approvalId, execInput(p.requester, ORIGIN, { operation: 'key.rotate' })),
      code('APPROVAL_MISMATCH'),
    );
    await assert.rejects(
      svc.openExecution(approvalId, execInput(p.requester, ORIGIN, { key: 'payments' })),
      code('APPROVAL_MISMATCH'),
    );
    await assert.rejects(
      svc.openExecution(approvalId, execInput(p.requester, ORIGIN, { key: null })),
      code('APPROVAL_MISMATCH'),
    );
    await assert.rejects(
      svc.openExecution(approvalId, execInput(p.requester, { ...ORIGIN, method: 'POST' })),
      code('APPROVAL_MISMATCH'),
    );
    await assert.rejects(
      svc.openExecution(approvalId, execInput(p.requester, { ...ORIGIN, path: '/v1/keys/orders' })),
      code('APPROVAL_MISMATCH'),
    );
    await assert.rejects(
      svc.openExecution(approvalId, execInput(p.requester, { ...ORIGIN, body: { reason: 'rotation done', n: 2 } })),
      code('APPROVAL_DIGEST_MISMATCH'),
    );
    await assert.rejects(
      svc.openExecution(approvalId, execInput(p.requester, { ...ORIGIN, body: undefined })),
      code('APPROVAL_DIGEST_MISMATCH'),
    );
    // The same body with its keys in another order is the same canonical body.
    assert.deepEqual(
      await svc.openExecution(
        approvalId,
        execInput(p.requester, { ...ORIGIN, body: { n: 1, reason: 'rotation done' } }),
      ),
      { id: approvalId, approvals: 0 },
    );
    // A request with no body parks as `{}` and executes with none.
    const empty = await park(svc, clock, p.requester, p.group, {
      origin: { method: 'POST', path: '/v1/keys/k/rotate', body: undefined },
      operation: 'key.rotate',
      key: 'k',
    });
    const noBody = { method: 'POST', path: '/v1/keys/k/rotate', body: undefined };
    assert.equal(
      (await svc.openExecution(empty.approvalId, execInput(p.requester, noBody, { operation: 'key.rotate', key: 'k' })))
        .approvals,
      0,
    );
    assert.equal(canonicalBody(undefined), '{}');
    // Checks only: nothing moved.
    assert.equal((await svc.get(approvalId, p.requester)).state, 'pending');
  });

  it('assertExecutable: strangers get APPROVAL_NOT_FOUND, approvers and admins APPROVAL_NOT_REQUESTER, the requester passes', async () => {
    const p = fresh();
    const { approvalId } = await park(svc, clock, p.requester, p.group);
    await assert.rejects(svc.assertExecutable(approvalId, p.stranger), code('APPROVAL_NOT_FOUND'));
    await assert.rejects(svc.assertExecutable(approvalId, p.a1), code('APPROVAL_NOT_REQUESTER'));
    await assert.rejects(svc.assertExecutable(approvalId, p.admin), code('APPROVAL_NOT_REQUESTER'));
    await svc.assertExecutable(approvalId, p.requester);
  });

  it('claim moves pending → executing once; settle records executed; the body goes; nothing runs twice', async () => {
    const p = fresh();
    const { approvalId } = await park(svc, clock, p.requester, p.group);
    await svc.approve(approvalId, p.a1);
    await svc.approve(approvalId, p.a2);
    await svc.claim(approvalId);
    assert.equal((await svc.get(approvalId, p.requester)).state, 'executing');
    await assert.rejects(svc.claim(approvalId), notPending('executing'));
    await assert.rejects(svc.approve(approvalId, p.a3), notPending('executing'));
    await assert.rejects(svc.deny(approvalId, p.a3, 'late'), notPending('executing'));
    await assert.rejects(svc.openExecution(approvalId, execInput(p.requester)), notPending('executing'));
    await assert.rejects(svc.assertExecutable(approvalId, p.requester), notPending('executing'));
    assert.equal(await svc.storedBody(approvalId, p.requester.principal), undefined, 'no body once executing');
    clock.tick(7);
    await svc.settle(approvalId, { status: 204, code: null });
    const v = await svc.get(approvalId, p.requester);
    assert.deepEqual(
      [v.state, v.resultStatus, v.resultCode, v.finishedAt],
      ['executed', 204, null, clock.now().toISOString()],
    );
    assert.equal(await getEntry(u.store.db, approvalBodyPath(approvalId)), undefined);
    await assert.rejects(svc.claim(approvalId), notPending('executed'));
    // A second settle does not rewrite the outcome.
    await svc.settle(approvalId, { status: 500, code: 'INTERNAL' });
    assert.deepEqual(
      [(await svc.get(approvalId, p.requester)).state, (await svc.get(approvalId, p.requester)).resultStatus],
      ['executed', 204],
    );
  });

  it('settle with an error code records failed, which is final too', async () => {
    const p = fresh();
    const { approvalId } = await park(svc, clock, p.requester, p.group, { required: 1 });
    await svc.approve(approvalId, p.a1);
    await svc.claim(approvalId);
    await svc.settle(approvalId, { status: 404, code: 'KEY_NOT_FOUND' });
    const v = await svc.get(approvalId, p.requester);
    assert.deepEqual([v.state, v.resultStatus, v.resultCode], ['failed', 404, 'KEY_NOT_FOUND']);
    await assert.rejects(svc.claim(approvalId), notPending('failed'));
    await assert.rejects(svc.openExecution(approvalId, execInput(p.requester)), notPending('failed'));
  });

  it('settle of an approval that was never claimed changes nothing', async () => {
    const p = fresh();
    const { approvalId } = await park(svc, clock, p.requester, p.group);
    await svc.settle(approvalId, { status: 200, code: null });
    const v = await svc.get(approvalId, p.requester);
    assert.deepEqual([v.state, v.resultStatus, v.finishedAt], ['pending', null, null]);
  });
});

describe('ApprovalService: expiry', () => {
  const TTL = 60_000;

  it('expireDue moves overdue pending approvals to expired once, in one transaction with onExpired and the body removal', async () => {
    const p = fresh();
    const seen: Array<{ id: string; state: string; body: boolean }> = [];
    const mine = new Set<string>();
    const { svc: s } = makeService(u, clock, {
      ttlMs: TTL,
      onExpired: async (tx: Db, row) => {
        if (!mine.has(row.id)) return;
        // Inside the expiry's transaction: the row is already expired and its body gone.
        const [inTx] = await tx
          .select({ state: approvalsTable.state })
          .from(approvalsTable)
          .where(eq(approvalsTable.id, row.id));
        seen.push({
          id: row.id,
          state: inTx!.state,
          body: (await getEntry(tx, approvalBodyPath(row.id))) !== undefined,
        });
        await putEntry(tx, `test/expired/${row.id}`, new Uint8Array([1]));
      },
    });
    const a = (await park(s, clock, p.requester, p.group)).approvalId;
    const b = (await park(s, clock, p.requester, p.group)).approvalId;
    const executing = (await park(s, clock, p.requester, p.group, { required: 1 })).approvalId;
    await s.approve(executing, p.a1);
    await s.claim(executing);
    [a, b, executing].forEach((id) => mine.add(id));
    clock.tick(TTL - 3); // a's expiry is 1 ms away
    await s.expireDue();
    assert.equal(seen.length, 0);
    clock.tick(1);
    await s.expireDue();
    assert.deepEqual(seen, [{ id: a, state: 'expired', body: false }]);
    clock.tick(10);
    await s.expireDue();
    assert.deepEqual(
      seen.map((x) => x.id),
      [a, b],
    );
    assert.equal(await s.expireDue(), 0);
    assert.equal(seen.length, 2, 'each expiry is reported once');
    // onExpired's write committed with the expiry.
    assert.ok(await getEntry(u.store.db, `test/expired/${a}`));
    const v = await s.get(a, p.requester);
    assert.equal(v.state, 'expired');
    assert.equal(v.finishedAt, new Date(Date.parse(v.expiresAt)).toISOString());
    assert.equal(await getEntry(u.store.db, approvalBodyPath(a)), undefined);
    // An execution in progress does not expire.
    assert.equal((await s.get(executing, p.requester)).state, 'executing');
    // Nothing can be done with an expired approval.
    await assert.rejects(s.approve(a, p.a1), code('APPROVAL_EXPIRED'));
    await assert.rejects(s.deny(a, p.a1, 'x'), code('APPROVAL_EXPIRED'));
    await assert.rejects(s.claim(a), code('APPROVAL_EXPIRED'));
    await assert.rejects(s.openExecution(a, execInput(p.requester)), code('APPROVAL_EXPIRED'));
    await assert.rejects(s.assertExecutable(a, p.requester), code('APPROVAL_EXPIRED'));
    assert.equal(await s.storedBody(a, p.requester.principal), undefined);
  });

  it('expiry is noticed lazily: a read at the expiry time reports it; just before, approve still works', async () => {
    const p = fresh();
    const seen: string[] = [];
    const { svc: s } = makeService(u, clock, { ttlMs: TTL, onExpired: async (_tx, row) => void seen.push(row.id) });
    const { approvalId } = await park(s, clock, p.requester, p.group);
    const { approvalId: other } = await park(s, clock, p.requester, p.group);
    clock.tick(TTL - 2); // approvalId's expiry is 1 ms away
    await s.approve(approvalId, p.a1);
    clock.tick(1);
    // The stored body is refused at the expiry time even before anyone ran expireDue.
    assert.equal(await s.storedBody(approvalId, p.requester.principal), undefined);
    await assert.rejects(s.claim(approvalId), code('APPROVAL_EXPIRED'));
    assert.ok(seen.includes(approvalId));
    clock.tick(1);
    assert.equal(
      (await s.list(p.requester, { limit: 10, state: 'expired' })).approvals.some((v) => v.id === other),
      true,
    );
  });

  it('an onExpired that throws rolls the expiry back (state, body, its own writes); the next call reports it again', async () => {
    const p = fresh();
    let fail = true;
    const reported: string[] = [];
    let target = '';
    const { svc: s } = makeService(u, clock, {
      ttlMs: TTL,
      onExpired: async (tx, row) => {
        if (row.id !== target) return;
        await putEntry(tx, `test/rolled-back/${row.id}`, new Uint8Array([1]));
        if (fail) throw new Error('audit store down');
        reported.push(row.id);
      },
    });
    target = (await park(s, clock, p.requester, p.group)).approvalId;
    clock.tick(TTL);
    await assert.rejects(s.expireDue(), /audit store down/);
    const [row] = await u.store.db.select().from(approvalsTable).where(eq(approvalsTable.id, target));
    assert.equal(row!.state, 'pending');
    assert.ok(await getEntry(u.store.db, approvalBodyPath(target)), 'body still kept');
    assert.equal(await getEntry(u.store.db, `test/rolled-back/${target}`), undefined);
    fail = false;
    await s.expireDue();
    assert.deepEqual(reported, [target]);
    assert.equal((await s.get(target, p.requester)).state, 'expired');
  });
});

describe('ApprovalService: list', () => {
  it('shows the requester their own, approvers their group’s, admins everything; the state filter narrows', async () => {
    const p = fresh();
    const q = fresh();
    const mine = await park(svc, clock, p.requester, p.group);
    const theirs = await park(svc, clock, q.requester, q.group);
    const denied = await park(svc, clock, q.requester, p.group);
    await svc.deny(denied.approvalId, p.a1, 'no');
    const ids = async (actor: typeof p.a1, state?: (typeof APPROVAL_STATES)[number]) =>
      (await svc.list(actor, { limit: APPROVAL_PAGE_MAX, state })).approvals.map((v) => v.id);
    assert.deepEqual(await ids({ principal: p.requester.principal, roles: [] }), [mine.approvalId]);
    assert.deepEqual(await ids(p.a1), [mine.approvalId, denied.approvalId]);
    assert.deepEqual(await ids(p.a1, 'denied'), [denied.approvalId]);
    assert.deepEqual(await ids(p.a1, 'pending'), [mine.approvalId]);
    assert.deepEqual(await ids(p.a1, 'executed'), []);
    assert.deepEqual(await ids(q.requester), [theirs.approvalId, denied.approvalId]);
    assert.deepEqual(await ids({ principal: 'nobody', roles: [] }), []);
    const all = await ids(p.admin);
    for (const id of [mine.approvalId, theirs.approvalId, denied.approvalId]) assert.ok(all.includes(id));
    assert.ok((await ids(p.admin, 'denied')).includes(denied.approvalId));
    assert.equal((await ids(p.admin, 'pending')).includes(denied.approvalId), false);
    // Views carry their approvals.
    const [v] = (await svc.list(p.a1, { limit: 1, state: 'denied' })).approvals;
    assert.equal(v!.deniedBy, p.a1.principal);
  });

  it('pages oldest first by `after`; `next` is the last id, null on the last page; later inserts appear once, at the end', async () => {
    const p = fresh();
    const viewer = p.a1;
    const created: string[] = [];
    for (let i = 0; i < 5; i++) created.push((await park(svc, clock, p.requester, p.group)).approvalId);
    const page1 = await svc.list(viewer, { limit: 2 });
    assert.deepEqual(
      page1.approvals.map((v) => v.id),
      created.slice(0, 2),
    );
    assert.equal(page1.next, created[1]);
    // Inserted between pages: pages already read are not disturbed, the new one comes last.
    created.push((await park(svc, clock, p.requester, p.group)).approvalId);
    const page2 = await svc.list(viewer, { limit: 2, after: page1.next! });
    assert.deepEqual(
      page2.approvals.map((v) => v.id),
      created.slice(2, 4),
    );
    const page3 = await svc.list(viewer, { limit: 2, after: page2.next! });
    assert.deepEqual(
      page3.approvals.map((v) => v.id),
      created.slice(4, 6),
    );
    assert.equal(page3.next, null, 'a full last page has no next');
    const page4 = await svc.list(viewer, { limit: 2, after: created[5]! });
    assert.deepEqual([page4.approvals, page4.next], [[], null]);
    // The whole set in one page equals the pages joined.
    const one = await svc.list(viewer, { limit: 6 });
    assert.deepEqual([one.approvals.map((v) => v.id), one.next], [created, null]);
    assert.equal((await svc.list(viewer, { limit: 5 })).next, created[4]);
    // A cursor that names no approval still pages (ids sort by time).
    assert.deepEqual(
      (await svc.list(viewer, { limit: 10, after: 'apr_' + '0'.repeat(32) })).approvals.map((v) => v.id),
      created,
    );
    // The state filter pages too.
    await svc.deny(created[1]!, p.a2, 'no');
    const pending = await svc.list(viewer, { limit: 2, state: 'pending' });
    assert.deepEqual(
      pending.approvals.map((v) => v.id),
      [created[0], created[2]],
    );
    assert.deepEqual(
      (await svc.list(viewer, { limit: 2, state: 'pending', after: pending.next! })).approvals.map((v) => v.id),
      [created[3], created[4]],
    );
  });

  it('refuses a limit outside 1..APPROVAL_PAGE_MAX and a malformed cursor', async () => {
    const p = fresh();
    for (const limit of [0, -1, APPROVAL_PAGE_MAX + 1, 1.5])
      await assert.rejects(svc.list(p.admin, { limit }), RangeError, String(limit));
    await svc.list(p.admin, { limit: APPROVAL_PAGE_MAX });
    await assert.rejects(svc.list(p.admin, { limit: 1, after: 'apr_zz' }), code('VALIDATION_FAILED'));
  });
});

describe('ApprovalService: the kept body', () => {
  it('storedBody opens the body (openBody gets the path and the stored blob) for the requester only, while pending', async () => {
    const p = fresh();
    const origin = {
      method: 'POST',
      path: '/v1/keys/k/import',
      body: { material: 'c2VjcmV0', labels: { b: 2, a: 1 } },
    };
    const { approvalId } = await park(svc, clock, p.requester, p.group, { origin, operation: 'key.import', key: 'k' });
    const path = approvalBodyPath(approvalId);
    const blob = await getEntry(u.store.db, path);
    const before = calls.opened.length;
    assert.deepEqual(await svc.storedBody(approvalId, p.requester.principal), {
      labels: { a: 1, b: 2 },
      material: 'c2VjcmV0',
    });
    assert.equal(calls.opened.length, before + 1);
    assert.equal(calls.opened[before]!.path, path);
    assert.deepEqual(calls.opened[before]!.blob, blob);
    // Anyone else (approvers, admins), or an unknown id: nothing, and nothing is decrypted.
    for (const who of [p.a1.principal, p.admin.principal, 'nobody'])
      assert.equal(await svc.storedBody(approvalId, who), undefined);
    assert.equal(await svc.storedBody('apr_' + 'e'.repeat(32), p.requester.principal), undefined);
    assert.equal(calls.opened.length, before + 1);
    await assert.rejects(svc.storedBody('apr_?', p.requester.principal), code('VALIDATION_FAILED'));
    // The blob is bound to its path: moved to another approval's path it does not open.
    const other = await park(svc, clock, p.requester, p.group);
    await putEntry(u.store.db, approvalBodyPath(other.approvalId), blob!);
    await assert.rejects(svc.storedBody(other.approvalId, p.requester.principal), code('STORAGE_CORRUPT'));
  });

  it('without sealBody/openBody no body is kept and storedBody is undefined', async () => {
    const p = fresh();
    const { svc: plain } = makeService(u, clock, { keepBodies: false });
    const { approvalId } = await park(plain, clock, p.requester, p.group);
    assert.equal(await getEntry(u.store.db, approvalBodyPath(approvalId)), undefined);
    assert.equal(await plain.storedBody(approvalId, p.requester.principal), undefined);
    // A service with bodies finds none for it either.
    assert.equal(await svc.storedBody(approvalId, p.requester.principal), undefined);
  });
});

describe('ApprovalService: in the pipeline’s CommitScope', () => {
  it('create writes the record in its own transaction, with a note naming the approval; a failing record leaves nothing', async () => {
    const p = fresh();
    const notes: unknown[] = [];
    const scope = new CommitScope(async (tx, note) => {
      notes.push(note);
      await putEntry(tx, `test/record/${String(note?.approvalId)}`, new Uint8Array([1]));
    });
    clock.tick();
    const parked = await svc.create(
      {
        requester: p.requester.principal,
        operation: 'key.delete',
        key: 'orders',
        origin: ORIGIN,
        canonical: canonicalBody(ORIGIN.body),
        policies: [],
        required: 2,
        group: p.group,
        reason: 'r',
      },
      scope,
    );
    assert.equal(scope.committed, true);
    assert.deepEqual(notes, [
      { approvalId: parked.approvalId, required: 2, group: p.group, expiresAt: parked.expiresAt },
    ]);
    assert.ok(await getEntry(u.store.db, `test/record/${parked.approvalId}`));

    const before = calls.sealed.length;
    const failing = new CommitScope(async () => {
      throw new Error('audit append failed');
    });
    await assert.rejects(
      svc.create(
        {
          requester: p.requester.principal,
          operation: 'key.delete',
          key: 'orders',
          origin: ORIGIN,
          canonical: '{}',
          policies: [],
          required: 2,
          group: p.group,
          reason: 'r',
        },
        failing,
      ),
      /audit append failed/,
    );
    assert.equal(failing.committed, false);
    const lost = calls.sealed[before]!.path.split('/')[1]!;
    await assert.rejects(svc.get(lost, p.admin), code('APPROVAL_NOT_FOUND'));
    assert.equal(await getEntry(u.store.db, approvalBodyPath(lost)), undefined);
    assert.deepEqual(
      (await svc.list(p.requester, { limit: 10 })).approvals.map((v) => v.id),
      [parked.approvalId],
    );
  });

  it('approve commits the record with the grant; a refused approve leaves the scope open and no grant', async () => {
    const p = fresh();
    const { approvalId } = await park(svc, clock, p.requester, p.group);
    await svc.approve(approvalId, p.a1);
    const dup = new CommitScope(async () => assert.fail('no record for an approval that changed nothing'));
    await assert.rejects(svc.approve(approvalId, p.a1, dup), code('APPROVAL_DUPLICATE'));
    assert.equal(dup.committed, false);

    const failing = new CommitScope(async () => {
      throw new Error('audit append failed');
    });
    await assert.rejects(svc.approve(approvalId, p.a2, failing), /audit append failed/);
    assert.deepEqual(
      (await svc.get(approvalId, p.requester)).approvedBy,
      [p.a1.principal],
      'the grant rolled back with its record',
    );

    const ok = new CommitScope(async (tx) => {
      assert.equal((await tx.select().from(approvalsTable).where(eq(approvalsTable.id, approvalId))).length, 1);
    });
    assert.equal((await svc.approve(approvalId, p.a2, ok)).approvals, 2);
    assert.equal(ok.committed, true);
  });

  it('deny commits the record with the state change: inside the record’s transaction the approval is already denied', async () => {
    const p = fresh();
    const { approvalId } = await park(svc, clock, p.requester, p.group);
    const states: string[] = [];
    const scope = new CommitScope(async (tx) => {
      const [r] = await tx
        .select({ state: approvalsTable.state })
        .from(approvalsTable)
        .where(eq(approvalsTable.id, approvalId));
      states.push(r!.state);
      states.push((await getEntry(tx, approvalBodyPath(approvalId))) === undefined ? 'no body' : 'body');
    });
    await svc.deny(approvalId, p.a1, 'no', scope);
    assert.deepEqual(states, ['denied', 'no body']);
    assert.equal(scope.committed, true);

    const second = await park(svc, clock, p.requester, p.group);
    const failing = new CommitScope(async () => {
      throw new Error('audit append failed');
    });
    await assert.rejects(svc.deny(second.approvalId, p.a1, 'no', failing), /audit append failed/);
    assert.equal((await svc.get(second.approvalId, p.requester)).state, 'pending');
    assert.ok(await getEntry(u.store.db, approvalBodyPath(second.approvalId)), 'body still kept');
  });

  it('approvals made in the same millisecond list in the order they were made: a cursor past one never skips a later one', async () => {
    const p = fresh();
    // With random bits alone, each round's second approval sorts before its first half the time.
    for (let round = 0; round < 20; round++) {
      const first = await park(svc, clock, p.requester, p.group);
      const seen = await svc.list(p.requester, { limit: APPROVAL_PAGE_MAX });
      const cursor = seen.approvals[seen.approvals.length - 1]!.id;
      assert.equal(cursor, first.approvalId);
      clock.ms -= 1; // park ticks: the second is made in the first's millisecond
      const second = await park(svc, clock, p.requester, p.group);
      assert.equal(second.approvalId.slice(4, 16), first.approvalId.slice(4, 16), 'the same millisecond');
      const next = await svc.list(p.requester, { limit: APPROVAL_PAGE_MAX, after: cursor });
      assert.deepEqual(
        next.approvals.map((a) => a.id),
        [second.approvalId],
        `round ${round}: the approval made after the cursor's is on the next page`,
      );
    }
    // A clock that steps back keeps the order too.
    const before = await park(svc, clock, p.requester, p.group);
    clock.ms -= 5_000;
    const after = await park(svc, clock, p.requester, p.group);
    clock.ms += 5_000;
    assert.ok(after.approvalId > before.approvalId);
  });
});
