/**
 * An independent TypeScript statement of the default policy's role matrix (admin, operator, app,
 * auditor, monitor): the oracle that rbac.test.ts checks policies/default/rbac.ts against, role set by role set.
 */
export interface Decision {
  decision: 'allow' | 'deny' | 'require_approval';
  reason: string;
  /** For require_approval: how many, from which role. */
  approvals?: number;
  group?: string;
}

/** Operations an operator may perform: seal, rotation, rekey, key and policy administration, metrics. */
export const OPERATOR_OPS: ReadonlySet<string> = new Set([
  'sys.seal',
  'sys.rotate',
  'sys.rekey.init',
  'sys.rekey.cancel',
  'sys.backup',
  'key.create',
  'key.list',
  'key.read',
  'key.rotate',
  'key.config',
  'key.delete',
  'key.import',
  'key.wrapping-key',
  'policy.push',
  'policy.list',
  'policy.evaluate',
  'policy.activate',
  'policy.deactivate',
  'metrics',
]);
/** Data-plane operations an application may perform on keys. */
export const APP_OPS: ReadonlySet<string> = new Set([
  'key.list',
  'key.read',
  'encrypt',
  'decrypt',
  'rewrap',
  'datakey',
  'sign',
  'verify',
  'hmac',
  'encapsulate',
  'decapsulate',
  'key.public',
  'random',
  'hash',
]);
const ANY_AUTHENTICATED = new Set(['auth.whoami']);
/** Dual control: two operators approve these, whoever (admin or operator) asks. */
export const DUAL_CONTROL_OPS: ReadonlySet<string> = new Set([
  'key.export',
  'key.delete',
  'policy.activate',
  'policy.deactivate',
]);

export function decideBuiltinRbac(roles: readonly string[], operation: string, approvals = 0): Decision {
  if (ANY_AUTHENTICATED.has(operation)) return { decision: 'allow', reason: 'any authenticated principal' };
  if (operation.startsWith('approval.'))
    return { decision: 'allow', reason: 'any authenticated principal; the server enforces separation of duties' };
  if (DUAL_CONTROL_OPS.has(operation) && (roles.includes('admin') || roles.includes('operator'))) {
    if (approvals >= 2) return { decision: 'allow', reason: 'dual control: two operators approved' };
    return {
      decision: 'require_approval',
      approvals: 2,
      group: 'operator',
      reason: `dual control: ${operation} needs two operators' approval`,
    };
  }
  if (roles.includes('admin')) return { decision: 'allow', reason: 'role admin' };
  if (roles.includes('operator') && OPERATOR_OPS.has(operation)) return { decision: 'allow', reason: 'role operator' };
  if (roles.includes('app') && APP_OPS.has(operation)) return { decision: 'allow', reason: 'role app' };
  if (roles.includes('auditor') && operation.startsWith('audit.')) return { decision: 'allow', reason: 'role auditor' };
  if (roles.includes('monitor') && operation === 'metrics') return { decision: 'allow', reason: 'role monitor' };
  return { decision: 'deny', reason: `no role of [${roles.join(', ')}] permits ${operation}` };
}
