/**
 * The built-in default policy: role-based access control.
 *
 * - any authenticated principal may ask who it is (`auth.whoami`);
 * - `admin` may do everything (token creation and revocation are admin-only);
 * - `operator` runs the HSM: seal, root rotation, rekey, backup, key and policy administration (BYOK import
 *   and reading the wrapping key included), the metrics, but no data-plane operation (it never sees
 *   plaintext or signs);
 * - `app` performs cryptographic operations on keys (and may list and read key metadata), draws
 *   random bytes and hashes data (`random`, `hash`: no key, but still decided and audited);
 * - `auditor` reads and exports the audit log (`audit.*`);
 * - `monitor` reads the Prometheus metrics (`metrics`) and nothing else: a scraper's token;
 * - dual control: key export, key deletion, policy activation and policy deactivation need two
 *   approvals from `operator`, whoever asks — `admin` included: four eyes that an
 *   admin could skip would not be four eyes. Only `admin` and `operator` may ask;
 * - any authenticated principal may use the approval endpoints (`approval.*`): the server enforces
 *   who may approve (the named role, never the requester) and who may execute (the requester).
 *
 * Everything else is denied, naming the roles that were tried. Its SHA-256 is reported like any
 * other policy's; replace it by activating another global policy set.
 */
import { Request, Decision } from 'keyward';

/** Approvals from `APPROVER_GROUP` that dual-controlled operations need. */
const DUAL_CONTROL_APPROVALS: i32 = 2;
const APPROVER_GROUP = 'operator';

/** Operations under dual control (the export route refuses what could not run before asking). */
function isDualControl(req: Request): bool {
  return (
    req.operationIs('key.export') ||
    req.operationIs('key.delete') ||
    req.operationIs('policy.activate') ||
    req.operationIs('policy.deactivate')
  );
}

function isOperatorOperation(req: Request): bool {
  return (
    req.operationIs('sys.seal') ||
    req.operationIs('sys.rotate') ||
    req.operationIs('sys.rekey.init') ||
    req.operationIs('sys.rekey.cancel') ||
    req.operationIs('sys.backup') ||
    req.operationIs('key.create') ||
    req.operationIs('key.list') ||
    req.operationIs('key.read') ||
    req.operationIs('key.rotate') ||
    req.operationIs('key.config') ||
    req.operationIs('key.delete') ||
    req.operationIs('key.import') ||
    req.operationIs('key.wrapping-key') ||
    req.operationIs('policy.push') ||
    req.operationIs('policy.list') ||
    req.operationIs('policy.evaluate') ||
    req.operationIs('policy.activate') ||
    req.operationIs('policy.deactivate') ||
    req.operationIs('metrics')
  );
}

function isAppOperation(req: Request): bool {
  return (
    req.operationIs('encrypt') ||
    req.operationIs('decrypt') ||
    req.operationIs('rewrap') ||
    req.operationIs('datakey') ||
    req.operationIs('sign') ||
    req.operationIs('verify') ||
    req.operationIs('hmac') ||
    req.operationIs('encapsulate') ||
    req.operationIs('decapsulate') ||
    req.operationIs('key.public') ||
    req.operationIs('random') ||
    req.operationIs('hash') ||
    req.operationIs('key.list') ||
    req.operationIs('key.read')
  );
}

/** "[app, auditor]": the principal's roles, for the deny reason. */
function roleList(req: Request): string {
  let out = '[';
  for (let i = 0; i < req.roleCount; i++) {
    if (i > 0) out += ', ';
    out += req.role(i);
  }
  return out + ']';
}

export function decide(req: Request): Decision {
  if (req.operationIs('auth.whoami')) return Decision.allow('any authenticated principal');
  if (req.operationStartsWith('approval.'))
    return Decision.allow('any authenticated principal; the server enforces separation of duties');
  if (isDualControl(req) && (req.hasRole('admin') || req.hasRole('operator'))) {
    if (req.approvals >= DUAL_CONTROL_APPROVALS) return Decision.allow('dual control: two operators approved');
    return Decision.requireApproval(
      DUAL_CONTROL_APPROVALS,
      APPROVER_GROUP,
      'dual control: ' + req.operation + " needs two operators' approval",
    );
  }
  if (req.hasRole('admin')) return Decision.allow('role admin');
  if (req.hasRole('operator') && isOperatorOperation(req)) return Decision.allow('role operator');
  if (req.hasRole('app') && isAppOperation(req)) return Decision.allow('role app');
  if (req.hasRole('auditor') && req.operationStartsWith('audit.')) return Decision.allow('role auditor');
  if (req.hasRole('monitor') && req.operationIs('metrics')) return Decision.allow('role monitor');
  return Decision.deny('no role of ' + roleList(req) + ' permits ' + req.operation);
}
