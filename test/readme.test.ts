/**
 * README.md's shell examples, run as a new user would paste them (issue 11): every ```sh block is
 * extracted and run in order with bash (`set -eo pipefail`), `keyward` on PATH through a shim, in a
 * scratch directory, against a fresh dev server. The shim runs `keyward server` as the build's
 * binary and sends every other command to this process's CLI (test/helpers/cli-socket.ts: about
 * 12 s less CPU than ~35 binaries; KEYWARD_README_BINARY=1 runs them all as binaries). The ceremony
 * block starts its own server, which is stopped with the block's process group. Blocks that can't run here say so: ```sh no-run (the
 * installation, `npm start`, placeholders). The number of blocks run is asserted, so a README whose
 * blocks were all marked no-run, or renamed, fails here instead of passing silently.
 *
 * The README's fixed places are mapped onto this test's: /tmp/keyward-demo is a fresh temporary
 * directory and the ceremony server's 127.0.0.1:8421 a free port. The dev server's address and
 * token come in as KEYWARD_ADDR / KEYWARD_TOKEN, as the README tells the reader to export them, and
 * the passphrase prompts read KEYWARD_PASSPHRASE_FILE, which the README documents. The holder keys are
 * made the way the README's quick-trial aside allows (`holder-keygen --scrypt-log-n 12`): the block's
 * 12 uses of a key then cost scrypt at 2^12, not 2^17, about 10 s of CPU less per run
 * (test/cli/ceremony.test.ts still makes and opens a key at the default cost).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { devBootstrap } from '../engine/dev.js';
import { DIST_MAIN, distIsFresh } from '../scripts/dist-fresh.mjs';
import { startCliSocket } from './helpers/cli-socket.js';
import { startTestServer } from './helpers/server.js';
import type { TestServer } from './helpers/server.js';

const README = fileURLToPath(new URL('../README.md', import.meta.url));
/** How many ```sh blocks README.md runs; change it with the README. */
const EXPECTED_RUN = 6;
/** How many ```js blocks (the SDK and node-vault examples) README.md runs, as ES modules from the checkout. */
const EXPECTED_JS = 2;
const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** What the README's ceremony section says a quick trial may add to `holder-keygen`, and this test adds. */
const QUICK_TRIAL = '--scrypt-log-n 12';
const KEYGEN = 'keyward ceremony holder-keygen ';

export interface ShellBlock {
  /** 1-based line of the opening fence. */
  line: number;
  info: string;
  body: string;
}

/** The fenced code blocks of a Markdown text whose info string starts with `lang` (`sh` by default). */
export function shellBlocks(markdown: string, lang = 'sh'): ShellBlock[] {
  const out: ShellBlock[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)(.*)$/.exec(lines[i]!);
    if (!open) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]!); i++) body.push(lines[i]!);
    assert.ok(i < lines.length, `README.md:${start + 1}: unclosed code block`);
    if (open[1] === lang) out.push({ line: start + 1, info: (open[1] + open[2]).trim(), body: body.join('\n') });
  }
  return out;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Runs `script` with bash in its own process group; the group is killed afterwards (background servers too). */
function runBash(
  script: string,
  cwd: string,
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', `set -eo pipefail\n${script}`], {
      cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const killGroup = () => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // nothing left in the group
      }
    };
    const timer = setTimeout(() => {
      out += `\n[timed out after ${timeoutMs} ms]`;
      killGroup();
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      killGroup();
      child.stdout.destroy();
      child.stderr.destroy();
      resolve({ code, out });
    });
  });
}

