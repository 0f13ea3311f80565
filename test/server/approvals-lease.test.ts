/**
 * An approval left 'executing' by a node that died mid-execution (docs/approvals.md): its lease ends
 * and the next read settles it from the audit log. The execution's record committed: 'executed' or
 * 'failed' as the record says. No record: 'failed' (APPROVAL_EXECUTION_LOST), never run again.
 * A crash is staged on the real server: the claim without the operation (nothing ran), or a finished
 * execution put back to 'executing' (the settle lost after the record committed); the lease's end
 * is the deadline set in the past, as the clock would have moved.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { eq, sql } from 'drizzle-orm';
import { approvals } from '../../engine/store/schema.js';
import { queryRows, readAuditRecords } from '../../engine/store/index.js';
import { decodeRecord } from '../../engine/audit/math/record.js';
import { devBootstrap } from '../../engine/dev.js';
import { issueToken } from '../../engine/auth/tokens.js';
import { approverTokens } from '../helpers/approvals.js';
import { startTestServer } from '../helpers/server.js';
import type { TestServer } from '../helpers/server.js';
import { assertError } from '../helpers/wire.js';

describe('approval execution lease', { timeout: 240_000 }, () => {
  let s: TestServer;
  let root: string;
  let op: string;

  before(async () => {
    s = await startTestServer();
    root = (await devBootstrap(s.hsm)).rootToken;
    op = (await issueToken(s.hsm.store.db, { principal: 'op-lease', roles: ['operator'], now: new Date() })).token;
  });
  after(() => s.close());

  /** A deletable key, `op`'s parked deletion of it, approved by two operators. */
  async function approvedDeletion(name: string): Promise<string> {
    assert.equal((await s.call('POST', '/v1/keys', { token: root, body: { name, type: 'aes256-gcm' } })).status, 201);
    await s.call('POST', `/v1/keys/${name}/config`, { token: root, body: { deletionAllowed: true } });
    const parked = await s.call('DELETE', `/v1/keys/${name}`, { token: op });
    assert.equal(parked.status, 202, JSON.stringify(parked.body));
    const id = parked.body.approvalId as string;
    for (const t of await approverTokens(s.hsm.store.db))
      assert.equal((await s.call('POST', `/v1/approvals/${id}/approve`, { token: t, body: {} })).status, 200);
    return id;
  }
  const show = async (id: string) => (await s.call('GET', `/v1/approvals/${id}`, { token: op })).body;
  /** The lease ends (as if its length had passed), or a finished execution is made to look unsettled. */
  const leaseEnds = (id: string) =>
    s.hsm.store.db.execute(
      sql`update approvals set execution_deadline = now() - interval '1 second' where id = ${id} and state = 'executing'`,
    );
  const unsettle = (id: string) =>
    s.hsm.store.db.execute(
      sql`update approvals set state = 'executing', finished_at = null, result_status = null, result_code = null,
          execution_deadline = now() - interval '1 second' where id = ${id}`,
    );

  /**
   * The settlement's own audit record (every state change is in the log): exactly one, however many
   * reads came after, naming the approval, its key and operation, and the outcome it was given.
   */
  async function assertRecovery(id: string, key: string, outcome: Record<string, unknown>): Promise<void> {
    await show(id); // a second read settles nothing more
    const recs = (await readAuditRecords(s.hsm.store.db, 0, 1_000_000))
      .map((r) => decodeRecord(r.leaf))
      .filter((r) => r.operation === 'approval.recover' && r.approvalId === id);
    assert.equal(recs.length, 1, JSON.stringify(recs));
    const [rec] = recs;
    assert.deepEqual([rec!.key, rec!.principal, rec!.status, rec!.code], [key, null, 200, null]);
    const { leaseEnded, ...details } = rec!.details as Record<string, unknown>;
    assert.deepEqual(details, { operation: 'key.delete', ...outcome });
    assert.ok(Date.parse(String(leaseEnded)) < Date.parse(rec!.time), String(leaseEnded));
  }

  it('a claim whose operation never ran: executing until the lease ends, then failed (never pending again)', async () => {
    const id = await approvedDeletion('lease-lost');
    // The node claims the one execution and dies before the operation.
    await s.hsm.approvals.claim(id);
    const during = await show(id);
    assert.equal(during.state, 'executing');
    assertError(await s.call('POST', `/v1/approvals/${id}/execute`, { token: op }), 409, 'APPROVAL_NOT_PENDING');
    const [lease] = await s.hsm.store.db
      .select({ deadline: approvals.executionDeadline })
      .from(approvals)
      .where(eq(approvals.id, id));
    const deadline = lease!.deadline!.getTime();
    assert.ok(deadline > Date.now() + 5 * 60_000, 'a lease far beyond any request');
    await leaseEnds(id);
    const after = await show(id);
    assert.equal(after.state, 'failed');
    assert.equal(after.resultCode, 'APPROVAL_EXECUTION_LOST');
    assert.ok(after.finishedAt);
    // It is not run again, and nothing ran: the key is still there, not scheduled for deletion.
    assertError(await s.call('POST', `/v1/approvals/${id}/execute`, { token: op }), 409, 'APPROVAL_NOT_PENDING');
    assert.equal((await s.call('GET', '/v1/keys/lease-lost', { token: root })).body.deleteAfter, null);
    await assertRecovery(id, 'lease-lost', { state: 'failed', status: 500, code: 'APPROVAL_EXECUTION_LOST' });
  });

  it('an execution whose record committed is settled as the record says: executed', async () => {
    const id = await approvedDeletion('lease-done');
    const done = await s.call('POST', `/v1/approvals/${id}/execute`, { token: op });
    assert.equal(done.status, 200, JSON.stringify(done.body));
    // The node died after the record (and the deletion) committed, before the approval was settled.
    await unsettle(id);
    const after = await show(id);
    assert.deepEqual([after.state, after.resultStatus, after.resultCode], ['executed', 200, null]);
    await assertRecovery(id, 'lease-done', { state: 'executed', status: 200, code: null });
  });

  it('an execution whose record says it failed is settled failed, with its code', async () => {
    const id = await approvedDeletion('lease-failed');
    // Deletion turned off after parking: the one execution runs and fails.
    await s.call('POST', '/v1/keys/lease-failed/config', { token: root, body: { deletionAllowed: false } });
    const ran = await s.call('POST', `/v1/approvals/${id}/execute`, { token: op });
    assert.equal(ran.status, 409, JSON.stringify(ran.body));
    const code = ran.body.error.code as string;
    await unsettle(id);
    const after = await show(id);
    assert.deepEqual([after.state, after.resultStatus, after.resultCode], ['failed', 409, code]);
    await assertRecovery(id, 'lease-failed', { state: 'failed', status: 409, code });
  });

  it('reads the audit log only to a little past the lease: a stuck approval found days later does not scan everything since', async () => {
    // 1,100 records, then an execution whose record committed after all of them. The records are
    // copies of a real one (a key listing, with its own request id and time), appended through the
    // server's own audit log: 1,100 requests cost seconds of CPU and prove nothing more here.
    assert.equal((await s.call('GET', '/v1/keys', { token: root })).status, 200);
    const [listing] = (await readAuditRecords(s.hsm.store.db, 0, 1_000_000))
      .map((r) => decodeRecord(r.leaf))
      .filter((r) => r.operation === 'key.list')
      .slice(-1);
    assert.ok(listing, 'the key listing was recorded');
    await Promise.all(
      Array.from({ length: 1100 }, (_, i) =>
        s.hsm.audit!.append({ ...listing, requestId: `fill-${i}`, time: new Date().toISOString() }),
      ),
    );
    const id = await approvedDeletion('lease-bound');
    assert.equal((await s.call('POST', `/v1/approvals/${id}/execute`, { token: op })).status, 200);
    const [row] = await queryRows<{ size: number | string }>(
      s.hsm.store.db,
      sql`select size from audit_head where id = 1`,
    );
    const size = Number(row!.size);
    assert.ok(size > 1100);
    // The claim is back-dated: it read the log at a position 1,100 records earlier and its lease ended an
    // hour ago, while every record after that position was written just now, long past the lease's end.
    await s.hsm.store.db.execute(
      sql`update approvals set state = 'executing', finished_at = null, result_status = null, result_code = null,
          execution_deadline = now() - interval '1 hour', execution_audit_from = ${size - 1100} where id = ${id}`,
    );
    const after = await show(id);
    // The first page (1,000 records, all after the lease's end plus slack) ends the search: not found there, lost.
    assert.deepEqual([after.state, after.resultCode], ['failed', 'APPROVAL_EXECUTION_LOST']);
  });
});
