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
import type { Context } from 'koa';
import { KeywardError } from '../../ceremony/errors.js';
import { statusFor } from '../errors.js';
import type { Logger } from '../log.js';

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
export function sendData(ctx: Context, data: Record<string, unknown>, warnings: readonly string[] = []): void {
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
  ctx.status = 200;
  ctx.type = 'application/json';
  ctx.body = body;
}

/** Vault's answer to a write with nothing to return (delete): 204, no body. */
export function sendNoContent(ctx: Context): void {
  ctx.status = 204;
  ctx.body = null;
}

export function sendErrors(ctx: Context, status: number, errors: readonly string[], code?: string, extra?: Record<string, unknown>): void {
  ctx.status = status;
  ctx.type = 'application/json';
  ctx.body = { errors: [...errors], ...(extra ?? {}) };
  if (code) {
    ctx.set('X-Keyward-Error-Code', code);
    ctx.state.errorCode = code;
  }
}

/**
 * Vault's status for a Keyward error code: permission problems are 403 (Vault answers a missing or
 * bad token with 403 "permission denied" too), conflicts that Vault reports as bad requests are
 * 400, the rest keeps the native table's status.
 */
export function vaultStatus(code: string): number | undefined {
  switch (code) {
    case 'UNAUTHENTICATED':
    case 'POLICY_DENIED':
    case 'APPROVAL_REQUIRED':
    case 'APPROVAL_PENDING':
      return 403;
    case 'KEY_VERSION_NOT_FOUND':
      return 400;
  }
  const status = statusFor(code);
  if (status === undefined) return undefined;
  // Vault has no 409/410: a key that exists, a deletion not allowed, an approval already used are 400s.
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
 * Turns a thrown error into Vault's error body. Known KeywardErrors keep their message (they never
 * carry secrets); anything else is a 500 "internal error" whose details go to the log only.
 */
export function sendThrown(ctx: Context, err: unknown, log: Logger, operation?: string): void {
  const status = err instanceof KeywardError ? vaultStatus(err.code) : undefined;
  if (err instanceof KeywardError && status !== undefined) {
    if (status === 503) ctx.set('Retry-After', '1');
    if (status === 429 && typeof err.details?.retryAfter === 'number') ctx.set('Retry-After', String(err.details.retryAfter));
    if (err.code === 'APPROVAL_PENDING' && err.details) {
      const id = String(err.details.approvalId);
      ctx.set('Location', `/v1/approvals/${id}`);
      sendErrors(ctx, 403, [parkedMessage(operation ?? 'this request', err.details)], err.code, { approval: { ...err.details } });
      return;
    }
    const prefix = status === 403 ? 'permission denied: ' : '';
    sendErrors(ctx, status, [prefix + err.message], err.code);
    return;
  }
  log.error('unhandled error', {
    reqId: ctx.state.reqId,
    code: err instanceof KeywardError ? err.code : undefined,
    error: err instanceof Error ? `${err.name}: ${err.message.split('\n')[0]!.slice(0, 300)}` : String(err).slice(0, 300),
  });
  sendErrors(ctx, 500, ['internal error'], 'INTERNAL');
}
