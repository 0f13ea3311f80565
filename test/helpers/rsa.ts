/**
 * Fixed RSA keys for tests that need some RSA key of a given size (test/fixtures/rsa/README.md: made
 * by OpenSSL, not by Keyward or node:crypto). Generating a 3072-bit key costs up to a second of CPU
 * in each test process that does it; reading one costs a millisecond. Tests of key generation itself
 * still generate theirs.
 */
import { createPrivateKey, createPublicKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';

const pairs = new Map<number, { privateKey: KeyObject; publicKey: KeyObject }>();

/** The fixture RSA key pair of `bits` (2048 or 3072) as node:crypto KeyObjects. */
export function fixedRsaKeyPair(bits: 2048 | 3072): { privateKey: KeyObject; publicKey: KeyObject } {
  let pair = pairs.get(bits);
  if (pair === undefined) {
    const privateKey = createPrivateKey(readFileSync(new URL(`../fixtures/rsa/rsa-${bits}.pem`, import.meta.url)));
    pair = { privateKey, publicKey: createPublicKey(privateKey) };
    pairs.set(bits, pair);
  }
  return pair;
}

/**
 * The fixture RSA key of `bits` as Keyward's key material (engine/crypto/material.ts: PKCS#8 DER
 * private, SPKI DER public), where a test needs some `rsa-3072` key and not a fresh one.
 */
export function fixedRsaMaterial(bits: 2048 | 3072): { private: Uint8Array; public: Uint8Array } {
  const { privateKey, publicKey } = fixedRsaKeyPair(bits);
  return {
    private: new Uint8Array(privateKey.export({ format: 'der', type: 'pkcs8' })),
    public: new Uint8Array(publicKey.export({ format: 'der', type: 'spki' })),
  };
}
