/**
 * A transit batch item that fails unexpectedly (not an error Vault's format names) is answered in its
 * place and logged: the log line carries the request's id (X-Request-Id), as every other line of the
 * request does, so an operator can find the request it belongs to. The failure is injected into the
 * key service for one item's plaintext; the other items are encrypted for real.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { devBootstrap } from '../../engine/dev.js';
import { startTestServer } from '../helpers/server.js';
import type { TestServer } from '../helpers/server.js';
import { b64 } from '../helpers/wire.js';

describe('transit batch: an item that fails unexpectedly', { timeout: 60_000 }, () => {
  let s: TestServer;
  let root: string;

  before(async () => {
    s = await startTestServer();
    root = (await devBootstrap(s.hsm)).rootToken;
  });
  after(() => s.close());

  it('is logged with the request id, and the other items are answered', async () => {
    assert.equal(
      (
        await s.call('POST', '/v1/transit/keys/batch-log', {
          token: root,
          headers: { 'x-vault-token': root },
          body: {},
        })
      ).status,
      200,
    );
    const keys = s.hsm.keys;
    const encrypt = keys.encrypt.bind(keys);
    const poison = new TextEncoder().encode('poison');
    keys.encrypt = (row, plaintext, aad) =>
      Buffer.from(plaintext).equals(poison)
        ? Promise.reject(new TypeError('injected fault'))
        : encrypt(row, plaintext, aad);
    try {
      const from = s.logs.length;
      const r = await s.call('POST', '/v1/transit/encrypt/batch-log', {
        token: root,
        body: { batch_input: [{ plaintext: b64('fine') }, { plaintext: b64('poison') }, { plaintext: b64('also') }] },
      });
      const results = r.body.data.batch_results;
      assert.match(results[0].ciphertext, /^vault:v1:/);
      assert.ok(results[1].error, JSON.stringify(results[1]));
      assert.match(results[2].ciphertext, /^vault:v1:/);
      const reqId = r.headers.get('x-request-id');
      assert.ok(reqId);
      const lines = s.logs
        .slice(from)
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .filter((l) => l.msg === 'unhandled error in a batch item');
      assert.equal(lines.length, 1, JSON.stringify(s.logs.slice(from)));
      assert.equal(lines[0]!.reqId, reqId);
      assert.match(String(lines[0]!.error), /TypeError: injected fault/);
      // Nothing of the plaintexts reaches the log.
      assert.doesNotMatch(s.logs.slice(from).join('\n'), new RegExp(`${b64('poison')}|${b64('fine')}`));
    } finally {
      keys.encrypt = encrypt;
    }
  });
});
