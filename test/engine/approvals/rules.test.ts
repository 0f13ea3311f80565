/**
 * The separation-of-duties rules (engine/approvals/rules.ts), without a database: who may see an
 * approval, who may approve or deny it, why a used approval is refused, and what ids look like.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isKeywardError } from '../../../lib/errors.js';
import {
  approvalView,
  assertApprovalId,
  assertApprover,
  newApprovalId,
  notPending,
  visibleTo,
} from '../../../engine/approvals/rules.js';
import type { ApprovalRow } from '../../../engine/store/index.js';

const T0 = new Date('2026-03-01T12:00:00.000Z');
const row = (over: Partial<ApprovalRow> = {}): ApprovalRow => ({
  id: 'apr_' + '0'.repeat(32),
  seq: 1,
  requester: 'alice',
  operation: 'key.delete',
  key: 'orders',
  method: 'DELETE',
  path: '/v1/keys/orders',
  requestDigest: 'hmac-sha256:1:AAAA',
  policies: ['a'.repeat(64)],
  required: 2,
  approverGroup: 'security',
  reason: 'two approvals',
  state: 'pending',
  expiresAt: new Date(T0.getTime() + 60_000),
  createdAt: T0,
  finishedAt: null,
  deniedBy: null,
  denyReason: null,
  resultStatus: null,
  resultCode: null,
  executionDeadline: null,
  executionAuditFrom: null,
  ...over,
});
const code = (c: string) => (err: unknown) => isKeywardError(err) && err.code === c;

describe('approval rules', () => {
  it('the requester, the approver group and admins see an approval; nobody else', () => {
    assert.ok(visibleTo(row(), { principal: 'alice', roles: [] }));
    assert.ok(visibleTo(row(), { principal: 'bob', roles: ['security'] }));
    assert.ok(visibleTo(row(), { principal: 'root', roles: ['admin'] }));
    assert.ok(!visibleTo(row(), { principal: 'bob', roles: ['ops'] }));
  });

  it('the requester never approves or denies; an approver holds the group; only pending counts', () => {
    assert.throws(
      () => assertApprover(row(), { principal: 'alice', roles: ['security'] }, 'approve'),
      code('APPROVAL_SELF'),
    );
    assert.throws(() => assertApprover(row(), { principal: 'root', roles: ['admin'] }, 'deny'), code('APPROVAL_GROUP'));
    assert.doesNotThrow(() => assertApprover(row(), { principal: 'bob', roles: ['security'] }, 'approve'));
    assert.throws(
      () =>
        assertApprover(
          row({ state: 'denied', deniedBy: 'carol' }),
          { principal: 'bob', roles: ['security'] },
          'approve',
        ),
      code('APPROVAL_NOT_PENDING'),
    );
  });

  it('says why a used approval is refused', () => {
    assert.ok(code('APPROVAL_EXPIRED')(notPending(row({ state: 'expired' }))));
    const denied = notPending(row({ state: 'denied', deniedBy: 'carol' }));
    assert.ok(code('APPROVAL_NOT_PENDING')(denied) && /denied by carol/.test(denied.message));
    assert.match(notPending(row({ state: 'failed' })).message, /already executed \(and failed\)/);
    assert.deepEqual(notPending(row({ state: 'executing' })).details, { state: 'executing' });
  });

  it('ids are apr_ + 12 hex of milliseconds + 20 random hex, sorting by time', () => {
    const a = newApprovalId(T0);
    const b = newApprovalId(new Date(T0.getTime() + 1));
    assert.match(a, /^apr_[0-9a-f]{32}$/);
    assert.equal(a.slice(4, 16), T0.getTime().toString(16).padStart(12, '0'));
    assert.ok(a < b);
    assert.notEqual(newApprovalId(T0), a);
    assert.doesNotThrow(() => assertApprovalId(a));
    for (const bad of ['apr_' + '0'.repeat(31), 'APR_' + '0'.repeat(32), 'apr_' + 'G'.repeat(32), ''])
      assert.throws(() => assertApprovalId(bad), code('VALIDATION_FAILED'));
  });

  it('the view names the group and counts the approvers', () => {
    const v = approvalView(row(), ['bob', 'carol']);
    assert.equal(v.group, 'security');
    assert.equal(v.approvals, 2);
    assert.equal(v.expiresAt, '2026-03-01T12:01:00.000Z');
    assert.equal(v.finishedAt, null);
  });
});
