import { Command } from 'clipanion';
import { done, single } from '../http.js';
import { InputOpCommand, aadField, aadOption } from '../key-op.js';

export default class RewrapCommand extends InputOpCommand {
  static override paths = [['rewrap']];
  static override usage = Command.Usage({
    category: 'Data',
    description: 're-encrypt a ciphertext under the latest key version',
    examples: [['Rewrap', 'keyward rewrap --key orders --text kw:v1:…']],
  });

  aadText = aadOption();

  async run(): Promise<number> {
    const r = single(
      done(
        await this.client().post('/v1/keys/{name}/rewrap', {
          ...this.onKey,
          body: { ciphertext: await this.inputText('ciphertext'), ...aadField(this.aadText) },
        }),
      ),
    );
    this.print(r, r.ciphertext);
    return 0;
  }
}
