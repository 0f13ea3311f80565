/**
 * `keyward --help` (issue 12 item 8): readable and plain when piped. Each command is listed once with
 * its path, positionals and required options (not every command's --addr/--token/--json again);
 * colours only on a terminal and never with NO_COLOR (https://no-color.org); offline commands do
 * not take --addr/--token/--timeout at all; numbers and booleans are parsed by clipanion's
 * validators, and a bad value is a usage error that names the flag.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, it } from 'node:test';
import { COMMANDS, commandsFor } from '../../cli/index.js';
import { CLI_ENTRY, runCli } from '../helpers/cli.js';

const ANSI = /\x1b\[/;

/** Runs the CLI under a pseudo-terminal (util-linux `script`), so stdout is a TTY. */
function runOnTty(args: string[], env: Record<string, string | undefined> = {}): Promise<string> {
  const cmd = [process.execPath, ...CLI_ENTRY, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  return new Promise((resolve, reject) => {
    execFile(
      'script',
      ['-qec', cmd, '/dev/null'],
      { env: { ...process.env, NO_COLOR: undefined, ...env }, timeout: 60_000 },
      (err, stdout) => (err && typeof err.code !== 'number' ? reject(err) : resolve(stdout)),
    );
  });
}

describe('keyward --help (CLI)', { timeout: 120_000 }, () => {
  it('registers only the commands the first word names (all of them for anything else)', () => {
    const audit = commandsFor(['audit', 'verify', '--json']);
    assert.ok(audit.length >= 5 && audit.length < COMMANDS.length);
    assert.ok(audit.every((c) => c.paths?.some((p) => p[0] === 'audit')));
    assert.equal(audit.length, COMMANDS.filter((c) => c.paths?.some((p) => p[0] === 'audit')).length);
    for (const argv of [[], ['--help'], ['--version'], ['audt', 'verify'], ['--addr', 'x', 'status']])
      assert.equal(commandsFor(argv), COMMANDS, argv.join(' '));
  });

  it('is plain text when piped, lists each command once, and says the shared options once', async () => {
    const r = await runCli(['--help'], { NO_COLOR: undefined });
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout, ANSI);
    const lines = r.stdout.split('\n');
    // Every command line starts with "  keyward "; none carries the optional shared options.
    const commands = lines.filter((l) => l.startsWith('  keyward '));
    assert.ok(commands.length >= 50, r.stdout);
    for (const l of commands) assert.doesNotMatch(l, /\[--(addr|token|json|timeout)\b/, l);
    assert.equal(r.stdout.match(/--addr/g)?.length, 1, 'the shared options are named once, at the end');
    for (const c of ['sys rotate', 'key rotate <name>', 'completion <bash|zsh>', 'encrypt <--key #0>', 'server']) {
      assert.ok(
        commands.some((l) => l === `  keyward ${c}`),
        `--help lacks "keyward ${c}":\n${r.stdout}`,
      );
    }
    // The deprecated `keyward rotate` still runs but is not listed.
    assert.ok(!commands.some((l) => l === '  keyward rotate'), r.stdout);
    // A command's own --help still lists all its options, the shared ones included.
    const own = await runCli(['key', 'list', '--help']);
    assert.doesNotMatch(own.stdout, ANSI);
    for (const o of ['--addr #0', '--token #0', '--timeout #0', '--json', '--limit #0'])
      assert.ok(own.stdout.includes(o), own.stdout);
  });

  it('is coloured on a terminal, and plain there with NO_COLOR', async () => {
    const tty = await runOnTty(['--help']);
    assert.match(tty, ANSI, 'a terminal gets colours');
    assert.match(tty, /keyward sys rotate/);
    const noColor = await runOnTty(['--help'], { NO_COLOR: '1' });
    assert.match(noColor, /keyward sys rotate/);
    assert.doesNotMatch(noColor, ANSI);
    // Usage errors too.
    const err = await runOnTty(['key', 'list', '--limit', 'x'], { NO_COLOR: '1' });
    assert.match(err, /Invalid value for --limit/);
    assert.doesNotMatch(err, ANSI);
  });

  it('offline commands reject --addr, --token and --timeout as unknown options', async () => {
    const offline: string[][] = [
      ['server', '--dev'],
      ['policy', 'build', 'p.ts'],
      ['policy', 'new', 'p'],
      ['policy', 'test', 'p.ts'],
      ['policy', 'eval', 'p.wasm'],
      ['audit', 'verify-bundle', 'b.json', '--trusted-key', 't.txt'],
      ['ceremony', 'holder-keygen', '--name', 'a', '--out', 'a.key'],
    ];
    for (const args of offline) {
      for (const extra of [
        ['--addr', 'http://127.0.0.1:1'],
        ['--token', 'kwt_x'],
        ['--timeout', '5'],
      ]) {
        const r = await runCli([...args, ...extra]);
        assert.equal(r.code, 1, `${args.join(' ')} ${extra[0]}: ${r.stdout}${r.stderr}`);
        assert.match(
          r.stdout,
          new RegExp(`Unsupported option name \\("${extra[0]}"\\)`),
          `${args.join(' ')} ${extra[0]}: ${r.stdout}`,
        );
      }
      // --json is still theirs.
      const help = await runCli([...args.slice(0, args[0] === 'server' ? 1 : 2), '--help']);
      assert.match(help.stdout, /--json/);
      assert.doesNotMatch(help.stdout, /--addr|--token|--timeout/, help.stdout);
    }
    // A remote command still takes them (here it fails to connect, not to parse).
    const remote = await runCli(['status', '--addr', 'http://127.0.0.1:1', '--token', 'kwt_x', '--timeout', '5']);
    assert.match(remote.stderr, /SERVER_UNREACHABLE/);
  });

  it('parses numbers and booleans with validators; a bad value names the flag and sends nothing', async () => {
    // 127.0.0.1:1 refuses connections: a value that got past parsing would fail with SERVER_UNREACHABLE instead.
    const at = ['--addr', 'http://127.0.0.1:1'];
    const bad: [string[], RegExp][] = [
      [['key', 'list', '--limit', '0'], /Invalid value for --limit: expected to be in the \[1; 1000\] range \(got 0\)/],
      [['key', 'list', '--limit', '1001'], /Invalid value for --limit/],
      [['key', 'list', '--limit', '1e2'], /Invalid value for --limit/],
      [
        ['key', 'config', 'k', '--deletion-allowed', 'yes'],
        /Invalid value for --deletion-allowed: expected a boolean \(got "yes"\)/,
      ],
      [['key', 'config', 'k', '--min-decryption-version=-1'], /Invalid value for --min-decryption-version/],
      [
        ['key', 'export', '--key', 'k', '--wrapping-key', 'w.pem', '--algorithm', 'x', '--version', '0'],
        /Invalid value for --version/,
      ],
      [
        ['decrypt', '--key', 'k', '--text', 'x', '--key-version', '1.5'],
        /Invalid value for --key-version: expected to be an integer \(got 1.5\)/,
      ],
      [['datakey', '--key', 'k', '--bytes', 'abc'], /Invalid value for --bytes/],
      [
        ['ceremony', 'init', '--holders', 'a.pub', '--threshold', 'two', '--out-dir', 'x'],
        /Invalid value for --threshold/,
      ],
      [['audit', 'export', '--from=-1', '--out', 'x.json'], /Invalid value for --from/],
      [['status', '--timeout', '0'], /Invalid value for --timeout/],
    ];
    for (const [args, message] of bad) {
      const r = await runCli([...args, ...at]);
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.match(r.stdout, message, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.doesNotMatch(r.stderr, /SERVER_UNREACHABLE/);
    }
    // KEYWARD_TIMEOUT goes through the same validator and is named as the variable.
    const env = await runCli(['status', ...at], { KEYWARD_TIMEOUT: 'soon' });
    assert.match(env.stdout, /Invalid value for KEYWARD_TIMEOUT/);
    // Good values parse and reach the network.
    for (const args of [
      ['key', 'config', 'k', '--deletion-allowed', 'false', '--min-decryption-version', '2'],
      ['key', 'list', '--limit', '1000'],
    ]) {
      const r = await runCli([...args, ...at]);
      assert.match(r.stderr, /SERVER_UNREACHABLE/, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
    }
  });
});
