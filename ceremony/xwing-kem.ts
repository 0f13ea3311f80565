/**
 * X-Wing (draft-connolly-cfrg-xwing-kem: ML-KEM-768 + X25519) as an `@hpke/core` KEM, over
 * @noble/post-quantum's `ml_kem768_x25519` (which reproduces the draft's test vectors; see
 * test/engine/crypto/kem.test.ts and test/ceremony/xwing-kem.test.ts).
 *
 * Replaces `@hpke/hybridkem-x-wing` (pre-1.0, with its own ML-KEM beside noble's) byte for byte:
 * same identifiers and sizes, same key encodings, same encapsulation for the same randomness
 * (test/fixtures/ceremony/hpke-x-wing.json was made with that package).
 *
 *   KEM id  0x647a (IANA HPKE registry)   Nsecret 32, Nenc 1120, Npk 1216, Nsk 32
 *   sk      the 32-byte seed (the draft's decapsulation key); expanded per call by noble
 *   pk      ML-KEM-768 encapsulation key (1184) ‖ X25519 public key (32)   GenerateKeyPairDerand(sk)
 *   enc     ML-KEM-768 ciphertext (1088) ‖ X25519 ephemeral public key (32)
 *   DeriveKeyPair(ikm) = GenerateKeyPairDerand(SHAKE256(ikm, 32))        (the draft's HPKE section)
 *   encap's `ekm` (tests only) = the draft's 64-byte eseed: ML-KEM m (32) ‖ X25519 ephemeral sk (32)
 *
 * Decapsulation inherits ML-KEM's implicit rejection (a modified enc gives a different secret, and
 * the HPKE AEAD then fails); an enc whose X25519 part is a low-order point is refused by noble.
 * Keys are `CryptoKey`-shaped objects holding a copy of the bytes; {@link wipeXWingKey} zeroes a
 * private one after use. Only the `raw` format is imported (`jwk` is not used by Keyward).
 * @module
 */
import { webcrypto } from 'node:crypto';
import {
  DecapError,
  DeriveKeyPairError,
  DeserializeError,
  EncapError,
  InvalidParamError,
  KemId,
  NotSupportedError,
  SerializeError,
  type KemInterface,
  type RecipientContextParams,
  type SenderContextParams,
} from '@hpke/core';
import { ml_kem768_x25519 } from '@noble/post-quantum/hybrid.js';
import { shake256 } from '@noble/hashes/sha3.js';

// WebCrypto's key types, from Node's typings (tsconfig has no DOM lib).
type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
type KeyAlgorithm = webcrypto.KeyAlgorithm;
type KeyUsage = webcrypto.KeyUsage;
type JsonWebKey = webcrypto.JsonWebKey;

const ALG_NAME = 'X-Wing';
const NSK = 32;
const NPK = 1216;
const NENC = 1120;
const NSECRET = 32;
/** The draft's eseed: 32 bytes of ML-KEM randomness, then the 32-byte X25519 ephemeral key. */
const ESEED_LEN = 64;

/** A raw X-Wing key in the shape @hpke/core passes around (it never looks inside). */
class XWingKey implements CryptoKey {
  readonly algorithm: KeyAlgorithm = { name: ALG_NAME };
  readonly extractable = true;
  readonly usages: KeyUsage[];
  readonly #bytes: Uint8Array;

  constructor(
    readonly type: 'public' | 'private',
    bytes: Uint8Array,
  ) {
    this.#bytes = bytes.slice();
    this.usages = type === 'private' ? ['deriveBits'] : [];
  }

  static bytesOf(key: unknown, type: 'public' | 'private'): Uint8Array {
    if (!(key instanceof XWingKey)) throw new TypeError(`expected an ${ALG_NAME} ${type} key made by this KEM`);
    if (key.type !== type) throw new TypeError(`expected an ${ALG_NAME} ${type} key, got a ${key.type} key`);
    return key.#bytes;
  }
}

/** Exactly the bytes of `b` as an ArrayBuffer of their own (@hpke/core reads whole buffers). */
function ownBuffer(b: Uint8Array): ArrayBuffer {
  return b.slice().buffer;
}

function bytesOf(v: ArrayBufferLike | ArrayBufferView): Uint8Array {
  if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  if (v instanceof ArrayBuffer || (typeof SharedArrayBuffer !== 'undefined' && v instanceof SharedArrayBuffer))
    return new Uint8Array(v);
  throw new TypeError('expected an ArrayBuffer or a view of one');
}

function checkLength(what: string, b: Uint8Array, len: number): Uint8Array {
  if (b.byteLength !== len) throw new RangeError(`expected ${what} of ${len} bytes, got ${b.byteLength}`);
  return b;
}

/** The X-Wing public key of a 32-byte seed (the draft's GenerateKeyPairDerand). */
export function xWingPublicKey(seed: Uint8Array): Uint8Array {
  return ml_kem768_x25519.getPublicKey(checkLength('an X-Wing seed', seed, NSK));
}

/** Zeroes the bytes held by a private key from {@link XWingKem} (best effort: copies made by @hpke/core are its own). */
export function wipeXWingKey(key: CryptoKey): void {
  XWingKey.bytesOf(key, 'private').fill(0);
}

