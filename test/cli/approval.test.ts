/** keyward approval list|show|approve|deny|execute against a real server, human and --json output. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { issueToken } from '../../engine/auth/tokens.js';
import { devBootstrap } from '../../engine/dev.js';
import { fails, ok, runCli } from '../helpers/cli.js';
import { startTestServer } from '../helpers/server.js';
import type { TestServer } from '../helpers/server.js';

describe('keyward approval (CLI)', { timeout: 180_000 }, () => {
  let s: TestServer;
  let addr: string;
  const as: Record<string, Record<string, string>> = {};

  before(async () => {
    s = await startTestServer();
    addr = s.url;
    as.root = { KEYWARD_ADDR: addr, KEYWARD_TOKEN: (await devBootstrap(s.hsm)).rootToken };
    for (const p of ['op-1', 'op-2', 'op-3'])
      as[p] = {
        KEYWARD_ADDR: addr,
        KEYWARD_TOKEN: (await issueToken(s.hsm.store.db, { principal: p, roles: ['operator'], now: new Date() })).token,
      };
    for (const k of ['tags', 'logs']) {
      ok(await runCli(['key', 'create', k, '--type', 'aes256-gcm'], as.root));
      ok(await runCli(['key', 'config', k, '--deletion-allowed', 'true'], as.root));
    }
  });
  after(() => s.close());

  /** Parks `keyward key delete NAME` as op-1 and returns the approval id from its --json answer. */
  async function parkDelete(name: string): Promise<string> {
    const r = await runCli(['key', 'delete', name, '--json'], as['op-1']);
    assert.equal(r.code, 3, `parked is exit 3, not an error: ${r.stdout} ${r.stderr}`);
    assert.equal(r.stderr, '', 'a parked request is not an error');
    const parked = r.json();
    assert.equal(parked.parked, true);
    assert.equal(parked.required, 2);
    assert.equal(parked.group, 'operator');
    assert.equal(parked.execute, `keyward approval execute ${parked.approvalId}`);
    return parked.approvalId;
  }

  it('lists, shows, refuses self-approval, approves, and executes once', async () => {
    const id = await parkDelete('tags');
    const human = await runCli(['key', 'delete', 'logs'], as['op-1']);
    assert.equal(human.code, 3);
    assert.doesNotMatch(human.stderr, /error/);
    assert.match(human.stdout, /^Parked for approval apr_[0-9a-f]{32}: nothing was done yet\.$/m);
    assert.match(human.stdout, /needs\s+2 approvals from "operator" \(not you\)/);
    assert.match(human.stdout, /approve\s+keyward approval approve apr_/);
    assert.match(human.stdout, /then run\s+keyward approval execute apr_/);

    const list = ok(await runCli(['approval', 'list', '--state', 'pending', '--json'], as['op-2'])).json();
    assert.deepEqual(
      list.map((a: any) => a.operation),
      ['key.delete', 'key.delete'],
    );
    assert.match(
      ok(await runCli(['approval', 'list'], as['op-2'])).stdout,
      new RegExp(`${id}  pending\\s+0/2 operator  key.delete tags  by op-1`),
    );
    assert.match(
      (await runCli(['approval', 'list', '--state', 'maybe'], as['op-2'])).stdout,
      /--state expected one of pending/,
    );

    const shown = ok(await runCli(['approval', 'show', id, '--json'], as['op-2'])).json();
    assert.equal(shown.path, '/v1/keys/tags');
    assert.match(
      ok(await runCli(['approval', 'show', id], as['op-2'])).stdout,
      /request\s+DELETE \/v1\/keys\/tags\s+\(key.delete on tags\) by op-1/,
    );

    fails(await runCli(['approval', 'approve', id], as['op-1']), 'APPROVAL_SELF');
    fails(await runCli(['approval', 'approve', id], as.root), 'APPROVAL_GROUP');
    assert.match(
      ok(await runCli(['approval', 'approve', id], as['op-2'])).stdout,
      /Approved apr_.*: 1 of 2 from "operator"/,
    );
    fails(await runCli(['approval', 'approve', id], as['op-2']), 'APPROVAL_DUPLICATE');
    const short = fails(await runCli(['approval', 'execute', id], as['op-1']), 'APPROVAL_INSUFFICIENT');
    assert.match(short.stderr, /1 of 2 gathered, 1 more needed/);
    assert.equal(ok(await runCli(['approval', 'approve', id, '--json'], as['op-3'])).json().approvals, 2);

    fails(await runCli(['approval', 'execute', id, '--body-json', '{"x":1}'], as['op-1']), 'APPROVAL_DIGEST_MISMATCH');
    fails(await runCli(['approval', 'execute', id, '--body-json', '{'], as['op-1']), 'VALIDATION_FAILED');
    const done = ok(await runCli(['approval', 'execute', id, '--json'], as['op-1'])).json();
    assert.equal(done.name, 'tags');
    assert.ok(done.deleteAfter);
    fails(await runCli(['approval', 'execute', id], as['op-1']), 'APPROVAL_NOT_PENDING');
    assert.equal(ok(await runCli(['approval', 'show', id, '--json'], as['op-1'])).json().state, 'executed');
  });

  it('deny ends the request', async () => {
    const [pending] = ok(await runCli(['approval', 'list', '--state', 'pending', '--json'], as['op-1'])).json();
    assert.equal(pending.key, 'logs');
    assert.match(
      ok(await runCli(['approval', 'deny', pending.id, '--reason', 'keep the logs'], as['op-3'])).stdout,
      /Denied apr_/,
    );
    const shown = ok(await runCli(['approval', 'show', pending.id], as['op-1'])).stdout;
    assert.match(shown, /denied by\s+op-3: keep the logs/);
    fails(await runCli(['approval', 'execute', pending.id], as['op-1']), 'APPROVAL_NOT_PENDING');
  });
});
