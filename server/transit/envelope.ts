/**
 * Vault's wire format for the transit-compatible API (docs/vault-transit.md): every success is the
 * secret envelope
 *
 *   {"request_id","lease_id":"","renewable":false,"lease_duration":0,"data":{...},
 *    "wrap_info":null,"warnings":null,"auth":null}
 *
 * and every failure `{"errors":["..."]}` with the status Vault would give (vault/logical/response_util.go
 * RespondErrorCommon: 400 bad input, 403 permission denied, 404 unknown path or key, 405 unsupported
 * operation, 429 rate limited, 503 sealed). Keyward's own error code rides along in the
 * `X-Keyward-Error-Code` header, so logs and support can still name it.
 *
 * A request the policies park for approval is a 403 here, not the native 202: every Vault client
 * treats 2xx as success (the Go client and hvac would hand the application an empty `data`),
 * while node-vault (handleVaultResponse: anything but 200/204 rejects), hvac and the Go client all
 * raise on 403 with `errors[0]` as the message. That message names the approval and how to
 * execute it.
 * @module
 */
import type { HotContext } from '../direct.js';
import { sendJson } from '../routes/respond.js';
import { KeywardError } from '../../lib/errors.js';
import { logUnhandled, statusFor, type ServerVisibleCode } from '../errors.js';
import type { Logger } from '../log.js';
import type { PendingApproval } from '../../engine/approvals/index.js';
import { classifyStorageError } from '../../engine/store/storage-errors.js';

export interface VaultEnvelope {
  request_id: string;
  lease_id: '';
  renewable: false;
  lease_duration: 0;
  data: Record<string, unknown> | null;
  wrap_info: null;
  warnings: string[] | null;
  auth: null;
}

/** The success envelope around `data` (status 200). */
export function sendData(ctx: HotContext, data: Record<string, unknown>, warnings: readonly string[] = []): void {
  const body: VaultEnvelope = {
    request_id: String(ctx.state.reqId ?? ''),
    lease_id: '',
    renewable: false,
    lease_duration: 0,
    data,
    wrap_info: null,
    warnings: warnings.length ? [...warnings] : null,
    auth: null,
  };
  sendJson(ctx, body);
}

/** Vault's answer to a write with nothing to return (delete): 204, no body. */
export function sendNoContent(ctx: HotContext): void {
  ctx.status = 204;
  ctx.body = null;
}

export function sendErrors(
  ctx: HotContext,
  status: number,
  errors: readonly string[],
  code?: string,
  extra?: Record<string, unknown>,
): void {
  ctx.status = status;
  ctx.type = 'application/json';
  ctx.body = { errors: [...errors], ...(extra ?? {}) };
  if (code) {
    ctx.set('X-Keyward-Error-Code', code);
    ctx.state.errorCode = code;
  }
}

/**
 * Where Vault's status differs from the native table's: permission problems are 403 (Vault answers
 * a missing or bad token with 403 "permission denied" too), a parked request is a 403 (see the
 * module comment), an unknown key version is a bad request.
 */
export const VAULT_STATUS_OVERRIDES = Object.freeze({
  UNAUTHENTICATED: 403,
  POLICY_DENIED: 403,
  APPROVAL_REQUIRED: 403,
  APPROVAL_PENDING: 403,
  KEY_VERSION_NOT_FOUND: 400,
} as const satisfies Partial<Record<ServerVisibleCode, number>>);

/**
 * Vault's status for a Keyward error code: the native table's (server/errors.ts, the one list of
 * which codes a client may see), with {@link VAULT_STATUS_OVERRIDES}, and 409/410 as 400 (Vault has
 * no 409/410: a key that exists, a deletion not allowed, an approval already used are 400s).
 * Undefined exactly where the native table has no status (an internal code: a 500).
 */
export function vaultStatus(code: ServerVisibleCode): number;
export function vaultStatus(code: string): number | undefined;
export function vaultStatus(code: string): number | undefined {
  const status = statusFor(code);
  if (status === undefined) return undefined;
  if (Object.hasOwn(VAULT_STATUS_OVERRIDES, code))
    return VAULT_STATUS_OVERRIDES[code as keyof typeof VAULT_STATUS_OVERRIDES];
  return status === 409 || status === 410 ? 400 : status;
}

/** The message a Vault client shows for a parked request (it is `errors[0]`). */
export function parkedMessage(operation: string, details: Record<string, unknown>): string {
  const id = String(details.approvalId);
  return (
    `permission denied: ${operation} needs ${String(details.required)} approvals from "${String(details.group)}"; ` +
    `the request was parked as approval ${id} (expires ${String(details.expiresAt)}). ` +
    `Once approved (POST /v1/approvals/${id}/approve by each approver), the requester runs it once with ` +
    `POST /v1/approvals/${id}/execute, Authorization: Bearer <token> (or keyward approval execute ${id}); it runs with this request's body, kept encrypted`
  );
}

/**
 * A parked request (engine/pipeline.ts `Outcome`): Vault has no 202, so it is a 403 whose message
 * names the approval and how to execute it, with the approval itself in `approval` and a `Location`.
 */
export function sendParked(ctx: HotContext, operation: string, approval: PendingApproval): void {
  ctx.set('Location', `/v1/approvals/${approval.approvalId}`);
  sendErrors(ctx, 403, [parkedMessage(operation, { ...approval })], 'APPROVAL_PENDING', { approval: { ...approval } });
}

/**
 * Turns a thrown error into Vault's error body. Known KeywardErrors keep their message (they never
 * carry secrets); anything else is a 500 "internal error" whose details go to the log only.
 */
export function sendThrown(ctx: HotContext, thrown: unknown, log: Logger): void {
  const err = classifyStorageError(thrown);
  const status = err instanceof KeywardError ? vaultStatus(err.code) : undefined;
  if (err instanceof KeywardError && status !== undefined) {
    if (status === 503) ctx.set('Retry-After', '1');
    if (status === 429 && typeof err.details?.retryAfter === 'number')
      ctx.set('Retry-After', String(err.details.retryAfter));
    const prefix = status === 403 ? 'permission denied: ' : '';
    sendErrors(ctx, status, [prefix + err.message], err.code);
    return;
  }
  logUnhandled(ctx, err, log);
  sendErrors(ctx, 500, ['internal error'], 'INTERNAL');
}
