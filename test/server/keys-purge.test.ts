/**
 * Purging keys whose deletion window has passed, with the clock injected: rows, versions and the
 * material under the barrier go, the key answers KEY_NOT_FOUND over REST, keys not yet due stay,
 * a re-created name is a new key, and the periodic purger does the same on its own.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { inArray } from 'drizzle-orm';
import { isKeywardError } from '../../lib/errors.js';
import { issueToken } from '../../engine/auth/tokens.js';
import { devBootstrap } from '../../engine/dev.js';
import { DELETION_RETENTION_DAYS, KeyService } from '../../engine/keys/service.js';
import { keyVersions, listEntries } from '../../engine/store/index.js';
import { startTestServer } from '../helpers/server.js';
import type { TestServer } from '../helpers/server.js';
import { b64 } from '../helpers/wire.js';

const DAY = 86_400_000;

describe('purging keys after their deletion window', { timeout: 120_000 }, () => {
  let s: TestServer;
  let root: string;
  let app: string;
  const ids: Record<string, string> = {};

  before(async () => {
    s = await startTestServer();
    root = (await devBootstrap(s.hsm)).rootToken;
    app = (await issueToken(s.hsm.store.db, { principal: 'svc', roles: ['app'], now: new Date() })).token;
    for (const [name, type] of [
      ['p1', 'aes256-gcm'],
      ['p2', 'ml-dsa-44'],
      ['keep', 'aes256-gcm'],
      ['young', 'hmac-sha256'],
    ] as const) {
      assert.equal((await s.call('POST', '/v1/keys', { token: root, body: { name, type } })).status, 201);
      ids[name] = (await s.hsm.keys.row(name)).id;
    }
    assert.equal((await s.call('POST', '/v1/keys/p2/rotate', { token: root })).status, 200);
  });
  after(() => s.close());

  const entries = (name: string) => listEntries(s.hsm.store.db, `keys/${ids[name]}/`);

  it('purges exactly the keys whose window has passed: rows, versions, material; they answer KEY_NOT_FOUND', async () => {
    const ct = (await s.call('POST', '/v1/keys/p1/encrypt', { token: app, body: { plaintext: b64('secret') } })).body
      .ciphertext as string;
    assert.equal((await s.call('POST', '/v1/keys/p2/sign', { token: app, body: { message: b64('m') } })).status, 200); // material and expanded key cached
    assert.equal((await entries('p2')).length, 2);

    const t0 = Date.now();
    for (const name of ['p1', 'p2']) {
      await s.hsm.keys.configure(name, { deletionAllowed: true });
      await s.hsm.keys.scheduleDeletion(name);
    }
    // 'young' is scheduled three days later, through a service whose clock is injected.
    const later = new KeyService(s.hsm.store.db, s.hsm.seal, { now: () => new Date(t0 + 3 * DAY) });
    await later.configure('young', { deletionAllowed: true });
    await later.scheduleDeletion('young');

    assert.deepEqual(
      await s.hsm.keys.purgeExpired(new Date(t0 + (DELETION_RETENTION_DAYS - 1) * DAY)),
      [],
      'nothing is due a day early',
    );
    assert.equal((await entries('p1')).length, 1);

    const purged = await s.hsm.keys.purgeExpired(new Date(t0 + (DELETION_RETENTION_DAYS + 1) * DAY));
    assert.deepEqual(purged.sort(), ['p1', 'p2']);
    assert.deepEqual(await entries('p1'), []);
    assert.deepEqual(await entries('p2'), []);
    assert.deepEqual(
      await s.hsm.store.db
        .select()
        .from(keyVersions)
        .where(inArray(keyVersions.keyName, ['p1', 'p2'])),
      [],
    );

    for (const [method, path, body] of [
      ['GET', '/v1/keys/p1', undefined],
      ['POST', '/v1/keys/p1/encrypt', { plaintext: b64('x') }],
      ['POST', '/v1/keys/p1/decrypt', { ciphertext: ct }],
      ['POST', '/v1/keys/p2/sign', { message: b64('m') }],
      ['GET', '/v1/keys/p2/public', undefined],
    ] as const) {
      const r = await s.call(method, path, { token: method === 'GET' ? root : app, ...(body ? { body } : {}) });
      assert.deepEqual(
        [r.status, r.body?.error?.code],
        [404, 'KEY_NOT_FOUND'],
        `${method} ${path}: ${JSON.stringify(r.body)}`,
      );
    }
    const listed = (await s.call('GET', '/v1/keys', { token: root })).body.keys.map((k: { name: string }) => k.name);
    assert.ok(
      !listed.includes('p1') && !listed.includes('p2') && listed.includes('keep') && listed.includes('young'),
      listed.join(','),
    );
    assert.equal(
      (await s.call('POST', '/v1/keys/keep/encrypt', { token: app, body: { plaintext: b64('x') } })).status,
      200,
      'other keys are untouched',
    );
    assert.equal((await entries('young')).length, 1, 'not yet due');

    assert.deepEqual(
      await s.hsm.keys.purgeExpired(new Date(t0 + (DELETION_RETENTION_DAYS + 1) * DAY)),
      [],
      'a second sweep finds nothing',
    );

    // The name is free again, for a new key: the old ciphertext names the old key's id and fails.
    assert.equal(
      (await s.call('POST', '/v1/keys', { token: root, body: { name: 'p1', type: 'aes256-gcm' } })).status,
      201,
    );
    assert.notEqual((await s.hsm.keys.row('p1')).id, ids.p1);
    const d = await s.call('POST', '/v1/keys/p1/decrypt', { token: app, body: { ciphertext: ct } });
    assert.deepEqual([d.status, d.body.error.code], [400, 'DECRYPTION_FAILED']);
    // ... and a sweep at any later time leaves the new key alone.
    assert.deepEqual(await s.hsm.keys.purgeExpired(new Date(t0 + 365 * DAY)), ['young']);
    assert.equal((await s.call('GET', '/v1/keys/p1', { token: root })).status, 200);
  });

  it('the periodic purger sweeps on its own, and stops', async () => {
    await s.call('POST', '/v1/keys', { token: root, body: { name: 'timed', type: 'aes256-gcm' } });
    const id = (await s.hsm.keys.row('timed')).id;
    await s.hsm.keys.configure('timed', { deletionAllowed: true });
    await s.hsm.keys.scheduleDeletion('timed');
    const future = new KeyService(s.hsm.store.db, s.hsm.seal, {
      now: () => new Date(Date.now() + (DELETION_RETENTION_DAYS + 1) * DAY),
    });
    const errors: unknown[] = [];
    future.startPurger({ intervalMs: 20, onError: (e) => errors.push(e) });
    try {
      const deadline = Date.now() + 30_000;
      while ((await listEntries(s.hsm.store.db, `keys/${id}/`)).length > 0) {
        assert.ok(Date.now() < deadline, 'purged within 30 s');
        await new Promise((r) => setTimeout(r, 20));
      }
    } finally {
      await future.stopPurger();
    }
    assert.deepEqual(errors, []);
    await assert.rejects(s.hsm.keys.row('timed'), (e: unknown) => isKeywardError(e, 'KEY_NOT_FOUND'));
  });

  it('refuses to purge while sealed', async () => {
    await s.hsm.seal.seal();
    await assert.rejects(s.hsm.keys.purgeExpired(new Date(Date.now() + 365 * DAY)), (e: unknown) =>
      isKeywardError(e, 'SEALED'),
    );
  });
});
