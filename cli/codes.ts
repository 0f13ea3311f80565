/**
 * The error codes only the CLI throws (files, flags, passphrase prompts, a server's answer),
 * added to {@link KeywardCode} by declaration merging; never sent by the server.
 * @module
 */
export const CLI_CODES = [
  'USAGE',
  'ADDR_INVALID',
  'FILE_UNREADABLE',
  'FILE_TOO_LARGE',
  'FILE_INVALID',
  'FILE_EXISTS',
  'PASSPHRASE_REQUIRED',
  'PASSPHRASE_MISMATCH',
  'PUBLIC_KEY_MISMATCH',
  'WRAPPING_KEY_MISMATCH',
  'NO_SESSION',
  'CANCELLED',
  'BAD_RESPONSE',
  'AUDIT_REPLAY_UNAVAILABLE',
] as const;

export type CliCode = (typeof CLI_CODES)[number];

declare module '../lib/errors.js' {
  interface KeywardErrorCodes extends Record<CliCode, true> {}
}
