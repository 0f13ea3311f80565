/**
 * Test holders: real X-Wing holder keys and the real submission path, no shortcuts. Holder key files
 * use scrypt N = 2^12 so tests stay fast (the CLI's default is 2^17).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fromBase64 } from '../../lib/bytes.js';
import {
  encryptHolderKey,
  generateHolderKey,
  openShard,
  sealSubmission,
  toPublicKeyFile,
} from '../../ceremony/index.js';
import type { HolderKey, ShardFile, Submission, SubmissionPurpose } from '../../ceremony/index.js';

export const TEST_PASSPHRASE = 'correct horse battery staple';

export async function makeHolders(names: string[]): Promise<HolderKey[]> {
  return Promise.all(names.map((n) => generateHolderKey(n)));
}

/** Writes NAME.key (scrypt 2^12) and NAME.key.pub for each holder, plus pass.txt; returns paths. */
export async function writeHolderFiles(
  dir: string,
  holders: HolderKey[],
): Promise<{ key: (name: string) => string; pub: (name: string) => string; passFile: string }> {
  await mkdir(dir, { recursive: true });
  for (const h of holders) {
    const priv = await encryptHolderKey(h, TEST_PASSPHRASE, { scryptN: 2 ** 12 });
    await writeFile(join(dir, `${h.name}.key`), JSON.stringify(priv));
    await writeFile(join(dir, `${h.name}.key.pub`), JSON.stringify(toPublicKeyFile(h)));
  }
  const passFile = join(dir, 'pass.txt');
  await writeFile(passFile, TEST_PASSPHRASE + '\n');
  return { key: (n) => join(dir, `${n}.key`), pub: (n) => join(dir, `${n}.key.pub`), passFile };
}

/** What a holder's CLI does: open the shard locally, seal it to the session. */
export async function submissionFor(
  holder: HolderKey,
  shard: ShardFile,
  session: { nonce: string | null; sessionPublicKey: string | null },
  purpose: SubmissionPurpose = 'unseal',
): Promise<Submission> {
  const share = await openShard(shard, holder);
  return sealSubmission({
    purpose,
    sessionPublicKey: fromBase64(session.sessionPublicKey!, 'sessionPublicKey'),
    nonce: session.nonce!,
    ceremonyId: shard.ceremonyId,
    index: shard.index,
    holder: shard.holder,
    share,
  });
}
