/**
 * The one error → HTTP table. Every KeywardError code a client can cause is listed with its status;
 * anything else is a 500 "internal error" whose details go to the log only (Koa's expose rule).
 * Body: {"error":{"code":"UPPER_SNAKE","message":"..."}}.
 * @module
 */
import type { Context, Next } from 'koa';
import { KeywardError } from '../ceremony/errors.js';
import type { Logger } from './log.js';

export const ERROR_STATUS: Readonly<Record<string, number>> = Object.freeze({
  // request shape
  INVALID_JSON: 400,
  VALIDATION_FAILED: 400,
  BODY_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  ROUTE_NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  RATE_LIMITED: 429,
  // auth and policy
  UNAUTHENTICATED: 401,
  POLICY_DENIED: 403,
  APPROVAL_REQUIRED: 403,
  // dual control (engine/approvals); APPROVAL_PENDING is not a failure: the request was parked
  APPROVAL_PENDING: 202,
  APPROVAL_NOT_FOUND: 404,
  APPROVAL_SELF: 403,
  APPROVAL_GROUP: 403,
  APPROVAL_NOT_REQUESTER: 403,
  APPROVAL_DUPLICATE: 409,
  APPROVAL_NOT_PENDING: 409,
  APPROVAL_EXPIRED: 410,
  APPROVAL_MISMATCH: 409,
  APPROVAL_DIGEST_MISMATCH: 409,
  APPROVAL_INSUFFICIENT: 409,
  POLICY_INVALID: 400,
  POLICY_NOT_FOUND: 404,
  POLICY_LOCKOUT: 409,
  POLICY_INPUT_INVALID: 400,
  TOKEN_INVALID: 400,
  TOKEN_NOT_FOUND: 404,
  // seal state
  NOT_INITIALIZED: 503,
  SEALED: 503,
  ALREADY_INITIALIZED: 409,
  ALREADY_UNSEALED: 409,
  REKEY_IN_PROGRESS: 409,
  REKEY_NOT_STARTED: 409,
  // ceremony input
  CEREMONY_PARAMS_INVALID: 400,
  HOLDER_KEY_INVALID: 400,
  HOLDER_NAME_INVALID: 400,
  SUBMISSION_INVALID: 400,
  UNSEAL_NONCE_MISMATCH: 409,
  SHARD_FOREIGN: 400,
  SHARD_FORGED: 400,
  SHARD_DUPLICATE: 409,
  SHARD_MALFORMED: 400,
  SHARES_INVALID: 400,
  UNSEAL_FAILED: 400,
  REKEY_FAILED: 400,
  // keys and crypto
  KEY_TYPE_INVALID: 400,
  KEY_NOT_FOUND: 404,
  KEY_EXISTS: 409,
  KEY_TYPE_MISMATCH: 400,
  KEY_VERIFY_ONLY: 400,
  KEY_VERSION_NOT_FOUND: 404,
  KEY_VERSION_DISABLED: 400,
  KEY_PENDING_DELETION: 409,
  KEY_DELETION_NOT_ALLOWED: 409,
  KEY_NOT_EXPORTABLE: 400,
  WRAPPING_KEY_INVALID: 400,
  OPERATION_UNSUPPORTED: 400,
  PUBLIC_KEY_INVALID: 400,
  FORMAT_UNSUPPORTED: 400,
  CIPHERTEXT_INVALID: 400,
  SIGNATURE_INVALID: 400,
  // a decrypt/rewrap/verify value that is neither kw:v<N>:<base64> nor standard base64 (syntax only)
  CIPHERTEXT_FORMAT: 400,
  SIGNATURE_FORMAT: 400,
  DECRYPTION_FAILED: 400,
  OPTION_INVALID: 400,
  OPTION_UNSUPPORTED: 400,
  PRIVATE_KEY_INVALID: 400,
  WRAPPED_KEY_INVALID: 400,
  CRYPTO_BUSY: 503,
  CRYPTO_POOL_CLOSED: 503,
  // storage
  STORAGE_UNAVAILABLE: 503,
  // audit log (fail closed: nothing is released without a durable record)
  AUDIT_UNAVAILABLE: 503,
  AUDIT_QUEUE_FULL: 503,
  AUDIT_RANGE_INVALID: 400,
  AUDIT_NOT_READY: 503,
  AUDIT_LOG_CORRUPT: 500,
});

export function statusFor(code: string): number | undefined {
  return ERROR_STATUS[code];
}

export function sendError(ctx: Context, status: number, code: string, message: string): void {
  ctx.status = status;
  ctx.type = 'application/json';
  ctx.body = { error: { code, message } };
}

/** First middleware: turns every thrown error into the JSON error body; logs unexpected ones. */
export function errorMiddleware(log: Logger) {
  return async function handleErrors(ctx: Context, next: Next): Promise<void> {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) {
        sendError(ctx, 404, 'ROUTE_NOT_FOUND', `no route for ${ctx.method} ${ctx.path}`);
      }
    } catch (err) {
      const status = err instanceof KeywardError ? statusFor(err.code) : undefined;
      if (err instanceof KeywardError && status !== undefined) {
        if (status === 429 && typeof err.details?.retryAfter === 'number') ctx.set('Retry-After', String(err.details.retryAfter));
        if (status === 503) ctx.set('Retry-After', '1');
        if (err.code === 'APPROVAL_PENDING' && err.details) {
          // Parked for approval (engine/approvals): 202 with the approval, not an error body.
          ctx.status = 202;
          ctx.body = err.details;
          ctx.set('Location', `/v1/approvals/${String(err.details.approvalId)}`);
          ctx.state.errorCode = err.code;
          return;
        }
        sendError(ctx, status, err.code, err.message);
        ctx.state.errorCode = err.code;
        return;
      }
      // Unexpected: the client learns nothing; the log gets the error (never request bodies).
      log.error('unhandled error', {
        reqId: ctx.state.reqId,
        code: err instanceof KeywardError ? err.code : undefined,
        // Driver errors quote the failed query's parameters (ciphertexts, hashes): keep the first line.
        error: err instanceof Error ? `${err.name}: ${err.message.split('\n')[0]!.slice(0, 300)}` : String(err).slice(0, 300),
      });
      sendError(ctx, 500, 'INTERNAL', 'internal error');
      ctx.state.errorCode = 'INTERNAL';
    }
  };
}
