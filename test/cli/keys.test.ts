/** Keys and data-plane operations from the CLI against a real server. */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { devBootstrap } from '../../engine/dev.js';
import { approveTwice, parkedId } from '../helpers/approvals.js';
import { ok, runCli } from '../helpers/cli.js';
import type { CliResult } from '../helpers/cli.js';
import { startTestServer } from '../helpers/server.js';
import type { TestServer } from '../helpers/server.js';

describe('keyward key / encrypt / sign / encapsulate (CLI)', { timeout: 180_000 }, () => {
  let s: TestServer;
  let env: Record<string, string>;
  let dir: string;

  before(async () => {
    s = await startTestServer();
    env = { KEYWARD_ADDR: s.url, KEYWARD_TOKEN: (await devBootstrap(s.hsm)).rootToken };
    dir = await mkdtemp(join(tmpdir(), 'keyward-keys-cli-'));
  });
  after(async () => {
    await s.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('creates, encrypts from stdin and a file, decrypts to raw bytes, rotates, retires v1', async () => {
    ok(await runCli(['key', 'create', 'orders', '--type', 'aes256-gcm', '--label', 'team=payments'], env));
    const c1 = ok(
      await runCli(['encrypt', '--key', 'orders', '--in', '-', '--aad-text', 'order-7'], env, { stdin: 'card 4111' }),
    ).stdout.trim();
    assert.match(c1, /^kw:v1:/);
    assert.equal(
      ok(await runCli(['decrypt', '--key', 'orders', '--text', c1, '--aad-text', 'order-7'], env)).stdout,
      'card 4111',
    );
    const wrongAad = await runCli(['decrypt', '--key', 'orders', '--text', c1], env);
    assert.equal(wrongAad.code, 1);
    assert.match(wrongAad.stderr, /DECRYPTION_FAILED/);
    ok(await runCli(['key', 'rotate', 'orders'], env));
    await writeFile(join(dir, 'p.bin'), Buffer.from([0, 1, 2, 255]));
    const c2 = ok(await runCli(['encrypt', '--key', 'orders', '--in', join(dir, 'p.bin'), '--json'], env)).json();
    assert.equal(c2.keyVersion, 2);
    const back = ok(await runCli(['decrypt', '--key', 'orders', '--text', c2.ciphertext, '--json'], env)).json();
    assert.deepEqual(Buffer.from(back.plaintext, 'base64'), Buffer.from([0, 1, 2, 255]));
    const rw = ok(
      await runCli(['rewrap', '--key', 'orders', '--text', c1, '--aad-text', 'order-7'], env),
    ).stdout.trim();
    assert.match(rw, /^kw:v2:/);
    ok(await runCli(['key', 'config', 'orders', '--min-decryption-version', '2'], env));
    assert.match(
      (await runCli(['decrypt', '--key', 'orders', '--text', c1, '--aad-text', 'order-7'], env)).stderr,
      /KEY_VERSION_DISABLED/,
    );
    const show = ok(await runCli(['key', 'show', 'orders', '--json'], env)).json();
    assert.deepEqual([show.minDecryptionVersion, show.latestVersion, show.labels.team], [2, 2, 'payments']);
    const list = ok(await runCli(['key', 'list', '--json'], env)).json();
    assert.deepEqual(
      list.keys.map((k: any) => k.name),
      ['orders'],
    );
  });

  it('signs and verifies (exit 1 for an invalid signature)', async () => {
    ok(await runCli(['key', 'create', 'release', '--type', 'ml-dsa-44'], env));
    const sig = ok(
      await runCli(['sign', '--key', 'release', '--text', 'v1.2.3', '--context-text', 'releases'], env),
    ).stdout.trim();
    assert.equal(
      ok(
        await runCli(
          ['verify', '--key', 'release', '--text', 'v1.2.3', '--signature', sig, '--context-text', 'releases'],
          env,
        ),
      ).stdout.trim(),
      'valid',
    );
    const bad = await runCli(
      ['verify', '--key', 'release', '--text', 'v1.2.4', '--signature', sig, '--context-text', 'releases'],
      env,
    );
    assert.deepEqual([bad.code, bad.stdout.trim()], [1, 'invalid']);
  });

  it('encapsulates and decapsulates to the same secret; hmac and datakey', async () => {
    ok(await runCli(['key', 'create', 'kem', '--type', 'x-wing'], env));
    const e = ok(await runCli(['encapsulate', '--key', 'kem', '--json'], env)).json();
    assert.equal(
      ok(await runCli(['decapsulate', '--key', 'kem', '--text', e.ciphertext], env)).stdout.trim(),
      e.sharedSecret,
    );
    ok(await runCli(['key', 'create', 'tags', '--type', 'hmac-sha256'], env));
    assert.match(ok(await runCli(['hmac', '--key', 'tags', '--text', 'x'], env)).stdout, /^kw:v1:/);
    const dk = ok(await runCli(['datakey', '--key', 'orders', '--bytes', '16', '--json'], env)).json();
    assert.equal(Buffer.from(dk.plaintext, 'base64').length, 16);
  });

  it('deletes only when allowed; reports usage and server errors clearly', async () => {
    // A key that doesn't allow deletion is refused at once, not parked for approvers.
    const refused = await runCli(['key', 'delete', 'tags'], env);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /KEY_DELETION_NOT_ALLOWED/);
    ok(await runCli(['key', 'config', 'tags', '--deletion-allowed', 'true'], env));
    // Deletion is under dual control: parked, approved by two operators, executed by the requester.
    const id = parkedId(await runCli(['key', 'delete', 'tags'], env));
    await approveTwice(s.url, s.hsm.store.db, id);
    ok(await runCli(['approval', 'execute', id], env));
    assert.match((await runCli(['hmac', '--key', 'tags', '--text', 'x'], env)).stderr, /KEY_PENDING_DELETION/);
    const usage = await runCli(['encrypt', '--key', 'orders'], env);
    assert.equal(usage.code, 1);
    assert.match(usage.stdout + usage.stderr, /exactly one of --in FILE/);
    assert.match((await runCli(['encrypt', '--key', 'nope', '--text', 'x'], env)).stderr, /KEY_NOT_FOUND/);
    assert.match((await runCli(['key', 'create', 'x', '--type', 'des'], env)).stderr, /KEY_TYPE_INVALID/);
  });

  it("key show prints each version's public key; key list marks keys scheduled for deletion", async () => {
    ok(await runCli(['key', 'rotate', 'release'], env));
    const info = ok(await runCli(['key', 'show', 'release', '--json'], env)).json();
    assert.equal(info.versions.length, 2);
    const text = ok(await runCli(['key', 'show', 'release'], env)).stdout;
    for (const v of info.versions) {
      assert.ok(v.publicKey, 'ml-dsa-44 versions have public keys');
      assert.ok(
        text.includes(`v${v.version}  created ${v.createdAt}  public key (base64): ${v.publicKey}\n`),
        `v${v.version}'s public key in:\n${text}`,
      );
    }
    assert.match(text, /^release  ml-dsa-44$/m);
    assert.doesNotMatch(text, /DELETION SCHEDULED/);
    assert.match(
      ok(await runCli(['key', 'show', 'tags'], env)).stdout,
      /DELETION SCHEDULED: refuses operations; purged after \d{4}-/,
    );
    const list = ok(await runCli(['key', 'list'], env)).stdout;
    assert.match(list, /^tags  hmac-sha256  v1  DELETION SCHEDULED \(purged after \d{4}-\S+\)$/m);
    assert.match(list, /^release  ml-dsa-44  v2$/m);
  });
});
