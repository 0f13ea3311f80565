import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { concatBytes, toBase64, utf8 } from '../../lib/bytes.js';
import { generateSessionKey, lp, openSubmission, sealEnvelope, sealSubmission, u8 } from '../../ceremony/index.js';
import type { Submission, SubmissionPurpose, XWingKeyPair } from '../../ceremony/index.js';
import { counting, flipBase64, rejectsWithCode } from './helpers.js';

const CEREMONY = 'c0ffee00-1111-4222-8333-444455556666';
const NONCE = '0123456789abcdef0123456789abcdef';
const SHARE = concatBytes(counting(32, 9), u8(77));

let session: XWingKeyPair;
let otherSession: XWingKeyPair;
const made: Partial<Record<SubmissionPurpose, Submission>> = {};

const submit = (purpose: SubmissionPurpose, overrides: Partial<Parameters<typeof sealSubmission>[0]> = {}) =>
  sealSubmission({
    purpose,
    sessionPublicKey: session.publicKey,
    nonce: NONCE,
    ceremonyId: CEREMONY,
    index: 4,
    holder: 'carol',
    share: SHARE,
    ...overrides,
  });

const open = (purpose: SubmissionPurpose, submission: unknown, seed = session.seed, expectedNonce = NONCE) =>
  openSubmission({ purpose, sessionSeed: seed, expectedNonce }, submission);

before(async () => {
  [session, otherSession] = await Promise.all([generateSessionKey(), generateSessionKey()]);
  made.unseal = await submit('unseal');
  made.rekey = await submit('rekey');
});

/** Seals a hand-made plaintext exactly as the module comment documents, to test the parser. */
async function rawSubmission(
  plaintext: Uint8Array,
  purpose: SubmissionPurpose = 'unseal',
  nonce = NONCE,
): Promise<Submission> {
  const info = concatBytes(utf8('keyward/submission/v1\0'), lp(utf8(purpose)), lp(utf8(nonce)));
  const { enc, ciphertext } = await sealEnvelope(session.publicKey, plaintext, info, new Uint8Array(0));
  return { nonce, enc: toBase64(enc), ciphertext: toBase64(ciphertext) };
}

const layout = (
  p: { version?: number; ceremonyId?: Uint8Array; index?: number; holder?: Uint8Array; share?: Uint8Array } = {},
) =>
  concatBytes(
    u8(p.version ?? 1),
    lp(p.ceremonyId ?? utf8(CEREMONY)),
    u8(p.index ?? 4),
    lp(p.holder ?? utf8('carol')),
    p.share ?? SHARE,
  );

