/**
 * The one registration list of `keyward` commands, and the `Cli` that runs them.
 *
 * `keyward --help` lists each command as its path, positional arguments and required options
 * only: clipanion's own list inlines every option of every command, which repeated `[--addr #0]
 * [--token #0] [--json]` on each line; the shared options are said once at the end, and each
 * command's `--help` still lists all of its options. Colours only on a terminal and never with
 * NO_COLOR (https://no-color.org).
 * @module
 */
import { Builtins, Cli, Command } from 'clipanion';
import type { CommandClass } from 'clipanion';
import { VERSION } from '../engine/version.js';
import CompletionCommand from './commands/completion.js';
import ApprovalApproveCommand from './commands/approval/approve.js';
import ApprovalDenyCommand from './commands/approval/deny.js';
import ApprovalExecuteCommand from './commands/approval/execute.js';
import ApprovalListCommand from './commands/approval/list.js';
import ApprovalShowCommand from './commands/approval/show.js';
import AuditExportCommand from './commands/audit/export.js';
import AuditKeysCommand from './commands/audit/keys.js';
import AuditReplayCommand from './commands/audit/replay.js';
import AuditVerifyBundleCommand from './commands/audit/verify-bundle.js';
import AuditVerifyCommand from './commands/audit/verify.js';
import CeremonyHolderKeygenCommand from './commands/ceremony/holder-keygen.js';
import CeremonyInitCommand from './commands/ceremony/init.js';
import CeremonyRekeyCancelCommand from './commands/ceremony/rekey/cancel.js';
import CeremonyRekeyInitCommand from './commands/ceremony/rekey/init.js';
import CeremonyRekeyStatusCommand from './commands/ceremony/rekey/status.js';
import CeremonyRekeySubmitCommand from './commands/ceremony/rekey/submit.js';
import CeremonyResetCommand from './commands/ceremony/reset.js';
import CeremonyUnsealCommand from './commands/ceremony/unseal.js';
import CeremonyVerifyShardCommand from './commands/ceremony/verify-shard.js';
import DatakeyCommand from './commands/datakey.js';
import DecapsulateCommand from './commands/decapsulate.js';
import DecryptCommand from './commands/decrypt.js';
import EncapsulateCommand from './commands/encapsulate.js';
import EncryptCommand from './commands/encrypt.js';
import HmacCommand from './commands/hmac.js';
import KeyConfigCommand from './commands/key/config.js';
import KeyCreateCommand from './commands/key/create.js';
import KeyDeleteCommand from './commands/key/delete.js';
import KeyExportCommand from './commands/key/export.js';
import KeyImportCommand from './commands/key/import.js';
import KeyListCommand from './commands/key/list.js';
import KeyRotateCommand from './commands/key/rotate.js';
import KeyShowCommand from './commands/key/show.js';
import KeyWrappingKeyCommand from './commands/key/wrapping-key.js';
import PolicyActivateCommand from './commands/policy/activate.js';
import PolicyBuildCommand from './commands/policy/build.js';
import PolicyDeactivateCommand from './commands/policy/deactivate.js';
import PolicyEvalCommand from './commands/policy/eval.js';
import PolicyListCommand from './commands/policy/list.js';
import PolicyNewCommand from './commands/policy/new.js';
import PolicyPushCommand from './commands/policy/push.js';
import PolicyTestCommand from './commands/policy/test.js';
import RewrapCommand from './commands/rewrap.js';
import RotateCommand from './commands/rotate.js';
import SysRotateCommand from './commands/sys/rotate.js';
import SealCommand from './commands/seal.js';
import ServerCommand from './commands/server.js';
import BackupCommand from './commands/backup.js';
import RestoreCommand from './commands/restore.js';
import SignCommand from './commands/sign.js';
import StatusCommand from './commands/status.js';
import TokenCreateCommand from './commands/token/create.js';
import TokenRevokeCommand from './commands/token/revoke.js';
import TokenWhoamiCommand from './commands/token/whoami.js';
import VerifyCommand from './commands/verify.js';

