/**
 * Two server nodes on one PostgreSQL database under concurrent load: one gap-free audit log whose
 * chain and Merkle root verify against checkpoints both nodes signed in turn. (PostgreSQL only:
 * PGlite is one process.)
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, it } from 'node:test';
import { fromBase64 } from '../../lib/bytes.js';
import { appendLeaves, EMPTY_ROOT, leafHash } from '../../engine/audit/math/merkle.js';
import { parseVerifierKey, verifyNote } from '../../engine/audit/math/note.js';
import { decodeRecord } from '../../engine/audit/math/record.js';
import { issueToken } from '../../engine/auth/tokens.js';
import { devBootstrap, devUnseal } from '../../engine/dev.js';
import { Hsm } from '../../engine/hsm.js';
import { openStore, readAuditRecords } from '../../engine/store/index.js';
import type { Store } from '../../engine/store/index.js';
import { statusFor } from '../../server/errors.js';
import { createLogger } from '../../server/log.js';
import { listen } from '../../server/main.js';
import type { RunningServer } from '../../server/main.js';
import { createTestDatabaseUrl, describePostgres } from '../helpers/store.js';
import { b64 } from '../helpers/wire.js';

describePostgres('audit log with two nodes on one PostgreSQL', { timeout: 180_000 }, () => {
  let db: { url: string; drop(): Promise<void> };
  const stores: Store[] = [];
  const hsms: Hsm[] = [];
  const servers: RunningServer[] = [];
  let app: string;
  let root: string;

  before(async () => {
    db = await createTestDatabaseUrl();
    const openNode = async (i: number) => {
      const store = await openStore({ databaseUrl: db.url });
      stores.push(store);
      hsms.push(await Hsm.open({ store, statusOf: statusFor, node: `node-${i}`, audit: { integrateIntervalMs: 200 } }));
    };
    await openNode(0);
    const dev = await devBootstrap(hsms[0]!);
    root = dev.rootToken;
    await openNode(1);
    // The second node unseals with the same share, through its own unseal session.
    await devUnseal(hsms[1]!, fromBase64(dev.unsealShare, 'share'));
    assert.equal(hsms[1]!.seal.sealed, false);
    app = (await issueToken(stores[0]!.db, { principal: 'svc', roles: ['app'], now: new Date() })).token;
    const log = createLogger({ write: () => {} });
    for (const hsm of hsms) servers.push(await listen({ hsm, log, listen: '127.0.0.1:0' }));
  });

  after(async () => {
    for (const s of servers) await s.close();
    for (const h of hsms) await h.close();
    await db?.drop();
  });

  it('produces one gap-free log that verifies, under concurrent load on both nodes', async () => {
    const call = (i: number, path: string, body: unknown, token = app) =>
      fetch(servers[i]!.url + path, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify(body),
      });
    assert.equal((await call(0, '/v1/keys', { name: 'k', type: 'aes256-gcm' }, root)).status, 201);
    const perNode = 160;
    const statuses = await Promise.all(
      [0, 1].flatMap((n) =>
        Array.from({ length: 8 }, async () => {
          const out: number[] = [];
          for (let j = 0; j < perNode / 8; j++)
            out.push((await call(n, '/v1/keys/k/encrypt', { plaintext: b64(`n${n} m${j}`) })).status);
          return out;
        }),
      ),
    );
    assert.ok(
      statuses.flat().every((s) => s === 200),
      `statuses: ${[...new Set(statuses.flat())].join(',')}`,
    );

    // Both nodes integrate; whichever holds the lock signs.
    const cps = await Promise.all(hsms.map((h) => h.integrator!.integrate({ fresh: true })));
    const cp = cps.reduce((a, b) => (b!.size > a!.size ? b : a))!;
    const keys = await hsms[0]!.auditKeys();
    const checkpoint = verifyNote(cp.note, [parseVerifierKey(keys.ed25519), parseVerifierKey(keys.mlDsa44)]);

    const rows = await readAuditRecords(stores[1]!.db, 0, 1_000_000);
    assert.deepEqual(
      rows.map((r) => r.idx),
      rows.map((_, i) => i),
      'indexes are 0..n-1',
    );
    const records = rows.map((r) => decodeRecord(r.leaf));
    const encrypts = records.filter((r) => r.operation === 'encrypt' && r.status === 200);
    assert.equal(encrypts.length, 2 * perNode);
    assert.deepEqual(new Set(encrypts.map((r) => r.node)), new Set(['node-0', 'node-1']));

    let chain = new Uint8Array(32);
    let tree = { frontier: [] as Uint8Array[], size: 0, root: EMPTY_ROOT };
    for (const r of rows) {
      const lh = leafHash(r.leaf);
      chain = new Uint8Array(createHash('sha256').update(chain).update(lh).digest());
      assert.deepEqual(Buffer.from(r.chain), Buffer.from(chain), `chain of record ${r.idx}`);
      if (tree.size < checkpoint.size) tree = appendLeaves(tree.frontier, tree.size, [lh]);
    }
    assert.equal(tree.size, checkpoint.size);
    assert.deepEqual(Buffer.from(tree.root), Buffer.from(checkpoint.root));
  });
});
