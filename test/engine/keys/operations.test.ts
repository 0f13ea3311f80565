/**
 * KeyService's operations with a worker pool: every slow call site goes through the executor (a
 * counting pool shows which calls left the event loop), and the answers agree with node:crypto
 * (RSA-OAEP, PSS) and with in-thread results. Also the operand rules (kw:v<N>: or raw base64).
 */
import assert from 'node:assert/strict';
import { constants, createPublicKey, publicEncrypt, verify as nodeVerify } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { KeyService } from '../../../engine/keys/service.js';
import { CountingPool } from '../crypto/counting-pool.js';
import { bytes, code, openUnsealed, type Unsealed } from './helpers.js';

describe('KeyService operations through the executor', () => {
  let u: Unsealed;
  let keys: KeyService;
  const pool = new CountingPool({ size: 1 });

  before(async () => {
    u = await openUnsealed();
    keys = new KeyService(u.store.db, u.seal, { pool });
  });
  after(async () => {
    await pool.close();
    await u.close();
  });

  it('fast types stay inline', async () => {
    pool.calls.length = 0;
    await keys.create({ name: 'ed', type: 'ed25519', by: 'test' });
    const row = await keys.usable('ed');
    const s = await keys.sign(row, bytes('m'), {});
    assert.equal(await keys.verify(row, bytes('m'), s.signature, {}), true);
    await keys.create({ name: 'aes', type: 'aes256-gcm', by: 'test' });
    const aes = await keys.usable('aes');
    const dk = await keys.datakey(aes, 16);
    assert.deepEqual(await keys.decrypt(aes, dk.ciphertext), dk.plaintext);
    const rw = await keys.rewrap(aes, dk.ciphertext);
    assert.deepEqual(await keys.decrypt(aes, rw.ciphertext), dk.plaintext);
    assert.deepEqual(pool.calls, []);
  });

  it('sign: the cached key (no promise turn) signs as the first, reading call did; a refusal is a rejection', async () => {
    await keys.create({ name: 'ed-twice', type: 'ed25519', by: 'test' });
    const row = await keys.usable('ed-twice');
    const first = await keys.sign(row, bytes('m'), {}); // reads and parses the key
    const again = await keys.sign(row, bytes('m'), {}); // the cached KeyObject, inline
    assert.deepEqual(again, first, 'Ed25519 is deterministic');
    let refused: Promise<unknown> | undefined;
    assert.doesNotThrow(() => {
      refused = keys.sign(row, bytes('m'), { context: bytes('ctx') });
    });
    await assert.rejects(refused!, code('OPTION_UNSUPPORTED'));
  });

  it('ML-DSA: keygen, expansion (once), sign and verify on the pool', async () => {
    pool.calls.length = 0;
    await keys.create({ name: 'pq', type: 'ml-dsa-44', by: 'test' });
    const row = await keys.usable('pq');
    const a = await keys.sign(row, bytes('one'), {});
    const b = await keys.sign(row, bytes('two'), {});
    assert.equal(await keys.verify(row, bytes('one'), a.signature, {}), true);
    assert.equal(await keys.verify(row, bytes('one'), b.signature, {}), false);
    assert.deepEqual(pool.calls, [
      'generateKey:ml-dsa-44',
      'expand:ml-dsa-44',
      'sign:ml-dsa-44',
      'sign:ml-dsa-44',
      'verify:ml-dsa-44',
      'verify:ml-dsa-44',
    ]);
  });

  it('X-Wing: encapsulate and decapsulate on the pool, and they agree', async () => {
    pool.calls.length = 0;
    await keys.create({ name: 'kem', type: 'x-wing', by: 'test' });
    const row = await keys.usable('kem');
    const enc = await keys.encapsulate(row);
    assert.deepEqual(await keys.decapsulate(row, enc.ciphertext), enc.sharedSecret);
    assert.deepEqual(pool.calls, ['generateKey:x-wing', 'encapsulate:x-wing', 'expand:x-wing', 'decapsulate:x-wing']);
  });

  it('RSA-3072: keygen, PSS signing and OAEP decryption on the pool, interoperable with node:crypto', async () => {
    pool.calls.length = 0;
    await keys.create({ name: 'rsa', type: 'rsa-3072', by: 'test' });
    const row = await keys.usable('rsa');
    const pem = (await keys.publicKey(row, 'pem')).publicKey as string;
    const pub = createPublicKey(pem);
    const label = bytes('label');
    const ct = publicEncrypt(
      { key: pub, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256', oaepLabel: label },
      bytes('secret'),
    );
    assert.deepEqual(await keys.decrypt(row, ct.toString('base64'), label), bytes('secret'));
    await assert.rejects(keys.decrypt(row, ct.toString('base64'), bytes('other')), code('DECRYPTION_FAILED'));
    const s = await keys.sign(row, bytes('doc'), {});
    const sig = Buffer.from(s.signature.split(':')[2]!, 'base64');
    assert.equal(
      nodeVerify('sha256', bytes('doc'), { key: pub, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, sig),
      true,
    );
    assert.equal(await keys.verify(row, bytes('doc'), s.signature, {}), true);
    assert.deepEqual(
      pool.calls,
      ['generateKey:rsa-3072', 'decrypt:rsa-3072', 'decrypt:rsa-3072', 'sign:rsa-3072'],
      'RSA verify stays inline',
    );
  });

  it('operands: kw:v<N>: or raw base64 for keyVersion; anything else is a format error, a disagreement OPTION_INVALID', async () => {
    const row = await keys.usable('aes');
    const c = await keys.encrypt(row, bytes('x'));
    assert.equal(KeyService.versionOf(c.ciphertext), 1);
    assert.equal(KeyService.versionOf(c.ciphertext.slice('kw:v1:'.length)), undefined);
    assert.deepEqual(await keys.decrypt(row, c.ciphertext.slice('kw:v1:'.length), undefined, 1), bytes('x'));
    await assert.rejects(keys.decrypt(row, 'not base64!'), code('CIPHERTEXT_FORMAT'));
    await assert.rejects(keys.decrypt(row, c.ciphertext, undefined, 2), code('OPTION_INVALID'));
    await assert.rejects(keys.verify(await keys.usable('ed'), bytes('m'), '%%%', {}), code('SIGNATURE_FORMAT'));
    await assert.rejects(keys.encapsulate(row), code('OPERATION_UNSUPPORTED'));
    await assert.rejects(keys.publicKey(row, 'pem'), code('KEY_TYPE_MISMATCH'));
  });
});
