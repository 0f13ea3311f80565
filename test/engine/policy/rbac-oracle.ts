/**
 * An independent TypeScript statement of the default policy's role matrix (admin, operator, app,
 * auditor): the oracle that rbac.test.ts checks policies/default/rbac.ts against, role set by role set.
 */
export interface Decision {
  decision: 'allow' | 'deny';
  reason: string;
}

/** Operations an operator may perform: seal, rotation, rekey, key and policy administration. */
const OPERATOR_OPS = new Set([
  'sys.seal', 'sys.rotate', 'sys.rekey.init', 'sys.rekey.cancel',
  'key.create', 'key.list', 'key.read', 'key.rotate', 'key.config', 'key.delete', 'key.import', 'key.wrapping-key',
  'policy.push', 'policy.list', 'policy.activate',
]);
/** Data-plane operations an application may perform on keys. */
const APP_OPS = new Set([
  'key.list', 'key.read', 'encrypt', 'decrypt', 'rewrap', 'datakey', 'sign', 'verify', 'hmac',
  'encapsulate', 'decapsulate', 'key.public', 'random',
]);
const ANY_AUTHENTICATED = new Set(['auth.whoami']);

export function decideBuiltinRbac(roles: readonly string[], operation: string): Decision {
  if (ANY_AUTHENTICATED.has(operation)) return { decision: 'allow', reason: 'any authenticated principal' };
  if (roles.includes('admin')) return { decision: 'allow', reason: 'role admin' };
  if (roles.includes('operator') && OPERATOR_OPS.has(operation)) return { decision: 'allow', reason: 'role operator' };
  if (roles.includes('app') && APP_OPS.has(operation)) return { decision: 'allow', reason: 'role app' };
  if (roles.includes('auditor') && operation.startsWith('audit.')) return { decision: 'allow', reason: 'role auditor' };
  return { decision: 'deny', reason: `no role of [${roles.join(', ')}] permits ${operation}` };
}
