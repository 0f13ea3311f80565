/**
 * Which failures mean "the database is unavailable" (docs/architecture.md, engine/store; issue 13,
 * item 2). Such a failure is `STORAGE_UNAVAILABLE` — 503 with Retry-After, never a 500 — wherever
 * it surfaces: the request pipeline records it with that code, and the server's error middleware
 * and the transit envelope answer it so.
 *
 * The error a caller sees is rarely the driver's own: drizzle wraps it (`DrizzleQueryError: Failed
 * query: …`, the driver's error as `cause`), and so do we. So the whole `cause` chain is walked (and
 * an AggregateError's `errors`, as Node's connect gives with several addresses). A failure counts
 * when any link has:
 * - a postgres.js connection code: CONNECTION_CLOSED, CONNECTION_DESTROYED, CONNECTION_ENDED,
 *   CONNECT_TIMEOUT (4.x adds QUERY_TIMEOUT, QUEUE_TIMEOUT, CANCEL_UNANSWERED);
 * - a Node network errno: ECONNREFUSED, ECONNRESET, EPIPE, ETIMEDOUT, ECONNABORTED, EHOSTUNREACH,
 *   ENETUNREACH, ENOTFOUND, EAI_AGAIN;
 * - a SQLSTATE of class 08 (connection exception) or 53 (insufficient resources), 57P01–57P05
 *   (admin/crash shutdown, cannot connect now, idle session timeout), 57014 (statement_timeout),
 *   55P03 (lock_timeout), 25P03 (idle_in_transaction timeout), 58000/58030 (system, I/O);
 * - PGlite's own: "PGlite is closed", "PGlite is closing", "PGlite failed to initialize properly",
 *   "timeout while waiting for mutex to become available", a WASM abort (`RuntimeError: Aborted(…)`,
 *   `ExitStatus`).
 * Not unavailable (they stay what they are): data errors (22xxx), constraint violations (23xxx),
 * SQL errors (42xxx), serialization failures (40001, 40P01).
 *
 * The reason kept is a code, never the message: driver messages quote queries and parameters.
 * @module
 */
import { KeywardError } from '../../lib/errors.js';

const DRIVER_CODES: ReadonlySet<string> = new Set([
  'CONNECTION_CLOSED',
  'CONNECTION_DESTROYED',
  'CONNECTION_ENDED',
  'CONNECT_TIMEOUT',
  'QUERY_TIMEOUT',
  'QUEUE_TIMEOUT',
  'CANCEL_UNANSWERED',
]);

const ERRNO_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ECONNABORTED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

const SQLSTATES: ReadonlySet<string> = new Set([
  '57P01',
  '57P02',
  '57P03',
  '57P04',
  '57P05',
  '57014',
  '55P03',
  '25P03',
  '58000',
  '58030',
]);

const PGLITE_MESSAGES: readonly RegExp[] = [
  /^PGlite is clos(ed|ing)\b/,
  /^PGlite failed to initialize/,
  /^timeout while waiting for mutex/,
];

/** How far down a chain of causes to look (a cycle or a pathological chain stops here). */
const MAX_DEPTH = 8;

/** The reason `err` means the database is unavailable (a code such as `ECONNREFUSED` or `57P01`), or undefined. */
export function storageFailureReason(err: unknown): string | undefined {
  const seen = new Set<unknown>();
  const walk = (e: unknown, depth: number): string | undefined => {
    if (e === null || typeof e !== 'object' || seen.has(e) || depth > MAX_DEPTH) return undefined;
    seen.add(e);
    const own = reasonOf(e);
    if (own !== undefined) return own;
    const errors = (e as { errors?: unknown }).errors;
    if (Array.isArray(errors)) {
      for (const inner of errors.slice(0, 8)) {
        const r = walk(inner, depth + 1);
        if (r !== undefined) return r;
      }
    }
    return walk((e as { cause?: unknown }).cause, depth + 1);
  };
  return walk(err, 0);
}

function reasonOf(e: object): string | undefined {
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (DRIVER_CODES.has(code) || ERRNO_CODES.has(code) || SQLSTATES.has(code)) return code;
    // SQLSTATE classes 08 and 53: five characters, digits and capitals.
    if (/^(08|53)[0-9A-Z]{3}$/.test(code)) return code;
  }
  const name = (e as { name?: unknown }).name;
  const message = (e as { message?: unknown }).message;
  if (typeof message === 'string') {
    if (PGLITE_MESSAGES.some((re) => re.test(message))) return 'PGLITE_UNAVAILABLE';
    if (name === 'RuntimeError' && message.startsWith('Aborted(')) return 'PGLITE_ABORTED';
  }
  if (name === 'ExitStatus') return 'PGLITE_ABORTED';
  return undefined;
}

/**
 * `err` as STORAGE_UNAVAILABLE (503, Retry-After 1) when it means the database is unavailable;
 * undefined otherwise. A KeywardError is already classified and is never rewritten.
 */
export function asStorageUnavailable(err: unknown): KeywardError<'STORAGE_UNAVAILABLE'> | undefined {
  if (err instanceof KeywardError) return undefined;
  const reason = storageFailureReason(err);
  if (reason === undefined) return undefined;
  return new KeywardError('STORAGE_UNAVAILABLE', `the database is unavailable (${reason}); retry shortly`, {
    cause: err,
    details: { retryAfter: 1, reason },
  });
}

/** `err` classified: STORAGE_UNAVAILABLE when the database is unavailable, else `err` itself. */
export function classifyStorageError(err: unknown): unknown {
  return asStorageUnavailable(err) ?? err;
}
