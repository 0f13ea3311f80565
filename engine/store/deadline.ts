/**
 * Deadlines for storage calls on the request path (docs/architecture.md, "A request, step by step";
 * issue 13, item 1). Neither driver bounds a call against a database that stopped answering (a
 * silent peer, a pool reconnecting with backoff), so each call is raced against a timer: the same
 * 2 s budget as the audit append by default, configurable (`HsmOptions.storageDeadlineMs`).
 *
 * On expiry the caller gets STORAGE_UNAVAILABLE (503, Retry-After) at once and the late outcome is
 * discarded: a late result is dropped, a late rejection is caught (never an unhandled rejection).
 * A late *write* is the caller's to think about: `writeTransaction` (commit-scope.ts) rolls its
 * transaction back when it is still running at expiry, so a change the client was told failed
 * commits only if its COMMIT was already on the wire — and then with its audit record, never
 * without it (an audited request that answered 503: the safe side).
 *
 * Failures before the deadline are classified too (storage-errors.ts): the pipeline then records
 * STORAGE_UNAVAILABLE, not an internal error.
 * @module
 */
import { KeywardError } from '../../lib/errors.js';
import { classifyStorageError } from './storage-errors.js';

/** The default budget of one storage call on the request path, as the audit append's. */
export const STORAGE_DEADLINE_MS_DEFAULT = 2000;

/** The error of a storage call that missed its deadline. */
export function deadlineExceeded(what: string, ms: number): KeywardError<'STORAGE_UNAVAILABLE'> {
  return new KeywardError('STORAGE_UNAVAILABLE', `the database did not answer ${what} within ${ms} ms; retry shortly`, {
    details: { retryAfter: 1, reason: 'DEADLINE' },
  });
}

/**
 * `work`, bounded: rejects with STORAGE_UNAVAILABLE when it has not settled within `ms` (then
 * `onExpire` runs once, before the rejection), and with its failure classified otherwise. `ms` of
 * 0 or less, or not finite, means no deadline (classification only).
 */
export function withDeadline<T>(work: Promise<T>, ms: number, what: string, onExpire?: () => void): Promise<T> {
  if (!(ms > 0) || !Number.isFinite(ms)) return work.catch((err: unknown) => Promise.reject(classifyStorageError(err)));
  return new Promise<T>((resolve, reject) => {
    let done = false;
    const timer = setTimeout(() => {
      if (done) return;
      done = true;
      onExpire?.();
      reject(deadlineExceeded(what, ms));
    }, ms);
    work.then(
      (v) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        resolve(v);
      },
      (err: unknown) => {
        if (done) return; // late: already answered; the rejection is handled here, so never unhandled
        done = true;
        clearTimeout(timer);
        reject(classifyStorageError(err));
      },
    );
  });
}
