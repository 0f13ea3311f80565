/**
 * Expanded private keys: the working form of a seed-stored post-quantum key, for callers that use
 * one key many times (engine/keys/material.ts caches them while unsealed, beside the material).
 *
 * Keyward stores ML-DSA, ML-KEM, X-Wing and composite keys as seeds (algs.ts), as FIPS 203/204 and
 * the LAMPS drafts recommend; signing and decapsulation need the expanded secret key, which costs a
 * key generation to derive: about 3 ms for ML-DSA-65 next to about 8 ms for the signature itself,
 * 1 ms for ML-KEM-768, 2 ms for X-Wing (measured on Node 20). `sign` and `decapsulate` accept either
 * form and give the same results.
 *
 * Layout of `parts` by type (each part exactly the length noble derives from the seed):
 *
 *   ml-dsa-44/65/87       [FIPS 204 secret key sk (2560 / 4032 / 4896 bytes)]
 *   ml-kem-512/768/1024   [FIPS 203 decapsulation key dk (1632 / 2400 / 3168 bytes)]
 *   x-wing                [ML-KEM-768 dk (2400), X25519 secret (32), X25519 public (32)]
 *   ml-dsa-65-ed25519     [ML-DSA-65 sk (4032), Ed25519 seed (32)]
 *
 * X-Wing (draft-connolly-cfrg-xwing-kem §5): the 32-byte seed expands by SHAKE256 to 96 bytes, the
 * ML-KEM-768 key seed (64) then the X25519 secret (32); decapsulation is
 *   ss = SHA3-256(ss_M ‖ ss_X ‖ ct_X ‖ pk_X ‖ XWingLabel),  XWingLabel = "\.//^\" (6 bytes),
 * done here with the very components noble's `ml_kem768_x25519` combines (its ML-KEM-768, its
 * X25519 KEM, its seed expander), and checked against the draft's vectors and noble itself in
 * test/engine/crypto/kem.test.ts. Only the per-call key schedule is skipped.
 *
 * Expanded keys are as secret as the seeds: wipe them with {@link wipeExpandedKey} (best effort).
 * @module
 */
import type { KeyObject } from 'node:crypto';
import { x25519 } from '@noble/curves/ed25519.js';
import { sha3_256, shake256 } from '@noble/hashes/sha3.js';
import { _ecdhKem, expandSeedXof } from '@noble/post-quantum/hybrid.js';
import { ml_kem768 } from '@noble/post-quantum/ml-kem.js';
import { abytes, concatBytes, wipe } from '../../lib/bytes.js';
import {
  COMPOSITE_PRIVATE_LEN,
  ED25519_SEED_LEN,
  ML_DSA,
  ML_DSA_SEED_LEN,
  ML_KEM,
  ML_KEM_SEED_LEN,
  X_WING_SEED_LEN,
  isMlDsa,
  isMlKem,
} from './algs.js';
import { mlKemDecapsulate } from './pq.js';
import { assertKeyType, type KeyType } from './types.js';

/**
 * Any form a private key is handed to an operation in: canonical bytes, expanded (this module), or
 * parsed (a node:crypto KeyObject, sign.ts `parsePrivateKey`). Each operation takes the forms its
 * types have and throws TypeError/RangeError for another.
 */
export type WorkingKey = Uint8Array | ExpandedKey | KeyObject;

export interface ExpandedKey {
  readonly kind: 'expanded';
  readonly type: KeyType;
  /** See the module header for each type's layout. Secret. */
  readonly parts: readonly Uint8Array[];
}

// X-Wing's components, as noble's ml_kem768_x25519 builds them (hybrid.ts: `_ecdhKem(x25519)`,
// `expandSeedXof(shake256)`, children in the order ML-KEM-768 then X25519).
const X25519_KEM = _ecdhKem(x25519);
const XWING_EXPAND = expandSeedXof(shake256);
// b"\.//^\"
const XWING_LABEL = new Uint8Array([0x5c, 0x2e, 0x2f, 0x2f, 0x5e, 0x5c]);
const X25519_LEN = 32;
const MLKEM768_CT_LEN = 1088;

/** Types whose private key has an expanded form. */
export function isExpandable(type: KeyType): boolean {
  return isMlDsa(type) || isMlKem(type) || type === 'x-wing' || type === 'ml-dsa-65-ed25519';
}

/** True when `x` is an ExpandedKey (also after a structured clone to a worker, which drops the class). */
export function isExpandedKey(x: unknown): x is ExpandedKey {
  return (
    typeof x === 'object' &&
    x !== null &&
    (x as ExpandedKey).kind === 'expanded' &&
    Array.isArray((x as ExpandedKey).parts)
  );
}

