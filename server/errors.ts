/**
 * The one error → HTTP table. Every code of ceremony/codes.ts, engine/codes.ts and server/codes.ts
 * is either in {@link ERROR_STATUS} with its status or in {@link INTERNAL_CODES} with the reason it
 * is a 500 "internal error" whose details go to the log only (Koa's expose rule): the `satisfies`
 * clauses make a code in neither (or in both) a compile error, and test/server/errors.test.ts
 * checks every code the sources throw, literal or passed along. The CLI's own codes (cli/codes.ts)
 * never reach the server. The transit API (server/transit/envelope.ts) derives Vault's status from
 * this table. Body: {"error":{"code":"UPPER_SNAKE","message":"..."}}.
 * @module
 */
import type { Context, Next } from 'koa';
import type { CeremonyCode } from '../ceremony/codes.js';
import { KeywardError } from '../lib/errors.js';
import type { EngineCode } from '../engine/codes.js';
import { classifyStorageError } from '../engine/store/storage-errors.js';
import type { ServerCode } from './codes.js';
import type { Logger } from './log.js';
import type { HotContext } from './direct.js';

/** Every code the server can meet: its own, the engine's and the ceremony's. */
export type ServerSideCode = CeremonyCode | EngineCode | ServerCode;

/**
 * Codes that are a 500 on purpose, each with why: the client learns only "internal error", the log
 * gets the code and message. Either the server's own data or code is wrong (nothing the client can
 * fix, and the message may describe storage), or the code belongs to an offline tool and a server
 * path never throws it (if one ever did, that would be a bug).
 */
export const INTERNAL_CODES = Object.freeze({
  STORAGE_CORRUPT:
    'stored data (barrier entry, keyring, root key blob, active policy row) fails its own checks: an operator problem',
  KEYRING_FULL: 'the 32-bit keyring term counter is exhausted: not reachable in practice',
  CRYPTO_WORKER_FAILED: 'a crypto worker thread died: the log has the cause',
  CRYPTO_FAILED: "a worker's KeywardError arrived without a code: engine/crypto/worker.ts always sends one",
  POLICY_METERING_FAILED: 'the gas-metering pass broke a module that had validated: a bug in Keyward',
  ENVELOPE_SEAL_FAILED: 'ceremony callers turn it into HOLDER_KEY_INVALID; elsewhere the server rejected its own key',
  ENVELOPE_OPEN_FAILED: 'ceremony callers turn it into SUBMISSION_INVALID / SHARD_CORRUPTED; elsewhere a bug',
  AUDIT_RECORD_INVALID: 'the server encodes its own audit records: a record it cannot encode is a bug',
  AUDIT_LEAF_NOT_CANONICAL:
    "the verifier's code (keyward audit verify); the server's stored log reports AUDIT_LOG_CORRUPT",
  AUDIT_PROOF_INVALID: "the verifier's code; a proof the server built that does not verify is a bug",
  AUDIT_CHECKPOINT_INVALID: "the verifier's code; a checkpoint the server signed that does not parse is a bug",
  AUDIT_BUNDLE_INVALID: "the offline bundle verifier's code (keyward audit verify-bundle)",
  AUDIT_REPLAY_MISMATCH: "the offline bundle verifier's code (--replay)",
  PASSPHRASE_EMPTY: "holder side only (a holder key's passphrase, in the CLI); in dev mode's own ceremony a bug",
  PASSPHRASE_WRONG: 'holder side only (opening a holder key file, in the CLI)',
  SHARD_NOT_FOR_HOLDER: "holder side only (opening a shard, in the CLI); in dev mode's own ceremony a bug",
  SHARD_CORRUPTED: "holder side only (opening a shard, in the CLI); in dev mode's own ceremony a bug",
  POLICY_SOURCE_NOT_FOUND: 'offline policy toolchain (keyward policy build): the server takes compiled modules',
  POLICY_COMPILE_FAILED: 'offline policy toolchain (keyward policy build)',
  POLICY_NAME_INVALID: 'offline policy toolchain (keyward policy new)',
  POLICY_CASES_INVALID: 'offline policy toolchain (keyward policy test)',
  BACKUP_SCHEMA_MISMATCH: 'offline restore only (keyward restore, with the server stopped)',
  RESTORE_TARGET_NOT_EMPTY: 'offline restore only (keyward restore, with the server stopped)',
  BACKUP_OLDER_THAN_TARGET: 'offline restore only (keyward restore, with the server stopped)',
} as const satisfies Partial<Record<ServerSideCode, string>>);

export type InternalCode = keyof typeof INTERNAL_CODES;

/** The codes a client can be told: every server-side code that is not internal. */
export type ServerVisibleCode = Exclude<ServerSideCode, InternalCode>;

