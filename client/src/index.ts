/**
 * @keyward/client: a typed client for the Keyward HTTP API (docs/api.md, GET /openapi.json).
 *
 * ```ts
 * import { KeywardClient } from '@keyward/client';
 * const kw = new KeywardClient({ baseUrl: 'http://127.0.0.1:8420', token: process.env.KEYWARD_TOKEN });
 * const { ciphertext } = await kw.encrypt('orders', new TextEncoder().encode('hi'));
 * ```
 * @module
 */
export { fromBase64, toBase64 } from './bytes.js';
export { DEFAULT_TIMEOUT_MS, KeywardClient, isParked, parkedRequest } from './client.js';
export type {
  AuditRecordsOptions,
  CallOptions,
  HttpMethod,
  KeywardClientOptions,
  Operation,
  Outcome,
  Parked,
  ParkedRequest,
  PathsWith,
  RequestInitFor,
  Result,
  SignOptions,
  WaitOptions,
} from './client.js';
export { CLIENT_ERROR_CODES, KeywardApiError, errorFromResponse } from './errors.js';
export type { ClientErrorCode } from './errors.js';
export type { components, operations, paths } from './schema.js';
export { AUDIT_EVENTS, OPERATIONS } from './operations.js';
export type { PolicyOperation } from './operations.js';
