/**
 * The error codes only the HTTP layer throws (request shape, routing, rate limits, audit read
 * readiness), added to {@link KeywardCode} by declaration merging. Codes of the engine and the
 * ceremony that routes also throw stay in their layer's list. server/errors.ts gives each a status.
 * @module
 */
export const SERVER_CODES = [
  'INVALID_JSON',
  'BODY_TOO_LARGE',
  'REQUEST_ABORTED',
  'UNSUPPORTED_MEDIA_TYPE',
  'ROUTE_NOT_FOUND',
  'METHOD_NOT_ALLOWED',
  'RATE_LIMITED',
  'AUDIT_NOT_READY',
] as const;

export type ServerCode = (typeof SERVER_CODES)[number];

declare module '../lib/errors.js' {
  interface KeywardErrorCodes extends Record<ServerCode, true> {}
}
