/**
 * An unsealed SealManager over a fresh test store (1-of-1 ceremony), for the keys service's unit
 * tests, and a way to unseal it again after a test seals it.
 */
import type { HolderKey, ShardFile } from '../../../ceremony/index.js';
import { isKeywardError, type KeywardCode } from '../../../lib/errors.js';
import { SealManager } from '../../../engine/seal/index.js';
import { makeHolders, submissionFor } from '../../helpers/ceremony.js';
import { openTestStore, type TestStore } from '../../helpers/store.js';

export interface Unsealed {
  store: TestStore;
  seal: SealManager;
  /** Unseals again with the single share (after `seal.seal()`). */
  unseal(): Promise<void>;
  close(): Promise<void>;
}

let holder: HolderKey | undefined;

export async function openUnsealed(): Promise<Unsealed> {
  const store = await openTestStore();
  holder ??= (await makeHolders(['solo']))[0]!;
  const seal = await SealManager.open(store.db);
  const { shardFiles } = await seal.init([holder], 1);
  const shard: ShardFile = shardFiles[0]!;
  const unseal = async () => {
    await seal.submitUnseal(await submissionFor(holder!, shard, seal.status()));
    if (seal.sealed) throw new Error('still sealed');
  };
  await unseal();
  return {
    store,
    seal,
    unseal,
    async close() {
      seal.close();
      await store.close();
    },
  };
}

/** An assert.rejects/throws predicate for a KeywardError with `code`. */
export const code = (c: KeywardCode) => (err: unknown) => isKeywardError(err, c);

export const bytes = (s: string) => new TextEncoder().encode(s);
