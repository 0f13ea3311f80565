/**
 * Committed vectors (test/fixtures/ceremony/): files written by an earlier build must keep opening,
 * so the formats can't drift silently. If one of these fails, the format changed: bump its version
 * instead of regenerating the files.
 * @module
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { fromBase64 } from '../../lib/bytes.js';
import {
  decryptHolderKey,
  deriveXWingPublicKey,
  openShard,
  openSubmission,
  parseHolderPublicKey,
  parseShardFile,
  shardCommitment,
  verifyShardCommitment,
} from '../../ceremony/index.js';
import type { SubmissionPurpose } from '../../ceremony/index.js';
import { rejectsWithCode } from './helpers.js';

const dir = new URL('../fixtures/ceremony/', import.meta.url);
const read = (name: string) => readFileSync(new URL(name, dir), 'utf8');

interface Vectors {
  passphrase: string;
  holder: { name: string; fingerprint: string; seed: string };
  shard: { ceremonyId: string; index: number; threshold: number; shares: number; share: string; commitment: string };
  submission: {
    purpose: SubmissionPurpose;
    nonce: string;
    sessionSeed: string;
    sessionPublicKey: string;
    submission: unknown;
  };
}
const v = JSON.parse(read('vectors.json')) as Vectors;
const b64 = (s: string) => fromBase64(s, 'vector');

describe('ceremony fixtures (format v1)', () => {
  test('alice.key.pub parses, with the recorded fingerprint', () => {
    const pub = parseHolderPublicKey(read('alice.key.pub'));
    assert.equal(pub.name, v.holder.name);
    assert.equal(pub.fingerprint, v.holder.fingerprint);
  });

  test('X-Wing key derivation is unchanged: the seed gives the recorded public key', async () => {
    const pub = parseHolderPublicKey(read('alice.key.pub'));
    assert.deepEqual(await deriveXWingPublicKey(b64(v.holder.seed)), pub.publicKey);
    assert.deepEqual(await deriveXWingPublicKey(b64(v.submission.sessionSeed)), b64(v.submission.sessionPublicKey));
  });

  test('alice.key decrypts with the passphrase to the recorded seed', async () => {
    const key = await decryptHolderKey(read('alice.key'), v.passphrase);
    assert.equal(key.name, 'alice');
    assert.equal(key.fingerprint, v.holder.fingerprint);
    assert.deepEqual(key.seed, b64(v.holder.seed));
    assert.deepEqual(key.publicKey, parseHolderPublicKey(read('alice.key.pub')).publicKey);
    await rejectsWithCode(decryptHolderKey(read('alice.key'), v.passphrase + '!'), 'PASSPHRASE_WRONG');
  });

  test('alice.shard parses, and opens with alice.key to the recorded share and commitment', async () => {
    const text = read('alice.shard');
    const file = parseShardFile(text);
    assert.deepEqual(
      {
        ceremonyId: file.ceremonyId,
        index: file.index,
        threshold: file.threshold,
        shares: file.shares,
        holder: file.holder,
        fp: file.holderFingerprint,
      },
      {
        ceremonyId: v.shard.ceremonyId,
        index: v.shard.index,
        threshold: v.shard.threshold,
        shares: v.shard.shares,
        holder: 'alice',
        fp: v.holder.fingerprint,
      },
    );
    const key = await decryptHolderKey(read('alice.key'), v.passphrase);
    const share = await openShard(text, key);
    assert.deepEqual(share, b64(v.shard.share));
    assert.deepEqual(shardCommitment(v.shard.ceremonyId, v.shard.index, share), b64(v.shard.commitment));
    assert.ok(verifyShardCommitment(v.shard.ceremonyId, v.shard.index, share, b64(v.shard.commitment)));
  });

  test('the recorded submission opens with the session seed', async () => {
    const { purpose, nonce, sessionSeed, submission } = v.submission;
    const content = await openSubmission({ purpose, sessionSeed: b64(sessionSeed), expectedNonce: nonce }, submission);
    assert.deepEqual(content, {
      ceremonyId: v.shard.ceremonyId,
      index: v.shard.index,
      holder: 'alice',
      share: b64(v.shard.share),
    });
  });
});

interface BobVectors {
  passphrase: string;
  holder: { name: string; fingerprint: string; seed: string };
  shard: { ceremonyId: string; index: number; threshold: number; shares: number; share: string };
}

// bob.* were made on 2026-12-04 by the code of that day, whose KEM was @hpke/hybridkem-x-wing
// (test/fixtures/ceremony/gen-2026-12-04.ts in git history); they must open with today's KEM.
describe('ceremony fixtures made with @hpke/hybridkem-x-wing (before the @noble KEM adapter)', () => {
  const bob = JSON.parse(read('bob.json')) as BobVectors;

  test('bob.key.pub parses with its fingerprint, and the seed still derives its public key', async () => {
    const pub = parseHolderPublicKey(read('bob.key.pub'));
    assert.equal(pub.name, 'bob');
    assert.equal(pub.fingerprint, bob.holder.fingerprint);
    assert.deepEqual(await deriveXWingPublicKey(b64(bob.holder.seed)), pub.publicKey);
  });

  test('bob.key decrypts, and bob.shard opens with it to the recorded share', async () => {
    const key = await decryptHolderKey(read('bob.key'), bob.passphrase);
    assert.deepEqual(key.seed, b64(bob.holder.seed));
    const text = read('bob.shard');
    const file = parseShardFile(text);
    assert.deepEqual(
      {
        ceremonyId: file.ceremonyId,
        index: file.index,
        threshold: file.threshold,
        shares: file.shares,
        holder: file.holder,
      },
      {
        ceremonyId: bob.shard.ceremonyId,
        index: bob.shard.index,
        threshold: bob.shard.threshold,
        shares: bob.shard.shares,
        holder: 'bob',
      },
    );
    assert.deepEqual(await openShard(text, key), b64(bob.shard.share));
    // alice's key must not open bob's shard: the check above is not vacuous.
    await assert.rejects(openShard(text, await decryptHolderKey(read('alice.key'), v.passphrase)));
  });
});