/** The part lengths of `type`'s expanded form. */
function partLengths(type: KeyType): readonly number[] {
  if (isMlDsa(type)) return [ML_DSA[type].lengths.secretKey!];
  if (isMlKem(type)) return [ML_KEM[type].lengths.secretKey!];
  if (type === 'x-wing') return [ml_kem768.lengths.secretKey!, X25519_LEN, X25519_LEN];
  if (type === 'ml-dsa-65-ed25519') return [ML_DSA['ml-dsa-65'].lengths.secretKey!, ED25519_SEED_LEN];
  throw new RangeError(`"type" expected an expandable key type (ML-DSA, ML-KEM, X-Wing, composite), got ${type}`);
}

/**
 * The expanded form of the canonical private key `priv` (a seed) of `type`. Throws RangeError for a
 * type without one ({@link isExpandable}) or a seed of the wrong length.
 */
export function expandPrivateKey(type: KeyType, priv: Uint8Array): ExpandedKey {
  assertKeyType(type);
  if (isMlDsa(type)) {
    abytes(priv, 'privateKey', ML_DSA_SEED_LEN);
    return expanded(type, [ML_DSA[type].keygen(priv).secretKey]);
  }
  if (isMlKem(type)) {
    abytes(priv, 'privateKey', ML_KEM_SEED_LEN);
    return expanded(type, [ML_KEM[type].keygen(priv).secretKey]);
  }
  if (type === 'x-wing') {
    abytes(priv, 'privateKey', X_WING_SEED_LEN);
    const seeds = XWING_EXPAND(priv, ML_KEM_SEED_LEN + X25519_LEN);
    try {
      const m = ml_kem768.keygen(seeds.subarray(0, ML_KEM_SEED_LEN));
      const x = X25519_KEM.keygen(seeds.slice(ML_KEM_SEED_LEN));
      return expanded(type, [m.secretKey, x.secretKey, x.publicKey]);
    } finally {
      wipe(seeds);
    }
  }
  if (type === 'ml-dsa-65-ed25519') {
    abytes(priv, 'privateKey', COMPOSITE_PRIVATE_LEN);
    return expanded(type, [
      ML_DSA['ml-dsa-65'].keygen(priv.subarray(0, ML_DSA_SEED_LEN)).secretKey,
      priv.slice(ML_DSA_SEED_LEN),
    ]);
  }
  partLengths(type); // throws the RangeError for the rest
  throw new RangeError(`unhandled key type ${type}`);
}

function expanded(type: KeyType, parts: Uint8Array[]): ExpandedKey {
  return Object.freeze({ kind: 'expanded' as const, type, parts: Object.freeze(parts) });
}

/**
 * The parts of `priv` when it is the expanded form of a `type` key, checked for type and lengths;
 * undefined when `priv` is a Uint8Array (the canonical form). TypeError/RangeError otherwise.
 */
export function expandedParts(type: KeyType, priv: WorkingKey): readonly Uint8Array[] | undefined {
  if (priv instanceof Uint8Array) return undefined;
  if (!isExpandedKey(priv))
    throw new TypeError(`"privateKey" expected Uint8Array or ExpandedKey, got ${priv === null ? 'null' : typeof priv}`);
  if (priv.type !== type)
    throw new RangeError(`"privateKey" expected an expanded ${type} key, got one of ${String(priv.type)}`);
  const lengths = partLengths(type);
  if (priv.parts.length !== lengths.length)
    throw new RangeError(`"privateKey" expected ${lengths.length} parts, got ${priv.parts.length}`);
  priv.parts.forEach((p, i) => abytes(p, `privateKey.parts[${i}]`, lengths[i]));
  return priv.parts;
}

/**
 * X-Wing decapsulation with expanded parts (module header). Throws noble's error for a low-order
 * X25519 part, as `ml_kem768_x25519.decapsulate` does; the caller maps it.
 */
export function xWingDecapsulate(parts: readonly Uint8Array[], ciphertext: Uint8Array): Uint8Array {
  const [dkM, skX, pkX] = parts as [Uint8Array, Uint8Array, Uint8Array];
  const ctM = ciphertext.subarray(0, MLKEM768_CT_LEN);
  const ctX = ciphertext.subarray(MLKEM768_CT_LEN);
  const ssM = mlKemDecapsulate('ml-kem-768', dkM, ctM);
  let ssX: Uint8Array | undefined;
  try {
    ssX = X25519_KEM.decapsulate(ctX, skX);
    return sha3_256(concatBytes(ssM, ssX, ctX, pkX, XWING_LABEL));
  } finally {
    wipe(ssM);
    if (ssX) wipe(ssX);
  }
}

/** Zeroizes an expanded key's parts in place (best effort in JS). */
export function wipeExpandedKey(k: ExpandedKey): void {
  for (const p of k.parts) wipe(p);
}
