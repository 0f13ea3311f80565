import { Command, Option } from 'clipanion';
import { wholeNumber } from '../base.js';
import { done, single } from '../http.js';
import { InputOpCommand, aadField, aadOption } from '../key-op.js';

export default class DecryptCommand extends InputOpCommand {
  static override paths = [['decrypt']];
  static override usage = Command.Usage({
    category: 'Data',
    description: 'decrypt a kw:v<N>:… ciphertext (or a base64 RSA-OAEP one for RSA keys); writes the plaintext bytes',
    examples: [
      ['Decrypt', 'keyward decrypt --key orders --text kw:v1:…'],
      [
        'RSA-OAEP-SHA-256 made with the exported public key',
        'openssl pkeyutl -encrypt -pubin -inkey pub.pem -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256 -in m.txt | base64 -w0 | keyward decrypt --key rsa --in -',
      ],
    ],
  });

  aadText = aadOption();
  keyVersion = Option.String('--key-version', {
    description: 'RSA keys: the key version a raw ciphertext was made for (default: the latest)',
    validator: wholeNumber(1, 9_999_999_999),
  });

  async run(): Promise<number> {
    const version = this.keyVersion === undefined ? {} : { keyVersion: this.keyVersion };
    const r = single(
      done(
        await this.client().post('/v1/keys/{name}/decrypt', {
          ...this.onKey,
          body: { ciphertext: await this.inputText('ciphertext'), ...aadField(this.aadText), ...version },
        }),
      ),
    );
    if (this.json) this.print(r, '');
    else this.context.stdout.write(Buffer.from(r.plaintext, 'base64'));
    return 0;
  }
}
