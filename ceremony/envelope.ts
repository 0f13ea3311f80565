/**
 * HPKE envelopes (RFC 9180, base mode, single-shot Seal/Open of §6.1) with the X-Wing KEM
 * (draft-connolly-cfrg-xwing-kem: ML-KEM-768 + X25519), HKDF-SHA256 and AES-256-GCM.
 *
 * Suite identifiers (RFC 9180 §7 and the IANA HPKE registry):
 *
 *   KEM  0x647a  X-Wing          Nsecret 32, Nenc 1120, Npk 1216, Nsk 32 (the seed)
 *   KDF  0x0001  HKDF-SHA256
 *   AEAD 0x0002  AES-256-GCM     Nk 32, Nn 12, Nt 16
 *
 * An envelope is the pair `{ enc, ciphertext }`: enc is the KEM ciphertext (1120 bytes), ciphertext
 * is AES-256-GCM output with its 16-byte tag appended. Callers bind an envelope to its context with
 * `info` (goes into the key schedule) and `aad` (authenticated by the AEAD).
 *
 * An X-Wing private key is its 32-byte seed; the expanded ML-KEM and X25519 keys and the public key
 * are derived from it (X-Wing's GenerateKeyPairDerand). Both holder keys and the server's ephemeral
 * unseal-session keys are X-Wing key pairs made here. The KEM is xwing-kem.ts (@noble/post-quantum under
 * @hpke/core's KEM interface).
 * @module
 */
import { webcrypto } from 'node:crypto';
import { Aes256Gcm, CipherSuite, HkdfSha256 } from '@hpke/core';
import { abytes, describe } from '../lib/bytes.js';
import { KeywardError } from '../lib/errors.js';
import { XWingKem, wipeXWingKey, xWingPublicKey } from './xwing-kem.js';

/** The HPKE suite of every ceremony envelope, as RFC 9180 identifiers. */
export const EnvelopeSuiteId = {
  kem: 0x647a, // X-Wing
  kdf: 0x0001, // HKDF-SHA256
  aead: 0x0002, // AES-256-GCM
} as const;

/** Name of the suite as written in files (shard files' `suite` field). */
export const ENVELOPE_SUITE = 'HPKE-X-Wing-HKDF-SHA256-AES-256-GCM';
export type EnvelopeSuite = typeof ENVELOPE_SUITE;

/** X-Wing private key: a 32-byte seed. */
export const XWING_SEED_LEN = 32;
/** X-Wing public key: ML-KEM-768 encapsulation key (1184) ‖ X25519 public key (32). */
export const XWING_PUBLIC_KEY_LEN = 1216;
/** X-Wing encapsulation (HPKE `enc`): ML-KEM-768 ciphertext (1088) ‖ X25519 ephemeral key (32). */
export const XWING_ENC_LEN = 1120;
/** AES-256-GCM tag appended to every envelope ciphertext. */
export const ENVELOPE_TAG_LEN = 16;

/** A sealed message: the KEM encapsulation and the AEAD ciphertext (tag included). */
export interface Envelope {
  enc: Uint8Array;
  ciphertext: Uint8Array;
}

/** An X-Wing key pair; the seed is the private key. */
export interface XWingKeyPair {
  seed: Uint8Array;
  publicKey: Uint8Array;
}

let kemInstance: XWingKem | undefined;
let suiteInstance: CipherSuite | undefined;

// One KEM and one suite for the process: both are stateless between calls (contexts are per call),
// and building a suite loads WebCrypto each time.
function kem(): XWingKem {
  return (kemInstance ??= new XWingKem());
}

function suite(): CipherSuite {
  return (suiteInstance ??= new CipherSuite({ kem: kem(), kdf: new HkdfSha256(), aead: new Aes256Gcm() }));
}

/**
 * The X-Wing public key of `seed` (GenerateKeyPairDerand). Deterministic: the same seed always
 * gives the same public key, which is how a decrypted holder key is checked against its file.
 */
export async function deriveXWingPublicKey(seed: Uint8Array): Promise<Uint8Array> {
  abytes(seed, 'deriveXWingPublicKey: seed', XWING_SEED_LEN);
  return xWingPublicKey(seed);
}

