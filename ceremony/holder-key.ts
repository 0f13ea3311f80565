/**
 * Holder keys (docs/architecture.md, "Keys at rest"): each shard holder has an X-Wing key pair (ML-KEM-768 + X25519,
 * draft-connolly-cfrg-xwing-kem); shards are HPKE-sealed to its public key. The private key is the
 * 32-byte X-Wing seed, stored encrypted under a passphrase: scrypt (RFC 7914) derives an
 * AES-256-GCM key (NIST SP 800-38D) that encrypts the seed.
 *
 * `keyward ceremony holder-keygen --name NAME --out FILE` writes two JSON files:
 *
 *   FILE.pub  { format: "keyward.holder-public-key/v1", name, kem: "X-Wing",
 *               publicKey: b64(1216 bytes), fingerprint }
 *   FILE      { format: "keyward.holder-private-key/v1", name, kem: "X-Wing", publicKey, fingerprint,
 *               kdf: { name: "scrypt", N, r, p, salt: b64(16) }, cipher: "AES-256-GCM",
 *               nonce: b64(12), ciphertext: b64(AES-256-GCM(seed) ‖ tag) = 48 bytes }
 *
 * Fingerprint (what people compare out of band, and what a shard file names):
 *
 *   fingerprint = hex(SHA-256("keyward/holder-fingerprint/v1" ‖ 0x00 ‖ publicKey)[0..16])
 *
 * AAD of the seed encryption: the header, so no field can be swapped without failing the tag:
 *
 *   aad = lp(format) ‖ lp(name) ‖ lp(kem) ‖ lp(publicKey) ‖ lp(fingerprint)
 *       ‖ lp(kdf.name) ‖ u32be(N) ‖ u32be(r) ‖ u32be(p) ‖ lp(salt) ‖ lp(cipher)
 *
 * (strings as UTF-8, publicKey and salt as raw bytes, lp = u16be length prefix, see bytes.ts)
 *
 * Key files are attacker input: the parsers check every field (including scrypt parameters, which
 * could otherwise make the CLI spend unbounded memory or time) before any crypto runs.
 * @module
 */
import { createCipheriv, createDecipheriv, scrypt, webcrypto } from 'node:crypto';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { z } from 'zod';
import { concatBytes, constantTimeEqual, describe, fromBase64, toBase64, utf8, wipe } from '../lib/bytes.js';
import { base64Of, strictObject, intIn, literal, matching, parseDocument } from '../lib/json.js';
import { lp, u32be } from './bytes.js';
import { XWING_PUBLIC_KEY_LEN, XWING_SEED_LEN, deriveXWingPublicKey, generateXWingKeyPair } from './envelope.js';
import { KeywardError } from '../lib/errors.js';

export const HOLDER_PUBLIC_KEY_FORMAT = 'keyward.holder-public-key/v1';
export const HOLDER_PRIVATE_KEY_FORMAT = 'keyward.holder-private-key/v1';
export const HOLDER_KEM = 'X-Wing';
export const HOLDER_KEY_CIPHER = 'AES-256-GCM';

/** Holder names: 1–64 of `A-Z a-z 0-9 . _ -` (they become file names: `DIR/NAME.shard`). */
export const HOLDER_NAME_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
/** Fingerprint: 16 bytes, lowercase hex. */
export const HOLDER_FINGERPRINT_LEN = 16;
const FINGERPRINT_PATTERN = /^[0-9a-f]{32}$/;
// b"keyward/holder-fingerprint/v1\0"
const FINGERPRINT_LABEL = utf8('keyward/holder-fingerprint/v1\0');

