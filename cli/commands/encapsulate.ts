import { Command } from 'clipanion';
import { done, single } from '../http.js';
import { KeyOpCommand } from '../key-op.js';

export default class EncapsulateCommand extends KeyOpCommand {
  static override paths = [['encapsulate']];
  static override usage = Command.Usage({
    category: 'Data',
    description: 'KEM encapsulation to a key: a ciphertext and a shared secret (base64)',
    examples: [['Encapsulate', 'keyward encapsulate --key kem --json']],
  });

  async run(): Promise<number> {
    const r = single(done(await this.client().post('/v1/keys/{name}/encapsulate', { ...this.onKey, body: {} })));
    this.print(r, `ciphertext    ${r.ciphertext}\nsharedSecret  ${r.sharedSecret}`);
    return 0;
  }
}
