/**
 * The full 3-holder, threshold-2 ceremony from the CLI, against a real server over HTTP on the
 * test driver (PGlite by default, PostgreSQL with KEYWARD_TEST_DRIVER=postgres): init, restart
 * (sealed), unseal with 2 of 3, seal, unseal again, root rotation with older data still readable,
 * rekey to a new 2-of-2 set (old shards rejected), verify-shard, and the error paths.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TEST_PASSPHRASE, makeHolders, writeHolderFiles } from '../helpers/ceremony.js';
import { fails, ok, runCli } from '../helpers/cli.js';
import { startTestServer } from '../helpers/server.js';
import type { TestServer } from '../helpers/server.js';

describe('keyward ceremony (CLI, end to end)', { timeout: 240_000 }, () => {
  let s: TestServer;
  let dir: string;
  let env: Record<string, string>;
  let rootToken: string;
  const k = (n: string) => join(dir, `${n}.key`);
  const shard = (n: string, sub = 'shards') => join(dir, sub, `${n}.shard`);

  before(async () => {
    s = await startTestServer();
    dir = await mkdtemp(join(tmpdir(), 'keyward-cli-'));
    await writeFile(join(dir, 'pass'), TEST_PASSPHRASE + '\n');
    await writeFile(join(dir, 'wrong'), 'not the passphrase\n');
    env = { KEYWARD_ADDR: s.url };
  });
  after(async () => {
    await s.close();
    await rm(dir, { recursive: true, force: true });
  });

  const pass = () => ['--passphrase-file', join(dir, 'pass')];
  const unseal = (n: string, sub = 'shards') =>
    runCli(['ceremony', 'unseal', '--key', k(n), '--shard', shard(n, sub), ...pass(), '--json'], env);

  it('--help lists every command', async () => {
    const r = ok(await runCli(['--help']));
    for (const c of [
      'server',
      'status',
      'seal',
      'sys rotate',
      'ceremony holder-keygen',
      'ceremony init',
      'ceremony unseal',
      'ceremony verify-shard',
      'ceremony rekey init',
      'ceremony rekey submit',
    ]) {
      assert.ok(r.stdout.includes(`keyward ${c}`), `--help lacks ${c}:\n${r.stdout}`);
    }
  });

  it('makes holder keys', async () => {
    // alice's key comes from the CLI (scrypt at full cost); the others are written in-process with
    // scrypt 2^12 in the same file format, to keep the suite fast.
    const made = ok(
      await runCli(['ceremony', 'holder-keygen', '--name', 'alice', '--out', k('alice'), ...pass(), '--json']),
    );
    assert.match(made.json().fingerprint, /^[0-9a-f]{32}$/);
    const others = await makeHolders(['bob', 'carol', 'dave', 'erin']);
    const files = await writeHolderFiles(dir, others);
    await writeFile(join(dir, 'pass'), TEST_PASSPHRASE + '\n');
    assert.equal(files.key('bob'), k('bob'));
    const priv = JSON.parse(await readFile(k('alice'), 'utf8'));
    assert.equal(priv.format, 'keyward.holder-private-key/v1');
    assert.equal(priv.kdf.N, 2 ** 17, 'the default cost (this key is opened below: the only full-cost one)');
    fails(
      await runCli(['ceremony', 'holder-keygen', '--name', 'alice', '--out', k('alice'), ...pass()]),
      'FILE_EXISTS',
    );
    fails(
      await runCli(['ceremony', 'holder-keygen', '--name', 'bad name!', '--out', join(dir, 'x.key'), ...pass()]),
      'HOLDER_NAME_INVALID',
    );
    fails(
      await runCli(['ceremony', 'holder-keygen', '--name', 'z', '--out', join(dir, 'z.key')]),
      'PASSPHRASE_REQUIRED',
    );
  });

  it('holder-keygen --scrypt-log-n sets the cost within what a key file may say (2^12..2^20)', async () => {
    const cheap = join(dir, 'trial.key');
    ok(
      await runCli(['ceremony', 'holder-keygen', '--name', 'trial', '--out', cheap, '--scrypt-log-n', '12', ...pass()]),
    );
    assert.equal(JSON.parse(await readFile(cheap, 'utf8')).kdf.N, 2 ** 12);
    for (const bad of ['11', '21', '1.5', '2^12']) {
      const r = await runCli([
        'ceremony',
        'holder-keygen',
        '--name',
        'x',
        '--out',
        join(dir, 'x.key'),
        '--scrypt-log-n',
        bad,
        ...pass(),
      ]);
      assert.equal(r.code, 1, bad);
      assert.match(r.stdout, /Invalid value for --scrypt-log-n/, bad);
    }
    assert.match(
      ok(await runCli(['ceremony', 'holder-keygen', '--help'])).stdout,
      /--scrypt-log-n #0\s+scrypt cost N = 2\^this, 12\.\.20 \(default 17\)/,
    );
  });

  it('status before init exits 2', async () => {
    const r = await runCli(['status', '--json'], env);
    assert.equal(r.code, 2);
    assert.equal(r.json().initialized, false);
  });

  it('inits 2-of-3; the operator gets sealed shard files and the root token', async () => {
    const usage = await runCli(
      ['ceremony', 'init', '--holders', `${k('alice')}.pub`, '--threshold', 'two', '--out-dir', join(dir, 'shards')],
      env,
    );
    assert.equal(usage.code, 1);
    assert.match(usage.stdout + usage.stderr, /Invalid value for --threshold/);
    fails(
      await runCli(
        [
          'ceremony',
          'init',
          '--holders',
          join(dir, 'missing.pub'),
          '--threshold',
          '1',
          '--out-dir',
          join(dir, 'shards'),
        ],
        env,
      ),
      'FILE_UNREADABLE',
    );
    const r = ok(
      await runCli(
        [
          'ceremony',
          'init',
          '--holders',
          ['alice', 'bob', 'carol'].map((n) => `${k(n)}.pub`).join(','),
          '--threshold',
          '2',
          '--out-dir',
          join(dir, 'shards'),
          '--root-token-out',
          join(dir, 'root-token'),
          '--json',
        ],
        env,
      ),
    );
    assert.equal(r.json().shardFiles.length, 3);
    assert.equal(r.json().rootToken, undefined, 'token went to the file, not stdout');
    rootToken = (await readFile(join(dir, 'root-token'), 'utf8')).trim();
    assert.match(rootToken, /^kwt_/);
    const sh = JSON.parse(await readFile(shard('alice'), 'utf8'));
    assert.equal(sh.holder, 'alice');
    assert.equal(sh.format, 'keyward.shard/v1');
  });

  it('a restart is sealed; a wrong passphrase is a clear error; 2 of 3 unseal', async () => {
    await s.restart();
    const st = await runCli(['status'], env);
    assert.equal(st.code, 2, st.stdout + st.stderr);
    fails(
      await runCli(
        ['ceremony', 'unseal', '--key', k('alice'), '--shard', shard('alice'), '--passphrase-file', join(dir, 'wrong')],
        env,
      ),
      'PASSPHRASE_WRONG',
    );
    fails(
      await runCli(['ceremony', 'unseal', '--key', k('bob'), '--shard', shard('alice'), ...pass()], env),
      'SHARD_NOT_FOR_HOLDER',
    );
    const a = ok(await unseal('alice'));
    assert.equal(a.json().progress, 1);
    assert.equal(a.json().sealed, true);
    const dup = await unseal('alice');
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, /SHARD_DUPLICATE/);
    const c = ok(await unseal('carol'));
    assert.equal(c.json().sealed, false);
    assert.equal(ok(await runCli(['status', '--json'], env)).json().sealed, false);
  });

  it('verify-shard checks a shard against the live ceremony without submitting it', async () => {
    const r = ok(
      await runCli(['ceremony', 'verify-shard', '--key', k('bob'), '--shard', shard('bob'), ...pass(), '--json'], env),
    );
    assert.equal(r.json().matchesServer, true);
    ok(await runCli(['ceremony', 'verify-shard', '--key', k('bob'), '--shard', shard('bob'), ...pass(), '--offline']));
  });

  it('seal needs the token; then any 2 of 3 unseal again', async () => {
    fails(await runCli(['seal'], env), 'UNAUTHENTICATED');
    ok(await runCli(['seal', '--token', rootToken], env));
    assert.equal((await runCli(['status'], env)).code, 2);
    ok(await unseal('bob'));
    assert.equal(ok(await unseal('alice')).json().sealed, false);
  });

  it('root rotation keeps data written before it readable', async () => {
    await s.hsm.secrets.put('test/pre-rotation', new TextEncoder().encode('older data'));
    const r = ok(await runCli(['sys', 'rotate', '--json'], { ...env, KEYWARD_TOKEN: rootToken }));
    assert.equal(r.json().term, 2);
    assert.equal(r.stderr, '');
    // The old name still works for scripts, with a deprecation line on stderr and the same stdout.
    const old = ok(await runCli(['rotate', '--json'], { ...env, KEYWARD_TOKEN: rootToken }));
    assert.equal(old.json().term, 3);
    assert.match(old.stderr, /`keyward rotate` is deprecated; use `keyward sys rotate`/);
    await s.hsm.secrets.put('test/post-rotation', new TextEncoder().encode('newer data'));
    ok(await runCli(['seal'], { ...env, KEYWARD_TOKEN: rootToken }));
    await s.restart();
    ok(await unseal('carol'));
    ok(await unseal('bob'));
    assert.equal(new TextDecoder().decode(await s.hsm.secrets.get('test/pre-rotation')), 'older data');
    assert.equal(new TextDecoder().decode(await s.hsm.secrets.get('test/post-rotation')), 'newer data');
  });

  it('rekeys to a new 2-of-2 set; old shards stop working', async () => {
    const tok = { ...env, KEYWARD_TOKEN: rootToken };
    ok(
      await runCli(
        ['ceremony', 'rekey', 'init', '--holders', `${k('dave')}.pub,${k('erin')}.pub`, '--threshold', '2'],
        tok,
      ),
    );
    assert.equal(ok(await runCli(['ceremony', 'rekey', 'status', '--json'], env)).json().started, true);
    const first = ok(
      await runCli(
        [
          'ceremony',
          'rekey',
          'submit',
          '--key',
          k('alice'),
          '--shard',
          shard('alice'),
          '--out-dir',
          join(dir, 'new'),
          ...pass(),
          '--json',
        ],
        env,
      ),
    );
    assert.equal(first.json().complete, false);
    const done = ok(
      await runCli(
        [
          'ceremony',
          'rekey',
          'submit',
          '--key',
          k('carol'),
          '--shard',
          shard('carol'),
          '--out-dir',
          join(dir, 'new'),
          ...pass(),
          '--json',
        ],
        env,
      ),
    );
    assert.equal(done.json().complete, true);
    assert.equal(done.json().generation, 2);
    ok(await runCli(['seal'], tok));
    const old = await unseal('bob');
    fails(old, 'SHARD_FOREIGN');
    const vs = await runCli(['ceremony', 'verify-shard', '--key', k('bob'), '--shard', shard('bob'), ...pass()], env);
    fails(vs, 'SHARD_FOREIGN');
    ok(await unseal('dave', 'new'));
    assert.equal(ok(await unseal('erin', 'new')).json().sealed, false);
    assert.equal(new TextDecoder().decode(await s.hsm.secrets.get('test/pre-rotation')), 'older data');
  });

  it('reports an unreachable server and a bad --addr clearly', async () => {
    fails(await runCli(['status'], { KEYWARD_ADDR: 'http://127.0.0.1:1' }), 'SERVER_UNREACHABLE');
    fails(await runCli(['status', '--addr', 'not a url']), 'ADDR_INVALID');
  });
});