/** scrypt cost N: default 2^17 (~128 MiB with r = 8), accepted 2^12 to 2^20 when reading a file. */
export const SCRYPT_N_DEFAULT = 2 ** 17;
export const SCRYPT_N_MIN = 2 ** 12;
export const SCRYPT_N_MAX = 2 ** 20;
export const SCRYPT_R_DEFAULT = 8;
export const SCRYPT_P_DEFAULT = 1;
/** Bounds on r and p accepted from a file, with memory 128·N·r capped at 1 GiB. */
const SCRYPT_R_MAX = 32;
const SCRYPT_P_MAX = 16;
const SCRYPT_MEM_MAX = 1024 * 1024 * 1024;
export const SCRYPT_SALT_LEN = 16;
export const AES_KEY_LEN = 32;
export const GCM_NONCE_LEN = 12;
export const GCM_TAG_LEN = 16;
/** The encrypted seed: 32 bytes of ciphertext ‖ 16-byte tag. */
const SEALED_SEED_LEN = XWING_SEED_LEN + GCM_TAG_LEN;

/** A holder's public identity, as read from a `.pub` file or handed to `ceremony init`. */
export interface HolderPublicKey {
  name: string;
  publicKey: Uint8Array;
  fingerprint: string;
}

/** A decrypted holder key. `seed` is the private key: wipe it when done. */
export interface HolderKey extends HolderPublicKey {
  seed: Uint8Array;
}

const NAME_FIELD = matching(HOLDER_NAME_PATTERN, '1 to 64 characters of A-Z a-z 0-9 . _ -');
const FINGERPRINT_FIELD = matching(FINGERPRINT_PATTERN, '32 lowercase hex characters');

/** The fields both key files start with; the fingerprint must be the public key's (checked after). */
const keyHeaderShape = {
  name: NAME_FIELD,
  kem: literal(HOLDER_KEM),
  /** base64, 1216 bytes */
  publicKey: base64Of(XWING_PUBLIC_KEY_LEN),
  fingerprint: FINGERPRINT_FIELD,
};

/**
 * The `.pub` file, strictly: a field the format lacks is a problem. The one schema of this file:
 * `ceremony init` reads it with {@link parseHolderPublicKey}, and the server's init and rekey bodies
 * (server/schemas.ts) embed it, so the API rejects exactly the files the CLI rejects.
 */
export const HolderPublicKeyFileSchema = strictObject({
  format: literal(HOLDER_PUBLIC_KEY_FORMAT),
  ...keyHeaderShape,
}).check(fingerprintMatches);

/** The `.pub` file. */
export type HolderPublicKeyFile = z.output<typeof HolderPublicKeyFileSchema>;

const ScryptParamsSchema = strictObject({
  name: literal('scrypt'),
  N: intIn(SCRYPT_N_MIN, SCRYPT_N_MAX),
  r: intIn(1, SCRYPT_R_MAX),
  p: intIn(1, SCRYPT_P_MAX),
  /** base64, 16 bytes */
  salt: base64Of(SCRYPT_SALT_LEN),
}).check((ctx) => {
  const { N, r } = ctx.value;
  if (!isPowerOfTwo(N))
    ctx.issues.push({ code: 'custom', path: ['N'], message: `expected a power of two, got ${N}`, input: N });
  else if (128 * N * r > SCRYPT_MEM_MAX)
    ctx.issues.push({
      code: 'custom',
      path: ['r'],
      message: `expected 128·N·r at most 1 GiB, got N=${N} r=${r}`,
      input: r,
    });
});

export type ScryptParams = z.output<typeof ScryptParamsSchema>;

/** The private key file (strict, like the `.pub` file). */
const HolderPrivateKeyFileSchema = strictObject({
  format: literal(HOLDER_PRIVATE_KEY_FORMAT),
  ...keyHeaderShape,
  kdf: ScryptParamsSchema,
  cipher: literal(HOLDER_KEY_CIPHER),
  /** base64, 12 bytes */
  nonce: base64Of(GCM_NONCE_LEN),
  /** base64, 48 bytes: the encrypted seed and its tag */
  ciphertext: base64Of(SEALED_SEED_LEN),
}).check(fingerprintMatches);

