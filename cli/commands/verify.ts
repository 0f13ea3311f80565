import { Command, Option } from 'clipanion';
import { toBase64 as b64 } from '../../lib/bytes.js';
import { done, single } from '../http.js';
import { InputOpCommand, contextOption, encodingOption, signFields } from '../key-op.js';

export default class VerifyCommand extends InputOpCommand {
  static override paths = [['verify']];
  static override usage = Command.Usage({
    category: 'Data',
    description: 'verify a signature; exits 0 if valid, 1 if not',
    examples: [['Verify', 'keyward verify --key release --in artifact.tar --signature kw:v1:…']],
  });

  signature = Option.String('--signature', { required: true, description: 'The kw:v<N>:… signature' });
  encoding = encodingOption();
  contextText = contextOption();

  async run(): Promise<number> {
    const r = single(
      done(
        await this.client().post('/v1/keys/{name}/verify', {
          ...this.onKey,
          body: {
            message: b64(await this.input('message')),
            signature: this.signature,
            ...signFields(this.encoding, this.contextText),
          },
        }),
      ),
    );
    this.print(r, r.valid ? 'valid' : 'invalid');
    return r.valid ? 0 : 1;
  }
}
