/**
 * The one error type of @keyward/client. A server error keeps the server's own code and message
 * (`{"error": {"code", "message"}}`, the codes listed in the server's error table); failures with no
 * usable answer have a client code and `status` 0 (no response) or the HTTP status (a body that
 * isn't the API's JSON).
 * @module
 */

/** Codes this client gives failures the server never named. */
export const CLIENT_ERROR_CODES = {
  /** No HTTP answer: connection refused, DNS, TLS, reset. `status` is 0. */
  SERVER_UNREACHABLE: 'SERVER_UNREACHABLE',
  /** The request took longer than the client's `timeoutMs`. `status` is 0. */
  TIMEOUT: 'TIMEOUT',
  /** A success status whose body is not JSON. */
  BAD_RESPONSE: 'BAD_RESPONSE',
  /** `waitForApproval` gave up before the approval was ready or final. `status` is 0. */
  APPROVAL_WAIT_TIMEOUT: 'APPROVAL_WAIT_TIMEOUT',
} as const;
export type ClientErrorCode = (typeof CLIENT_ERROR_CODES)[keyof typeof CLIENT_ERROR_CODES];

/**
 * A request that did not succeed. `code` is the server's UPPER_SNAKE code (`KEY_NOT_FOUND`,
 * `UNAUTHENTICATED`, `POLICY_DENIED`, …), one of {@link CLIENT_ERROR_CODES}, or `HTTP_<status>` when
 * an error status came with a body that isn't the API's error JSON (a proxy's HTML page).
 */
export class KeywardApiError extends Error {
  /** The HTTP status, or 0 when no response arrived. */
  readonly status: number;
  readonly code: string;

  constructor(status: number, code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'KeywardApiError';
    this.status = status;
    this.code = code;
  }
}

/** The error for a non-2xx response whose body openapi-fetch parsed (JSON) or left as text. */
export function errorFromResponse(status: number, body: unknown): KeywardApiError {
  const e = (body as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  if (e && typeof e.code === 'string' && typeof e.message === 'string')
    return new KeywardApiError(status, e.code, e.message);
  return new KeywardApiError(status, `HTTP_${status}`, `server answered ${status}`);
}
