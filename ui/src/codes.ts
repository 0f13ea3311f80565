/**
 * The error codes the console's share of the engine throws (the audit math), added to lib/errors'
 * code list by declaration merging as engine/codes.ts does for the whole engine (the console does
 * not compile the rest of the engine).
 * @module
 */
import type { AuditErrorCode } from '../../engine/audit/math/errors.js';

declare module '../../lib/errors.js' {
  interface KeywardErrorCodes extends Record<AuditErrorCode, true> {}
}
