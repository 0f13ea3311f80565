/**
 * `keyward completion bash|zsh` (issue 12 item 8): the script is generated from the registered
 * commands; sourced in a real bash, `complete -p keyward` names its function, and the function,
 * called the way bash calls it (COMP_WORDS, COMP_CWORD), completes command paths word by word and
 * a command's options.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ok, runBinary, runCli } from '../helpers/cli.js';

function bash(script: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('bash', ['--norc', '--noprofile', '-c', script], { timeout: 30_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout),
    );
  });
}

describe('keyward completion (CLI)', { timeout: 120_000 }, () => {
  let dir: string;
  let file: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kw-completion-'));
    file = join(dir, 'keyward.bash');
    // The real binary: `keyward` registers only the commands its first word names, and the script
    // must still cover every command.
    await writeFile(file, ok(await runBinary(['completion', 'bash'])).stdout);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  /** What the completion function offers for `line` (the cursor at its end), as bash would ask. */
  async function complete(line: string): Promise<string[]> {
    const words = line.split(' ');
    const out = await bash(
      `source ${JSON.stringify(file)}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; COMP_LINE=${JSON.stringify(line)}; COMP_POINT=${line.length}\n_keyward\nprintf '%s\\n' "\${COMPREPLY[@]}"`,
    );
    return out.split('\n').filter((w) => w !== '');
  }

  it('registers the function with complete', async () => {
    assert.equal(
      (await bash(`source ${JSON.stringify(file)}; complete -p keyward`)).trim(),
      'complete -F _keyward keyward',
    );
  });

  it('completes command paths word by word', async () => {
    assert.deepEqual(await complete('keyward ke'), ['key']);
    assert.deepEqual(await complete('keyward key '), [
      'config',
      'create',
      'delete',
      'export',
      'import',
      'list',
      'rotate',
      'show',
      'wrapping-key',
    ]);
    assert.deepEqual(await complete('keyward ceremony rekey '), ['cancel', 'init', 'status', 'submit']);
    assert.deepEqual(await complete('keyward sys r'), ['rotate']);
    const top = await complete('keyward ');
    for (const w of ['key', 'sys', 'ceremony', 'policy', 'server', 'encrypt', 'completion'])
      assert.ok(top.includes(w), top.join(' '));
    // The deprecated top-level `rotate` is hidden and not offered.
    assert.ok(!top.includes('rotate'), top.join(' '));
    assert.equal(new Set(top).size, top.length, 'no word twice');
  });

  it("completes a command's options, remote and offline ones differing", async () => {
    assert.deepEqual(await complete('keyward key create --ex'), ['--exportable']);
    const remote = await complete('keyward key list --');
    for (const o of ['--addr', '--token', '--timeout', '--json', '--limit', '--after', '--help'])
      assert.ok(remote.includes(o), remote.join(' '));
    const offline = await complete('keyward policy build --');
    assert.ok(offline.includes('--out') && offline.includes('--json'), offline.join(' '));
    assert.ok(!offline.includes('--addr'), offline.join(' '));
    // Options after option values: the path is still `key config`.
    assert.deepEqual(await complete('keyward key config orders --deletion-allowed true --min'), [
      '--min-decryption-version',
    ]);
  });

  it('prints a zsh script over bashcompinit, and refuses other shells', async () => {
    const zsh = ok(await runCli(['completion', 'zsh'])).stdout;
    assert.match(zsh, /bashcompinit/);
    assert.match(zsh, /complete -F _keyward keyward/);
    const fish = await runCli(['completion', 'fish']);
    assert.equal(fish.code, 1);
    assert.match(fish.stdout, /Invalid value for bash\|zsh/);
  });
});