/** The private key file. */
export type HolderPrivateKeyFile = z.output<typeof HolderPrivateKeyFileSchema>;

/** Cross-field check of both files: the fingerprint is the one of the public key. */
function fingerprintMatches(ctx: {
  value: { publicKey: string; fingerprint: string };
  issues: z.core.$ZodRawIssue[];
}): void {
  const actual = holderFingerprint(fromBase64(ctx.value.publicKey, 'publicKey'));
  if (actual !== ctx.value.fingerprint) {
    ctx.issues.push({
      code: 'custom',
      path: ['fingerprint'],
      message: `expected ${actual} (the fingerprint of publicKey), got ${ctx.value.fingerprint}`,
      input: ctx.value.fingerprint,
    });
  }
}

export interface EncryptHolderKeyOptions {
  /** scrypt N, a power of two from 2^12 to 2^20; default 2^17. Lower it only for tests and trials (`holder-keygen --scrypt-log-n`): it divides what a passphrase guess costs. */
  scryptN?: number;
}

/** Throws `HOLDER_NAME_INVALID` unless `name` is a valid holder name. */
export function assertHolderName(name: string): void {
  if (typeof name !== 'string' || !HOLDER_NAME_PATTERN.test(name)) {
    throw new KeywardError(
      'HOLDER_NAME_INVALID',
      `holder name: expected 1 to 64 characters of A-Z a-z 0-9 . _ -, got ${describe(name)}`,
    );
  }
}

/**
 * A new holder key pair named `name`. The seed is the private key: encrypt it with
 * {@link encryptHolderKey} and wipe it.
 */
export async function generateHolderKey(name: string): Promise<HolderKey> {
  assertHolderName(name);
  const { seed, publicKey } = await generateXWingKeyPair();
  return { name, seed, publicKey, fingerprint: holderFingerprint(publicKey) };
}

/** Fingerprint of a holder public key (see the module comment): 32 lowercase hex characters. */
export function holderFingerprint(publicKey: Uint8Array): string {
  assertPublicKeyBytes('holderFingerprint', publicKey);
  return bytesToHex(sha256(concatBytes(FINGERPRINT_LABEL, publicKey)).subarray(0, HOLDER_FINGERPRINT_LEN));
}

/** The `.pub` file of a holder key. */
export function toPublicKeyFile(key: { name: string; publicKey: Uint8Array }): HolderPublicKeyFile {
  assertHolderName(key.name);
  assertPublicKeyBytes('toPublicKeyFile', key.publicKey);
  return {
    format: HOLDER_PUBLIC_KEY_FORMAT,
    name: key.name,
    kem: HOLDER_KEM,
    publicKey: toBase64(key.publicKey),
    fingerprint: holderFingerprint(key.publicKey),
  };
}

/**
 * Reads a `.pub` file (JSON text or parsed object). Every field is checked, and the fingerprint
 * must be the one of the public key; any problem throws `HOLDER_KEY_INVALID` naming the fields.
 */
export function parseHolderPublicKey(input: unknown): HolderPublicKey {
  const file = parseDocument(HolderPublicKeyFileSchema, input, 'HOLDER_KEY_INVALID', 'holder public key file');
  return { name: file.name, publicKey: fromBase64(file.publicKey, 'publicKey'), fingerprint: file.fingerprint };
}

/**
 * Encrypts a holder's seed under `passphrase` into a private key file. Checks first that the seed
 * derives `publicKey` (so a file can never pair a seed with someone else's public key).
 */
