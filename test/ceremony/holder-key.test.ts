import assert from 'node:assert/strict';
import { createCipheriv, createHash, scryptSync } from 'node:crypto';
import { before, describe, test } from 'node:test';
import { concatBytes, toBase64, utf8 } from '../../lib/bytes.js';
import {
  HOLDER_PRIVATE_KEY_FORMAT,
  XWING_PUBLIC_KEY_LEN,
  XWING_SEED_LEN,
  decryptHolderKey,
  encryptHolderKey,
  generateHolderKey,
  holderFingerprint,
  lp,
  parseHolderPublicKey,
  toPublicKeyFile,
  u32be,
} from '../../ceremony/index.js';
import type { HolderKey, HolderPrivateKeyFile } from '../../ceremony/index.js';
import { flipBase64, rejectsWithCode } from './helpers.js';

const N = 2 ** 12; // fast scrypt for tests; real files use 2^17
const PASS = 'correct horse battery staple';

let alice: HolderKey;
let bob: HolderKey;
let aliceFile: HolderPrivateKeyFile;

before(async () => {
  [alice, bob] = await Promise.all([generateHolderKey('alice'), generateHolderKey('bob')]);
  aliceFile = await encryptHolderKey(alice, PASS, { scryptN: N });
});

describe('generateHolderKey', () => {
  test('makes an X-Wing key pair with a 32-byte seed and its fingerprint', () => {
    assert.equal(alice.name, 'alice');
    assert.equal(alice.seed.length, XWING_SEED_LEN);
    assert.equal(alice.publicKey.length, XWING_PUBLIC_KEY_LEN);
    assert.match(alice.fingerprint, /^[0-9a-f]{32}$/);
    assert.notEqual(alice.fingerprint, bob.fingerprint);
  });

  for (const name of ['', 'a b', 'x'.repeat(65), 'ünï', 'a/b', 'a\n', 5]) {
    test(`refuses the name ${JSON.stringify(name)}`, async () => {
      await rejectsWithCode(
        generateHolderKey(name as string),
        'HOLDER_NAME_INVALID',
        /holder name: expected 1 to 64 characters/,
      );
    });
  }

  test('accepts the edges of the name alphabet', async () => {
    for (const name of ['a', 'A.b_c-9', 'x'.repeat(64)]) assert.equal((await generateHolderKey(name)).name, name);
  });
});

describe('holderFingerprint', () => {
  test('is the first 16 bytes of SHA-256(label ‖ 0x00 ‖ publicKey), hex', () => {
    const expected = createHash('sha256')
      .update('keyward/holder-fingerprint/v1\0')
      .update(alice.publicKey)
      .digest()
      .subarray(0, 16)
      .toString('hex');
    assert.equal(holderFingerprint(alice.publicKey), expected);
  });

  test('refuses a public key of the wrong length', () => {
    assert.throws(() => holderFingerprint(new Uint8Array(32)), RangeError);
  });
});

