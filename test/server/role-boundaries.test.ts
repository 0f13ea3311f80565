/**
 * Role boundaries (issue 13): every route of the app, called by each of admin / operator / app /
 * auditor and with no token, a revoked token and an expired token, under the default policy
 * (policies/default/rbac.ts). Checked both ways: an allowed call succeeds (2xx, or 202 where dual
 * control parks it), a refused one is 403 (a role the policy does not grant) or 401 (no valid
 * token; on the Vault transit routes, 403 as Vault answers), and every refusal has its audit record
 * (by request id, with the answer's error code).
 *
 * {@link MATRIX} is the expected table, route × role, as data to read. It is checked against the
 * app's routers (a route without a row fails), and each row's cells against the independent
 * statement of the role matrix (test/engine/policy/rbac-oracle.ts) for the operation the catalog
 * (engine/operations.ts) names for that route, so the table, the oracle and the policy cannot drift
 * apart. The approval routes are the exception the policy documents: it allows them to everyone and
 * the server enforces separation of duties (approvers hold the named role and are not the requester;
 * only the requester executes; strangers don't see the approval).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ml_kem768 } from '@noble/post-quantum/ml-kem.js';
import { toPublicKeyFile } from '../../ceremony/index.js';
import { issueToken } from '../../engine/auth/tokens.js';
import { decodeRecord } from '../../engine/audit/math/record.js';
import { generateKey, importWrappingKey, wrapKeyMaterial } from '../../engine/crypto/index.js';
import { devBootstrap, devUnseal } from '../../engine/dev.js';
import { OPERATIONS, OPERATION_NAMES } from '../../engine/operations.js';
import type { OperationSpec } from '../../engine/operations.js';
import { appRouters } from '../../server/app.js';
import { TRANSIT_PREFIX } from '../../server/routes/transit.js';
import { makeHolders } from '../helpers/ceremony.js';
import { startTestServer } from '../helpers/server.js';
import type { TestServer } from '../helpers/server.js';
import { b64 } from '../helpers/wire.js';
import { decideBuiltinRbac } from '../engine/policy/rbac-oracle.js';
import { UNAUTHENTICATED_ROUTES } from '../helpers/routes.js';

const T = TRANSIT_PREFIX;
const ROLES = ['admin', 'operator', 'app', 'auditor'] as const;
type Role = (typeof ROLES)[number];
/** Callers without a valid token: each must be 401 on every authenticated route. */
const NO_TOKEN_CALLERS = ['none', 'revoked', 'expired'] as const;

/**
 * ok: 2xx (not 202) · park: 202, parked for two operators' approval · deny: 403 ·
 * hidden: 404, an approval the caller is neither requester, approver role nor admin of.
 */
type Cell = 'ok' | 'park' | 'deny' | 'hidden';
const [ok, park, deny, hidden] = ['ok', 'park', 'deny', 'hidden'] as const;

/** Routes no policy decides: the same answer whatever the token (none, valid, revoked, expired). */
const PUBLIC = UNAUTHENTICATED_ROUTES;

