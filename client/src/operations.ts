/**
 * The operation names Keyward's policies match (`req.operation`), generated from the server's
 * catalog (engine/operations.ts; docs/architecture.md, "Operations"). Do not edit: run
 * `npm run gen:client`; test/client/schema.test.ts fails when this file is stale.
 * @module
 */

/** Every operation: whether it acts on a named key, whether it changes state, and its routes. */
export const OPERATIONS = {
  "encrypt": { keyed: true, changes: false, routes: ["POST /v1/keys/:name/encrypt","POST /v1/transit/encrypt/:name"] },
  "decrypt": { keyed: true, changes: false, routes: ["POST /v1/keys/:name/decrypt","POST /v1/transit/decrypt/:name"] },
  "rewrap": { keyed: true, changes: false, routes: ["POST /v1/keys/:name/rewrap","POST /v1/transit/rewrap/:name"] },
  "datakey": { keyed: true, changes: false, routes: ["POST /v1/keys/:name/datakey","POST /v1/transit/datakey/:plaintext/:name"] },
  "sign": { keyed: true, changes: false, routes: ["POST /v1/keys/:name/sign","POST /v1/transit/sign/:name","POST /v1/transit/sign/:name/:hash_algorithm"] },
  "verify": { keyed: true, changes: false, routes: ["POST /v1/keys/:name/verify","POST /v1/transit/verify/:name","POST /v1/transit/verify/:name/:hash_algorithm"] },
  "hmac": { keyed: true, changes: false, routes: ["POST /v1/keys/:name/hmac","POST /v1/transit/hmac/:name","POST /v1/transit/hmac/:name/:algorithm"] },
  "encapsulate": { keyed: true, changes: false, routes: ["POST /v1/keys/:name/encapsulate"] },
  "decapsulate": { keyed: true, changes: false, routes: ["POST /v1/keys/:name/decapsulate"] },
  "key.public": { keyed: true, changes: false, routes: ["GET /v1/keys/:name/public","GET /v1/transit/export/:key_type/:name","GET /v1/transit/export/:key_type/:name/:version"] },
  "random": { keyed: false, changes: false, routes: ["POST /v1/random","POST /v1/transit/random","POST /v1/transit/random/:a","POST /v1/transit/random/:source/:bytes"] },
  "hash": { keyed: false, changes: false, routes: ["POST /v1/transit/hash","POST /v1/transit/hash/:algorithm"] },
  "key.create": { keyed: false, changes: true, routes: ["POST /v1/keys","POST /v1/transit/keys/:name","POST /v1/transit/keys/:name/import","POST /v1/transit/encrypt/:name"] },
  "key.import": { keyed: false, changes: true, routes: ["POST /v1/keys/:name/import"] },
  "key.wrapping-key": { keyed: false, changes: false, routes: ["GET /v1/sys/wrapping-key"] },
  "key.list": { keyed: false, changes: false, routes: ["GET /v1/keys","GET /v1/transit/keys"] },
  "key.read": { keyed: true, changes: false, routes: ["GET /v1/keys/:name","GET /v1/transit/keys/:name"] },
  "key.rotate": { keyed: true, changes: true, routes: ["POST /v1/keys/:name/rotate","POST /v1/transit/keys/:name/rotate"] },
  "key.config": { keyed: true, changes: true, routes: ["POST /v1/keys/:name/config","POST /v1/transit/keys/:name/config"] },
  "key.delete": { keyed: true, changes: true, routes: ["DELETE /v1/keys/:name","DELETE /v1/transit/keys/:name"] },
  "key.export": { keyed: true, changes: false, routes: ["POST /v1/keys/:name/export","GET /v1/transit/export/:key_type/:name","GET /v1/transit/export/:key_type/:name/:version"] },
  "policy.push": { keyed: false, changes: true, routes: ["POST /v1/policies"] },
  "policy.list": { keyed: false, changes: false, routes: ["GET /v1/policies"] },
  "policy.evaluate": { keyed: false, changes: false, routes: ["POST /v1/policies/evaluate"] },
  "policy.activate": { keyed: false, changes: true, routes: ["POST /v1/policies/:hash/activate"] },
  "policy.deactivate": { keyed: false, changes: true, routes: ["POST /v1/policies/:hash/deactivate"] },
  "auth.whoami": { keyed: false, changes: false, routes: ["GET /v1/auth/whoami"] },
  "auth.token.create": { keyed: false, changes: true, routes: ["POST /v1/auth/tokens"] },
  "auth.token.revoke": { keyed: false, changes: true, routes: ["DELETE /v1/auth/tokens/:id"] },
  "sys.seal": { keyed: false, changes: false, routes: ["POST /v1/sys/seal"] },
  "sys.rotate": { keyed: false, changes: true, routes: ["POST /v1/sys/rotate"] },
  "sys.rekey.init": { keyed: false, changes: false, routes: ["POST /v1/sys/rekey/init"] },
  "sys.rekey.cancel": { keyed: false, changes: false, routes: ["POST /v1/sys/rekey/cancel"] },
  "sys.backup": { keyed: false, changes: false, routes: ["POST /v1/sys/backup"] },
  "metrics": { keyed: false, changes: false, routes: ["GET /metrics"] },
  "audit.keys": { keyed: false, changes: false, routes: ["GET /v1/audit/keys"] },
  "audit.read": { keyed: false, changes: false, routes: ["GET /v1/audit/checkpoint","GET /v1/audit/records","GET /v1/audit/proofs/inclusion","GET /v1/audit/proofs/consistency"] },
  "audit.hash": { keyed: false, changes: false, routes: ["POST /v1/audit/hash"] },
  "audit.export": { keyed: false, changes: false, routes: ["POST /v1/audit/export"] },
  "approval.list": { keyed: false, changes: false, routes: ["GET /v1/approvals"] },
  "approval.read": { keyed: false, changes: false, routes: ["GET /v1/approvals/:id"] },
  "approval.approve": { keyed: false, changes: true, routes: ["POST /v1/approvals/:id/approve"] },
  "approval.deny": { keyed: false, changes: true, routes: ["POST /v1/approvals/:id/deny"] },
  "approval.execute": { keyed: false, changes: false, routes: ["POST /v1/approvals/:id/execute"] },
} as const;

/** An operation name a policy can match. */
export type PolicyOperation = keyof typeof OPERATIONS;

/** Audit-record operation names no policy decides (ceremony steps, the server's own sweeps). */
export const AUDIT_EVENTS = ["sys.init","sys.unseal","sys.unseal.reset","sys.rekey.submit","key.purge","approval.expire","approval.recover","request.refused","request.refused.folded"] as const;
