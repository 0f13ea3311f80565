/**
 * The one error base class of Keyward.
 *
 * `KeywardError` is a domain failure with an UPPER_SNAKE `code` that the server maps to HTTP in one
 * table (server/errors.ts) and the CLI prints on stderr. A plain `TypeError`/`RangeError` means a
 * programmer passed bad arguments. Messages say what was expected and what arrived, and never carry
 * secrets (keys, shares, tokens, passphrases, plaintexts).
 *
 * It lives in lib/ because lib/ is the bottom layer (docs/architecture.md, "Dependency direction"): it imports nothing of ours, and
 * ceremony, engine, server and cli import it.
 * @module
 */

/**
 * Every error code, as keys (the values mean nothing). This interface is empty here: each layer
 * lists its codes `as const` and adds them by declaration merging (ceremony/codes.ts,
 * engine/codes.ts, server/codes.ts, cli/codes.ts:
 * `declare module '…/lib/errors.js' { interface KeywardErrorCodes extends Record<EngineCode, true> {} }`),
 * so this bottom layer names no code of a layer above it, and a code in no list is a compile error.
 */
export interface KeywardErrorCodes {}

/** An error code of any layer: the union of ceremony/, engine/, server/ and cli/ codes.ts lists. */
export type KeywardCode = keyof KeywardErrorCodes;

export class KeywardError<C extends KeywardCode = KeywardCode> extends Error {
  readonly code: C;
  /** Extra, non-secret, machine-readable details (e.g. `{ holder: 'alice', index: 2 }`). */
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: C, message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'KeywardError';
    this.code = code;
    this.details = options?.details ? Object.freeze({ ...options.details }) : undefined;
  }
}

/** True for a KeywardError, optionally with the given code. */
export function isKeywardError<C extends KeywardCode>(err: unknown, code?: C): err is KeywardError<C> {
  return err instanceof KeywardError && (code === undefined || err.code === code);
}
