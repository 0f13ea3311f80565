import { Command, Option } from 'clipanion';
import { wholeNumber } from '../base.js';
import { done, single } from '../http.js';
import { KeyOpCommand } from '../key-op.js';

export default class DatakeyCommand extends KeyOpCommand {
  static override paths = [['datakey']];
  static override usage = Command.Usage({
    category: 'Data',
    description: 'a random data key (base64) and its ciphertext under the key',
    examples: [['A 32-byte data key', 'keyward datakey --key orders --json']],
  });

  bytes = Option.String('--bytes', '32', { description: 'Length, 1..1024', validator: wholeNumber(0) });

  async run(): Promise<number> {
    const r = single(
      done(await this.client().post('/v1/keys/{name}/datakey', { ...this.onKey, body: { bytes: this.bytes } })),
    );
    this.print(r, `plaintext  ${r.plaintext}\nciphertext ${r.ciphertext}`);
    return 0;
  }
}
