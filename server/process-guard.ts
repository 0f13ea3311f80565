/**
 * The last line against a database failure taking the server down (issue 13, item 4;
 * docs/operations.md). A restarted Keyward is sealed until a quorum of holders returns, so a storage
 * failure that escaped every `await` (a promise nobody waited for) must not end the process: it is
 * logged with its reason (a code, engine/store/storage-errors.ts) and the server goes on. Any other
 * unhandled rejection is rethrown, which ends the process exactly as Node's default does: a bug
 * must not be hidden. Installed by `keyward server`.
 * @module
 */
import { storageFailureReason } from '../engine/store/storage-errors.js';
import type { Logger } from './log.js';

/** Installs the guard; returns its removal. */
export function guardStorageRejections(log: Logger): () => void {
  const onRejection = (reason: unknown): void => {
    const code = storageFailureReason(reason);
    if (code === undefined) throw reason;
    log.error('storage failure that no request awaited; the server goes on', { reason: code });
  };
  process.on('unhandledRejection', onRejection);
  return () => process.off('unhandledRejection', onRejection);
}
