/**
 * Migration 0011 (engine/store/migrations/0011_approval_seq.sql) on approvals written before it:
 * each gets its `seq` in id order (COLLATE "C", the order cursors paged in until then), the
 * column ends NOT NULL and unique, and the next insert takes the number after them, also one from a
 * node of the release before (no `seq`: the trigger numbers it).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import { insertApproval, listApprovals } from '../../../engine/store/index.js';
import { availableDrivers } from '../../helpers/store.js';
import { oldDatabasesAt } from './old-database.js';

const openOld = oldDatabasesAt(10);

for (const driver of availableDrivers()) {
  describe(`approval seq migration 0011 on ${driver}`, { timeout: 60_000 }, () => {
    it('numbers existing approvals in id byte order; new ones follow', async () => {
      const old = await openOld(driver);
      const ids = ['apr_b', 'apr_B', 'apr_a', 'apr__'];
      for (const id of ids)
        await old.db.execute(sql`insert into approvals (id, requester, operation, method, path, request_digest,
          policies, required, approver_group, reason, expires_at)
          values (${id}, 'alice', 'key.delete', 'DELETE', '/v1/keys/k', 'd', '[]'::jsonb, 1, 'ops', 'r', now() + interval '1 hour')`);
      const store = await old.reopen();
      try {
        const page = await listApprovals(store.db, { limit: 10 });
        assert.deepEqual(
          page.map((r) => [r.id, r.seq]),
          [
            ['apr_B', 1],
            ['apr__', 2],
            ['apr_a', 3],
            ['apr_b', 4],
          ],
        );
        const row = { ...page[0]!, id: 'apr_0' } as Record<string, unknown>;
        delete row.seq;
        await insertApproval(store.db, row as Parameters<typeof insertApproval>[1]);
        assert.deepEqual(
          (await listApprovals(store.db, { limit: 1, after: 'apr_b' })).map((r) => [r.id, r.seq]),
          [['apr_0', 5]],
        );
        // A node still on the release before 0011 inserts without seq (a rolling upgrade): the
        // trigger numbers it after the others.
        await store.db.execute(sql`insert into approvals (id, requester, operation, method, path, request_digest,
          policies, required, approver_group, reason, expires_at)
          values ('apr_old', 'alice', 'key.delete', 'DELETE', '/v1/keys/k', 'd', '[]'::jsonb, 1, 'ops', 'r', now() + interval '1 hour')`);
        assert.deepEqual(
          (await listApprovals(store.db, { limit: 5, after: 'apr_0' })).map((r) => [r.id, r.seq]),
          [['apr_old', 6]],
        );
      } finally {
        await store.close();
        await old.drop();
      }
    });
  });
}