describe('public key file', () => {
  test('round trips through JSON text and objects', () => {
    const pub = toPublicKeyFile(alice);
    assert.deepEqual(Object.keys(pub), ['format', 'name', 'kem', 'publicKey', 'fingerprint']);
    assert.equal(pub.format, 'keyward.holder-public-key/v1');
    assert.equal(pub.kem, 'X-Wing');
    for (const input of [JSON.stringify(pub), pub]) {
      const parsed = parseHolderPublicKey(input);
      assert.equal(parsed.name, 'alice');
      assert.equal(parsed.fingerprint, alice.fingerprint);
      assert.deepEqual(parsed.publicKey, alice.publicKey);
    }
  });

  test("a fingerprint that is not the key's is refused, naming both", async () => {
    const pub = { ...toPublicKeyFile(alice), fingerprint: bob.fingerprint };
    await rejectsWithCode(
      () => parseHolderPublicKey(pub),
      'HOLDER_KEY_INVALID',
      new RegExp(`fingerprint: expected ${alice.fingerprint} .*got ${bob.fingerprint}`),
    );
    // Swapping in another key but keeping the fingerprint fails the same way.
    const swapped = { ...toPublicKeyFile(alice), publicKey: toBase64(bob.publicKey) };
    await rejectsWithCode(() => parseHolderPublicKey(swapped), 'HOLDER_KEY_INVALID', /fingerprint:/);
  });

  const good = () => toPublicKeyFile(alice) as unknown as Record<string, unknown>;
  const cases: Array<[string, () => unknown, RegExp]> = [
    ['not JSON', () => '{"format":', /expected a JSON object, got text that is not JSON/],
    ['an array', () => '[]', /expected a JSON object, got array/],
    [
      'wrong format',
      () => ({ ...good(), format: 'keyward.holder-public-key/v2' }),
      /format: expected "keyward.holder-public-key\/v1"/,
    ],
    ['the private key format', () => ({ ...good(), format: HOLDER_PRIVATE_KEY_FORMAT }), /format:/],
    ['wrong kem', () => ({ ...good(), kem: 'ML-KEM-768' }), /kem: expected "X-Wing", got string "ML-KEM-768"/],
    [
      'short key',
      () => ({ ...good(), publicKey: toBase64(alice.publicKey.subarray(0, 1184)) }),
      /publicKey: expected 1216 bytes, got 1184/,
    ],
    [
      'truncated base64',
      () => ({ ...good(), publicKey: toBase64(alice.publicKey).slice(0, -3) }),
      /publicKey: expected standard padded base64/,
    ],
    ['missing name', () => ({ ...good(), name: undefined }), /name: is missing/],
    ['numeric name', () => ({ ...good(), name: 7 }), /name: expected 1 to 64 characters .*got number 7/],
    [
      'uppercase fingerprint',
      () => ({ ...good(), fingerprint: alice.fingerprint.toUpperCase() }),
      /fingerprint: expected 32 lowercase hex/,
    ],
    ['extra field', () => ({ ...good(), comment: 'hi' }), /unknown field "comment"/],
  ];
  for (const [what, make, message] of cases) {
    test(`refuses ${what}`, async () => {
      const input = make();
      const clean = typeof input === 'object' && input !== null ? JSON.parse(JSON.stringify(input)) : input;
      await rejectsWithCode(() => parseHolderPublicKey(clean), 'HOLDER_KEY_INVALID', message);
    });
  }
});

