/**
 * The unseal check (AuditIntegrator.verifyTail) while another node integrates: it reads the newest
 * checkpoint, the tree row and the head in one snapshot, so a round committing between its reads is
 * never taken for a tree ahead of its checkpoint (a false AUDIT_LOG_CORRUPT, which would halt that
 * node's signing). PostgreSQL only: two stores on one database, as two nodes.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, it } from 'node:test';
import { AuditIntegrator } from '../../../../engine/audit/log/integrator.js';
import { leafHash } from '../../../../engine/audit/math/merkle.js';
import { encodeRecord } from '../../../../engine/audit/math/record.js';
import {
  AUDIT_CHAIN_SEED,
  casAppendAuditBatch,
  ensureAuditRows,
  openStore,
  readAuditHead,
} from '../../../../engine/store/index.js';
import type { Db, Store } from '../../../../engine/store/index.js';
import { createTestDatabaseUrl, describePostgres } from '../../../helpers/store.js';
import { sampleRecord, testCheckpointSigner } from '../helpers.js';

/** Appends one record on the head as it is. */
async function appendOne(db: Db): Promise<void> {
  const base = await readAuditHead(db);
  const leaf = Buffer.from(encodeRecord(sampleRecord(base.size))).toString('utf8');
  const chain = createHash('sha256')
    .update(base.size === 0 ? AUDIT_CHAIN_SEED : base.chain)
    .update(leafHash(Buffer.from(leaf)))
    .digest();
  assert.equal(await casAppendAuditBatch(db, base, { n: 1, leaves: leaf, chains: chain, inputs: null }), true);
}

describePostgres('verifyTail while another node integrates', { timeout: 60_000 }, () => {
  let target: { url: string; drop(): Promise<void> };
  const stores: Store[] = [];
  before(async () => {
    target = await createTestDatabaseUrl();
    stores.push(await openStore({ databaseUrl: target.url }), await openStore({ databaseUrl: target.url }));
    await ensureAuditRows(stores[0]!.db);
  });
  after(async () => {
    for (const s of stores) await s.close();
    await target?.drop();
  });

  it('never reports a tree ahead of its checkpoint when a round commits between its reads', async () => {
    const s = testCheckpointSigner();
    const [a, b] = [stores[0]!.db, stores[1]!.db];
    const integrating = new AuditIntegrator(a, { signer: async () => s });
    let rounds = 0;
    // Each turn: one new record; node A integrates it while node B runs its unseal check.
    for (const until = Date.now() + 1200; Date.now() < until || rounds < 20; rounds++) {
      await appendOne(a);
      const checking = new AuditIntegrator(b, { signer: async () => s });
      // B starts somewhere inside A's round (a few ms of statements), so across the turns A's commit
      // falls between B's reads again and again.
      const delay = rounds % 7;
      const [, checked] = await Promise.allSettled([
        integrating.integrate(),
        new Promise((r) => setTimeout(r, delay)).then(() => checking.verifyTail(s.verify)),
      ]);
      if (checked.status === 'rejected') assert.fail(`turn ${rounds}: ${(checked.reason as Error).message}`);
    }
    assert.ok(rounds >= 20);
  });
});
