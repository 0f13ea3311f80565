/**
 * The operations catalog: every operation name a policy can match (`req.operation`), one typed
 * list (docs/architecture.md, "Operations"). Routes name their operation from here, the default
 * policy (policies/default/rbac.ts) grants from it, docs/architecture.md's table is generated from
 * it (test/engine/operations.test.ts checks the table, and that every route emits its entry and
 * nothing else), and the client SDK re-exports the names.
 *
 * Each entry says whether the operation acts on a named key (the pipeline loads it after
 * authentication and applies its bound policies), whether it changes state (its audit record then
 * commits in the change's transaction) and which routes emit it. The Vault transit routes use the
 * same names as their native counterparts, with the attribute `api=vault-transit`.
 *
 * {@link AUDIT_EVENTS} are the operation names of audit records no policy decides: the ceremony
 * steps, which run before there is a principal, and the server's own sweeps.
 * @module
 */

export interface OperationSpec {
  /** Acts on a named key: the pipeline loads it (after authentication) and its bound policies apply. */
  readonly keyed: boolean;
  /** Changes state: its audit record commits in the same transaction as the change. */
  readonly changes: boolean;
  /** `METHOD /path` of every route that emits it. */
  readonly routes: readonly string[];
  /** One line for the docs' table. */
  readonly summary: string;
}

const T = '/v1/transit';

