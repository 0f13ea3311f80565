import { Command } from 'clipanion';
import { done, single } from '../http.js';
import { InputOpCommand } from '../key-op.js';

export default class DecapsulateCommand extends InputOpCommand {
  static override paths = [['decapsulate']];
  static override usage = Command.Usage({
    category: 'Data',
    description: 'KEM decapsulation of a base64 ciphertext; prints the shared secret',
    examples: [['Decapsulate', 'keyward decapsulate --key kem --text <base64>']],
  });

  async run(): Promise<number> {
    const r = single(
      done(
        await this.client().post('/v1/keys/{name}/decapsulate', {
          ...this.onKey,
          body: { ciphertext: await this.inputText('ciphertext') },
        }),
      ),
    );
    this.print(r, r.sharedSecret);
    return 0;
  }
}