// prettier-ignore
/** The default policy's role matrix, route by route: [admin, operator, app, auditor]. */
const MATRIX: Record<string, readonly [Cell, Cell, Cell, Cell]> = {
  //                                                admin   operator app     auditor
  'POST /v1/keys':                                 [ok,     ok,      deny,   deny],
  'GET /v1/keys':                                  [ok,     ok,      ok,     deny],
  'GET /v1/keys/:name':                            [ok,     ok,      ok,     deny],
  'POST /v1/keys/:name/rotate':                    [ok,     ok,      deny,   deny],
  'POST /v1/keys/:name/config':                    [ok,     ok,      deny,   deny],
  'DELETE /v1/keys/:name':                         [park,   park,    deny,   deny],
  'POST /v1/keys/:name/encrypt':                   [ok,     deny,    ok,     deny],
  'POST /v1/keys/:name/decrypt':                   [ok,     deny,    ok,     deny],
  'POST /v1/keys/:name/rewrap':                    [ok,     deny,    ok,     deny],
  'POST /v1/keys/:name/datakey':                   [ok,     deny,    ok,     deny],
  'POST /v1/keys/:name/sign':                      [ok,     deny,    ok,     deny],
  'POST /v1/keys/:name/verify':                    [ok,     deny,    ok,     deny],
  'POST /v1/keys/:name/hmac':                      [ok,     deny,    ok,     deny],
  'POST /v1/keys/:name/encapsulate':               [ok,     deny,    ok,     deny],
  'POST /v1/keys/:name/decapsulate':               [ok,     deny,    ok,     deny],
  'GET /v1/keys/:name/public':                     [ok,     deny,    ok,     deny],
  'GET /v1/sys/wrapping-key':                      [ok,     ok,      deny,   deny],
  'POST /v1/keys/:name/import':                    [ok,     ok,      deny,   deny],
  'POST /v1/keys/:name/export':                    [park,   park,    deny,   deny],
  'POST /v1/random':                               [ok,     deny,    ok,     deny],
  'POST /v1/policies':                             [ok,     ok,      deny,   deny],
  'GET /v1/policies':                              [ok,     ok,      deny,   deny],
  'POST /v1/policies/evaluate':                    [ok,     ok,      deny,   deny],
  'POST /v1/policies/:hash/activate':              [park,   park,    deny,   deny],
  'POST /v1/policies/:hash/deactivate':            [park,   park,    deny,   deny],
  'GET /v1/auth/whoami':                           [ok,     ok,      ok,     ok],
  'POST /v1/auth/tokens':                          [ok,     deny,    deny,   deny],
  'DELETE /v1/auth/tokens/:id':                    [ok,     deny,    deny,   deny],
  'POST /v1/sys/seal':                             [ok,     ok,      deny,   deny],
  'POST /v1/sys/rotate':                           [ok,     ok,      deny,   deny],
  'POST /v1/sys/rekey/init':                       [ok,     ok,      deny,   deny],
  'POST /v1/sys/rekey/cancel':                     [ok,     ok,      deny,   deny],
  'POST /v1/sys/backup':                           [ok,     ok,      deny,   deny],
  'GET /metrics':                                  [ok,     ok,      deny,   deny],
  'GET /v1/audit/keys':                            [ok,     deny,    deny,   ok],
  'GET /v1/audit/checkpoint':                      [ok,     deny,    deny,   ok],
  'GET /v1/audit/records':                         [ok,     deny,    deny,   ok],
  'GET /v1/audit/proofs/inclusion':                [ok,     deny,    deny,   ok],
  'GET /v1/audit/proofs/consistency':              [ok,     deny,    deny,   ok],
  'POST /v1/audit/hash':                           [ok,     deny,    deny,   ok],
  'POST /v1/audit/export':                         [ok,     deny,    deny,   ok],
  // Allowed to all by the policy; the server enforces separation of duties (approval requested by another operator).
  'GET /v1/approvals':                             [ok,     ok,      ok,     ok],
  'GET /v1/approvals/:id':                         [ok,     ok,      hidden, hidden],
  // admin sees the approval but does not hold its group; app and auditor may not even see it (as GET).
  'POST /v1/approvals/:id/approve':                [deny,   ok,      hidden, hidden],
  'POST /v1/approvals/:id/deny':                   [deny,   ok,      hidden, hidden],
  // Executed by the requester (each role parks its own key deletion, approved by two operators; app
  // and auditor may not park one, so they try to execute another's).
  'POST /v1/approvals/:id/execute':                [ok,     ok,      hidden, hidden],
  [`POST ${T}/keys/:name`]:                        [ok,     ok,      deny,   deny],
  [`POST ${T}/keys/:name/import`]:                 [ok,     ok,      deny,   deny],
  [`GET ${T}/keys/:name`]:                         [ok,     ok,      ok,     deny],
  [`GET ${T}/keys`]:                               [ok,     ok,      ok,     deny],
  [`DELETE ${T}/keys/:name`]:                      [park,   park,    deny,   deny],
  [`POST ${T}/keys/:name/config`]:                 [ok,     ok,      deny,   deny],
  [`POST ${T}/keys/:name/rotate`]:                 [ok,     ok,      deny,   deny],
  [`GET ${T}/export/:key_type/:name`]:             [ok,     deny,    ok,     deny], // public-key (key.public)
  [`GET ${T}/export/:key_type/:name/:version`]:    [park,   park,    deny,   deny], // encryption-key (key.export)
  [`POST ${T}/encrypt/:name`]:                     [ok,     deny,    ok,     deny],
  [`POST ${T}/decrypt/:name`]:                     [ok,     deny,    ok,     deny],
  [`POST ${T}/rewrap/:name`]:                      [ok,     deny,    ok,     deny],
  [`POST ${T}/datakey/:plaintext/:name`]:          [ok,     deny,    ok,     deny],
  [`POST ${T}/sign/:name`]:                        [ok,     deny,    ok,     deny],
  [`POST ${T}/sign/:name/:hash_algorithm`]:        [ok,     deny,    ok,     deny],
  [`POST ${T}/verify/:name`]:                      [ok,     deny,    ok,     deny],
  [`POST ${T}/verify/:name/:hash_algorithm`]:      [ok,     deny,    ok,     deny],
  [`POST ${T}/hmac/:name`]:                        [ok,     deny,    ok,     deny],
  [`POST ${T}/hmac/:name/:algorithm`]:             [ok,     deny,    ok,     deny],
  [`POST ${T}/random`]:                            [ok,     deny,    ok,     deny],
  [`POST ${T}/random/:a`]:                         [ok,     deny,    ok,     deny],
  [`POST ${T}/random/:source/:bytes`]:             [ok,     deny,    ok,     deny],
  [`POST ${T}/hash`]:                              [ok,     deny,    ok,     deny],
  [`POST ${T}/hash/:algorithm`]:                   [ok,     deny,    ok,     deny],
};

