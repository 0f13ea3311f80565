import { Command } from 'clipanion';
import { InputOpCommand } from '../key-op.js';

export default class DecapsulateCommand extends InputOpCommand {
  static override paths = [['decapsulate']];
  static override usage = Command.Usage({ category: 'Data', description: 'KEM decapsulation of a base64 ciphertext; prints the shared secret', examples: [['Decapsulate', 'keyward decapsulate --key kem --text <base64>']] });

  async run(): Promise<number> {
    const r = await this.call<{ sharedSecret: string }>('decapsulate', { ciphertext: await this.inputText('ciphertext') });
    this.print(r, r.sharedSecret);
    return 0;
  }
}
