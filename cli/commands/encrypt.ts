import { Command } from 'clipanion';
import { toBase64 as b64 } from '../../lib/bytes.js';
import { done, single } from '../http.js';
import { InputOpCommand, aadField, aadOption } from '../key-op.js';

export default class EncryptCommand extends InputOpCommand {
  static override paths = [['encrypt']];
  static override usage = Command.Usage({
    category: 'Data',
    description: 'encrypt with a key; prints kw:v<N>:… ',
    examples: [['Encrypt a file', 'keyward encrypt --key orders --in secret.txt']],
  });

  aadText = aadOption();

  async run(): Promise<number> {
    const r = single(
      done(
        await this.client().post('/v1/keys/{name}/encrypt', {
          ...this.onKey,
          body: { plaintext: b64(await this.input('plaintext')), ...aadField(this.aadText) },
        }),
      ),
    );
    this.print(r, r.ciphertext);
    return 0;
  }
}