/** A fresh X-Wing key pair from 32 random bytes. */
export async function generateXWingKeyPair(): Promise<XWingKeyPair> {
  const seed = new Uint8Array(XWING_SEED_LEN);
  webcrypto.getRandomValues(seed);
  try {
    return { seed, publicKey: await deriveXWingPublicKey(seed) };
  } catch (err) {
    seed.fill(0);
    throw err;
  }
}

/**
 * A fresh ephemeral key pair for an unseal or rekey session. Same KEM as holder keys; the server
 * publishes the public key in seal status and keeps the seed in memory only.
 */
export function generateSessionKey(): Promise<XWingKeyPair> {
  return generateXWingKeyPair();
}

/**
 * Seals `plaintext` to `recipientPublicKey` (RFC 9180 §6.1 SealBase).
 *
 * Throws `ENVELOPE_SEAL_FAILED` if the public key is rejected by the KEM (an ML-KEM-768
 * encapsulation key whose coefficients are out of range, FIPS 203 §7.2).
 */
export async function sealEnvelope(
  recipientPublicKey: Uint8Array,
  plaintext: Uint8Array,
  info: Uint8Array,
  aad: Uint8Array,
): Promise<Envelope> {
  abytes(recipientPublicKey, 'sealEnvelope: recipientPublicKey', XWING_PUBLIC_KEY_LEN);
  abytes(plaintext, 'sealEnvelope: plaintext');
  abytes(info, 'sealEnvelope: info');
  abytes(aad, 'sealEnvelope: aad');
  try {
    // deserializePublicKey copies the bytes into a key object that owns its buffer.
    const pk = await kem().deserializePublicKey(recipientPublicKey);
    const { enc, ct } = await suite().seal({ recipientPublicKey: pk, info }, plaintext, aad);
    return { enc: new Uint8Array(enc), ciphertext: new Uint8Array(ct) };
  } catch (err) {
    throw new KeywardError('ENVELOPE_SEAL_FAILED', 'cannot seal to this public key: the X-Wing KEM rejected it', {
      cause: err,
    });
  }
}

/**
 * Opens an envelope sealed to the key pair of `recipientSeed` (RFC 9180 §6.1 OpenBase), with the
 * same `info` and `aad` it was sealed with.
 *
 * Every failure (wrong key, wrong info or aad, any modified byte, wrong lengths) throws the one
 * generic `ENVELOPE_OPEN_FAILED`: the reason is not told apart, so there is no oracle. The
 * library's error is kept as `cause` for debugging.
 */
export async function openEnvelope(
  recipientSeed: Uint8Array,
  envelope: Envelope,
  info: Uint8Array,
  aad: Uint8Array,
): Promise<Uint8Array> {
  abytes(recipientSeed, 'openEnvelope: recipientSeed', XWING_SEED_LEN);
  if (typeof envelope !== 'object' || envelope === null)
    throw new TypeError(`"openEnvelope" expected envelope object, got ${describe(envelope)}`);
  abytes(envelope.enc, 'openEnvelope: envelope.enc');
  abytes(envelope.ciphertext, 'openEnvelope: envelope.ciphertext');
  abytes(info, 'openEnvelope: info');
  abytes(aad, 'openEnvelope: aad');
  try {
    if (envelope.enc.byteLength !== XWING_ENC_LEN || envelope.ciphertext.byteLength < ENVELOPE_TAG_LEN) {
      throw new RangeError(`expected enc of ${XWING_ENC_LEN} bytes and ciphertext of at least ${ENVELOPE_TAG_LEN}`);
    }
    const sk = await kem().deserializePrivateKey(recipientSeed);
    try {
      const pt = await suite().open({ recipientKey: sk, enc: envelope.enc, info }, envelope.ciphertext, aad);
      return new Uint8Array(pt);
    } finally {
      wipeXWingKey(sk);
    }
  } catch (err) {
    throw new KeywardError(
      'ENVELOPE_OPEN_FAILED',
      'cannot open the envelope: wrong key, wrong context or modified data',
      { cause: err },
    );
  }
}
