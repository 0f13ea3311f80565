/**
 * Dual control in tests: operations the default policy puts under two operators' approval
 * (key deletion, policy activation) answer 202; `completeApproval` gets them approved by two fresh
 * operators and executed by the requester, as a real deployment would.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { issueToken } from '../../engine/auth/tokens.js';
import type { Db } from '../../engine/store/index.js';

export interface Caller {
  call(method: string, path: string, opts?: { body?: unknown; token?: string }): Promise<{ status: number; body: any }>;
}

/** Two tokens of fresh `operator` principals (never the requester). */
export async function approverTokens(db: Db, n = 2): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    out.push(
      (
        await issueToken(db, {
          principal: `approver-${randomBytes(4).toString('hex')}`,
          roles: ['operator'],
          now: new Date(),
        })
      ).token,
    );
  }
  return out;
}

/**
 * Takes a parked request's 202 answer, has two operators approve, and executes it as `token` with
 * the original `body`; returns the operation's own answer.
 */
export async function completeApproval(
  s: Caller & { hsm: { store: { db: Db } } },
  parked: { status: number; body: any },
  token: string,
  body?: unknown,
): Promise<{ status: number; body: any }> {
  assert.equal(
    parked.status,
    202,
    `expected 202 (parked for approval), got ${parked.status} ${JSON.stringify(parked.body)}`,
  );
  const id = parked.body.approvalId as string;
  for (const approver of await approverTokens(s.hsm.store.db)) {
    const r = await s.call('POST', `/v1/approvals/${id}/approve`, { token: approver, body: {} });
    assert.equal(r.status, 200, JSON.stringify(r.body));
  }
  return s.call('POST', `/v1/approvals/${id}/execute`, { token, ...(body !== undefined ? { body } : {}) });
}

/**
 * Uploads the wasm of `wasm` (a compiled fixture policy) as `name` and activates it globally, which
 * the default policy puts under two operators' approval; returns its sha256.
 */
export async function activateGlobalPolicy(
  s: Caller & { hsm: { store: { db: Db } } },
  root: string,
  name: string,
  wasm: Uint8Array,
): Promise<string> {
  const up = await s.call('POST', '/v1/policies', {
    token: root,
    body: { name, wasm: Buffer.from(wasm).toString('base64') },
  });
  assert.equal(up.status, 201, JSON.stringify(up.body));
  const sha256 = up.body.sha256 as string;
  const on = { scope: 'global' };
  const activated = await completeApproval(
    s,
    await s.call('POST', `/v1/policies/${sha256}/activate`, { token: root, body: on }),
    root,
    on,
  );
  assert.equal(activated.status, 200, JSON.stringify(activated.body));
  return sha256;
}

/** The approval id of a CLI request that was parked: exit 3, the approval and its execute command on stdout. */
export function parkedId(r: { code: number; stdout: string; stderr: string }): string {
  assert.equal(
    r.code,
    3,
    `expected the request to be parked for approval (exit 3), got exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`,
  );
  const id = /apr_[0-9a-f]{32}/.exec(r.stdout)?.[0];
  assert.ok(id, `no approval id on stdout: ${r.stdout}`);
  assert.ok(r.stdout.includes(`keyward approval execute ${id}`), `stdout names the execute command: ${r.stdout}`);
  return id;
}

/** Two fresh operators approve `id` over HTTP (for CLI tests, whose requester then executes). */
export async function approveTwice(url: string, db: Db, id: string): Promise<void> {
  for (const approver of await approverTokens(db)) {
    const res = await fetch(`${url}/v1/approvals/${id}/approve`, {
      method: 'POST',
      headers: { authorization: `Bearer ${approver}`, 'content-type': 'application/json' },
      body: '{}',
    });
    assert.equal(res.status, 200, await res.text());
  }
}
