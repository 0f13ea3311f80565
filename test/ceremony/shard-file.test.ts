import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { before, describe, test } from 'node:test';
import { concatBytes, fromBase64, toBase64, utf8 } from '../../lib/bytes.js';
import {
  generateHolderKey,
  holderFingerprint,
  lp,
  openEnvelope,
  openShard,
  parseShardFile,
  sealShard,
  shardCommitment,
  splitSecret,
  u8,
  verifyShardCommitment,
} from '../../ceremony/index.js';
import type { HolderKey, ShardFile } from '../../ceremony/index.js';
import { counting, flipBase64, flipByte, rejectsWithCode } from './helpers.js';

const CEREMONY = 'c0ffee00-1111-4222-8333-444455556666';

let alice: HolderKey;
let bob: HolderKey;
let shares: Uint8Array[];
let aliceShard: ShardFile;

before(async () => {
  [alice, bob] = await Promise.all([generateHolderKey('alice'), generateHolderKey('bob')]);
  shares = await splitSecret(counting(32), 3, 2);
  aliceShard = await sealShard({
    ceremonyId: CEREMONY,
    holder: alice,
    index: 1,
    threshold: 2,
    shares: 3,
    share: shares[1]!,
  });
});

describe('shardCommitment', () => {
  test('is SHA-256(label ‖ 0x00 ‖ lp(ceremonyId) ‖ u8(index) ‖ share), as documented', () => {
    const share = shares[0]!;
    const expected = createHash('sha256')
      .update('keyward/shard-commitment/v1\0')
      .update(lp(utf8(CEREMONY)))
      .update(Uint8Array.of(0))
      .update(share)
      .digest();
    assert.deepEqual(Buffer.from(shardCommitment(CEREMONY, 0, share)), expected);
  });

  test('binds the ceremony id, the index and every byte of the share', () => {
    const share = shares[0]!;
    const c = shardCommitment(CEREMONY, 0, share);
    assert.equal(c.length, 32);
    assert.equal(verifyShardCommitment(CEREMONY, 0, share, c), true);
    assert.equal(verifyShardCommitment('another-ceremony', 0, share, c), false, 'foreign');
    assert.equal(verifyShardCommitment(CEREMONY, 1, share, c), false, 'wrong index');
    assert.equal(verifyShardCommitment(CEREMONY, 0, shares[1]!, c), false, 'another share');
    assert.equal(verifyShardCommitment(CEREMONY, 0, flipByte(share, 0), c), false, 'forged y');
    assert.equal(verifyShardCommitment(CEREMONY, 0, flipByte(share, -1), c), false, 'forged x');
    assert.equal(verifyShardCommitment(CEREMONY, 0, share, c.subarray(0, 31)), false, 'truncated commitment');
  });

  test('refuses bad arguments', () => {
    assert.throws(() => shardCommitment('', 0, shares[0]!), RangeError);
    assert.throws(() => shardCommitment('has space', 0, shares[0]!), RangeError);
    assert.throws(() => shardCommitment(CEREMONY, 256, shares[0]!), RangeError);
    assert.throws(() => shardCommitment(CEREMONY, -1, shares[0]!), RangeError);
    assert.throws(() => shardCommitment(CEREMONY, 0, 'share' as unknown as Uint8Array), TypeError);
  });
});