export const OPERATIONS = {
  // Data plane on a key
  encrypt: {
    keyed: true,
    changes: false,
    routes: ['POST /v1/keys/:name/encrypt', `POST ${T}/encrypt/:name`],
    summary: 'encrypt (AEAD, RSA-OAEP); `batch`: item count',
  },
  decrypt: {
    keyed: true,
    changes: false,
    routes: ['POST /v1/keys/:name/decrypt', `POST ${T}/decrypt/:name`],
    summary: 'decrypt; `batch`',
  },
  rewrap: {
    keyed: true,
    changes: false,
    routes: ['POST /v1/keys/:name/rewrap', `POST ${T}/rewrap/:name`],
    summary: 'decrypt and encrypt again under the latest version',
  },
  datakey: {
    keyed: true,
    changes: false,
    routes: ['POST /v1/keys/:name/datakey', `POST ${T}/datakey/:plaintext/:name`],
    summary: 'a fresh data key, plaintext and wrapped',
  },
  sign: {
    keyed: true,
    changes: false,
    routes: ['POST /v1/keys/:name/sign', `POST ${T}/sign/:name`, `POST ${T}/sign/:name/:hash_algorithm`],
    summary: 'sign; `batch`',
  },
  verify: {
    keyed: true,
    changes: false,
    routes: ['POST /v1/keys/:name/verify', `POST ${T}/verify/:name`, `POST ${T}/verify/:name/:hash_algorithm`],
    summary: 'verify a signature (or, on transit, an HMAC: `mac=hmac`)',
  },
  hmac: {
    keyed: true,
    changes: false,
    routes: ['POST /v1/keys/:name/hmac', `POST ${T}/hmac/:name`, `POST ${T}/hmac/:name/:algorithm`],
    summary: 'HMAC-SHA-256; `batch`',
  },
  encapsulate: {
    keyed: true,
    changes: false,
    routes: ['POST /v1/keys/:name/encapsulate'],
    summary: 'KEM encapsulation (ML-KEM, X-Wing)',
  },
  decapsulate: {
    keyed: true,
    changes: false,
    routes: ['POST /v1/keys/:name/decapsulate'],
    summary: 'KEM decapsulation',
  },
  'key.public': {
    keyed: true,
    changes: false,
    routes: [
      'GET /v1/keys/:name/public',
      `GET ${T}/export/:key_type/:name`,
      `GET ${T}/export/:key_type/:name/:version`,
    ],
    summary: "a key's public half (transit: `export=public-key`)",
  },
  // No key, decided and audited all the same
  random: {
    keyed: false,
    changes: false,
    routes: ['POST /v1/random', `POST ${T}/random`, `POST ${T}/random/:a`, `POST ${T}/random/:source/:bytes`],
    summary: 'random bytes',
  },
  hash: {
    keyed: false,
    changes: false,
    routes: [`POST ${T}/hash`, `POST ${T}/hash/:algorithm`],
    summary: 'a digest of the input (transit only)',
  },
  // Key administration
  'key.create': {
    keyed: false,
    changes: true,
    routes: ['POST /v1/keys', `POST ${T}/keys/:name`, `POST ${T}/keys/:name/import`, `POST ${T}/encrypt/:name`],
    summary: 'create a key (`verifyOnly`: from a public key; transit encrypt upserts)',
  },
  'key.import': {
    keyed: false,
    changes: true,
    routes: ['POST /v1/keys/:name/import'],
    summary: 'BYOK import of wrapped material (`algorithm`)',
  },
  'key.wrapping-key': {
    keyed: false,
    changes: false,
    routes: ['GET /v1/sys/wrapping-key'],
    summary: "the server's BYOK wrapping key (`algorithm`)",
  },
  'key.list': { keyed: false, changes: false, routes: ['GET /v1/keys', `GET ${T}/keys`], summary: 'list keys' },
  'key.read': {
    keyed: true,
    changes: false,
    routes: ['GET /v1/keys/:name', `GET ${T}/keys/:name`],
    summary: "a key's metadata and versions",
  },
  'key.rotate': {
    keyed: true,
    changes: true,
    routes: ['POST /v1/keys/:name/rotate', `POST ${T}/keys/:name/rotate`],
    summary: 'add a key version',
  },
  'key.config': {
    keyed: true,
    changes: true,
    routes: ['POST /v1/keys/:name/config', `POST ${T}/keys/:name/config`],
    summary: "change a key's settings (the fields changed, e.g. `deletionAllowed`)",
  },
  'key.delete': {
    keyed: true,
    changes: true,
    routes: ['DELETE /v1/keys/:name', `DELETE ${T}/keys/:name`],
    summary: 'schedule deletion (dual control by default)',
  },
  'key.export': {
    keyed: true,
    changes: false,
    routes: [
      'POST /v1/keys/:name/export',
      `GET ${T}/export/:key_type/:name`,
      `GET ${T}/export/:key_type/:name/:version`,
    ],
    summary: 'export private material, wrapped (transit: plain) (dual control by default)',
  },
  // Policies
  'policy.push': { keyed: false, changes: true, routes: ['POST /v1/policies'], summary: 'store a policy module' },
  'policy.list': {
    keyed: false,
    changes: false,
    routes: ['GET /v1/policies'],
    summary: 'list stored policies and their bindings',
  },
  'policy.evaluate': {
    keyed: false,
    changes: false,
    routes: ['POST /v1/policies/evaluate'],
    summary: 'dry-run a policy input',
  },
  'policy.activate': {
    keyed: false,
    changes: true,
    routes: ['POST /v1/policies/:hash/activate'],
    summary: 'bind a policy, globally or to a key (`policy`, `scope`, `target`; dual control by default)',
  },
  'policy.deactivate': {
    keyed: false,
    changes: true,
    routes: ['POST /v1/policies/:hash/deactivate'],
    summary: 'unbind a policy (`policy`, `scope`, `target`; dual control by default)',
  },
  // Tokens
  'auth.whoami': { keyed: false, changes: false, routes: ['GET /v1/auth/whoami'], summary: 'who the token is' },
  'auth.token.create': {
    keyed: false,
    changes: true,
    routes: ['POST /v1/auth/tokens'],
    summary: 'issue a token (`principal`, `roles`, `ttlSeconds`)',
  },
  'auth.token.revoke': {
    keyed: false,
    changes: true,
    routes: ['DELETE /v1/auth/tokens/:id'],
    summary: 'revoke a token (`tokenId`)',
  },
  // The HSM itself
  'sys.seal': {
    keyed: false,
    changes: false,
    routes: ['POST /v1/sys/seal'],
    summary: 'seal (drops every key from memory)',
  },
  'sys.rotate': {
    keyed: false,
    changes: true,
    routes: ['POST /v1/sys/rotate'],
    summary: 'root key rotation (a new barrier term)',
  },
  'sys.rekey.init': { keyed: false, changes: false, routes: ['POST /v1/sys/rekey/init'], summary: 'start a rekey' },
  'sys.rekey.cancel': {
    keyed: false,
    changes: false,
    routes: ['POST /v1/sys/rekey/cancel'],
    summary: 'cancel a rekey',
  },
  'sys.backup': {
    keyed: false,
    changes: false,
    routes: ['POST /v1/sys/backup'],
    summary: 'a consistent snapshot of the whole store, sealed by the barrier (docs/backup.md)',
  },
  metrics: {
    keyed: false,
    changes: false,
    routes: ['GET /metrics'],
    summary: 'the Prometheus metrics (not decided with `--metrics-unauthenticated`)',
  },
  // The audit log
  'audit.keys': { keyed: false, changes: false, routes: ['GET /v1/audit/keys'], summary: "the log's verifier keys" },
  'audit.read': {
    keyed: false,
    changes: false,
    routes: [
      'GET /v1/audit/checkpoint',
      'GET /v1/audit/records',
      'GET /v1/audit/proofs/inclusion',
      'GET /v1/audit/proofs/consistency',
    ],
    summary: 'checkpoints, records, proofs',
  },
  'audit.hash': {
    keyed: false,
    changes: false,
    routes: ['POST /v1/audit/hash'],
    summary: 'the audit HMAC of a known value',
  },
  'audit.export': {
    keyed: false,
    changes: false,
    routes: ['POST /v1/audit/export'],
    summary: 'an attestation bundle (`includeInputs`, `includeWasm`)',
  },
  // Dual control (an execute that runs is decided as the parked operation itself)
  'approval.list': { keyed: false, changes: false, routes: ['GET /v1/approvals'], summary: 'list approvals (`state`)' },
  'approval.read': { keyed: false, changes: false, routes: ['GET /v1/approvals/:id'], summary: 'one approval' },
  'approval.approve': {
    keyed: false,
    changes: true,
    routes: ['POST /v1/approvals/:id/approve'],
    summary: 'approve (`approval`)',
  },
  'approval.deny': {
    keyed: false,
    changes: true,
    routes: ['POST /v1/approvals/:id/deny'],
    summary: 'deny (`approval`)',
  },
  'approval.execute': {
    keyed: false,
    changes: false,
    routes: ['POST /v1/approvals/:id/execute'],
    summary: 'a refused execute (not found, not the requester); one that runs is the parked operation',
  },
} as const satisfies Record<string, OperationSpec>;

