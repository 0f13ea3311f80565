/**
 * The audit HMAC keys (engine/seal/audit-hmac.ts) against @noble/hashes' HKDF, and SealManager's
 * auditHmacKey: refused while sealed (the one SEALED error), the same key for an epoch across a
 * seal and an unseal (the root key does not change), a different key per epoch.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { isKeywardError } from '../../../lib/errors.js';
import { AUDIT_HMAC_KEY_LEN, SealManager, deriveAuditHmacKey, sealedError } from '../../../engine/seal/index.js';
import { makeHolders, submissionFor } from '../../helpers/ceremony.js';
import { openTestStore } from '../../helpers/store.js';

describe('deriveAuditHmacKey', () => {
  it('is HKDF-SHA-256(root key, empty salt, "keyward/audit-hmac/v1/epoch-<N>"), 32 bytes', () => {
    for (const [fill, epoch] of [
      [0, 1],
      [7, 2],
      [0xff, 999_999_999],
    ] as const) {
      const root = new Uint8Array(32).fill(fill);
      const want = hkdf(
        sha256,
        root,
        new Uint8Array(0),
        new TextEncoder().encode(`keyward/audit-hmac/v1/epoch-${epoch}`),
        32,
      );
      const got = deriveAuditHmacKey(root, epoch);
      assert.equal(got.length, AUDIT_HMAC_KEY_LEN);
      assert.deepEqual(got, want, `epoch ${epoch}`);
    }
  });

  it('refuses an epoch that is not a positive integer', () => {
    for (const epoch of [0, -1, 1.5, Number.NaN, 2 ** 53])
      assert.throws(() => deriveAuditHmacKey(new Uint8Array(32), epoch), TypeError, String(epoch));
  });
});

describe('SealManager.auditHmacKey', () => {
  let store: Awaited<ReturnType<typeof openTestStore>>;
  let m: SealManager;
  before(async () => {
    store = await openTestStore();
    m = await SealManager.open(store.db);
  });
  after(async () => {
    m.close();
    await store.close();
  });

  it('is SEALED while sealed, and the same per epoch across a seal', async () => {
    const isSealed = (err: unknown) => isKeywardError(err, 'SEALED') && err.message === sealedError().message;
    assert.throws(() => m.auditHmacKey(1), isSealed);
    const holders = await makeHolders(['alice']);
    const { shardFiles } = await m.init(holders, 1);
    assert.throws(() => m.auditHmacKey(1), isSealed);
    assert.throws(() => m.auditHmacKey(0), TypeError);
    const unseal = async () => m.submitUnseal(await submissionFor(holders[0]!, shardFiles[0]!, m.status()));
    assert.equal((await unseal()).sealed, false);
    const k1 = m.auditHmacKey(1);
    const k2 = m.auditHmacKey(2);
    assert.equal(k1.length, 32);
    assert.notDeepEqual(k1, k2);
    await m.seal();
    assert.throws(() => m.auditHmacKey(1), isSealed);
    await unseal();
    assert.deepEqual(m.auditHmacKey(1), k1);
  });
});