export const COMMANDS = [
  ServerCommand,
  StatusCommand,
  SealCommand,
  SysRotateCommand,
  BackupCommand,
  RestoreCommand,
  RotateCommand,
  CeremonyHolderKeygenCommand,
  CeremonyInitCommand,
  CeremonyUnsealCommand,
  CeremonyResetCommand,
  CeremonyVerifyShardCommand,
  CeremonyRekeyInitCommand,
  CeremonyRekeySubmitCommand,
  CeremonyRekeyStatusCommand,
  CeremonyRekeyCancelCommand,
  PolicyNewCommand,
  PolicyBuildCommand,
  PolicyEvalCommand,
  PolicyTestCommand,
  PolicyPushCommand,
  PolicyActivateCommand,
  PolicyDeactivateCommand,
  PolicyListCommand,
  KeyCreateCommand,
  KeyListCommand,
  KeyShowCommand,
  KeyRotateCommand,
  KeyConfigCommand,
  KeyDeleteCommand,
  KeyExportCommand,
  KeyImportCommand,
  KeyWrappingKeyCommand,
  EncryptCommand,
  DecryptCommand,
  RewrapCommand,
  DatakeyCommand,
  SignCommand,
  VerifyCommand,
  HmacCommand,
  EncapsulateCommand,
  DecapsulateCommand,
  TokenCreateCommand,
  TokenRevokeCommand,
  TokenWhoamiCommand,
  ApprovalListCommand,
  ApprovalShowCommand,
  ApprovalApproveCommand,
  ApprovalDenyCommand,
  ApprovalExecuteCommand,
  AuditKeysCommand,
  AuditExportCommand,
  AuditVerifyBundleCommand,
  AuditVerifyCommand,
  AuditReplayCommand,
  CompletionCommand,
];

/** Whether to colour output written to `stream`: a terminal, and NO_COLOR unset or empty. */
export function colorsFor(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv): boolean {
  return stream.isTTY === true && !env.NO_COLOR;
}

const GLOBAL_OPTIONS = [
  'Commands that talk to a server also take --addr URL, --token TOKEN and',
  '--timeout SECONDS (env KEYWARD_ADDR, KEYWARD_TOKEN, KEYWARD_TIMEOUT); most take',
  "--json. `keyward <command> --help` lists all of a command's options.",
].join('\n');

export class KeywardCli extends Cli {
  override usage(
    command: CommandClass | Command | null = null,
    opts: { colored?: boolean; detailed?: boolean; prefix?: string } = {},
  ): string {
    if (command !== null) return super.usage(command, opts);
    const f = this.format(opts.colored);
    const byCategory = new Map<string, string[]>();
    for (const d of this.definitions({ colored: opts.colored })) {
      // The path and positionals (d.usage), then the options the command cannot run without.
      const required = d.options.filter((o) => o.required).map((o) => `<${o.definition}>`);
      const line = `  ${f.bold([d.usage, ...required].join(' '))}\n    ${(d.description ?? '').trim()}`;
      const category = d.category?.trim() ?? 'General commands';
      byCategory.set(category, [...(byCategory.get(category) ?? []), line]);
    }
    const categories = [...byCategory.keys()].sort((a, b) =>
      a === 'General commands' ? -1 : b === 'General commands' ? 1 : a.localeCompare(b),
    );
    let out = `${f.header(`${this.binaryLabel} - ${this.binaryVersion}`)}\n\n  ${f.bold(opts.prefix ?? '$ ')}${this.binaryName} <command>\n`;
    for (const c of categories) out += `\n${f.header(c)}\n\n${byCategory.get(c)!.sort().join('\n\n')}\n`;
    return `${out}\n${GLOBAL_OPTIONS}\n`;
  }
}

/**
 * The commands `argv` can name: those whose path starts with its first word, when some do (else all,
 * for `--help`, `--version` and an unknown word's suggestions; and all for `completion`). clipanion builds its parser for every
 * command registered on each run: for all of them, 180-210 ms of CPU (here, loaded) before any
 * command ran; for the 5 `audit` commands, under 10 ms.
 */
export function commandsFor(argv: readonly string[]): CommandClass[] {
  const word = argv[0];
  // `completion` writes a script for every command: it reads them from the registered definitions.
  if (word === 'completion') return COMMANDS;
  const named = COMMANDS.filter((c) => c.paths?.some((p) => p[0] === word));
  return named.length > 0 ? named : COMMANDS;
}

/**
 * The `keyward` CLI; colours follow stdout (a terminal, no NO_COLOR) unless `enableColors` is given.
 * With `argv`, only the commands it can name ({@link commandsFor}).
 */
export function buildCli(opts: { enableColors?: boolean; argv?: readonly string[] } = {}): Cli {
  const enableColors = opts.enableColors ?? colorsFor(process.stdout, process.env);
  const cli = new KeywardCli({ binaryLabel: 'Keyward', binaryName: 'keyward', binaryVersion: VERSION, enableColors });
  cli.register(Builtins.HelpCommand);
  cli.register(Builtins.VersionCommand);
  for (const c of opts.argv ? commandsFor(opts.argv) : COMMANDS) cli.register(c);
  return cli;
}
