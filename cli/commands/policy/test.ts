import { Command, Option } from 'clipanion';
import { OfflineCommand } from '../../base.js';
import { readJsonFile } from '../../files.js';
import { readWasm } from './eval.js';

export default class PolicyTestCommand extends OfflineCommand {
  static override paths = [['policy', 'test']];
  static override usage = Command.Usage({
    category: 'Policies',
    description: 'run a compiled policy against table-driven cases; exits non-zero on any failure',
    details:
      'CASES.json is an array of `{name, input, expect: {decision, approvals?, group?, reason?}}`. The compiled .wasm is what runs, exactly as the server would run it.',
    examples: [['Test', 'keyward policy test limit-decrypt.wasm --cases limit-decrypt.cases.json']],
  });

  file = Option.String({ required: true });
  cases = Option.String('--cases', { required: true, description: 'Cases JSON file' });

  async run(): Promise<number> {
    const { loadPolicy } = await import('../../../engine/policy/sandbox/index.js');
    const { runCases } = await import('../../../engine/policy/toolchain/index.js');
    const policy = await loadPolicy(await readWasm(this.file));
    const results = runCases(policy, await readJsonFile(this.cases, 'cases'));
    const failed = results.filter((r) => !r.pass);
    this.print({ hash: policy.hash, total: results.length, failed: failed.length, results }, () => {
      const w = Math.max(4, ...results.map((r) => r.name.length));
      const rows = results.map(
        (r) =>
          `${r.pass ? 'PASS' : 'FAIL'}  ${r.name.padEnd(w)}  ${r.pass ? r.actual.decision : `expected ${JSON.stringify(r.expected)}, got ${JSON.stringify(r.actual)}`}`,
      );
      return [...rows, '', `${results.length - failed.length} passed, ${failed.length} failed`].join('\n');
    });
    return failed.length ? 1 : 0;
  }
}
