/**
 * Key encapsulation: ML-KEM-512/768/1024 (FIPS 203) and X-Wing (ML-KEM-768 + X25519,
 * draft-connolly-cfrg-xwing-kem; @noble/post-quantum's `ml_kem768_x25519` reproduces the draft's
 * test vectors, checked in test/engine/crypto/kem.test.ts).
 *
 * Private keys are seeds (64-byte d‖z for ML-KEM, 32 bytes for X-Wing), expanded per call unless the
 * caller passes the expanded form (expanded.ts).
 *
 * Implicit rejection (FIPS 203 §6.3, Algorithm 18): decapsulating a well-sized but modified or
 * foreign ciphertext does NOT fail; it returns a pseudorandom secret (derived from z and the
 * ciphertext) that differs from the sender's. So `decapsulate` never reports tampering: a protocol
 * built on it must authenticate with the secret (e.g. use it as an AEAD key) to notice. Only a
 * ciphertext of the wrong length is rejected, as `CIPHERTEXT_INVALID`. X-Wing inherits this, and also
 * rejects a ciphertext whose X25519 part is a low-order point (the exchange gives all zeros).
 * @module
 */
import { KeywardError } from '../../lib/errors.js';
import { abytes, wipe } from '../../lib/bytes.js';
import { ML_KEM, ML_KEM_SEED_LEN, X_WING, X_WING_SEED_LEN, isMlKem } from './algs.js';
import { expandedParts, xWingDecapsulate, type WorkingKey } from './expanded.js';
import { mlKemDecapsulate } from './pq.js';
import { assertSupports, type KeyType } from './types.js';

export interface Encapsulation {
  readonly ciphertext: Uint8Array;
  /** 32 bytes. Secret: wipe when done. */
  readonly sharedSecret: Uint8Array;
}

function kemOf(type: KeyType) {
  if (isMlKem(type)) return { alg: ML_KEM[type], seedLen: ML_KEM_SEED_LEN };
  if (type === 'x-wing') return { alg: X_WING, seedLen: X_WING_SEED_LEN };
  throw new RangeError(`unhandled key type ${type}`);
}

/**
 * noble refuses an X25519 exchange whose result is all zeros, which happens exactly when the
 * ciphertext's X25519 part (its last 32 bytes, attacker input) is a low-order point: a property of
 * the ciphertext alone, so naming it leaks nothing about the key.
 */
function xWingLowOrder(cause: unknown): KeywardError<'CIPHERTEXT_INVALID'> {
  return new KeywardError('CIPHERTEXT_INVALID', 'x-wing ciphertext: the X25519 part is a low-order point', { cause });
}

/** Length of a ciphertext of `type`. */
export function kemCiphertextLength(type: KeyType): number {
  assertSupports(type, 'encapsulate');
  const n = kemOf(type).alg.lengths.cipherText;
  if (n === undefined) throw new RangeError(`no ciphertext length for ${type}`);
  return n;
}

/**
 * A fresh shared secret and its encapsulation to the canonical public key `pub`.
 * Throws `PUBLIC_KEY_INVALID` if `pub` fails the FIPS 203 §7.2 modulus check.
 */
export function encapsulate(type: KeyType, pub: Uint8Array): Encapsulation {
  assertSupports(type, 'encapsulate');
  const { alg } = kemOf(type);
  abytes(pub, 'publicKey', alg.lengths.publicKey);
  let r: { cipherText: Uint8Array; sharedSecret: Uint8Array };
  try {
    r = alg.encapsulate(pub);
  } catch (e) {
    throw new KeywardError('PUBLIC_KEY_INVALID', `${type} public key: failed the FIPS 203 encapsulation key check`, {
      cause: e,
    });
  }
  return { ciphertext: r.cipherText, sharedSecret: r.sharedSecret };
}

/**
 * The shared secret encapsulated in `ciphertext` for the canonical private key `priv` (a seed), or
 * its expanded form (expanded.ts: the same secret, without re-deriving the key). A modified
 * ciphertext of the right length yields a different secret, never an error (see the module header).
 * Throws `CIPHERTEXT_INVALID` only for a ciphertext of the wrong length (or, X-Wing, a low-order
 * X25519 part).
 */
export function decapsulate(type: KeyType, priv: WorkingKey, ciphertext: Uint8Array): Uint8Array {
  assertSupports(type, 'decapsulate');
  const { alg, seedLen } = kemOf(type);
  const parts = expandedParts(type, priv);
  if (!parts) abytes(priv, 'privateKey', seedLen);
  const want = alg.lengths.cipherText;
  if (!(ciphertext instanceof Uint8Array) || ciphertext.length !== want) {
    const got = ciphertext instanceof Uint8Array ? `${ciphertext.length} bytes` : typeof ciphertext;
    throw new KeywardError('CIPHERTEXT_INVALID', `${type} ciphertext: expected ${want ?? '?'} bytes, got ${got}`);
  }
  if (parts) {
    if (isMlKem(type)) return mlKemDecapsulate(type, parts[0]!, ciphertext);
    try {
      return xWingDecapsulate(parts, ciphertext);
    } catch (e) {
      throw xWingLowOrder(e);
    }
  }
  priv = priv as Uint8Array;
  if (type === 'x-wing') {
    try {
      return alg.decapsulate(ciphertext, priv);
    } catch (e) {
      throw xWingLowOrder(e);
    }
  }
  if (!isMlKem(type)) throw new RangeError(`unhandled key type ${type}`);
  const { secretKey } = alg.keygen(priv);
  try {
    return mlKemDecapsulate(type, secretKey, ciphertext);
  } finally {
    wipe(secretKey);
  }
}
