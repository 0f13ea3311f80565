/**
 * Dev mode (`keyward server --dev`): a 1-of-1 ceremony done in-process and unsealed at once, the
 * analogue of `vault server -dev`. The holder key lives only in memory; the share and root token are
 * handed back once for the operator to print. Never for production: everything is in memory.
 * @module
 */
import { toBase64, fromBase64 } from '../lib/bytes.js';
import { generateHolderKey, holderFingerprint, openShard, sealSubmission } from '../ceremony/index.js';
import { assertBearerToken } from './auth/tokens.js';
import type { Hsm } from './hsm.js';

export interface DevCredentials {
  rootToken: string;
  /** The single unseal share, base64. */
  unsealShare: string;
}

/**
 * Initializes and unseals `hsm` with a 1-of-1 ceremony. `rootToken` fixes the root token: any
 * bearer-safe string (engine/auth/tokens.ts), e.g. "root" as with Vault's -dev-root-token-id;
 * TOKEN_INVALID, before anything is done, for one no Authorization header could carry.
 */
export async function devBootstrap(hsm: Hsm, opts: { rootToken?: string } = {}): Promise<DevCredentials> {
  if (opts.rootToken !== undefined) assertBearerToken(opts.rootToken);
  const { seed, publicKey } = await generateHolderKey('dev');
  const holder = { name: 'dev', publicKey, fingerprint: holderFingerprint(publicKey) };
  const init = await hsm.init([holder], 1, opts.rootToken !== undefined ? { rootToken: opts.rootToken } : {});
  const shardFile = init.shardFiles[0]!;
  const share = await openShard(shardFile, { ...holder, seed });
  await devUnseal(hsm, share);
  const unsealShare = toBase64(share);
  share.fill(0);
  seed.fill(0);
  return { rootToken: init.rootToken.token, unsealShare };
}

/**
 * Submits the dev ceremony's single share to `hsm`'s unseal session: how devBootstrap unseals, and
 * how another node on the same database (or a restarted one) is unsealed with the printed share.
 */
export async function devUnseal(hsm: Hsm, share: Uint8Array): Promise<void> {
  const status = hsm.seal.status();
  const submission = await sealSubmission({
    purpose: 'unseal',
    sessionPublicKey: fromBase64(status.sessionPublicKey!, 'sessionPublicKey'),
    nonce: status.nonce!,
    ceremonyId: status.ceremonyId!,
    index: 0,
    holder: 'dev',
    share,
  });
  await hsm.submitUnseal(submission);
}