describe('sealShard / openShard', () => {
  test('round trip through JSON text; the share matches its commitment', async () => {
    assert.deepEqual(Object.keys(aliceShard), [
      'format',
      'ceremonyId',
      'holder',
      'holderFingerprint',
      'index',
      'threshold',
      'shares',
      'suite',
      'enc',
      'ciphertext',
    ]);
    assert.equal(aliceShard.format, 'keyward.shard/v1');
    assert.equal(aliceShard.suite, 'HPKE-X-Wing-HKDF-SHA256-AES-256-GCM');
    assert.equal(aliceShard.holder, 'alice');
    assert.equal(aliceShard.holderFingerprint, alice.fingerprint);
    const text = JSON.stringify(aliceShard, null, 2);
    assert.deepEqual(parseShardFile(text), aliceShard);
    const share = await openShard(text, alice);
    assert.deepEqual(share, shares[1]);
    assert.ok(verifyShardCommitment(CEREMONY, 1, share, shardCommitment(CEREMONY, 1, shares[1]!)));
  });

  test('follows the documented info and aad', async () => {
    const info = concatBytes(utf8('keyward/shard/v1\0'), lp(utf8(CEREMONY)), u8(1));
    const aad = concatBytes(
      lp(utf8('keyward.shard/v1')),
      lp(utf8(CEREMONY)),
      lp(utf8('alice')),
      lp(utf8(alice.fingerprint)),
      u8(1),
      u8(2),
      u8(3),
      lp(utf8('HPKE-X-Wing-HKDF-SHA256-AES-256-GCM')),
    );
    const envelope = {
      enc: fromBase64(aliceShard.enc, 'enc'),
      ciphertext: fromBase64(aliceShard.ciphertext, 'ciphertext'),
    };
    assert.deepEqual(await openEnvelope(alice.seed, envelope, info, aad), shares[1]);
  });

  test("opened with another holder's key: SHARD_NOT_FOR_HOLDER, naming both", async () => {
    const err = await rejectsWithCode(
      openShard(aliceShard, bob),
      'SHARD_NOT_FOR_HOLDER',
      new RegExp(
        `shard is sealed to holder "alice" \\(fingerprint ${alice.fingerprint}\\), not to the key of "bob" \\(fingerprint ${bob.fingerprint}\\)`,
      ),
    );
    assert.equal(err.details?.['shardHolder'], 'alice');
  });

  test("a holder whose fingerprint is not its key's is a programmer error", async () => {
    await assert.rejects(openShard(aliceShard, { ...alice, fingerprint: bob.fingerprint }), RangeError);
  });

  test('sealing to a holder whose fingerprint does not match its key is HOLDER_KEY_INVALID', async () => {
    await rejectsWithCode(
      sealShard({
        ceremonyId: CEREMONY,
        holder: { ...alice, fingerprint: bob.fingerprint },
        index: 0,
        threshold: 1,
        shares: 1,
        share: shares[0]!,
      }),
      'HOLDER_KEY_INVALID',
    );
  });

  test('sealing to a public key the KEM rejects is HOLDER_KEY_INVALID, naming the holder', async () => {
    const publicKey = new Uint8Array(1216).fill(0xff);
    await rejectsWithCode(
      sealShard({
        ceremonyId: CEREMONY,
        holder: { name: 'eve', publicKey, fingerprint: holderFingerprint(publicKey) },
        index: 0,
        threshold: 1,
        shares: 1,
        share: shares[0]!,
      }),
      'HOLDER_KEY_INVALID',
      /holder "eve"/,
    );
  });

  test('bad parameters to sealShard', async () => {
    const base = { ceremonyId: CEREMONY, holder: alice, index: 0, threshold: 2, shares: 3, share: shares[0]! };
    await rejectsWithCode(sealShard({ ...base, threshold: 4 }), 'CEREMONY_PARAMS_INVALID');
    await rejectsWithCode(sealShard({ ...base, holder: { ...alice, name: 'not ok' } }), 'HOLDER_NAME_INVALID');
    await assert.rejects(sealShard({ ...base, index: 3 }), RangeError);
    await assert.rejects(sealShard({ ...base, ceremonyId: '' }), RangeError);
    await assert.rejects(sealShard({ ...base, share: Uint8Array.of(1) }), RangeError);
  });

  // Each header field is authenticated: a plausible but different value must not open.
  const tampered: Array<[string, (f: ShardFile) => ShardFile, string]> = [
    ['ceremonyId', (f) => ({ ...f, ceremonyId: 'c0ffee00-1111-4222-8333-444455556667' }), 'SHARD_CORRUPTED'],
    ['holder', (f) => ({ ...f, holder: 'alicia' }), 'SHARD_CORRUPTED'],
    ['index', (f) => ({ ...f, index: 2 }), 'SHARD_CORRUPTED'],
    ['index (to 0)', (f) => ({ ...f, index: 0 }), 'SHARD_CORRUPTED'],
    ['threshold', (f) => ({ ...f, threshold: 3 }), 'SHARD_CORRUPTED'],
    ['threshold (down)', (f) => ({ ...f, threshold: 1 }), 'SHARD_CORRUPTED'],
    ['shares', (f) => ({ ...f, shares: 4 }), 'SHARD_CORRUPTED'],
    ['enc', (f) => ({ ...f, enc: flipBase64(f.enc, 500) }), 'SHARD_CORRUPTED'],
    ['ciphertext', (f) => ({ ...f, ciphertext: flipBase64(f.ciphertext, 3) }), 'SHARD_CORRUPTED'],
    ['tag', (f) => ({ ...f, ciphertext: flipBase64(f.ciphertext, -1) }), 'SHARD_CORRUPTED'],
    ['holderFingerprint', (f) => ({ ...f, holderFingerprint: bob.fingerprint }), 'SHARD_NOT_FOR_HOLDER'],
    ['format', (f) => ({ ...f, format: 'keyward.shard/v2' as ShardFile['format'] }), 'SHARD_MALFORMED'],
    [
      'suite',
      (f) => ({ ...f, suite: 'HPKE-DHKEM-X25519-HKDF-SHA256-AES-256-GCM' as ShardFile['suite'] }),
      'SHARD_MALFORMED',
    ],
    ['index beyond shares', (f) => ({ ...f, index: 3 }), 'SHARD_MALFORMED'],
  ];
  for (const [field, tamper, code] of tampered) {
    test(`a tampered ${field} fails with ${code}`, async () => {
      await rejectsWithCode(openShard(JSON.stringify(tamper(aliceShard)), alice), code);
    });
  }

  test('SHARD_CORRUPTED says which shard and does not leak the share', async () => {
    const err = await rejectsWithCode(
      openShard({ ...aliceShard, index: 2 }, alice),
      'SHARD_CORRUPTED',
      /shard 2 of ceremony c0ffee00-.* for "alice" does not decrypt/,
    );
    assert.ok(!err.message.includes(toBase64(shares[1]!)));
  });
});