describe('README.md shell blocks', { timeout: 180_000 }, () => {
  let s: TestServer;
  let root: string;
  let dir: string;

  before(async () => {
    s = await startTestServer();
    root = (await devBootstrap(s.hsm)).rootToken;
    dir = mkdtempSync(join(tmpdir(), 'keyward-readme-'));
  });
  after(async () => {
    await s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('marks every block it does not run, and runs the expected number', () => {
    const blocks = shellBlocks(readFileSync(README, 'utf8'));
    for (const b of blocks)
      assert.match(
        b.info,
        /^sh( no-run)?$/,
        `README.md:${b.line}: a shell block is "sh" (run in CI) or "sh no-run", got "${b.info}"`,
      );
    assert.equal(
      blocks.filter((b) => b.info === 'sh').length,
      EXPECTED_RUN,
      'README.md runs a different number of shell blocks: update EXPECTED_RUN with it',
    );
    assert.equal(
      shellBlocks('```sh\na\n```\n```sh no-run\nb\n```\n```ts\nc\n```\n')
        .map((b) => b.info)
        .join('|'),
      'sh|sh no-run',
      'the parser',
    );
  });

  it(
    'runs every ```sh block in order against a fresh server, each exiting 0',
    { skip: !distIsFresh() && 'needs a fresh build (npm run build): the shim runs dist/cli/main.js' },
    async (t) => {
      const bin = join(dir, '.bin');
      const demo = join(dir, 'keyward-demo');
      for (const d of [bin, demo]) rmSync(d, { recursive: true, force: true });
      mkdirSync(bin);
      writeFileSync(join(dir, 'passphrase'), 'correct horse battery staple, readme\n', { mode: 0o600 });
      // `keyward` on PATH (the README says to get it there): `keyward server` is the build's binary;
      // the other commands run in this process's CLI through a socket, which saves each its own start
      // (test/helpers/cli-socket.ts). KEYWARD_README_BINARY=1 runs every command with the binary.
      const cli = await startCliSocket(bin, DIST_MAIN, { binary: process.env.KEYWARD_README_BINARY === '1' });
      t.after(() => cli.close());
      const ceremonyPort = await freePort();
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        PATH: `${bin}:${process.env.PATH}`,
        KEYWARD_ADDR: s.url,
        KEYWARD_TOKEN: root,
        KEYWARD_PASSPHRASE_FILE: join(dir, 'passphrase'),
      };
      const readme = readFileSync(README, 'utf8');
      assert.ok(readme.includes(`holder-keygen ${QUICK_TRIAL}`), `README.md offers ${QUICK_TRIAL} for a quick trial`);
      const blocks = shellBlocks(readme).filter((b) => b.info === 'sh');
      let ran = 0;
      for (const b of blocks) {
        const script = b.body
          .replaceAll('/tmp/keyward-demo', demo)
          .replaceAll('127.0.0.1:8421', `127.0.0.1:${ceremonyPort}`)
          .replaceAll(KEYGEN, KEYGEN + QUICK_TRIAL + ' ');
        const r = await runBash(script, dir, env, 90_000);
        assert.equal(r.code, 0, `README.md:${b.line}: the block exited ${r.code}:\n${r.out}`);
        // What the README's comments promise, where a block's exit code alone would not show it.
        if (b.body.includes('keyward decrypt'))
          assert.match(r.out, /^card 4111$/m, 'the CLI block decrypts what it encrypted');
        if (b.body.includes('/v1/keys/orders/encrypt')) assert.match(r.out, /"initialized":true,"sealed":false/);
        if (b.body.includes('/v1/keys/orders/encrypt'))
          assert.match(r.out, /\{"ciphertext":"kw:v1:[^"]+","keyVersion":1\}/, 'the curl block encrypts');
        if (b.body.includes('ceremony rekey submit')) {
          assert.match(r.out, /new-shards\/dave\.shard/, "the rekey wrote the new holders' shards");
          // The option took: every key of the block was made, and opened, at scrypt 2^12.
          assert.equal(b.body.split(KEYGEN).length - 1, 5, 'the ceremony block makes five holder keys');
          for (const name of ['alice', 'bob', 'carol', 'dave', 'erin'])
            assert.equal(JSON.parse(readFileSync(join(demo, 'ceremony', `${name}.key`), 'utf8')).kdf.N, 2 ** 12);
        }
        ran++;
      }
      assert.equal(ran, EXPECTED_RUN);
    },
  );

  it(
    'runs every ```js block (SDK, node-vault) as an ES module from the checkout, each exiting 0',
    { skip: !distIsFresh() && 'needs a fresh build (npm run build): @keyward/client loads client/dist' },
    async () => {
      const blocks = shellBlocks(readFileSync(README, 'utf8'), 'js');
      assert.equal(
        blocks.length,
        EXPECTED_JS,
        'README.md has a different number of js blocks: update EXPECTED_JS with it',
      );
      const env: NodeJS.ProcessEnv = { ...process.env, KEYWARD_ADDR: s.url, KEYWARD_TOKEN: root };
      for (const b of blocks) {
        assert.equal(b.info, 'js', `README.md:${b.line}: a js block runs in CI ("js"), got "${b.info}"`);
        // Bare specifiers resolve from the working directory for --input-type=module: the checkout's node_modules.
        const script = `exec "${process.execPath}" --input-type=module -e "$KW_SNIPPET"`;
        const r = await runBash(script, ROOT, { ...env, KW_SNIPPET: b.body }, 60_000);
        assert.equal(r.code, 0, `README.md:${b.line}: the block exited ${r.code}:\n${r.out}`);
        if (b.body.includes('@keyward/client'))
          assert.match(r.out, /^kw:v1:\S+ invoice 42$/m, 'the SDK block decrypts what it encrypted');
        if (b.body.includes('node-vault'))
          assert.match(r.out, /^vault:v1:\S+ 4111$/m, 'the node-vault block decrypts what it encrypted');
      }
    },
  );
});