describe('private key file', () => {
  test('round trips with the passphrase', async () => {
    assert.deepEqual(Object.keys(aliceFile), [
      'format',
      'name',
      'kem',
      'publicKey',
      'fingerprint',
      'kdf',
      'cipher',
      'nonce',
      'ciphertext',
    ]);
    assert.deepEqual(Object.keys(aliceFile.kdf), ['name', 'N', 'r', 'p', 'salt']);
    assert.equal(aliceFile.kdf.N, N);
    const key = await decryptHolderKey(JSON.stringify(aliceFile), PASS);
    assert.equal(key.name, 'alice');
    assert.deepEqual(key.seed, alice.seed);
    assert.deepEqual(key.publicKey, alice.publicKey);
    assert.equal(key.fingerprint, alice.fingerprint);
  });

  test('defaults to scrypt N = 2^17, r = 8, p = 1', async () => {
    const file = await encryptHolderKey(bob, PASS);
    assert.deepEqual({ N: file.kdf.N, r: file.kdf.r, p: file.kdf.p }, { N: 2 ** 17, r: 8, p: 1 });
  });

  test('uses a fresh salt and nonce every time', async () => {
    const again = await encryptHolderKey(alice, PASS, { scryptN: N });
    assert.notEqual(again.kdf.salt, aliceFile.kdf.salt);
    assert.notEqual(again.nonce, aliceFile.nonce);
  });

  test('a wrong passphrase is PASSPHRASE_WRONG, naming the holder and not the passphrase', async () => {
    const err = await rejectsWithCode(
      decryptHolderKey(aliceFile, 'correct horse battery stapler'),
      'PASSPHRASE_WRONG',
      /passphrase does not decrypt the holder key of "alice"/,
    );
    assert.ok(!err.message.includes('stapler'));
  });

  test('an empty passphrase is refused, when encrypting and decrypting', async () => {
    await rejectsWithCode(encryptHolderKey(alice, '', { scryptN: N }), 'PASSPHRASE_EMPTY');
    await rejectsWithCode(decryptHolderKey(aliceFile, ''), 'PASSPHRASE_EMPTY');
  });

  test('the passphrase is NFC-normalized', async () => {
    const file = await encryptHolderKey(alice, 'caf\u00e9', { scryptN: N });
    const key = await decryptHolderKey(file, 'cafe\u0301');
    assert.deepEqual(key.seed, alice.seed);
  });

  test('refuses to pair a seed with another public key', async () => {
    await rejectsWithCode(
      encryptHolderKey({ name: 'alice', seed: alice.seed, publicKey: bob.publicKey }, PASS, { scryptN: N }),
      'HOLDER_KEY_INVALID',
      /does not derive/,
    );
  });

  test('refuses scryptN outside 2^12..2^20 or not a power of two', async () => {
    for (const scryptN of [2 ** 11, 2 ** 21, 5000]) {
      await assert.rejects(encryptHolderKey(alice, PASS, { scryptN }), RangeError);
    }
  });

  // Every header field is bound: changing any of them must make decryption fail.
  const tampered: Array<[string, (f: HolderPrivateKeyFile) => unknown, string]> = [
    ['format', (f) => ({ ...f, format: 'keyward.holder-private-key/v2' }), 'HOLDER_KEY_INVALID'],
    ['name', (f) => ({ ...f, name: 'mallory' }), 'PASSPHRASE_WRONG'],
    ['kem', (f) => ({ ...f, kem: 'X25519' }), 'HOLDER_KEY_INVALID'],
    ['publicKey (fingerprint left)', (f) => ({ ...f, publicKey: toBase64(bob.publicKey) }), 'HOLDER_KEY_INVALID'],
    ['fingerprint (publicKey left)', (f) => ({ ...f, fingerprint: bob.fingerprint }), 'HOLDER_KEY_INVALID'],
    [
      'publicKey and fingerprint together',
      (f) => ({ ...f, publicKey: toBase64(bob.publicKey), fingerprint: bob.fingerprint }),
      'PASSPHRASE_WRONG',
    ],
    ['kdf.name', (f) => ({ ...f, kdf: { ...f.kdf, name: 'argon2id' } }), 'HOLDER_KEY_INVALID'],
    ['kdf.N', (f) => ({ ...f, kdf: { ...f.kdf, N: 2 ** 13 } }), 'PASSPHRASE_WRONG'],
    ['kdf.r', (f) => ({ ...f, kdf: { ...f.kdf, r: 4 } }), 'PASSPHRASE_WRONG'],
    ['kdf.p', (f) => ({ ...f, kdf: { ...f.kdf, p: 2 } }), 'PASSPHRASE_WRONG'],
    ['kdf.salt', (f) => ({ ...f, kdf: { ...f.kdf, salt: flipBase64(f.kdf.salt, 0) } }), 'PASSPHRASE_WRONG'],
    ['cipher', (f) => ({ ...f, cipher: 'AES-128-GCM' }), 'HOLDER_KEY_INVALID'],
    ['nonce', (f) => ({ ...f, nonce: flipBase64(f.nonce, 11) }), 'PASSPHRASE_WRONG'],
    ['ciphertext (seed part)', (f) => ({ ...f, ciphertext: flipBase64(f.ciphertext, 0) }), 'PASSPHRASE_WRONG'],
    ['ciphertext (tag part)', (f) => ({ ...f, ciphertext: flipBase64(f.ciphertext, -1) }), 'PASSPHRASE_WRONG'],
  ];
  for (const [field, tamper, code] of tampered) {
    test(`tampering with ${field} fails with ${code}`, async () => {
      await rejectsWithCode(decryptHolderKey(JSON.stringify(tamper(aliceFile)), PASS), code);
    });
  }

  const malformed: Array<[string, (f: HolderPrivateKeyFile) => unknown, RegExp]> = [
    ['garbage', () => 'garbage', /not JSON/],
    ['empty object', () => ({}), /format: is missing.*ciphertext: is missing/],
    ['null', () => null, /expected a JSON object, got null/],
    ['missing kdf', (f) => ({ ...f, kdf: undefined }), /kdf: is missing/],
    ['kdf as a string', (f) => ({ ...f, kdf: 'scrypt' }), /kdf: expected a JSON object/],
    ['missing kdf.salt', (f) => ({ ...f, kdf: { ...f.kdf, salt: undefined } }), /kdf.salt: is missing/],
    [
      'extra kdf field',
      (f) => ({ ...f, kdf: { ...f.kdf, maxmem: 1 } }),
      /kdf: unknown field "maxmem"; expected only name, N, r, p, salt/,
    ],
    ['N as a string', (f) => ({ ...f, kdf: { ...f.kdf, N: '4096' } }), /kdf.N: expected an integer/],
    [
      'N below 2^12',
      (f) => ({ ...f, kdf: { ...f.kdf, N: 2 ** 11 } }),
      /kdf.N: expected an integer from 4096 to 1048576, got number 2048/,
    ],
    ['N above 2^20', (f) => ({ ...f, kdf: { ...f.kdf, N: 2 ** 21 } }), /kdf.N:/],
    ['N not a power of two', (f) => ({ ...f, kdf: { ...f.kdf, N: 5000 } }), /kdf.N: expected a power of two, got 5000/],
    ['r = 0', (f) => ({ ...f, kdf: { ...f.kdf, r: 0 } }), /kdf.r:/],
    [
      'memory above 1 GiB',
      (f) => ({ ...f, kdf: { ...f.kdf, N: 2 ** 20, r: 16 } }),
      /kdf.r: expected 128·N·r at most 1 GiB/,
    ],
    ['p fractional', (f) => ({ ...f, kdf: { ...f.kdf, p: 1.5 } }), /kdf.p:/],
    [
      'short salt',
      (f) => ({ ...f, kdf: { ...f.kdf, salt: toBase64(new Uint8Array(8)) } }),
      /kdf.salt: expected 16 bytes, got 8/,
    ],
    ['short nonce', (f) => ({ ...f, nonce: toBase64(new Uint8Array(8)) }), /nonce: expected 12 bytes, got 8/],
    ['truncated ciphertext', (f) => ({ ...f, ciphertext: f.ciphertext.slice(0, -4) }), /ciphertext:/],
    [
      'ciphertext without its tag',
      (f) => ({ ...f, ciphertext: toBase64(new Uint8Array(32)) }),
      /ciphertext: expected 48 bytes, got 32/,
    ],
    [
      'public key format',
      () => toPublicKeyFile(alice),
      /format: expected "keyward.holder-private-key\/v1".*kdf: is missing/,
    ],
    ['extra top-level field', (f) => ({ ...f, seed: 'AAAA' }), /unknown field "seed"/],
  ];
  for (const [what, make, message] of malformed) {
    test(`refuses a file with ${what} as HOLDER_KEY_INVALID`, async () => {
      const input = make(aliceFile);
      const clean = typeof input === 'object' && input !== null ? JSON.parse(JSON.stringify(input)) : input;
      await rejectsWithCode(decryptHolderKey(clean, PASS), 'HOLDER_KEY_INVALID', message);
    });
  }

  test("follows the documented layout, and a seed that does not derive the file's key is refused", async () => {
    // Written from the module comment alone: scrypt → AES-256-GCM over the seed, AAD = header.
    const salt = new Uint8Array(16).fill(7);
    const nonce = new Uint8Array(12).fill(9);
    const aad = (pk: Uint8Array, fp: string) =>
      concatBytes(
        lp(utf8('keyward.holder-private-key/v1')),
        lp(utf8('alice')),
        lp(utf8('X-Wing')),
        lp(pk),
        lp(utf8(fp)),
        lp(utf8('scrypt')),
        u32be(N),
        u32be(8),
        u32be(1),
        lp(salt),
        lp(utf8('AES-256-GCM')),
      );
    const seal = (seed: Uint8Array, pk: Uint8Array, fp: string) => {
      const key = scryptSync(PASS, salt, 32, { N, r: 8, p: 1 });
      const c = createCipheriv('aes-256-gcm', key, nonce);
      c.setAAD(aad(pk, fp));
      const ct = Buffer.concat([c.update(seed), c.final(), c.getAuthTag()]);
      return {
        format: 'keyward.holder-private-key/v1',
        name: 'alice',
        kem: 'X-Wing',
        publicKey: toBase64(pk),
        fingerprint: fp,
        kdf: { name: 'scrypt', N, r: 8, p: 1, salt: toBase64(salt) },
        cipher: 'AES-256-GCM',
        nonce: toBase64(nonce),
        ciphertext: toBase64(ct),
      };
    };
    const ok = await decryptHolderKey(seal(alice.seed, alice.publicKey, alice.fingerprint), PASS);
    assert.deepEqual(ok.seed, alice.seed);
    // Bob's seed sealed under Alice's header: the tag verifies, the derived public key does not match.
    await rejectsWithCode(
      decryptHolderKey(seal(bob.seed, alice.publicKey, alice.fingerprint), PASS),
      'HOLDER_KEY_INVALID',
      /does not derive the file's public key/,
    );
  });
});
