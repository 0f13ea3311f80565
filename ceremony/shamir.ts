/**
 * Shamir secret sharing over GF(2^8) (Shamir 1979, "How to share a secret"), through the audited
 * `shamir-secret-sharing` package (Privy; the same field and share format as HashiCorp Vault).
 *
 * Share layout (the library's, as Vault's):
 *
 *   share = y_1 ‖ y_2 ‖ … ‖ y_L ‖ x        L = secret length, x ∈ 1..255 distinct per share
 *
 * where y_i = f_i(x) and f_i is a random polynomial of degree T−1 with f_i(0) = secret[i].
 *
 * The library only accepts 2 ≤ T ≤ N ≤ 255. Keyward supports the whole range 1 ≤ T ≤ N ≤ 255:
 * for T = 1 the polynomial has degree 0, f_i(x) = secret[i] for every x, so each share is
 * `secret ‖ x` (x = 1..N). That is what a 1-of-N ceremony means: every holder alone has the
 * secret (dev mode uses 1-of-1). Such shares combine with this module's combineShares, and any two
 * of them also combine with the library's Lagrange interpolation (a constant interpolates to itself).
 *
 * Combining fewer than T shares does not fail: it returns a wrong secret. Callers learn it is
 * wrong from what the secret is supposed to open (Keyward: the root key blob's tag) or, before
 * combining, from the per-share commitments (commitment.ts).
 *
 * The library's random coefficients are not wiped after use (best effort zeroization, see bytes.ts).
 * @module
 */
import { combine, split } from 'shamir-secret-sharing';
import { concatBytes, describe } from '../lib/bytes.js';
import { u8 } from './bytes.js';
import { KeywardError } from '../lib/errors.js';

/** At most 255 shares: x-coordinates are the nonzero elements of GF(2^8). */
export const MAX_SHARES = 255;
/** Bytes a share has beyond the secret: the x-coordinate. */
export const SHARE_OVERHEAD = 1;

/**
 * Splits `secret` into `shares` shares, any `threshold` of which recover it; 1 ≤ threshold ≤
 * shares ≤ 255. Bad counts throw `CEREMONY_PARAMS_INVALID` naming the constraint.
 */
export async function splitSecret(secret: Uint8Array, shares: number, threshold: number): Promise<Uint8Array[]> {
  if (!(secret instanceof Uint8Array))
    throw new TypeError(`"splitSecret" expected secret to be a Uint8Array, got ${describe(secret)}`);
  if (secret.byteLength === 0) throw new RangeError('"splitSecret" expected a non-empty secret, got length=0');
  if (typeof shares !== 'number' || typeof threshold !== 'number') {
    throw new TypeError(
      `"splitSecret" expected numbers for shares and threshold, got ${describe(shares)} and ${describe(threshold)}`,
    );
  }
  assertSplitParams(shares, threshold);
  if (threshold === 1) {
    // Degree-0 polynomial: every share is the secret itself, with its own x (see module comment).
    return Array.from({ length: shares }, (_, i) => concatBytes(secret, u8(i + 1)));
  }
  // The library checks `secret.constructor === Uint8Array`: a Buffer would be refused.
  const plain = secret.constructor === Uint8Array ? secret : new Uint8Array(secret);
  try {
    return await split(plain, shares, threshold);
  } finally {
    if (plain !== secret) plain.fill(0);
  }
}

/** Throws `CEREMONY_PARAMS_INVALID` unless 1 ≤ threshold ≤ shares ≤ 255 (all integers). */
export function assertSplitParams(shares: number, threshold: number): void {
  if (!Number.isInteger(shares) || shares < 1 || shares > MAX_SHARES) {
    throw new KeywardError(
      'CEREMONY_PARAMS_INVALID',
      `shares: expected an integer from 1 to ${MAX_SHARES}, got ${shares}`,
      {
        details: { shares, threshold },
      },
    );
  }
  if (!Number.isInteger(threshold) || threshold < 1) {
    throw new KeywardError(
      'CEREMONY_PARAMS_INVALID',
      `threshold: expected an integer of at least 1, got ${threshold}`,
      {
        details: { shares, threshold },
      },
    );
  }
  if (threshold > shares) {
    throw new KeywardError(
      'CEREMONY_PARAMS_INVALID',
      `threshold: expected at most the number of shares (${shares}), got ${threshold}`,
      {
        details: { shares, threshold },
      },
    );
  }
}

/**
 * Recovers the secret from 1 to 255 shares. With a single share the secret is its y bytes (valid
 * for a T = 1 split only). Shares must all have the same length (≥ 2 bytes) and distinct nonzero
 * x-coordinates, else `SHARES_INVALID`; x = 0 is refused because a share at x = 0 *is* the
 * secret, which would let one forged share choose the result.
 */
export async function combineShares(shares: readonly Uint8Array[]): Promise<Uint8Array> {
  if (!Array.isArray(shares))
    throw new TypeError(`"combineShares" expected an array of Uint8Array, got ${describe(shares)}`);
  for (const s of shares) {
    if (!(s instanceof Uint8Array))
      throw new TypeError(`"combineShares" expected every share to be a Uint8Array, got ${describe(s)}`);
  }
  if (shares.length < 1 || shares.length > MAX_SHARES) {
    throw new KeywardError('SHARES_INVALID', `expected 1 to ${MAX_SHARES} shares to combine, got ${shares.length}`);
  }
  const len = shares[0]!.byteLength;
  const seen = new Set<number>();
  for (const [i, s] of shares.entries()) {
    if (s.byteLength < 1 + SHARE_OVERHEAD || s.byteLength !== len) {
      throw new KeywardError(
        'SHARES_INVALID',
        `share ${i}: expected ${Math.max(len, 1 + SHARE_OVERHEAD)} bytes like the first share, got ${s.byteLength}`,
      );
    }
    const x = s[s.byteLength - 1]!;
    if (x === 0) throw new KeywardError('SHARES_INVALID', `share ${i}: expected a nonzero x-coordinate, got 0`);
    if (seen.has(x))
      throw new KeywardError('SHARES_INVALID', `share ${i}: expected distinct x-coordinates, got ${x} twice`);
    seen.add(x);
  }
  if (shares.length === 1) return shares[0]!.slice(0, len - SHARE_OVERHEAD);
  // The library checks `constructor === Uint8Array`: copy Buffers (and subclasses) to plain arrays.
  const plain = shares.map((s) => (s.constructor === Uint8Array ? s : new Uint8Array(s)));
  try {
    return await combine(plain);
  } finally {
    plain.forEach((p, i) => {
      if (p !== shares[i]) p.fill(0);
    });
  }
}

/** The x-coordinate of a share (its last byte). */
export function shareX(share: Uint8Array): number {
  if (!(share instanceof Uint8Array) || share.byteLength < 1 + SHARE_OVERHEAD) {
    throw new RangeError(`"shareX" expected a share of at least ${1 + SHARE_OVERHEAD} bytes, got ${describe(share)}`);
  }
  return share[share.byteLength - 1]!;
}
