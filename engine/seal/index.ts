export { Barrier } from './barrier.js';
export type { KeyringSource } from './barrier.js';
export { Keyring } from './keyring.js';
export { SecretStore } from './secret-store.js';
export { SealManager, assertCeremonyParams, UNSEAL_KEY_LEN } from './seal-manager.js';
export type { SealStatus, UnsealResult, CeremonyResult, RekeyStatus, RekeyResult, HolderInfo } from './seal-manager.js';
export { aeadOpen, aeadSeal } from './aead.js';
