/**
 * Secrets never reach the log or error messages: a whole ceremony (init, unseal with a bad and good
 * shards, seal, rotation, rekey) runs with the server log captured, then the log and every error
 * body are searched for the root token, every share (base64, base64url, hex), holder seeds and the
 * session nonce's submissions.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { openShard, toPublicKeyFile } from '../../ceremony/index.js';
import type { ShardFile } from '../../ceremony/index.js';
import { makeHolders, submissionFor } from '../helpers/ceremony.js';
import { startTestServer } from '../helpers/server.js';
import { readAuditRecords } from '../../engine/store/index.js';

const forms = (b: Uint8Array) => [
  Buffer.from(b).toString('base64'),
  Buffer.from(b).toString('base64url'),
  Buffer.from(b).toString('hex'),
];

describe('secrets in logs', () => {
  it('a full ceremony logs no token, share, seed or passphrase', async () => {
    const s = await startTestServer();
    const bodies: string[] = [];
    const requestIds = new Set<string>();
    const call = async (...a: Parameters<typeof s.call>) => {
      const r = await s.call(...a);
      bodies.push(JSON.stringify(r.body));
      requestIds.add(r.headers.get('x-request-id')!);
      return r;
    };
    try {
      const holders = await makeHolders(['alice', 'bob', 'carol']);
      const init = await call('POST', '/v1/sys/init', {
        body: { holders: holders.map((h) => toPublicKeyFile(h)), threshold: 2 },
      });
      const shards: ShardFile[] = init.body.shards;
      const token: string = init.body.rootToken;
      bodies.pop(); // the init response carries the token by design (shown once)
      const secrets: string[] = [token, token.slice(4)];
      for (const [i, h] of holders.entries()) {
        secrets.push(...forms(h.seed));
        secrets.push(...forms(await openShard(shards[i]!, h)));
      }
      const status = async () => (await call('GET', '/v1/sys/seal-status')).body;
      // a forged one, a duplicate, then a quorum
      const sub0 = await submissionFor(holders[0]!, shards[0]!, await status());
      await call('POST', '/v1/sys/unseal', { body: sub0 });
      await call('POST', '/v1/sys/unseal', { body: sub0 });
      await call('POST', '/v1/sys/unseal', { body: await submissionFor(holders[1]!, shards[1]!, await status()) });
      await call('GET', '/v1/auth/whoami', { token });
      await call('GET', '/v1/auth/whoami', { token: token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A') });
      await call('POST', '/v1/sys/rotate', { token });
      const fresh = await makeHolders(['dave']);
      for (const h of fresh) secrets.push(...forms(h.seed));
      const rk = await call('POST', '/v1/sys/rekey/init', {
        token,
        body: { holders: fresh.map((h) => toPublicKeyFile(h)), threshold: 1 },
      });
      await call('POST', '/v1/sys/rekey/update', {
        body: await submissionFor(holders[2]!, shards[2]!, rk.body, 'rekey'),
      });
      const done = await call('POST', '/v1/sys/rekey/update', {
        body: await submissionFor(holders[0]!, shards[0]!, rk.body, 'rekey'),
      });
      assert.equal(done.body.complete, true);
      secrets.push(...forms(await openShard(done.body.shards[0], fresh[0]!)));
      await call('POST', '/v1/sys/seal', { token });
      await call('POST', '/v1/sys/unseal', { body: await submissionFor(holders[0]!, shards[0]!, await status()) });
      // The audit log holds no secret either; the ceremony changes committed with their records.
      const leaves = (await readAuditRecords(s.hsm.store.db, 0, 1_000_000)).map((r) =>
        Buffer.from(r.leaf).toString('utf8'),
      );
      const records = leaves.map((l) => JSON.parse(l));
      const rekeyed = records.filter((r) => r.operation === 'sys.rekey.submit' && r.status === 200);
      assert.deepEqual(
        rekeyed.map((r) => r.details.complete),
        [false, true],
      );
      assert.equal(rekeyed[1].details.generation, 2);
      assert.equal(rekeyed[1].details.ceremonyId, done.body.ceremonyId);
      assert.deepEqual(records.find((r) => r.operation === 'sys.rotate').details, { term: 2 });
      await s.close();

      const log = s.logs.join('');
      assert.ok(s.logs.length > 10, 'the log captured the requests');
      assert.match(log, /"msg":"unsealed"/);
      assert.match(log, /"code":"SHARD_DUPLICATE"/);
      // JSON lines (pino), each of a request carrying its X-Request-Id, one `request` line per request.
      const lines = s.logs.map((l) => JSON.parse(l));
      for (const l of lines) {
        assert.ok(['debug', 'info', 'warn', 'error'].includes(l.level), JSON.stringify(l));
        assert.ok(requestIds.has(l.reqId), `a line without its request's id: ${JSON.stringify(l)}`);
      }
      assert.deepEqual(new Set(lines.filter((l) => l.msg === 'request').map((l) => l.reqId)), requestIds);
      assert.ok(lines.some((l) => l.msg === 'unsealed' && l.holder));
      const everything = log + bodies.join('\n') + leaves.join('\n');
      for (const secret of secrets) {
        assert.equal(
          everything.includes(secret),
          false,
          `a secret (${secret.slice(0, 6)}…) leaked into the log or an error body`,
        );
      }
    } catch (err) {
      await s.close().catch(() => {});
      throw err;
    }
  });
});
