/**
 * What the approval commands print: one approval as a few human lines.
 * @module
 */
// The wire shape of an approval is the engine's view (a type only: nothing of the engine loads).
import type { ApprovalView } from '../../../engine/approvals/index.js';
export type { ApprovalView };

/** One line: id, state, progress, what and who. */
export function approvalLine(a: ApprovalView): string {
  return `${a.id}  ${a.state.padEnd(9)}  ${a.approvals}/${a.required} ${a.group}  ${a.operation}${a.key ? ` ${a.key}` : ''}  by ${a.requester}`;
}

export function approvalText(a: ApprovalView): string {
  const lines = [
    `${a.id}  ${a.state}`,
    `  request    ${a.method} ${a.path}  (${a.operation}${a.key ? ` on ${a.key}` : ''}) by ${a.requester}`,
    `  needs      ${a.required} approvals from "${a.group}": ${a.reason}`,
    `  approved   ${a.approvals}${a.approvedBy.length ? ` (${a.approvedBy.join(', ')})` : ''}`,
    `  expires    ${a.expiresAt}`,
    `  body       ${a.requestDigest}`,
  ];
  if (a.deniedBy) lines.push(`  denied by  ${a.deniedBy}${a.denyReason ? `: ${a.denyReason}` : ''}`);
  if (a.resultStatus !== null) lines.push(`  result     ${a.resultStatus}${a.resultCode ? ` ${a.resultCode}` : ''}`);
  return lines.join('\n');
}
