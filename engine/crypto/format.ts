/**
 * The text form of every ciphertext and signature Keyward hands out:
 *
 *   kw:v<version>:<base64(body)>
 *
 * `version` is the key version, a decimal integer 1 ≤ v ≤ 2^32−1 without leading zeros; `body` is
 * standard padded base64 (RFC 4648 §4, canonical). One byte string has exactly one text, so a text
 * can be compared, logged by hash, or deduplicated. The version is readable without the key, which
 * lets callers look up the right key version (and enforce a minimum decryption version) first.
 *
 * Operations that take such a value back (decrypt, rewrap, verify) also take the bare body, as
 * standard base64 — what every other signer or encrypter produces — for a version the caller names
 * or, by default, the latest ({@link parseVersionedOrRaw}). The two forms cannot be confused: `:`
 * is not a base64 character.
 * @module
 */
import { toBase64, fromBase64 } from '../../lib/bytes.js';
import { KeywardError, type KeywardCode } from '../../lib/errors.js';

export const VERSIONED_PREFIX = 'kw:v';
/** Largest key version (u32, it is bound as 4 bytes into AEAD associated data). */
export const MAX_KEY_VERSION = 0xffff_ffff;

const VERSIONED_RE = /^kw:v([1-9][0-9]{0,9}):([A-Za-z0-9+/=]*)$/;

/** Throws RangeError unless `version` is an integer in 1..2^32−1. */
export function assertKeyVersion(version: number, what = 'version'): void {
  if (!Number.isSafeInteger(version) || version < 1 || version > MAX_KEY_VERSION) {
    throw new RangeError(`"${what}" expected an integer in 1..${MAX_KEY_VERSION}, got ${String(version)}`);
  }
}

/** `kw:v<version>:<base64(body)>`. */
export function formatVersioned(version: number, body: Uint8Array): string {
  assertKeyVersion(version);
  if (!(body instanceof Uint8Array)) throw new TypeError('"body" expected Uint8Array');
  return `${VERSIONED_PREFIX}${version}:${toBase64(body)}`;
}

/**
 * Parses `kw:v<version>:<base64>` strictly. `what` names the value in errors ("ciphertext",
 * "signature"); failures throw `KeywardError(code)` naming what is wrong with the syntax, never the
 * content. The text is attacker input.
 */
/** What a value must look like, for errors (a line break is the usual way a pasted value goes wrong). */
const OPERAND_FORM = 'kw:v<version>:<base64> or standard base64 (A-Z a-z 0-9 + /, = padded, canonical, no line breaks)';

/**
 * Parses a value that is either `kw:v<version>:<base64>` (it names its version) or the bare body as
 * standard padded canonical base64 (`version` undefined: the caller decides). Anything else — a
 * `kw:` value that is not well-formed, base64url, unpadded or non-canonical base64, whitespace, an
 * empty string — throws `KeywardError(code)` whose message names the field (`what`) and the
 * expected forms. Syntax only: the text is attacker input, and passing says nothing about
 * authenticity.
 */
export function parseVersionedOrRaw<C extends KeywardCode>(
  text: string,
  what: string,
  code: C,
): { version: number | undefined; body: Uint8Array } {
  if (text.startsWith('kw:')) {
    try {
      return parseVersioned(text, what, code);
    } catch {
      throw new KeywardError(code, `${what}: expected ${OPERAND_FORM}; got a kw: value that is not well-formed`, {
        details: { field: what },
      });
    }
  }
  if (text.length === 0)
    throw new KeywardError(code, `${what}: expected ${OPERAND_FORM}; got an empty string`, {
      details: { field: what },
    });
  try {
    return { version: undefined, body: fromBase64(text, what, undefined, code) };
  } catch {
    throw new KeywardError(code, `${what}: expected ${OPERAND_FORM}; got ${text.length} characters that are neither`, {
      details: { field: what },
    });
  }
}

export function parseVersioned<C extends KeywardCode>(
  text: unknown,
  what: string,
  code: C,
): { version: number; body: Uint8Array } {
  if (typeof text !== 'string')
    throw new KeywardError(code, `${what}: expected a string kw:v<version>:<base64>, got ${typeof text}`);
  const m = VERSIONED_RE.exec(text);
  if (!m || m[1] === undefined || m[2] === undefined) {
    throw new KeywardError(
      code,
      `${what}: expected kw:v<version>:<base64>, got ${text.length} characters that are not`,
    );
  }
  const version = Number(m[1]);
  if (version > MAX_KEY_VERSION)
    throw new KeywardError(code, `${what}: expected a version ≤ ${MAX_KEY_VERSION}, got a larger one`);
  const body = fromBase64(m[2], what, undefined, code);
  return { version, body };
}