describe('sealSubmission / openSubmission', () => {
  for (const purpose of ['unseal', 'rekey'] as const) {
    test(`round trip for ${purpose}, through JSON`, async () => {
      const sub = made[purpose]!;
      assert.deepEqual(Object.keys(sub), ['nonce', 'enc', 'ciphertext']);
      assert.equal(sub.nonce, NONCE);
      const content = await open(purpose, JSON.parse(JSON.stringify(sub)));
      assert.deepEqual(content, { ceremonyId: CEREMONY, index: 4, holder: 'carol', share: SHARE });
    });
  }

  test('the returned share is a copy that owns its buffer', async () => {
    const { share } = await open('unseal', made.unseal);
    assert.equal(share.byteOffset, 0);
    assert.equal(share.buffer.byteLength, share.byteLength);
  });

  test('follows the documented plaintext layout and info', async () => {
    const content = await open('unseal', await rawSubmission(layout()));
    assert.deepEqual(content, { ceremonyId: CEREMONY, index: 4, holder: 'carol', share: SHARE });
  });

  test("another session's nonce is UNSEAL_NONCE_MISMATCH, telling what to do", async () => {
    const err = await rejectsWithCode(
      open('unseal', made.unseal, session.seed, 'ffffffffffffffffffffffffffffffff'),
      'UNSEAL_NONCE_MISMATCH',
      /the submission was made for another unseal session .*fetch seal status and retry/,
    );
    assert.equal(err.details?.['nonce'], NONCE);
    await rejectsWithCode(
      open('rekey', made.rekey, session.seed, 'other'),
      'UNSEAL_NONCE_MISMATCH',
      /another rekey session/,
    );
  });

  test('a nonce rewritten to the current one does not help: the HPKE info binds it', async () => {
    const sub = await submit('unseal', { nonce: 'old-session' });
    await rejectsWithCode(open('unseal', { ...sub, nonce: NONCE }), 'SUBMISSION_INVALID');
  });

  test('a rekey submission does not open as an unseal one, nor the reverse', async () => {
    await rejectsWithCode(open('unseal', made.rekey), 'SUBMISSION_INVALID');
    await rejectsWithCode(open('rekey', made.unseal), 'SUBMISSION_INVALID');
  });

  test('another session key does not open it', async () => {
    await rejectsWithCode(
      open('unseal', made.unseal, otherSession.seed),
      'SUBMISSION_INVALID',
      /does not open with the key of the current unseal session/,
    );
  });

  const flips: Array<[string, (s: Submission) => Submission]> = [
    ['the first byte of enc', (s) => ({ ...s, enc: flipBase64(s.enc, 0) })],
    ['the last byte of enc', (s) => ({ ...s, enc: flipBase64(s.enc, -1) })],
    ['the first byte of the ciphertext', (s) => ({ ...s, ciphertext: flipBase64(s.ciphertext, 0) })],
    ['a byte of the share in the ciphertext', (s) => ({ ...s, ciphertext: flipBase64(s.ciphertext, 45) })],
    ['the last byte of the tag', (s) => ({ ...s, ciphertext: flipBase64(s.ciphertext, -1) })],
  ];
  for (const [what, flip] of flips) {
    test(`flipping ${what} is SUBMISSION_INVALID`, async () => {
      await rejectsWithCode(open('unseal', flip(made.unseal!)), 'SUBMISSION_INVALID');
    });
  }

  const malformed: Array<[string, () => unknown, RegExp]> = [
    ['null', () => null, /submission: expected a JSON object, got null/],
    ['a string', () => 'hello', /not JSON/],
    ['an array', () => [made.unseal], /got array/],
    ['an empty object', () => ({}), /nonce: is missing; enc: is missing; ciphertext: is missing/],
    [
      'a numeric nonce',
      () => ({ ...made.unseal, nonce: 5 }),
      /nonce: expected 1 to 128 printable ASCII characters, got number 5/,
    ],
    ['a nonce with a space', () => ({ ...made.unseal, nonce: 'a b' }), /nonce:/],
    ['a short enc', () => ({ ...made.unseal, enc: toBase64(new Uint8Array(32)) }), /enc: expected 1120 bytes, got 32/],
    ['enc not base64', () => ({ ...made.unseal, enc: 'zz' }), /enc: expected standard padded base64/],
    ['an empty ciphertext', () => ({ ...made.unseal, ciphertext: '' }), /ciphertext: expected 16 to \d+ bytes, got 0/],
    [
      'a huge ciphertext',
      () => ({ ...made.unseal, ciphertext: toBase64(new Uint8Array(10_000)) }),
      /ciphertext: expected 16 to \d+ bytes, got 10000/,
    ],
    ['an extra field', () => ({ ...made.unseal, purpose: 'unseal' }), /unknown field "purpose"/],
  ];
  for (const [what, make, message] of malformed) {
    test(`a submission that is ${what} is SUBMISSION_INVALID`, async () => {
      await rejectsWithCode(open('unseal', make()), 'SUBMISSION_INVALID', message);
    });
  }

  // The plaintext decrypted fine, but a hostile client chose every byte of it.
  const badPlaintexts: Array<[string, () => Uint8Array, RegExp]> = [
    ['empty', () => new Uint8Array(0), /expected 1 more bytes for version, got 0/],
    ['version 2', () => layout({ version: 2 }), /version: expected 1, got 2/],
    ['version 0', () => layout({ version: 0 }), /version: expected 1, got 0/],
    ['only a version', () => Uint8Array.of(1), /expected 2 more bytes for length of ceremonyId/],
    [
      'a ceremonyId length past the end',
      () => concatBytes(u8(1), Uint8Array.of(0xff, 0xff), utf8('abc')),
      /expected 65535 more bytes for ceremonyId, got 3/,
    ],
    [
      'an empty ceremonyId',
      () => layout({ ceremonyId: new Uint8Array(0) }),
      /ceremonyId: expected 1 to 128 characters/,
    ],
    ['a ceremonyId that is not UTF-8', () => layout({ ceremonyId: Uint8Array.of(0xc3, 0x28) }), /ceremonyId: expected/],
    ['a ceremonyId with a newline', () => layout({ ceremonyId: utf8('abc\n') }), /ceremonyId: expected/],
    ['index 255', () => layout({ index: 255 }), /index: expected 0 to 254, got 255/],
    ['no index', () => concatBytes(u8(1), lp(utf8(CEREMONY))), /expected 1 more bytes for index/],
    ['a holder name with a slash', () => layout({ holder: utf8('../root') }), /holder: expected 1 to 64 characters/],
    ['an empty holder name', () => layout({ holder: new Uint8Array(0) }), /holder: expected/],
    ['no share', () => layout({ share: new Uint8Array(0) }), /share: expected 2 to 1024 bytes, got 0/],
    ['a 1-byte share', () => layout({ share: Uint8Array.of(5) }), /share: expected 2 to 1024 bytes, got 1/],
    [
      'a share with x = 0',
      () => layout({ share: concatBytes(counting(32), u8(0)) }),
      /share: expected a nonzero x-coordinate/,
    ],
    [
      'a 1025-byte share',
      () => layout({ share: new Uint8Array(1025).fill(1) }),
      /share: expected 2 to 1024 bytes, got 1025/,
    ],
  ];
  for (const [what, make, message] of badPlaintexts) {
    test(`a plaintext with ${what} is SUBMISSION_INVALID`, async () => {
      await rejectsWithCode(open('unseal', await rawSubmission(make())), 'SUBMISSION_INVALID', message);
    });
  }

  test('wrong arguments are programmer errors', async () => {
    await assert.rejects(submit('seal' as SubmissionPurpose), RangeError);
    await assert.rejects(submit('unseal', { sessionPublicKey: new Uint8Array(32) }), RangeError);
    await assert.rejects(submit('unseal', { nonce: '' }), RangeError);
    await assert.rejects(submit('unseal', { ceremonyId: 'a b' }), RangeError);
    await assert.rejects(submit('unseal', { index: 255 }), RangeError);
    await assert.rejects(submit('unseal', { holder: 'no/slash' }), RangeError);
    await assert.rejects(submit('unseal', { share: Uint8Array.of(1) }), RangeError);
    await assert.rejects(open('other' as SubmissionPurpose, made.unseal), RangeError);
    await assert.rejects(open('unseal', made.unseal, new Uint8Array(31)), RangeError);
  });
});
