/**
 * Composition of the decisions of every applicable policy (the active global set plus the policies
 * bound to the target key, docs/architecture.md step 9):
 *
 * 1. any deny — including a fault, which is always a deny — denies;
 * 2. otherwise, if some policy requires approval, the strongest requirement (highest count; the
 *    first such policy on a tie) wins over any allow;
 * 3. otherwise, if at least one policy allowed, allow;
 * 4. no policy at all ⇒ deny.
 *
 * A require-approval is a conditional allow ("allow once N have approved"), so a set of policies
 * that only require approval yields require_approval, not deny; every requirement is listed, in case
 * the approval gate wants to satisfy all of them rather than the strongest.
 *
 * `policies` is what the audit record keeps: one entry per evaluated policy, in order.
 * @module
 */
import type { DecisionName } from './abi.js';
import type { EvaluationResult, PolicyFault } from './host.js';

/** The per-policy line of an audit record. */
export interface PolicyDecisionRecord {
  sha256: string;
  decision: DecisionName;
  gas: number;
  reason: string;
  fault: PolicyFault | null;
}

export interface ApprovalRequirement {
  sha256: string;
  approvals: number;
  group: string;
  reason: string;
}

export interface ComposedDecision {
  decision: DecisionName;
  /** Approvals required (require_approval), else 0. */
  approvals: number;
  /** Approving group (require_approval), else "". */
  group: string;
  reason: string;
  /** Hash of the policy that decided (the first deny, the strongest requirement, or the first allow), or null. */
  decidedBy: string | null;
  policies: PolicyDecisionRecord[];
  requirements: ApprovalRequirement[];
}

/**
 * Composes per-policy results (each carries its policy's hash) into the request's decision. One pass
 * over the results, without closures or intermediate arrays: this runs on every request.
 */
export function composeDecisions(results: readonly EvaluationResult[]): ComposedDecision {
  if (!Array.isArray(results))
    throw new TypeError(`"results" expected an array of evaluation results, got ${typeof results}`);
  const policies: PolicyDecisionRecord[] = [];
  const requirements: ApprovalRequirement[] = [];
  let deny: EvaluationResult | undefined;
  let allow: EvaluationResult | undefined;
  // The strongest requirement: the highest count, the first such policy on a tie.
  let strongest: ApprovalRequirement | undefined;
  for (let i = 0; i < results.length; i++) {
    const r = results[i]!;
    policies.push({ sha256: r.hash, decision: r.decision, gas: r.gas, reason: r.reason, fault: r.fault });
    if (r.decision === 'deny') deny ??= r;
    else if (r.decision === 'allow') allow ??= r;
    else if (r.decision === 'require_approval') {
      const req = { sha256: r.hash, approvals: r.approvals, group: r.group, reason: r.reason };
      requirements.push(req);
      if (!strongest || req.approvals > strongest.approvals) strongest = req;
    }
  }
  if (deny) return composed(policies, requirements, 'deny', 0, '', deny.reason, deny.hash);
  if (strongest)
    return composed(
      policies,
      requirements,
      'require_approval',
      strongest.approvals,
      strongest.group,
      strongest.reason,
      strongest.sha256,
    );
  if (allow) return composed(policies, requirements, 'allow', 0, '', allow.reason, allow.hash);
  return composed(policies, requirements, 'deny', 0, '', 'no policy applies to the request', null);
}

/** One object literal per outcome, its keys in one order. */
function composed(
  policies: PolicyDecisionRecord[],
  requirements: ApprovalRequirement[],
  decision: DecisionName,
  approvals: number,
  group: string,
  reason: string,
  decidedBy: string | null,
): ComposedDecision {
  return { policies, requirements, decision, approvals, group, reason, decidedBy };
}
