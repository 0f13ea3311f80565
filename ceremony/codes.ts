/**
 * The error codes the custody protocol throws (holder keys, shard files, submissions, Shamir
 * parameters, the X-Wing envelope). lib/errors.ts builds {@link KeywardCode} from this list (by the declaration below);
 * engine/codes.ts, server/codes.ts and cli/codes.ts add the codes of the layers above, and
 * server/errors.ts gives each code a status or lists it as internal (a test checks every throw).
 * @module
 */
export const CEREMONY_CODES = [
  // ceremony parameters and holder public keys (also the server's init body)
  'CEREMONY_PARAMS_INVALID',
  'HOLDER_KEY_INVALID',
  'HOLDER_NAME_INVALID',
  'SHARES_INVALID',
  // holder side: a holder's passphrase-protected key and the shard sealed to it
  'PASSPHRASE_EMPTY',
  'PASSPHRASE_WRONG',
  'SHARD_MALFORMED',
  'SHARD_NOT_FOR_HOLDER',
  'SHARD_CORRUPTED',
  // a share submitted to an unseal or rekey session
  'SUBMISSION_INVALID',
  'UNSEAL_NONCE_MISMATCH',
  // the HPKE envelope (callers turn these into the codes above)
  'ENVELOPE_SEAL_FAILED',
  'ENVELOPE_OPEN_FAILED',
] as const;

export type CeremonyCode = (typeof CEREMONY_CODES)[number];

declare module '../lib/errors.js' {
  interface KeywardErrorCodes extends Record<CeremonyCode, true> {}
}
