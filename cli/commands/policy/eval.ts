import { readFile } from 'node:fs/promises';
import { Command, Option } from 'clipanion';
import { KeywardError } from '../../../lib/errors.js';
import { OfflineCommand } from '../../base.js';
import { readJsonFile } from '../../files.js';

export async function readWasm(path: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (err) {
    throw new KeywardError(
      'FILE_UNREADABLE',
      `cannot read policy ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
}

export default class PolicyEvalCommand extends OfflineCommand {
  static override paths = [['policy', 'eval']];
  static override usage = Command.Usage({
    category: 'Policies',
    description: 'evaluate a compiled policy on one input (offline), printing decision, reason and gas',
    examples: [['Evaluate', 'keyward policy eval limit-decrypt.wasm --input request.json']],
  });

  file = Option.String({ required: true });
  input = Option.String('--input', { required: true, description: 'PolicyInput JSON file' });

  async run(): Promise<number> {
    const { loadPolicy, parsePolicyInput } = await import('../../../engine/policy/sandbox/index.js');
    const policy = await loadPolicy(await readWasm(this.file));
    const r = policy.evaluate(parsePolicyInput(await readJsonFile(this.input, 'policy input')));
    const out = {
      decision: r.decision,
      approvals: r.approvals,
      group: r.group,
      reason: r.reason,
      gas: r.gas,
      hash: r.hash,
    };
    this.print(
      out,
      `${r.decision}${r.decision === 'require_approval' ? ` (${r.approvals} from ${r.group})` : ''}${r.reason ? `: ${r.reason}` : ''}\ngas ${r.gas}\nhash ${r.hash}`,
    );
    return 0;
  }
}