export async function encryptHolderKey(
  key: { name: string; seed: Uint8Array; publicKey: Uint8Array },
  passphrase: string,
  opts: EncryptHolderKeyOptions = {},
): Promise<HolderPrivateKeyFile> {
  assertHolderName(key.name);
  if (!(key.seed instanceof Uint8Array) || key.seed.byteLength !== XWING_SEED_LEN) {
    throw new RangeError(`"encryptHolderKey" expected seed of length ${XWING_SEED_LEN}, got ${describe(key.seed)}`);
  }
  assertPublicKeyBytes('encryptHolderKey', key.publicKey);
  assertPassphrase(passphrase);
  const N = opts.scryptN ?? SCRYPT_N_DEFAULT;
  if (!isPowerOfTwo(N) || N < SCRYPT_N_MIN || N > SCRYPT_N_MAX) {
    throw new RangeError(`"encryptHolderKey" expected scryptN a power of two from 2^12 to 2^20, got ${N}`);
  }
  const derived = await deriveXWingPublicKey(key.seed);
  if (!constantTimeEqual(derived, key.publicKey)) {
    throw new KeywardError(
      'HOLDER_KEY_INVALID',
      `holder key "${key.name}": the seed does not derive the given public key`,
    );
  }

  const salt = randomBytes(SCRYPT_SALT_LEN);
  const nonce = randomBytes(GCM_NONCE_LEN);
  const kdf = { name: 'scrypt' as const, N, r: SCRYPT_R_DEFAULT, p: SCRYPT_P_DEFAULT, salt };
  const header = { name: key.name, publicKey: key.publicKey, fingerprint: holderFingerprint(key.publicKey) };
  const aesKey = await scryptKey(passphrase, kdf);
  try {
    const cipher = createCipheriv('aes-256-gcm', aesKey, nonce, { authTagLength: GCM_TAG_LEN });
    cipher.setAAD(headerAad(header, kdf));
    const ct = concatBytes(cipher.update(key.seed), cipher.final(), cipher.getAuthTag());
    return {
      format: HOLDER_PRIVATE_KEY_FORMAT,
      name: header.name,
      kem: HOLDER_KEM,
      publicKey: toBase64(header.publicKey),
      fingerprint: header.fingerprint,
      kdf: { name: 'scrypt', N, r: kdf.r, p: kdf.p, salt: toBase64(salt) },
      cipher: HOLDER_KEY_CIPHER,
      nonce: toBase64(nonce),
      ciphertext: toBase64(ct),
    };
  } finally {
    wipe(aesKey);
  }
}

/**
 * Decrypts a private key file (JSON text or parsed object) with `passphrase`.
 *
 * Throws `PASSPHRASE_EMPTY` for an empty passphrase, `HOLDER_KEY_INVALID` for a malformed file (or
 * one whose seed does not derive its public key), and `PASSPHRASE_WRONG` when the tag does not
 * verify: a wrong passphrase, or a file modified after it was written (AES-GCM can't tell which).
 */
export async function decryptHolderKey(input: unknown, passphrase: string): Promise<HolderKey> {
  assertPassphrase(passphrase);
  const file = readPrivateKeyFile(input);
  const aesKey = await scryptKey(passphrase, file.kdf);
  let seed: Uint8Array | undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', aesKey, file.nonce, { authTagLength: GCM_TAG_LEN });
    decipher.setAAD(headerAad(file, file.kdf));
    decipher.setAuthTag(file.ciphertext.subarray(XWING_SEED_LEN));
    const head = decipher.update(file.ciphertext.subarray(0, XWING_SEED_LEN));
    try {
      decipher.final();
    } catch (err) {
      head.fill(0);
      throw new KeywardError(
        'PASSPHRASE_WRONG',
        `passphrase does not decrypt the holder key of "${file.name}" (if the passphrase is right, the file was modified)`,
        { cause: err, details: { holder: file.name } },
      );
    }
    seed = new Uint8Array(head);
    head.fill(0);
  } finally {
    wipe(aesKey);
  }
  // Only reachable with a forged tag or a file written by a buggy tool, but the public key in the
  // file is what others seal shards to: it must be this seed's.
  const derived = await deriveXWingPublicKey(seed);
  if (!constantTimeEqual(derived, file.publicKey)) {
    wipe(seed);
    throw new KeywardError(
      'HOLDER_KEY_INVALID',
      `holder private key file of "${file.name}": the decrypted seed does not derive the file's public key`,
    );
  }
  return { name: file.name, seed, publicKey: file.publicKey, fingerprint: file.fingerprint };
}