export const ERROR_STATUS = Object.freeze({
  // request shape
  INVALID_JSON: 400,
  VALIDATION_FAILED: 400,
  BODY_TOO_LARGE: 413,
  // the client left mid-body: nobody reads the answer; the log line and metrics say what happened
  REQUEST_ABORTED: 400,
  UNSUPPORTED_MEDIA_TYPE: 415,
  ROUTE_NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  RATE_LIMITED: 429,
  // auth and policy
  UNAUTHENTICATED: 401,
  POLICY_DENIED: 403,
  APPROVAL_REQUIRED: 403,
  // dual control (engine/approvals). APPROVAL_PENDING is not an error and is never thrown: a parked
  // request is a value (engine/pipeline.ts Outcome, answered by server/routes/respond.ts); the code
  // and its 202 are what the parked request's audit record carries.
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
  // a restored store whose backup seal fails at the first unseal (it stays sealed: docs/backup.md)
  BACKUP_INVALID: 409,
  // the server's spool for a backup failed (a full or failing temporary directory)
  BACKUP_SPOOL_FAILED: 503,
  // audit log (fail closed: nothing is released without a durable record)
  AUDIT_UNAVAILABLE: 503,
  AUDIT_QUEUE_FULL: 503,
  AUDIT_RANGE_INVALID: 400,
  AUDIT_NOT_READY: 503,
  // exposed on purpose: the operator must learn the log does not verify
  AUDIT_LOG_CORRUPT: 500,
} as const satisfies Record<ServerVisibleCode, number>);

/** The status of a code a client can be told; undefined for an internal code or any other string. */
export function statusFor(code: ServerVisibleCode): number;
export function statusFor(code: string): number | undefined;
export function statusFor(code: string): number | undefined {
  return Object.hasOwn(ERROR_STATUS, code) ? ERROR_STATUS[code as ServerVisibleCode] : undefined;
}

/** The error body for `code`, with the table's status. */
export function sendError(ctx: HotContext, code: ServerVisibleCode, message: string): void {
  writeError(ctx, statusFor(code), code, message);
}

function writeError(ctx: HotContext, status: number, code: string, message: string): void {
  ctx.status = status;
  ctx.type = 'application/json';
  ctx.body = { error: { code, message } };
  ctx.state.errorCode = code;
}

/** First middleware: turns every thrown error into the JSON error body; logs unexpected ones. */
export function errorMiddleware(log: Logger) {
  return async function handleErrors(ctx: Context, next: Next): Promise<void> {
    try {
      await next();
      routeNotFound(ctx);
    } catch (thrown) {
      answerThrown(ctx, thrown, log);
    }
  };
}

/** After the routes: a request nothing answered is 404 ROUTE_NOT_FOUND in the error form. */
export function routeNotFound(ctx: HotContext): void {
  if (ctx.status === 404 && ctx.body === undefined) {
    sendError(ctx, 'ROUTE_NOT_FOUND', `no route for ${ctx.method} ${ctx.path}`);
  }
}

/**
 * The log line of an error no table answers (the client gets a bare 500 INTERNAL): the request's id,
 * the code if it has one, and the error's name and first line only, since driver errors quote the
 * failed query's parameters (ciphertexts, hashes) further down.
 */
export function logUnhandled(ctx: HotContext, err: unknown, log: Logger, msg = 'unhandled error'): void {
  log.error(msg, {
    reqId: ctx.state.reqId,
    code: err instanceof KeywardError ? err.code : undefined,
    error:
      err instanceof Error ? `${err.name}: ${err.message.split('\n')[0]!.slice(0, 300)}` : String(err).slice(0, 300),
  });
}

/** What {@link errorMiddleware} answers for an error thrown below it. */
export function answerThrown(ctx: HotContext, thrown: unknown, log: Logger): void {
  // A database failure that reached here unclassified is still 503 STORAGE_UNAVAILABLE, never 500.
  const err = classifyStorageError(thrown);
  const status = err instanceof KeywardError ? statusFor(err.code) : undefined;
  if (err instanceof KeywardError && status !== undefined) {
    if (status === 429 && typeof err.details?.retryAfter === 'number')
      ctx.set('Retry-After', String(err.details.retryAfter));
    if (status === 503) ctx.set('Retry-After', '1');
    writeError(ctx, status, err.code, err.message);
    ctx.state.errorCode = err.code;
    return;
  }
  // Unexpected: the client learns nothing; the log gets the error (never request bodies).
  logUnhandled(ctx, err, log);
  writeError(ctx, 500, 'INTERNAL', 'internal error');
  ctx.state.errorCode = 'INTERNAL';
}