/** The catalog operation a route's sample request performs, where the route emits more than one. */
const SAMPLE_OPERATION: Record<string, string> = {
  [`POST ${T}/keys/:name/import`]: 'key.create',
  [`GET ${T}/export/:key_type/:name`]: 'key.public',
  [`GET ${T}/export/:key_type/:name/:version`]: 'key.export',
  [`POST ${T}/encrypt/:name`]: 'encrypt',
};
/**
 * Routes whose sample request is costly to make (a parked approval, a deletable key: several
 * requests each): the callers the table refuses share one, as a refused call changes nothing (a
 * caller allowed by the table still gets a fresh one). Their samples do not depend on which refused
 * caller asks.
 */
const SHARED_BY_REFUSED = new Set([
  'DELETE /v1/keys/:name',
  `DELETE ${T}/keys/:name`,
  'GET /v1/approvals/:id',
  'POST /v1/approvals/:id/approve',
  'POST /v1/approvals/:id/deny',
  'POST /v1/approvals/:id/execute',
]);
/** Routes whose outcome the server decides beyond the policy (separation of duties). */
const SERVER_ENFORCED = new Set([
  'GET /v1/approvals/:id',
  'POST /v1/approvals/:id/approve',
  'POST /v1/approvals/:id/deny',
  'POST /v1/approvals/:id/execute',
]);

interface Req {
  method: string;
  path: string;
  body?: unknown;
}

/** Every `METHOD /path` the app serves (transit's 404/405 fallback aside). */
function appRoutes(s: TestServer): string[] {
  const out = new Set<string>();
  const deps = { hsm: s.hsm, log: undefined as never, bodyLimit: 1024, ceremonyRate: { burst: 1, perMinute: 1 } };
  for (const router of appRouters(deps))
    for (const layer of router.stack)
      for (const method of layer.methods.filter((m) => m !== 'HEAD')) {
        if (String(layer.path).includes('*') || layer.path === T) continue;
        out.add(`${method} ${layer.path}`);
      }
  return [...out].sort();
}

/** The catalog's operations for a route. */
function operationsOf(route: string): string[] {
  return OPERATION_NAMES.filter((o) => (OPERATIONS[o] as OperationSpec).routes.includes(route));
}

