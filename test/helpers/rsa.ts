/**
 * Fixed RSA keys for tests that need some RSA key of a given size (test/fixtures/rsa/README.md: made
 * by OpenSSL, not by Keyward or node:crypto). Generating a 3072-bit key costs up to a second of CPU
 * in each test process that does it; reading one costs a millisecond. Tests of key generation itself
 * still generate theirs.
 */
import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { importWrappingKey, wrapKeyMaterial } from '../../engine/crypto/index.js';
import type { TestServer } from './server.js';

/** The fixture files: rsa-2048.pem, rsa-3072.pem, a second 3072-bit key (rsa-3072-b.pem) and rsa-4096.pem. */
export type FixedRsaKey = 2048 | 3072 | '3072-b' | 4096;

const pairs = new Map<FixedRsaKey, { privateKey: KeyObject; publicKey: KeyObject }>();

/** The fixture RSA key pair of `bits` (2048, 3072 or 4096; '3072-b' another 3072-bit one) as node:crypto KeyObjects. */
export function fixedRsaKeyPair(bits: FixedRsaKey): { privateKey: KeyObject; publicKey: KeyObject } {
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
export function fixedRsaMaterial(bits: FixedRsaKey): { private: Uint8Array; public: Uint8Array } {
  const { privateKey, publicKey } = fixedRsaKeyPair(bits);
  return {
    private: new Uint8Array(privateKey.export({ format: 'der', type: 'pkcs8' })),
    public: new Uint8Array(publicKey.export({ format: 'der', type: 'spki' })),
  };
}

/**
 * Creates the `rsa-3072` key `name` on the server from a fixture key, through the BYOK import route
 * (POST /v1/keys/:name/import, wrapped with the server's ML-KEM-768 wrapping key, which costs no RSA
 * generation), for tests that need some RSA key and do not test its generation: a generation costs
 * the server up to a second of CPU. test/server/keys.test.ts still generates every key type. `token`
 * must be allowed to read the wrapping key and import (root is). Returns the import's answer.
 */
export async function importFixedRsaKey(
  s: TestServer,
  token: string,
  name: string,
  opts: { key?: 3072 | '3072-b'; exportable?: boolean; labels?: Record<string, string> } = {},
): Promise<any> {
  const wk = await s.call('GET', '/v1/sys/wrapping-key?algorithm=ml-kem-768', { token });
  assert.equal(wk.status, 200, JSON.stringify(wk.body));
  const wrapped = wrapKeyMaterial(
    'ml-kem-768',
    importWrappingKey('ml-kem-768', wk.body.publicKey),
    fixedRsaMaterial(opts.key ?? 3072).private,
  );
  const r = await s.call('POST', `/v1/keys/${name}/import`, {
    token,
    body: {
      type: 'rsa-3072',
      algorithm: 'ml-kem-768',
      wrappedKey: Buffer.from(wrapped).toString('base64'),
      ...(opts.exportable !== undefined ? { exportable: opts.exportable } : {}),
      ...(opts.labels ? { labels: opts.labels } : {}),
    },
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body;
}