/** A private key file with its binary fields decoded and every field checked. */
interface ParsedPrivateKeyFile extends HolderPublicKey {
  kdf: { name: 'scrypt'; N: number; r: number; p: number; salt: Uint8Array };
  nonce: Uint8Array;
  ciphertext: Uint8Array;
}

function readPrivateKeyFile(input: unknown): ParsedPrivateKeyFile {
  const file = parseDocument(HolderPrivateKeyFileSchema, input, 'HOLDER_KEY_INVALID', 'holder private key file');
  const { N, r, p } = file.kdf;
  return {
    name: file.name,
    publicKey: fromBase64(file.publicKey, 'publicKey'),
    fingerprint: file.fingerprint,
    kdf: { name: 'scrypt', N, r, p, salt: fromBase64(file.kdf.salt, 'kdf.salt') },
    nonce: fromBase64(file.nonce, 'nonce'),
    ciphertext: fromBase64(file.ciphertext, 'ciphertext'),
  };
}

function headerAad(
  h: HolderPublicKey,
  kdf: { name: 'scrypt'; N: number; r: number; p: number; salt: Uint8Array },
): Uint8Array {
  return concatBytes(
    lp(utf8(HOLDER_PRIVATE_KEY_FORMAT)),
    lp(utf8(h.name)),
    lp(utf8(HOLDER_KEM)),
    lp(h.publicKey),
    lp(utf8(h.fingerprint)),
    lp(utf8(kdf.name)),
    u32be(kdf.N),
    u32be(kdf.r),
    u32be(kdf.p),
    lp(kdf.salt),
    lp(utf8(HOLDER_KEY_CIPHER)),
  );
}

/**
 * scrypt(passphrase, salt, N, r, p) → 32-byte AES key, off the main thread (libuv pool). The
 * passphrase is NFC-normalized so the same words typed on different systems give the same key.
 */
function scryptKey(
  passphrase: string,
  kdf: { N: number; r: number; p: number; salt: Uint8Array },
): Promise<Uint8Array> {
  const pw = utf8(passphrase.normalize('NFC'));
  // Node refuses scrypt above `maxmem` (32 MiB by default); allow what these parameters need.
  const maxmem = 128 * kdf.N * kdf.r + 128 * kdf.r * kdf.p + 1024 * 1024;
  return new Promise<Uint8Array>((resolve, reject) => {
    scrypt(pw, kdf.salt, AES_KEY_LEN, { N: kdf.N, r: kdf.r, p: kdf.p, maxmem }, (err, key) => {
      pw.fill(0);
      if (err) {
        reject(err);
        return;
      }
      const out = new Uint8Array(key);
      key.fill(0);
      resolve(out);
    });
  });
}

function assertPassphrase(passphrase: string): void {
  if (typeof passphrase !== 'string')
    throw new TypeError(`passphrase: expected string, got ${passphrase === null ? 'null' : typeof passphrase}`);
  if (passphrase.length === 0)
    throw new KeywardError('PASSPHRASE_EMPTY', 'passphrase: expected a non-empty passphrase, got an empty one');
}

function assertPublicKeyBytes(fn: string, publicKey: Uint8Array): void {
  if (!(publicKey instanceof Uint8Array) || publicKey.byteLength !== XWING_PUBLIC_KEY_LEN) {
    throw new RangeError(`"${fn}" expected publicKey of length ${XWING_PUBLIC_KEY_LEN}, got ${describe(publicKey)}`);
  }
}

function isPowerOfTwo(n: number): boolean {
  return Number.isSafeInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

function randomBytes(n: number): Uint8Array {
  return webcrypto.getRandomValues(new Uint8Array(n));
}
