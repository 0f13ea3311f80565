/**
 * ApprovalService under races (docs/approvals.md): every state change is a conditional statement,
 * so of two concurrent actions on one approval the database lets exactly one through. On PostgreSQL
 * (KEYWARD_TEST_DRIVER=postgres) the racers run on separate pooled connections; on PGlite they
 * interleave on its one connection. Two nodes on one database are covered over HTTP in
 * test/server/approvals-nodes.test.ts.
 * @module
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ApprovalService } from '../../../engine/approvals/index.js';
import { isKeywardError } from '../../../lib/errors.js';
import { openUnsealed, type Unsealed } from '../keys/helpers.js';
import { Clock, execInput, fresh, makeService, park } from './helpers.js';

const ROUNDS = 5;

let u: Unsealed;
const clock = new Clock();
let svc: ApprovalService;

before(async () => {
  u = await openUnsealed();
  ({ svc } = makeService(u, clock));
});
after(() => u.close());

/** Fulfilled and rejected results, the rejections by error code. */
function tally(results: PromiseSettledResult<unknown>[]): { ok: number; codes: string[] } {
  const codes = results
    .filter((r): r is PromiseRejectedResult => r.status === 'rejected')
    .map((r) => (isKeywardError(r.reason) ? r.reason.code : String(r.reason)));
  return { ok: results.filter((r) => r.status === 'fulfilled').length, codes };
}

describe('ApprovalService races', () => {
  it('two concurrent claims of one approval: exactly one wins, the other is APPROVAL_NOT_PENDING', async () => {
    for (let i = 0; i < ROUNDS; i++) {
      const p = fresh();
      const { approvalId } = await park(svc, clock, p.requester, p.group, { required: 1 });
      await svc.approve(approvalId, p.a1);
      await svc.openExecution(approvalId, execInput(p.requester));
      const t = tally(await Promise.allSettled([svc.claim(approvalId), svc.claim(approvalId), svc.claim(approvalId)]));
      assert.deepEqual(t, { ok: 1, codes: ['APPROVAL_NOT_PENDING', 'APPROVAL_NOT_PENDING'] }, `round ${i}`);
      assert.equal((await svc.get(approvalId, p.requester)).state, 'executing');
    }
  });

  it('the same principal approving twice at once counts once: one success, one APPROVAL_DUPLICATE', async () => {
    for (let i = 0; i < ROUNDS; i++) {
      const p = fresh();
      const { approvalId } = await park(svc, clock, p.requester, p.group);
      await svc.approve(approvalId, p.a2);
      clock.tick();
      // a1's is the last approval needed; a1 sends it twice at once.
      const t = tally(await Promise.allSettled([svc.approve(approvalId, p.a1), svc.approve(approvalId, p.a1)]));
      assert.deepEqual(t, { ok: 1, codes: ['APPROVAL_DUPLICATE'] }, `round ${i}`);
      assert.deepEqual((await svc.openExecution(approvalId, execInput(p.requester))).approvals, 2);
      assert.deepEqual((await svc.get(approvalId, p.a1)).approvedBy, [p.a2.principal, p.a1.principal]);
    }
  });

  it('two approvers giving the last needed approval at once both count (the quorum is a floor)', async () => {
    for (let i = 0; i < ROUNDS; i++) {
      const p = fresh();
      const { approvalId } = await park(svc, clock, p.requester, p.group);
      await svc.approve(approvalId, p.a3);
      const t = tally(await Promise.allSettled([svc.approve(approvalId, p.a1), svc.approve(approvalId, p.a2)]));
      assert.deepEqual(t, { ok: 2, codes: [] }, `round ${i}`);
      const v = await svc.get(approvalId, p.requester);
      assert.equal(v.approvals, 3);
      assert.deepEqual([...v.approvedBy].sort(), [p.a1.principal, p.a2.principal, p.a3.principal].sort());
    }
  });

  it('a claim racing a deny: exactly one wins, and the state says which', async () => {
    for (let i = 0; i < ROUNDS; i++) {
      const p = fresh();
      const { approvalId } = await park(svc, clock, p.requester, p.group, { required: 1 });
      await svc.approve(approvalId, p.a1);
      const [claim, deny] = await Promise.allSettled([svc.claim(approvalId), svc.deny(approvalId, p.a2, 'stop')]);
      const state = (await svc.get(approvalId, p.requester)).state;
      const t = tally([claim!, deny!]);
      assert.deepEqual(t, { ok: 1, codes: ['APPROVAL_NOT_PENDING'] }, `round ${i}`);
      assert.equal(state, claim!.status === 'fulfilled' ? 'executing' : 'denied', `round ${i}`);
    }
  });

  it('two denials at once: one is recorded, the other is APPROVAL_NOT_PENDING', async () => {
    for (let i = 0; i < ROUNDS; i++) {
      const p = fresh();
      const { approvalId } = await park(svc, clock, p.requester, p.group);
      const results = await Promise.allSettled([svc.deny(approvalId, p.a1, 'one'), svc.deny(approvalId, p.a2, 'two')]);
      assert.deepEqual(tally(results), { ok: 1, codes: ['APPROVAL_NOT_PENDING'] }, `round ${i}`);
      const winner = results[0]!.status === 'fulfilled' ? p.a1.principal : p.a2.principal;
      assert.equal((await svc.get(approvalId, p.requester)).deniedBy, winner);
    }
  });

  it('concurrent expiry sweeps report each expired approval exactly once', async () => {
    const TTL = 1_000;
    const p = fresh();
    const seen: string[] = [];
    const ids = new Set<string>();
    const sweepers = Array.from(
      { length: 4 },
      () =>
        makeService(u, clock, {
          ttlMs: TTL,
          onExpired: async (_tx, row) => void (ids.has(row.id) && seen.push(row.id)),
        }).svc,
    );
    for (let i = 0; i < 6; i++) ids.add((await park(sweepers[0]!, clock, p.requester, p.group)).approvalId);
    clock.tick(TTL);
    await Promise.all([
      ...sweepers.map((s) => s.expireDue()),
      ...sweepers.map((s) => s.list(p.requester, { limit: 10 })),
    ]);
    assert.deepEqual([...seen].sort(), [...ids].sort());
    const states = (await svc.list(p.requester, { limit: 10 })).approvals.map((v) => v.state);
    assert.deepEqual(states, Array(6).fill('expired'));
  });
});