describe('role boundaries under the default policy: every route × admin, operator, app, auditor, no/revoked/expired token', () => {
  let s: TestServer;
  let root: string;
  let share: Uint8Array;
  const tokens = {} as Record<Role | 'revoked' | 'expired' | 'requester', string>;
  let n = 0;
  const uniq = (p: string) => `${p}-${++n}`;
  /** Refusals to find in the audit log: request id → status. */
  const refusals = new Map<string, { code: string; what: string }>();
  let holders: unknown[];
  let wrappingKeyB64: string;
  let policyHash: string;
  let policyWasm: string;

  async function asRoot(method: string, path: string, body?: unknown, expect?: number): Promise<any> {
    const r = await s.call(method, path, { token: root, ...(body !== undefined ? { body } : {}) });
    if (expect !== undefined) assert.equal(r.status, expect, `${method} ${path}: ${JSON.stringify(r.body)}`);
    return r.body;
  }
  const newKey = async (type: string, extra: object = {}) => {
    const name = uniq(type);
    await asRoot('POST', '/v1/keys', { name, type, ...extra }, 201);
    return name;
  };
  /** A key deletion parked by `token` (an operator or admin): its approval id. */
  async function parkedDeletion(token: string): Promise<string> {
    const name = await newKey('aes256-gcm');
    await asRoot('POST', `/v1/keys/${name}/config`, { deletionAllowed: true }, 200);
    const r = await s.call('DELETE', `/v1/keys/${name}`, { token });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    return r.body.approvalId;
  }
  async function approveByTwo(id: string): Promise<void> {
    for (const p of ['appr-a', 'appr-b']) {
      const t = (await issueToken(s.hsm.store.db, { principal: uniq(p), roles: ['operator'], now: new Date() })).token;
      const r = await s.call('POST', `/v1/approvals/${id}/approve`, { token: t, body: {} });
      assert.equal(r.status, 200, JSON.stringify(r.body));
    }
  }
  const tokenFor = (who: Role | (typeof NO_TOKEN_CALLERS)[number]) =>
    who === 'none' ? undefined : tokens[who as Role | 'revoked' | 'expired'];

  /**
   * The request each route is called with, made fresh for each caller (so an allowed call that
   * changes state never spoils the next; the refused callers of SHARED_BY_REFUSED's routes share
   * one). Fixtures are made with the root (admin) token.
   */
  const samples: Record<string, (who: string) => Promise<Req>> = {
    'POST /v1/keys': async () => ({
      method: 'POST',
      path: '/v1/keys',
      body: { name: uniq('new'), type: 'aes256-gcm' },
    }),
    'GET /v1/keys': async () => ({ method: 'GET', path: '/v1/keys' }),
    'GET /v1/keys/:name': async () => ({ method: 'GET', path: `/v1/keys/${fx.aes}` }),
    'POST /v1/keys/:name/rotate': async () => ({ method: 'POST', path: `/v1/keys/${fx.aes}/rotate`, body: {} }),
    'POST /v1/keys/:name/config': async () => ({
      method: 'POST',
      path: `/v1/keys/${fx.aes}/config`,
      body: { minDecryptionVersion: 1 },
    }),
    'DELETE /v1/keys/:name': async () => {
      const name = await newKey('aes256-gcm');
      await asRoot('POST', `/v1/keys/${name}/config`, { deletionAllowed: true }, 200);
      return { method: 'DELETE', path: `/v1/keys/${name}` };
    },
    'POST /v1/keys/:name/encrypt': async () => ({
      method: 'POST',
      path: `/v1/keys/${fx.aes}/encrypt`,
      body: { plaintext: b64('hi') },
    }),
    'POST /v1/keys/:name/decrypt': async () => ({
      method: 'POST',
      path: `/v1/keys/${fx.aes}/decrypt`,
      body: { ciphertext: fx.aesCiphertext },
    }),
    'POST /v1/keys/:name/rewrap': async () => ({
      method: 'POST',
      path: `/v1/keys/${fx.aes}/rewrap`,
      body: { ciphertext: fx.aesCiphertext },
    }),
    'POST /v1/keys/:name/datakey': async () => ({ method: 'POST', path: `/v1/keys/${fx.aes}/datakey`, body: {} }),
    'POST /v1/keys/:name/sign': async () => ({
      method: 'POST',
      path: `/v1/keys/${fx.ed}/sign`,
      body: { message: b64('hi') },
    }),
    'POST /v1/keys/:name/verify': async () => ({
      method: 'POST',
      path: `/v1/keys/${fx.ed}/verify`,
      body: { message: b64('hi'), signature: fx.edSignature },
    }),
    'POST /v1/keys/:name/hmac': async () => ({
      method: 'POST',
      path: `/v1/keys/${fx.mac}/hmac`,
      body: { message: b64('hi') },
    }),
    'POST /v1/keys/:name/encapsulate': async () => ({
      method: 'POST',
      path: `/v1/keys/${fx.kem}/encapsulate`,
      body: {},
    }),
    'POST /v1/keys/:name/decapsulate': async () => ({
      method: 'POST',
      path: `/v1/keys/${fx.kem}/decapsulate`,
      body: { ciphertext: fx.kemCiphertext },
    }),
    'GET /v1/keys/:name/public': async () => ({ method: 'GET', path: `/v1/keys/${fx.ed}/public` }),
    'GET /v1/sys/wrapping-key': async () => ({ method: 'GET', path: '/v1/sys/wrapping-key?algorithm=ml-kem-768' }),
    'POST /v1/keys/:name/import': async () => ({
      method: 'POST',
      path: `/v1/keys/${uniq('imported')}/import`,
      body: {
        type: 'aes256-gcm',
        algorithm: 'ml-kem-768',
        wrappedKey: b64(wrapKeyMaterial('ml-kem-768', fx.serverWrappingKey, generateKey('aes256-gcm').private)),
      },
    }),
    'POST /v1/keys/:name/export': async () => ({
      method: 'POST',
      path: `/v1/keys/${fx.exportable}/export`,
      body: { algorithm: 'ml-kem-768', wrappingKey: wrappingKeyB64 },
    }),
    'POST /v1/random': async () => ({ method: 'POST', path: '/v1/random', body: { bytes: 16 } }),
    'POST /v1/policies': async () => ({
      method: 'POST',
      path: '/v1/policies',
      body: { name: uniq('p'), wasm: policyWasm },
    }),
    'GET /v1/policies': async () => ({ method: 'GET', path: '/v1/policies' }),
    'POST /v1/policies/evaluate': async () => ({
      method: 'POST',
      path: '/v1/policies/evaluate',
      body: { input: { operation: 'encrypt', principal: 'p', roles: ['app'] } },
    }),
    'POST /v1/policies/:hash/activate': async () => ({
      method: 'POST',
      path: `/v1/policies/${policyHash}/activate`,
      body: { scope: 'global' },
    }),
    'POST /v1/policies/:hash/deactivate': async () => ({
      method: 'POST',
      path: `/v1/policies/${fx.defaultPolicy}/deactivate`,
      body: { scope: 'global' },
    }),
    'GET /v1/auth/whoami': async () => ({ method: 'GET', path: '/v1/auth/whoami' }),
    'POST /v1/auth/tokens': async () => ({
      method: 'POST',
      path: '/v1/auth/tokens',
      body: { principal: uniq('svc'), roles: ['app'], ttl: 60 },
    }),
    'DELETE /v1/auth/tokens/:id': async () => {
      const t = await asRoot('POST', '/v1/auth/tokens', { principal: uniq('victim'), roles: ['app'], ttl: 60 }, 201);
      return { method: 'DELETE', path: `/v1/auth/tokens/${t.tokenId}` };
    },
    'POST /v1/sys/seal': async () => ({ method: 'POST', path: '/v1/sys/seal', body: {} }),
    'POST /v1/sys/rotate': async () => ({ method: 'POST', path: '/v1/sys/rotate', body: {} }),
    'POST /v1/sys/rekey/init': async () => ({
      method: 'POST',
      path: '/v1/sys/rekey/init',
      body: { holders, threshold: 1 },
    }),
    'POST /v1/sys/rekey/cancel': async () => {
      await asRoot('POST', '/v1/sys/rekey/init', { holders, threshold: 1 }, 200);
      return { method: 'POST', path: '/v1/sys/rekey/cancel', body: {} };
    },
    'POST /v1/sys/backup': async () => ({ method: 'POST', path: '/v1/sys/backup', body: {} }),
    'GET /metrics': async () => ({ method: 'GET', path: '/metrics' }),
    'GET /v1/audit/keys': async () => ({ method: 'GET', path: '/v1/audit/keys' }),
    'GET /v1/audit/checkpoint': async () => ({ method: 'GET', path: '/v1/audit/checkpoint' }),
    'GET /v1/audit/records': async () => ({ method: 'GET', path: '/v1/audit/records?from=0&limit=2' }),
    'GET /v1/audit/proofs/inclusion': async () => {
      const size = (await asRoot('GET', '/v1/audit/checkpoint', undefined, 200)).size;
      return { method: 'GET', path: `/v1/audit/proofs/inclusion?index=0&size=${size}` };
    },
    'GET /v1/audit/proofs/consistency': async () => {
      const size = (await asRoot('GET', '/v1/audit/checkpoint', undefined, 200)).size;
      return { method: 'GET', path: `/v1/audit/proofs/consistency?from=${size}&to=${size}` };
    },
    'POST /v1/audit/hash': async () => ({ method: 'POST', path: '/v1/audit/hash', body: { value: 'x' } }),
    'POST /v1/audit/export': async () => ({ method: 'POST', path: '/v1/audit/export', body: {} }),
    'GET /v1/approvals': async () => ({ method: 'GET', path: '/v1/approvals' }),
    'GET /v1/approvals/:id': async () => ({
      method: 'GET',
      path: `/v1/approvals/${await parkedDeletion(tokens.requester)}`,
    }),
    'POST /v1/approvals/:id/approve': async () => ({
      method: 'POST',
      path: `/v1/approvals/${await parkedDeletion(tokens.requester)}/approve`,
      body: {},
    }),
    'POST /v1/approvals/:id/deny': async () => ({
      method: 'POST',
      path: `/v1/approvals/${await parkedDeletion(tokens.requester)}/deny`,
      body: { reason: 'no' },
    }),
    'POST /v1/approvals/:id/execute': async (who) => {
      const mine = who === 'admin' || who === 'operator';
      const id = await parkedDeletion(mine ? tokens[who] : tokens.requester);
      await approveByTwo(id);
      return { method: 'POST', path: `/v1/approvals/${id}/execute`, body: {} };
    },
    [`POST ${T}/keys/:name`]: async () => ({ method: 'POST', path: `${T}/keys/${uniq('tnew')}`, body: {} }),
    [`POST ${T}/keys/:name/import`]: async () => ({
      method: 'POST',
      path: `${T}/keys/${uniq('timp')}/import`,
      body: { type: 'ed25519', public_key: fx.edPublicPem },
    }),
    [`GET ${T}/keys/:name`]: async () => ({ method: 'GET', path: `${T}/keys/${fx.aes}` }),
    [`GET ${T}/keys`]: async () => ({ method: 'GET', path: `${T}/keys?list=true` }),
    [`DELETE ${T}/keys/:name`]: async () => {
      const name = await newKey('aes256-gcm');
      await asRoot('POST', `/v1/keys/${name}/config`, { deletionAllowed: true }, 200);
      return { method: 'DELETE', path: `${T}/keys/${name}` };
    },
    [`POST ${T}/keys/:name/config`]: async () => ({
      method: 'POST',
      path: `${T}/keys/${fx.aes}/config`,
      body: { min_decryption_version: 1 },
    }),
    [`POST ${T}/keys/:name/rotate`]: async () => ({ method: 'POST', path: `${T}/keys/${fx.aes}/rotate`, body: {} }),
    [`GET ${T}/export/:key_type/:name`]: async () => ({ method: 'GET', path: `${T}/export/public-key/${fx.ed}` }),
    [`GET ${T}/export/:key_type/:name/:version`]: async () => ({
      method: 'GET',
      path: `${T}/export/encryption-key/${fx.exportable}/1`,
    }),
    [`POST ${T}/encrypt/:name`]: async () => ({
      method: 'POST',
      path: `${T}/encrypt/${fx.aes}`,
      body: { plaintext: b64('hi') },
    }),
    [`POST ${T}/decrypt/:name`]: async () => ({
      method: 'POST',
      path: `${T}/decrypt/${fx.aes}`,
      body: { ciphertext: fx.vaultCiphertext },
    }),
    [`POST ${T}/rewrap/:name`]: async () => ({
      method: 'POST',
      path: `${T}/rewrap/${fx.aes}`,
      body: { ciphertext: fx.vaultCiphertext },
    }),
    [`POST ${T}/datakey/:plaintext/:name`]: async () => ({
      method: 'POST',
      path: `${T}/datakey/plaintext/${fx.aes}`,
      body: {},
    }),
    [`POST ${T}/sign/:name`]: async () => ({ method: 'POST', path: `${T}/sign/${fx.ed}`, body: { input: b64('hi') } }),
    [`POST ${T}/sign/:name/:hash_algorithm`]: async () => ({
      method: 'POST',
      path: `${T}/sign/${fx.ec}/sha2-256`,
      body: { input: b64('hi') },
    }),
    [`POST ${T}/verify/:name`]: async () => ({
      method: 'POST',
      path: `${T}/verify/${fx.ed}`,
      body: { input: b64('hi'), signature: fx.vaultEdSignature },
    }),
    [`POST ${T}/verify/:name/:hash_algorithm`]: async () => ({
      method: 'POST',
      path: `${T}/verify/${fx.ec}/sha2-256`,
      body: { input: b64('hi'), signature: fx.vaultEcSignature },
    }),
    [`POST ${T}/hmac/:name`]: async () => ({ method: 'POST', path: `${T}/hmac/${fx.mac}`, body: { input: b64('hi') } }),
    [`POST ${T}/hmac/:name/:algorithm`]: async () => ({
      method: 'POST',
      path: `${T}/hmac/${fx.mac}/sha2-256`,
      body: { input: b64('hi') },
    }),
    [`POST ${T}/random`]: async () => ({ method: 'POST', path: `${T}/random`, body: {} }),
    [`POST ${T}/random/:a`]: async () => ({ method: 'POST', path: `${T}/random/16`, body: {} }),
    [`POST ${T}/random/:source/:bytes`]: async () => ({ method: 'POST', path: `${T}/random/platform/16`, body: {} }),
    [`POST ${T}/hash`]: async () => ({ method: 'POST', path: `${T}/hash`, body: { input: b64('hi') } }),
    [`POST ${T}/hash/:algorithm`]: async () => ({
      method: 'POST',
      path: `${T}/hash/sha2-256`,
      body: { input: b64('hi') },
    }),
    // Public routes: a request whose answer does not depend on who asks.
    'GET /openapi.json': async () => ({ method: 'GET', path: '/openapi.json' }),
    'GET /v1/sys/health': async () => ({ method: 'GET', path: '/v1/sys/health' }),
    'GET /v1/sys/seal-status': async () => ({ method: 'GET', path: '/v1/sys/seal-status' }),
    'POST /v1/sys/init': async () => ({ method: 'POST', path: '/v1/sys/init', body: { holders, threshold: 1 } }),
    'POST /v1/sys/unseal': async () => ({ method: 'POST', path: '/v1/sys/unseal', body: {} }),
    'POST /v1/sys/unseal/reset': async () => ({ method: 'POST', path: '/v1/sys/unseal/reset', body: {} }),
    'GET /v1/sys/rekey': async () => ({ method: 'GET', path: '/v1/sys/rekey' }),
    'POST /v1/sys/rekey/update': async () => ({ method: 'POST', path: '/v1/sys/rekey/update', body: {} }),
  };

  /** Fixtures made once with the root token. */
  const fx = {} as {
    aes: string;
    aesCiphertext: string;
    vaultCiphertext: string;
    ed: string;
    edSignature: string;
    vaultEdSignature: string;
    edPublicPem: string;
    ec: string;
    vaultEcSignature: string;
    mac: string;
    kem: string;
    kemCiphertext: string;
    exportable: string;
    serverWrappingKey: Uint8Array;
    defaultPolicy: string;
  };

  before(async () => {
    // One audit record per refusal, and no 429 for the ~200 failed authentications this file makes:
    // the per-client bound and the folding of failed authentications (server/refusals.ts, where that
    // exists) are lifted here. Spread untyped so the file also builds where those options don't exist.
    const unbounded: object = { authFailureRate: { burst: 100_000, perMinute: 6_000_000 }, refusalFoldMs: 0 };
    s = await startTestServer({ ...unbounded });
    const dev = await devBootstrap(s.hsm);
    root = dev.rootToken;
    share = new Uint8Array(Buffer.from(dev.unsealShare, 'base64'));
    const now = new Date();
    for (const role of ROLES)
      tokens[role] = (await issueToken(s.hsm.store.db, { principal: `${role}-p`, roles: [role], now })).token;
    tokens.requester = (await issueToken(s.hsm.store.db, { principal: 'requester-p', roles: ['operator'], now })).token;
    // Revoked and expired tokens carry the strongest role: the refusal is the token's state, not its role.
    const revoked = await issueToken(s.hsm.store.db, { principal: 'revoked-p', roles: ['admin'], now });
    await asRoot('DELETE', `/v1/auth/tokens/${revoked.tokenId}`, undefined, 200);
    tokens.revoked = revoked.token;
    tokens.expired = (
      await issueToken(s.hsm.store.db, {
        principal: 'expired-p',
        roles: ['admin'],
        ttlSeconds: 1,
        now: new Date(Date.now() - 60_000),
      })
    ).token;

    holders = (await makeHolders(['rekey-a'])).map(toPublicKeyFile);
    wrappingKeyB64 = b64(ml_kem768.keygen().publicKey);
    const wk = await asRoot('GET', '/v1/sys/wrapping-key?algorithm=ml-kem-768', undefined, 200);
    fx.serverWrappingKey = importWrappingKey('ml-kem-768', wk.publicKey);

    fx.aes = await newKey('aes256-gcm');
    fx.aesCiphertext = (await asRoot('POST', `/v1/keys/${fx.aes}/encrypt`, { plaintext: b64('hi') }, 200)).ciphertext;
    fx.vaultCiphertext = (
      await asRoot('POST', `${T}/encrypt/${fx.aes}`, { plaintext: b64('hi') }, 200)
    ).data.ciphertext;
    fx.ed = await newKey('ed25519');
    fx.edSignature = (await asRoot('POST', `/v1/keys/${fx.ed}/sign`, { message: b64('hi') }, 200)).signature;
    fx.vaultEdSignature = (await asRoot('POST', `${T}/sign/${fx.ed}`, { input: b64('hi') }, 200)).data.signature;
    fx.edPublicPem = (await asRoot('GET', `/v1/keys/${fx.ed}/public?format=pem`, undefined, 200)).publicKey;
    fx.ec = await newKey('ecdsa-p256');
    fx.vaultEcSignature = (
      await asRoot('POST', `${T}/sign/${fx.ec}/sha2-256`, { input: b64('hi') }, 200)
    ).data.signature;
    fx.mac = await newKey('hmac-sha256');
    fx.kem = await newKey('ml-kem-768');
    fx.kemCiphertext = (await asRoot('POST', `/v1/keys/${fx.kem}/encapsulate`, {}, 200)).ciphertext;
    fx.exportable = await newKey('aes256-gcm', { exportable: true });

    const pushed = await asRoot(
      'POST',
      '/v1/policies',
      { name: 'critical-decrypt', wasm: await policyFile('critical-decrypt') },
      undefined,
    );
    policyWasm = await policyFile('critical-decrypt');
    policyHash = pushed.sha256;
    const listed = await asRoot('GET', '/v1/policies', undefined, 200);
    fx.defaultPolicy = JSON.stringify(listed).match(/[0-9a-f]{64}/)![0];
    assert.match(policyHash, /^[0-9a-f]{64}$/, JSON.stringify(pushed));
  });
  after(() => s?.close());

  async function policyFile(name: string): Promise<string> {
    const { readFile } = await import('node:fs/promises');
    return (await readFile(new URL(`../../build/policies/${name}.wasm`, import.meta.url))).toString('base64');
  }

  it('the table has one row for every route of the app, and a sample request for each', () => {
    const routes = appRoutes(s);
    const rows = [...Object.keys(MATRIX), ...PUBLIC].sort();
    assert.deepEqual(
      routes.filter((r) => !rows.includes(r)),
      [],
      'routes without a row in MATRIX (add one: who may call it?)',
    );
    assert.deepEqual(
      rows.filter((r) => !routes.includes(r)),
      [],
      'rows for routes the app does not have',
    );
    assert.deepEqual(
      rows.filter((r) => !samples[r]),
      [],
      'rows without a sample request',
    );
  });

  it("each row agrees with the default policy's documented role matrix for the route's operation", () => {
    const problems: string[] = [];
    for (const [route, cells] of Object.entries(MATRIX)) {
      const ops = operationsOf(route);
      const op = SAMPLE_OPERATION[route] ?? (ops.length === 1 ? ops[0] : undefined);
      assert.ok(op && ops.includes(op as never), `${route}: which catalog operation does the sample perform? ${ops}`);
      ROLES.forEach((role, i) => {
        const d = decideBuiltinRbac([role], op).decision;
        const fromPolicy: Cell = d === 'allow' ? ok : d === 'require_approval' ? park : deny;
        // Where the server enforces separation of duties, the policy allows and the server narrows.
        const cell = cells[i]!;
        const agrees = SERVER_ENFORCED.has(route) ? fromPolicy === ok : cell === fromPolicy;
        if (!agrees) problems.push(`${route} as ${role}: table ${cell}, policy ${d} (${op})`);
      });
    }
    assert.deepEqual(problems, []);
  });

  it(
    'every route answers each caller as the table says, and every refusal is audited',
    { timeout: 120_000 },
    async () => {
      const problems: string[] = [];
      const send = async (route: string, who: string, req: Req) => {
        const token = tokenFor(who as Role);
        const r = await s.call(req.method, req.path, {
          ...(token ? { token } : {}),
          ...(req.body !== undefined ? { body: req.body } : {}),
        });
        return { ...r, label: `${route} as ${who}: ${r.status} ${JSON.stringify(r.body).slice(0, 160)}` };
      };
      for (const route of Object.keys(MATRIX)) {
        const cells = MATRIX[route]!;
        // Vault's transit answers every refusal 403 "permission denied", a missing or bad token and a
        // parked request included (docs/vault-transit.md); the error code is in X-Keyward-Error-Code.
        const transit = route.includes(`${T}/`);
        // Refusals first (a refused call changes nothing), then the allowed calls.
        const order = [...NO_TOKEN_CALLERS, ...ROLES.filter((_, i) => cells[i] !== ok && cells[i] !== park), ...ROLES];
        const seen = new Set<string>();
        let refusedReq: Req | undefined;
        for (const who of order) {
          if (seen.has(who)) continue;
          seen.add(who);
          const cell: Cell | 'unauth' = (NO_TOKEN_CALLERS as readonly string[]).includes(who)
            ? 'unauth'
            : cells[ROLES.indexOf(who as Role)]!;
          const refused = cell !== 'ok' && cell !== 'park';
          const shared = refused && SHARED_BY_REFUSED.has(route);
          const req = (shared ? refusedReq : undefined) ?? (await samples[route]!(who));
          const r = await send(route, who, req);
          // Kept for the next refused caller only while the calls with it were refused as they should be.
          refusedReq = shared && r.status >= 400 && !r.body?.approval ? req : undefined;
          const code: string | null = transit ? r.headers.get('x-keyward-error-code') : (r.body?.error?.code ?? null);
          if (cell === 'ok') {
            if (!(r.status >= 200 && r.status < 300 && r.status !== 202)) problems.push(`expected success: ${r.label}`);
          } else if (cell === 'park') {
            const parked = transit ? r.status === 403 && r.body?.approval?.approvalId : r.status === 202;
            if (!parked) problems.push(`expected parked: ${r.label}`);
          } else {
            const [want, wantCode] =
              cell === 'unauth'
                ? [transit ? 403 : 401, 'UNAUTHENTICATED']
                : cell === 'hidden'
                  ? [404, 'APPROVAL_NOT_FOUND']
                  : [403, undefined];
            if (r.status !== want || (wantCode && code !== wantCode))
              problems.push(`expected ${want} ${wantCode ?? ''}: ${r.label}`);
            else refusals.set(r.headers.get('x-request-id')!, { code: code!, what: r.label });
          }
          // A successful seal is undone at once, for the rows that follow.
          if (route === 'POST /v1/sys/seal' && r.status === 200) await devUnseal(s.hsm, share);
          if (route.startsWith('POST /v1/sys/rekey/init') && r.status === 200)
            await asRoot('POST', '/v1/sys/rekey/cancel', {}, 200);
          if (route === 'POST /v1/sys/rekey/cancel' && r.status !== 200)
            await asRoot('POST', '/v1/sys/rekey/cancel', {}, 200);
        }
      }
      for (const route of PUBLIC) {
        const got: string[] = [];
        for (const who of [...ROLES, ...NO_TOKEN_CALLERS]) {
          const r = await send(route, who, await samples[route]!(who));
          got.push(`${who}:${r.status}`);
          if (r.status === 401 || r.status === 403 || r.status >= 500)
            problems.push(`public route refused: ${r.label}`);
        }
        const statuses = new Set(got.map((g) => g.split(':')[1]));
        if (statuses.size !== 1) problems.push(`${route}: the answer depends on the token: ${got.join(' ')}`);
      }
      assert.deepEqual(problems, []);

      // Every refusal has its audit record, with the status it answered.
      const records = new Map<string, { status: number; code: string | null }>();
      for (let from = 0; ;) {
        const page = await s.call('GET', `/v1/audit/records?from=${from}&limit=1000`, { token: root });
        assert.equal(page.status, 200, JSON.stringify(page.body));
        for (const { leaf } of page.body.records as Array<{ leaf: string }>) {
          const rec = decodeRecord(new TextEncoder().encode(leaf));
          if (rec.requestId) records.set(rec.requestId, { status: rec.status, code: rec.code });
        }
        if (page.body.next === null) break;
        from = page.body.next;
      }
      const unaudited = [...refusals].filter(([id, r]) => records.get(id)?.code !== r.code);
      assert.ok(refusals.size > 200, `refusals checked: ${refusals.size}`);
      assert.deepEqual(
        unaudited.map(([id, r]) => `${r.what} (request ${id}: ${JSON.stringify(records.get(id))})`),
        [],
      );
    },
  );
});
