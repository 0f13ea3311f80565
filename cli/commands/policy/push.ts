import { basename } from 'node:path';
import { Command, Option } from 'clipanion';
import { toBase64 } from '../../../lib/bytes.js';
import { RemoteCommand } from '../../base.js';
import { done } from '../../http.js';
import { readWasm } from './eval.js';

export default class PolicyPushCommand extends RemoteCommand {
  static override paths = [['policy', 'push']];
  static override usage = Command.Usage({
    category: 'Policies',
    description: 'upload a compiled policy; the server validates it and stores it by SHA-256',
    examples: [['Push', 'keyward policy push limit-decrypt.wasm --name limit-decrypt']],
  });

  file = Option.String({ required: true });
  name = Option.String('--name', { description: 'Policy name (default: the file name without .wasm)' });

  async run(): Promise<number> {
    const wasm = await readWasm(this.file);
    const name = this.name ?? basename(this.file).replace(/\.wasm$/, '');
    const res = done(await this.client().post('/v1/policies', { body: { name, wasm: toBase64(wasm) } }));
    this.print(
      res,
      `${res.created ? 'Stored' : 'Already stored'} policy ${res.name} (${res.size} bytes)\nsha256 ${res.sha256}\nActivate it: keyward policy activate ${res.sha256} --global`,
    );
    return 0;
  }
}
