/**
 * The one registration list of `keyward` commands.
 * @module
 */
import { Builtins, Cli } from 'clipanion';
import { VERSION } from '../engine/version.js';
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
import SealCommand from './commands/seal.js';
import ServerCommand from './commands/server.js';
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
];

export function buildCli(): Cli {
  const cli = new Cli({ binaryLabel: 'Keyward', binaryName: 'keyward', binaryVersion: VERSION });
  cli.register(Builtins.HelpCommand);
  cli.register(Builtins.VersionCommand);
  for (const c of COMMANDS) cli.register(c);
  return cli;
}