/** An operation name policies match. */
export type Operation = keyof typeof OPERATIONS;
/** The operations on a named key. */
export type KeyedOperation = { [K in Operation]: (typeof OPERATIONS)[K]['keyed'] extends true ? K : never }[Operation];
/** The operations on no key (or on a key that does not exist yet: `key.create`, `key.import`). */
export type UnkeyedOperation = Exclude<Operation, KeyedOperation>;

/** Every operation name, in catalog order. */
export const OPERATION_NAMES = Object.keys(OPERATIONS) as Operation[];

/** Audit-record operation names that no policy decides (no principal, or the server's own work). */
export const AUDIT_EVENTS = {
  'sys.init': 'the init ceremony',
  'sys.unseal': 'an unseal submission',
  'sys.unseal.reset': 'unseal progress discarded',
  'sys.rekey.submit': 'a rekey submission',
  'key.purge': 'a key purged after its deletion window',
  'approval.expire': 'an approval that expired unused',
  'approval.recover': 'an execution past its lease settled from the audit log (`details`: the outcome it was given)',
  'request.refused': 'a request refused before the pipeline (body, media type, method, route, rate limit)',
  'request.refused.folded': "one client's further refusals of one code in a fold interval, counted (`details.count`)",
} as const;

export type AuditEvent = keyof typeof AUDIT_EVENTS;

export function isOperation(name: string): name is Operation {
  return Object.hasOwn(OPERATIONS, name);
}

/** The Markdown table of the catalog (docs/architecture.md embeds it between markers; a test keeps them equal). */
export function operationsTable(): string {
  const rows = OPERATION_NAMES.map((name) => {
    const o: OperationSpec = OPERATIONS[name];
    return `| \`${name}\` | ${o.keyed ? 'yes' : ''} | ${o.changes ? 'yes' : ''} | ${o.routes.map((r) => `\`${r}\``).join(', ')} | ${o.summary} |`;
  });
  return ['| Operation | Keyed | Changes state | Routes | What |', '|---|---|---|---|---|', ...rows].join('\n');
}