describe('parseShardFile', () => {
  const good = () => JSON.parse(JSON.stringify(aliceShard)) as Record<string, unknown>;
  const malformed: Array<[string, () => unknown, RegExp]> = [
    ['text that is not JSON', () => 'keyward.shard/v1', /expected a JSON object, got text that is not JSON/],
    ['a JSON array', () => '[1,2]', /expected a JSON object, got array/],
    ['null', () => null, /got null/],
    ['an empty object', () => ({}), /format: is missing.*ciphertext: is missing/],
    ['a missing ceremonyId', () => ({ ...good(), ceremonyId: undefined }), /ceremonyId: is missing/],
    ['a ceremonyId with a space', () => ({ ...good(), ceremonyId: 'a b' }), /ceremonyId: expected 1 to 128 characters/],
    ['a ceremonyId of 129 characters', () => ({ ...good(), ceremonyId: 'c'.repeat(129) }), /ceremonyId:/],
    ['a holder name of 65 characters', () => ({ ...good(), holder: 'h'.repeat(65) }), /holder:/],
    ['a holder name with a slash', () => ({ ...good(), holder: '../alice' }), /holder: expected 1 to 64 characters/],
    [
      'an uppercase fingerprint',
      () => ({ ...good(), holderFingerprint: alice.fingerprint.toUpperCase() }),
      /holderFingerprint:/,
    ],
    ['a short fingerprint', () => ({ ...good(), holderFingerprint: 'abcd' }), /holderFingerprint:/],
    [
      'index as a string',
      () => ({ ...good(), index: '1' }),
      /index: expected an integer from 0 to 254, got string "1"/,
    ],
    ['index -1', () => ({ ...good(), index: -1 }), /index: expected an integer from 0 to 254/],
    ['index 1.5', () => ({ ...good(), index: 1.5 }), /index:/],
    ['index = shares', () => ({ ...good(), index: 3 }), /index: expected less than shares \(3\), got 3/],
    ['threshold 0', () => ({ ...good(), threshold: 0 }), /threshold: expected an integer from 1 to 255/],
    ['threshold > shares', () => ({ ...good(), threshold: 4 }), /threshold: expected at most shares \(3\), got 4/],
    ['shares 256', () => ({ ...good(), shares: 256 }), /shares: expected an integer from 1 to 255/],
    ['shares 0', () => ({ ...good(), shares: 0 }), /shares:/],
    ['a short enc', () => ({ ...good(), enc: toBase64(new Uint8Array(1088)) }), /enc: expected 1120 bytes, got 1088/],
    ['enc not base64', () => ({ ...good(), enc: '%%%' }), /enc: expected standard padded base64/],
    [
      'enc in base64url',
      () => ({ ...good(), enc: (good()['enc'] as string).replace(/\+/g, '-').replace(/\//g, '_') }),
      /enc:/,
    ],
    [
      'a ciphertext shorter than a tag and a share',
      () => ({ ...good(), ciphertext: toBase64(new Uint8Array(17)) }),
      /ciphertext: expected 18 to 1040 bytes, got 17/,
    ],
    [
      'a huge ciphertext',
      () => ({ ...good(), ciphertext: toBase64(new Uint8Array(5000)) }),
      /ciphertext: expected 18 to 1040 bytes, got 5000/,
    ],
    [
      'a ciphertext as an array',
      () => ({ ...good(), ciphertext: [1, 2, 3] }),
      /ciphertext: expected base64 string, got array/,
    ],
    ['an extra field', () => ({ ...good(), share: 'AAAA' }), /unknown field "share"/],
    [
      'a public key file',
      () => ({ format: 'keyward.holder-public-key/v1', name: 'alice' }),
      /format: expected "keyward.shard\/v1"/,
    ],
  ];
  for (const [what, make, message] of malformed) {
    test(`refuses ${what} as SHARD_MALFORMED`, async () => {
      const input = make();
      const clean = typeof input === 'object' && input !== null ? JSON.parse(JSON.stringify(input)) : input;
      await rejectsWithCode(() => parseShardFile(clean), 'SHARD_MALFORMED', message);
      await rejectsWithCode(openShard(clean, alice), 'SHARD_MALFORMED');
    });
  }

  test('reports several bad fields in one error', async () => {
    const err = await rejectsWithCode(
      () => parseShardFile({ ...good(), index: 'x', suite: 'y', extra: 1 }),
      'SHARD_MALFORMED',
    );
    assert.deepEqual(err.details?.['fields'], ['index', 'suite', 'extra']);
  });
});
