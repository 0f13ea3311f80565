/**
 * Key export from the CLI: `keyward key export` is parked for two operators' approval, executed with
 * `keyward approval execute`, and its answer imports into a second server with
 * `keyward key import --wrapped`; wrong inputs fail locally or at once, before anything is parked.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { devBootstrap } from '../../engine/dev.js';
import { approveTwice, parkedId } from '../helpers/approvals.js';
import { fails, ok, runCli } from '../helpers/cli.js';
import type { CliResult } from '../helpers/cli.js';
import { startTestServer } from '../helpers/server.js';
import type { TestServer } from '../helpers/server.js';
import { fixedRsaKeyPair } from '../helpers/rsa.js';

describe('keyward key export (CLI)', { timeout: 240_000 }, () => {
  let a: TestServer;
  let b: TestServer;
  let envA: Record<string, string>;
  let envB: Record<string, string>;
  let dir: string;

  before(async () => {
    [a, b] = await Promise.all([startTestServer(), startTestServer()]);
    envA = { KEYWARD_ADDR: a.url, KEYWARD_TOKEN: (await devBootstrap(a.hsm)).rootToken };
    envB = { KEYWARD_ADDR: b.url, KEYWARD_TOKEN: (await devBootstrap(b.hsm)).rootToken };
    dir = await mkdtemp(join(tmpdir(), 'keyward-export-cli-'));
  });
  after(async () => {
    await Promise.all([a.close(), b.close()]);
    await rm(dir, { recursive: true, force: true });
  });

  it("exports an AES key (version 2) to B's X-Wing wrapping key under dual control; B imports it with its identity and decrypts A's ciphertexts", async () => {
    ok(await runCli(['key', 'create', 'orders', '--type', 'aes256-gcm', '--exportable'], envA));
    ok(await runCli(['key', 'rotate', 'orders'], envA));
    const ct = ok(await runCli(['encrypt', '--key', 'orders', '--text', 'card 4111'], envA)).stdout.trim();
    assert.match(ct, /^kw:v2:/);
    ok(await runCli(['key', 'wrapping-key', '--algorithm', 'x-wing', '--out', join(dir, 'b.pub')], envB));
    const parked = await runCli(
      ['key', 'export', '--key', 'orders', '--wrapping-key', join(dir, 'b.pub'), '--algorithm', 'x-wing'],
      envA,
    );
    const id = parkedId(parked);
    await approveTwice(a.url, a.hsm.store.db, id);
    const body = { algorithm: 'x-wing', wrappingKey: (await readFile(join(dir, 'b.pub'), 'utf8')).trim() };
    await writeFile(join(dir, 'body.json'), JSON.stringify(body));
    const exported = ok(
      await runCli(['approval', 'execute', id, '--body', join(dir, 'body.json'), '--json'], envA),
    ).json();
    assert.deepEqual(
      [exported.name, exported.type, exported.keyVersion, exported.algorithm, exported.publicKey],
      ['orders', 'aes256-gcm', 2, 'x-wing', null],
    );
    await writeFile(join(dir, 'orders.export.json'), JSON.stringify(exported));

    const imp = ok(
      await runCli(['key', 'import', '--key', 'orders', '--wrapped', join(dir, 'orders.export.json')], envB),
    ).stdout;
    assert.match(imp, /Imported aes256-gcm key orders \(version 2\) from orders version 2, wrapped with x-wing/);
    assert.equal(ok(await runCli(['decrypt', '--key', 'orders', '--text', ct], envB)).stdout, 'card 4111');
  });

  it('wrong inputs fail with a clear error, and nothing is parked', async () => {
    ok(await runCli(['key', 'create', 'plain', '--type', 'aes256-gcm'], envA));
    const rsa2048 = fixedRsaKeyPair(2048).publicKey.export({ format: 'pem', type: 'spki' }) as string;
    await writeFile(join(dir, 'rsa2048.pem'), rsa2048);
    const before = (await a.call('GET', '/v1/approvals?state=pending', { token: envA.KEYWARD_TOKEN })).body.approvals
      .length;
    fails(
      await runCli(
        ['key', 'export', '--key', 'plain', '--wrapping-key', join(dir, 'b.pub'), '--algorithm', 'x-wing'],
        envA,
      ),
      'KEY_NOT_EXPORTABLE',
    );
    fails(
      await runCli(
        [
          'key',
          'export',
          '--key',
          'orders',
          '--wrapping-key',
          join(dir, 'rsa2048.pem'),
          '--algorithm',
          'rsa-oaep-3072-aes-kwp',
        ],
        envA,
      ),
      'WRAPPING_KEY_INVALID',
    );
    fails(
      await runCli(
        ['key', 'export', '--key', 'orders', '--wrapping-key', join(dir, 'b.pub'), '--algorithm', 'ml-kem-768'],
        envA,
      ),
      'WRAPPING_KEY_INVALID',
    );
    fails(
      await runCli(
        [
          'key',
          'export',
          '--key',
          'orders',
          '--wrapping-key',
          join(dir, 'b.pub'),
          '--algorithm',
          'x-wing',
          '--version',
          '7',
        ],
        envA,
      ),
      'KEY_VERSION_NOT_FOUND',
    );
    fails(
      await runCli(
        ['key', 'export', '--key', 'orders', '--wrapping-key', join(dir, 'missing.pub'), '--algorithm', 'x-wing'],
        envA,
      ),
      'FILE_UNREADABLE',
    );
    fails(
      await runCli(
        ['key', 'export', '--key', 'orders', '--wrapping-key', join(dir, 'b.pub'), '--algorithm', 'des'],
        envA,
      ),
      '--algorithm expects',
    );
    assert.equal(
      (await a.call('GET', '/v1/approvals?state=pending', { token: envA.KEYWARD_TOKEN })).body.approvals.length,
      before,
    );
    fails(await runCli(['key', 'import', '--key', 'x', '--wrapped', join(dir, 'body.json')], envB), 'FILE_INVALID');
  });
});
