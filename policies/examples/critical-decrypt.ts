/**
 * Example policy: guard keys labelled tier=critical, and bound payload sizes.
 *
 * Bind it to keys (`keyward policy activate HASH --key payments`) or activate it globally next to
 * the default RBAC policy: it never grants what RBAC refuses (any deny wins), it only adds
 * conditions.
 *
 * - payloads over 4 MiB are denied for every data-plane operation;
 * - decrypting (or rewrapping, which decrypts) with a critical key needs two approvals from the
 *   "operator" group; once two have approved, the request is allowed;
 * - deleting a critical key needs three;
 * - anything else is allowed by this policy.
 */
import { Request, Decision } from 'keyward';

const MAX_PAYLOAD_BYTES: i64 = 4 << 20;

function isDataPlane(req: Request): bool {
  return (
    req.operationIs('encrypt') ||
    req.operationIs('decrypt') ||
    req.operationIs('rewrap') ||
    req.operationIs('sign') ||
    req.operationIs('verify') ||
    req.operationIs('hmac')
  );
}

export function decide(req: Request): Decision {
  if (isDataPlane(req) && req.payloadBytes > MAX_PAYLOAD_BYTES) {
    return Decision.deny('payload of ' + req.payloadBytes.toString() + ' bytes is over the 4 MiB limit');
  }
  if (!req.labelIs('tier', 'critical')) return Decision.allow();
  if (req.operationIs('decrypt') || req.operationIs('rewrap')) {
    if (req.approvals >= 2) return Decision.allow('two operators approved');
    return Decision.requireApproval(2, 'operator', 'decrypting with a critical key needs two operators');
  }
  if (req.operationIs('key.delete')) {
    if (req.approvals >= 3) return Decision.allow('three operators approved');
    return Decision.requireApproval(3, 'operator', 'deleting a critical key needs three operators');
  }
  return Decision.allow();
}
