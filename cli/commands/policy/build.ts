import { Command, Option } from 'clipanion';
import { OfflineCommand } from '../../base.js';

export default class PolicyBuildCommand extends OfflineCommand {
  static override paths = [['policy', 'build']];
  static override usage = Command.Usage({
    category: 'Policies',
    description: 'compile a policy with the pinned AssemblyScript compiler into a deterministic .wasm',
    details:
      "Two builds of the same source are byte-identical; the SHA-256 of the .wasm is the policy's identity. Compile errors are shown with file:line.",
    examples: [
      ['Build next to the source', 'keyward policy build limit-decrypt.ts'],
      ['Choose the output', 'keyward policy build limit-decrypt.ts --out build/limit.wasm'],
    ],
  });

  file = Option.String({ required: true });
  out = Option.String('--out', { description: 'Output .wasm (default: FILE with .wasm)' });

  async run(): Promise<number> {
    const { compilePolicy } = await import('../../../engine/policy/toolchain/index.js');
    const outFile = this.out ?? this.file.replace(/\.ts$/, '') + '.wasm';
    const res = await compilePolicy(this.file, { outFile });
    this.print(
      { file: outFile, sha256: res.sha256, bytes: res.wasm.length },
      `Built ${outFile} (${res.wasm.length} bytes)\nsha256 ${res.sha256}`,
    );
    return 0;
  }
}
