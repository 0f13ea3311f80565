/**
 * Secrets at rest: barrier_entries rows whose blobs the barrier encrypts, bound to their path.
 * The store underneath only ever sees ciphertext.
 * @module
 */
import type { Db } from '../store/index.js';
import { deleteEntry, getEntry, listEntries, putEntry } from '../store/index.js';
import type { Barrier } from './barrier.js';

export class SecretStore {
  readonly #db: Db;
  readonly #barrier: Barrier;

  constructor(db: Db, barrier: Barrier) {
    this.#db = db;
    this.#barrier = barrier;
  }

  async put(path: string, plaintext: Uint8Array): Promise<void> {
    await putEntry(this.#db, path, this.#barrier.encrypt(path, plaintext));
  }

  async get(path: string): Promise<Uint8Array | undefined> {
    const blob = await getEntry(this.#db, path);
    return blob === undefined ? undefined : this.#barrier.decrypt(path, blob);
  }

  async delete(path: string): Promise<void> {
    await deleteEntry(this.#db, path);
  }

  list(prefix: string): Promise<string[]> {
    return listEntries(this.#db, prefix);
  }
}
