/**
 * The crypto core: key types and operations, bytes in, bytes out; no I/O, no clock.
 * @module
 */
export {
  KEY_TYPES,
  KEY_TYPE_INFO,
  OPERATIONS,
  assertKeyType,
  assertSupports,
  isKeyType,
  isSlow,
  keyTypeInfo,
  supports,
  type KeyFamily,
  type KeyType,
  type KeyTypeInfo,
  type Operation,
  type SlowCall,
} from './types.js';
export { MAX_KEY_VERSION, formatVersioned, parseVersioned, parseVersionedOrRaw } from './format.js';
export {
  exportPublicKey,
  generateKey,
  importPrivateKey,
  importPublicKey,
  publicKeyOf,
  type ExportedPublicKey,
  type KeyPair,
  type PublicKeyFormat,
} from './material.js';
export {
  AEAD_FORMAT_V1,
  DATAKEY_DEFAULT_BYTES,
  DATAKEY_MAX_BYTES,
  datakey,
  decrypt,
  decryptBody,
  encrypt,
  parseCiphertext,
  rewrap,
  type DatakeyInput,
  type DecryptBodyInput,
  type DecryptInput,
  type EncryptInput,
  type RewrapInput,
} from './aead.js';
export {
  MAX_CONTEXT_LEN,
  SIGNATURE_HASHES,
  assertSignOptions,
  formatSignature,
  hasParsedForm,
  parsePrivateKey,
  parseSignature,
  sign,
  verify,
  type SignOptions,
  type SignatureEncoding,
  type SignatureHash,
  type VerifyOptions,
} from './sign.js';
export { decapsulate, encapsulate, kemCiphertextLength, type Encapsulation } from './kem.js';
export {
  expandPrivateKey,
  isExpandable,
  isExpandedKey,
  wipeExpandedKey,
  type ExpandedKey,
  type WorkingKey,
} from './expanded.js';
export { HMAC_SHA256_LEN, hmac, verifyHmac } from './hmac.js';
export {
  MAX_OAEP_LABEL_LEN,
  OAEP_HASH,
  oaepCiphertextLength,
  oaepDecrypt,
  oaepEncrypt,
  oaepMaxPlaintextLength,
} from './oaep.js';
export {
  ML_KEM_BYOK_INFO,
  WRAPPING_ALGORITHMS,
  X_WING_BYOK_INFO,
  exportWrappingKey,
  generateWrappingKey,
  importWrappingKey,
  isWrappingAlgorithm,
  parseWrappingKey,
  unwrapKeyMaterial,
  wrapKeyMaterial,
  wrappingKeyFingerprint,
  wrappingKeyType,
  type WrappingAlgorithm,
} from './byok.js';
export { CryptoPool, type CryptoPoolOptions } from './pool.js';
export {
  PQ_BACKEND_CHOICES,
  PQ_BACKEND_ENV,
  pqBackend,
  selectPqBackend,
  type PqBackendChoice,
  type PqBackendInfo,
  type PqBackendName,
} from './pq.js';
export { CryptoExecutor } from './executor.js';
