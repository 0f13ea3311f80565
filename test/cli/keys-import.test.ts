/** BYOK from the CLI: `keyward key wrapping-key`, `keyward key import` (wrapping on the client), and RSA-OAEP `decrypt`. */
import assert from 'node:assert/strict';
import { constants, createPublicKey, generateKeyPairSync, publicEncrypt, verify as nodeVerify } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { devBootstrap } from '../../engine/dev.js';
import { fails, ok, runCli } from '../helpers/cli.js';
import type { CliResult } from '../helpers/cli.js';
import { importFixedRsaKey } from '../helpers/rsa.js';
import { startTestServer } from '../helpers/server.js';
import type { TestServer } from '../helpers/server.js';

describe('keyward key import / wrapping-key (CLI)', { timeout: 240_000 }, () => {
  let s: TestServer;
  let env: Record<string, string>;
  let dir: string;

  before(async () => {
    s = await startTestServer();
    env = { KEYWARD_ADDR: s.url, KEYWARD_TOKEN: (await devBootstrap(s.hsm)).rootToken };
    dir = await mkdtemp(join(tmpdir(), 'keyward-import-cli-'));
  });
  after(async () => {
    await s.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('rsa-oaep-3072-aes-kwp: an ECDSA PEM imports (pinned to the printed fingerprint) and signs for the original public key', async () => {
    const wk = ok(await runCli(['key', 'wrapping-key', '--json'], env)).json();
    assert.equal(wk.algorithm, 'rsa-oaep-3072-aes-kwp');
    assert.match(wk.publicKey, /BEGIN PUBLIC KEY/);
    const human = ok(await runCli(['key', 'wrapping-key', '--out', join(dir, 'wrapping.pem')], env)).stdout;
    assert.match(human, new RegExp(`fingerprint sha256:${wk.fingerprint}`));

    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    await writeFile(join(dir, 'partner.pem'), privateKey.export({ format: 'pem', type: 'sec1' }));
    const imp = ok(
      await runCli(
        [
          'key',
          'import',
          '--key',
          'partner',
          '--type',
          'ecdsa-p256',
          '--material',
          join(dir, 'partner.pem'),
          '--fingerprint',
          wk.fingerprint,
          '--label',
          'origin=hsm',
          '--json',
        ],
        env,
      ),
    ).json();
    assert.deepEqual([imp.name, imp.type, imp.latestVersion, imp.labels.origin], ['partner', 'ecdsa-p256', 1, 'hsm']);
    const sig = ok(await runCli(['sign', '--key', 'partner', '--text', 'release 1.0'], env)).stdout.trim();
    assert.equal(
      nodeVerify('sha256', Buffer.from('release 1.0'), publicKey, Buffer.from(sig.slice('kw:v1:'.length), 'base64')),
      true,
    );
    // the material never reaches the server's log
    const der = privateKey.export({ format: 'der', type: 'pkcs8' });
    assert.equal(s.logs.join('\n').includes(der.toString('base64').slice(0, 40)), false);
  });

  it('ml-kem-768: a raw AES-256 key imports and round-trips', async () => {
    const aes = Buffer.alloc(32, 0x42);
    await writeFile(join(dir, 'aes.key'), aes);
    const out = ok(
      await runCli(
        [
          'key',
          'import',
          '--key',
          'orders',
          '--type',
          'aes256-gcm',
          '--material',
          join(dir, 'aes.key'),
          '--algorithm',
          'ml-kem-768',
        ],
        env,
      ),
    ).stdout;
    assert.match(out, /Imported aes256-gcm key orders \(version 1\), wrapped with ml-kem-768/);
    const ct = ok(await runCli(['encrypt', '--key', 'orders', '--text', 'card 4111'], env)).stdout.trim();
    assert.equal(ok(await runCli(['decrypt', '--key', 'orders', '--text', ct], env)).stdout, 'card 4111');
  });

  it('decrypt: an RSA-OAEP ciphertext made with the exported public key, with --key-version', async () => {
    // A fixture key imported (test/helpers/rsa.ts): the CLI's decrypt is tested here, not a generation.
    await importFixedRsaKey(s, env.KEYWARD_TOKEN!, 'rsa');
    const pem = (await s.call('GET', '/v1/keys/rsa/public?format=pem', { token: env.KEYWARD_TOKEN })).body.publicKey;
    const ct = publicEncrypt(
      { key: createPublicKey(pem), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
      Buffer.from('to the HSM'),
    ).toString('base64');
    assert.equal(
      ok(await runCli(['decrypt', '--key', 'rsa', '--in', '-', '--key-version', '1'], env, { stdin: ct + '\n' }))
        .stdout,
      'to the HSM',
    );
    fails(await runCli(['decrypt', '--key', 'rsa', '--text', ct.slice(4)], env), 'DECRYPTION_FAILED');
  });

  it('bad material files fail locally with a clear error and create nothing', async () => {
    await writeFile(join(dir, 'garbage.pem'), '-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n');
    fails(
      await runCli(['key', 'import', '--key', 'bad', '--type', 'ed25519', '--material', join(dir, 'garbage.pem')], env),
      'PRIVATE_KEY_INVALID',
    );
    await writeFile(join(dir, 'short.key'), Buffer.alloc(31));
    fails(
      await runCli(
        ['key', 'import', '--key', 'bad', '--type', 'hmac-sha256', '--material', join(dir, 'short.key'), '--json'],
        env,
      ),
      'PRIVATE_KEY_INVALID.*expected 32 bytes, got 31',
    );
    fails(
      await runCli(['key', 'import', '--key', 'bad', '--type', 'ed25519', '--material', join(dir, 'missing.pem')], env),
      'FILE_UNREADABLE',
    );
    fails(
      await runCli(
        [
          'key',
          'import',
          '--key',
          'bad',
          '--type',
          'aes256-gcm',
          '--material',
          join(dir, 'short.key'),
          '--format',
          'pkcs8',
        ],
        env,
      ),
      'use --format raw',
    );
    fails(
      await runCli(
        [
          'key',
          'import',
          '--key',
          'bad',
          '--type',
          'aes256-gcm',
          '--material',
          join(dir, 'aes.key'),
          '--fingerprint',
          '00'.repeat(32),
        ],
        env,
      ),
      'WRAPPING_KEY_MISMATCH',
    );
    fails(
      await runCli(
        ['key', 'import', '--key', 'orders', '--type', 'aes256-gcm', '--material', join(dir, 'aes.key')],
        env,
      ),
      'KEY_EXISTS',
    );
    assert.equal((await s.call('GET', '/v1/keys/bad', { token: env.KEYWARD_TOKEN })).status, 404);
  });
});
