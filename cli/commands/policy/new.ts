import { join, resolve } from 'node:path';
import { Command, Option } from 'clipanion';
import { OfflineCommand } from '../../base.js';
import { writeFileSafe } from '../../files.js';

export default class PolicyNewCommand extends OfflineCommand {
  static override paths = [['policy', 'new']];
  static override usage = Command.Usage({
    category: 'Policies',
    description: 'scaffold a policy (NAME.ts) and its test cases (NAME.cases.json) that build and pass as they are',
    examples: [
      ['Scaffold in the current directory', 'keyward policy new limit-decrypt'],
      [
        'Scaffold elsewhere, then build and test it',
        'keyward policy new limit-decrypt --dir policies/ && keyward policy build policies/limit-decrypt.ts && keyward policy test policies/limit-decrypt.wasm --cases policies/limit-decrypt.cases.json',
      ],
    ],
  });

  name = Option.String({ required: true });
  dir = Option.String('--dir', '.', { description: 'Directory to write into (default: current directory)' });
  force = Option.Boolean('--force', false, { description: 'Overwrite existing files' });

  async run(): Promise<number> {
    const { scaffoldPolicy } = await import('../../../engine/policy/toolchain/index.js');
    const { source, cases } = scaffoldPolicy(this.name);
    const src = join(resolve(this.dir), `${this.name}.ts`);
    const cs = join(resolve(this.dir), `${this.name}.cases.json`);
    await writeFileSafe(src, source, { overwrite: this.force });
    await writeFileSafe(cs, cases, { overwrite: this.force });
    this.print(
      { source: src, cases: cs },
      `Wrote ${src} and ${cs}\nNext: keyward policy build ${src} && keyward policy test ${src.replace(/\.ts$/, '.wasm')} --cases ${cs}`,
    );
    return 0;
  }
}