/** X-Wing for `new CipherSuite({ kem: new XWingKem(), ... })`. Stateless; one instance may be shared. */
export class XWingKem implements KemInterface {
  readonly id = KemId.XWing;
  readonly name = ALG_NAME;
  readonly secretSize = NSECRET;
  readonly encSize = NENC;
  readonly publicKeySize = NPK;
  readonly privateKeySize = NSK;
  readonly auth = false;

  async serializePublicKey(key: CryptoKey): Promise<ArrayBuffer> {
    try {
      return ownBuffer(XWingKey.bytesOf(key, 'public'));
    } catch (e) {
      throw new SerializeError(e);
    }
  }

  async deserializePublicKey(key: ArrayBufferLike | ArrayBufferView): Promise<CryptoKey> {
    try {
      return new XWingKey('public', checkLength('a public key', bytesOf(key), NPK));
    } catch (e) {
      throw new DeserializeError(e);
    }
  }

  async serializePrivateKey(key: CryptoKey): Promise<ArrayBuffer> {
    try {
      return ownBuffer(XWingKey.bytesOf(key, 'private'));
    } catch (e) {
      throw new SerializeError(e);
    }
  }

  async deserializePrivateKey(key: ArrayBufferLike | ArrayBufferView): Promise<CryptoKey> {
    try {
      return new XWingKey('private', checkLength('a private key', bytesOf(key), NSK));
    } catch (e) {
      throw new DeserializeError(e);
    }
  }

  async importKey(format: 'raw' | 'jwk', key: ArrayBuffer | JsonWebKey, isPublic = true): Promise<CryptoKey> {
    if (format !== 'raw')
      throw new DeserializeError(new NotSupportedError(`${ALG_NAME}: only the raw key format is supported`));
    if (!(key instanceof ArrayBuffer) && !ArrayBuffer.isView(key))
      throw new DeserializeError(new TypeError('expected raw key bytes'));
    return isPublic ? this.deserializePublicKey(key) : this.deserializePrivateKey(key);
  }

  /** GenerateKeyPairDerand(seed): the key pair whose private key is the 32-byte `seed`. */
  async generateKeyPairDerand(seed: Uint8Array): Promise<CryptoKeyPair> {
    try {
      const publicKey = xWingPublicKey(seed);
      return { privateKey: new XWingKey('private', seed), publicKey: new XWingKey('public', publicKey) };
    } catch (e) {
      throw new DeriveKeyPairError(e);
    }
  }

  async generateKeyPair(): Promise<CryptoKeyPair> {
    const seed = webcrypto.getRandomValues(new Uint8Array(NSK));
    try {
      return await this.generateKeyPairDerand(seed);
    } finally {
      seed.fill(0);
    }
  }

  /** The draft's DeriveKeyPair for HPKE: GenerateKeyPairDerand(SHAKE256(ikm, 32)). */
  async deriveKeyPair(ikm: ArrayBufferLike | ArrayBufferView): Promise<CryptoKeyPair> {
    let seed: Uint8Array | undefined;
    try {
      seed = shake256(bytesOf(ikm), { dkLen: NSK });
      return await this.generateKeyPairDerand(seed);
    } catch (e) {
      throw e instanceof DeriveKeyPairError ? e : new DeriveKeyPairError(e);
    } finally {
      seed?.fill(0);
    }
  }

  async encap(params: SenderContextParams): Promise<{ sharedSecret: ArrayBuffer; enc: ArrayBuffer }> {
    let eseed: Uint8Array | undefined;
    if (params.ekm !== undefined) {
      if (!(params.ekm instanceof ArrayBuffer) && !ArrayBuffer.isView(params.ekm)) {
        throw new InvalidParamError(`${ALG_NAME}: ekm must be the ${ESEED_LEN}-byte eseed`);
      }
      eseed = bytesOf(params.ekm);
      if (eseed.byteLength !== ESEED_LEN)
        throw new InvalidParamError(`${ALG_NAME}: ekm must be ${ESEED_LEN} bytes in length`);
    }
    let sharedSecret: Uint8Array | undefined;
    try {
      const pk = XWingKey.bytesOf(params.recipientPublicKey, 'public');
      // noble checks the ML-KEM encapsulation key (FIPS 203 §7.2 modulus check) and throws if it fails.
      const r = eseed === undefined ? ml_kem768_x25519.encapsulate(pk) : ml_kem768_x25519.encapsulate(pk, eseed);
      sharedSecret = r.sharedSecret;
      return { sharedSecret: ownBuffer(sharedSecret), enc: ownBuffer(r.cipherText) };
    } catch (e) {
      throw new EncapError(e);
    } finally {
      sharedSecret?.fill(0);
    }
  }

  async decap(params: RecipientContextParams): Promise<ArrayBuffer> {
    const enc = bytesOf(params.enc);
    if (enc.byteLength !== NENC) throw new InvalidParamError(`${ALG_NAME}: enc must be ${NENC} bytes in length`);
    const rk = params.recipientKey;
    const key = 'privateKey' in rk ? rk.privateKey : rk;
    let sharedSecret: Uint8Array | undefined;
    try {
      sharedSecret = ml_kem768_x25519.decapsulate(enc, XWingKey.bytesOf(key, 'private'));
      return ownBuffer(sharedSecret);
    } catch (e) {
      throw new DecapError(e);
    } finally {
      sharedSecret?.fill(0);
    }
  }
}
