/**
 * Steps the ceremony commands share: loading holder public keys, decrypting a holder's shard
 * locally, sealing it to the server's session key, writing shard files.
 * @module
 */
import { join } from 'node:path';
import { KeywardError } from '../../../lib/errors.js';
import { fromBase64 } from '../../../lib/bytes.js';
import type { HolderPublicKeyFile, ShardFile, Submission, SubmissionPurpose } from '../../../ceremony/index.js';
import { readJsonFile, readText, writeFileSafe } from '../../files.js';
import { readPassphrase } from '../../passphrase.js';

/** Loaded when used: every command's module is imported when the CLI starts. */
const custody = () => import('../../../ceremony/index.js');

/** Reads comma-separated .pub files into the JSON objects the server expects (validated locally first). */
export async function loadHolderPublicKeys(list: string): Promise<HolderPublicKeyFile[]> {
  const { parseHolderPublicKey } = await custody();
  const paths = list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (paths.length === 0)
    throw new KeywardError('CEREMONY_PARAMS_INVALID', 'expected --holders as a comma-separated list of .pub files');
  const files: HolderPublicKeyFile[] = [];
  for (const p of paths) {
    const json = await readJsonFile(p, 'holder public key');
    try {
      parseHolderPublicKey(json as object);
    } catch (err) {
      if (err instanceof KeywardError) throw new KeywardError(err.code, `${p}: ${err.message}`);
      throw err;
    }
    files.push(json as HolderPublicKeyFile); // parseHolderPublicKey accepted it
  }
  return files;
}

export interface OpenedShard {
  shard: ShardFile;
  share: Uint8Array;
}

/** Decrypts the holder key with the passphrase and opens the shard with it, all locally. */
export async function openShardLocally(opts: {
  keyFile: string;
  shardFile: string;
  passphraseFile: string | undefined;
  stdin: NodeJS.ReadableStream;
  stderr: NodeJS.WritableStream;
}): Promise<OpenedShard> {
  const { decryptHolderKey, openShard, parseShardFile } = await custody();
  const keyText = await readText(opts.keyFile, 'holder key');
  const shard = parseShardFile(await readText(opts.shardFile, 'shard file'));
  const passphrase = await readPassphrase({
    file: opts.passphraseFile,
    prompt: `Passphrase for ${opts.keyFile}: `,
    stdin: opts.stdin,
    stderr: opts.stderr,
  });
  const holder = await decryptHolderKey(keyText, passphrase);
  try {
    return { shard, share: await openShard(shard, holder) };
  } finally {
    holder.seed.fill(0);
  }
}

/** Seals an opened shard to a session (nonce + public key from seal or rekey status). */
export async function toSubmission(
  purpose: SubmissionPurpose,
  opened: OpenedShard,
  session: { nonce: string | null; sessionPublicKey: string | null },
): Promise<Submission> {
  const { sealSubmission } = await custody();
  if (!session.nonce || !session.sessionPublicKey)
    throw new KeywardError(
      'NO_SESSION',
      purpose === 'unseal'
        ? 'the server has no unseal session (is it initialized and sealed?)'
        : 'no rekey is in progress on the server',
    );
  return sealSubmission({
    purpose,
    sessionPublicKey: fromBase64(session.sessionPublicKey, 'sessionPublicKey', undefined, 'BAD_RESPONSE'),
    nonce: session.nonce,
    ceremonyId: opened.shard.ceremonyId,
    index: opened.shard.index,
    holder: opened.shard.holder,
    share: opened.share,
  });
}

/** Writes DIR/NAME.shard for each shard file (they are HPKE-sealed to their holders). */
export async function writeShards(dir: string, shards: ShardFile[], overwrite: boolean): Promise<string[]> {
  const written: string[] = [];
  for (const s of shards) {
    const p = join(dir, `${s.holder}.shard`);
    await writeFileSafe(p, JSON.stringify(s, null, 2) + '\n', { mode: 0o600, overwrite });
    written.push(p);
  }
  return written;
}
