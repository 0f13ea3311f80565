import { Command } from 'clipanion';
import { toBase64 as b64 } from '../../lib/bytes.js';
import { done, single } from '../http.js';
import { InputOpCommand, contextOption, encodingOption, signFields } from '../key-op.js';

export default class SignCommand extends InputOpCommand {
  static override paths = [['sign']];
  static override usage = Command.Usage({
    category: 'Data',
    description: 'sign a message; prints kw:v<N>:…',
    examples: [['Sign a file', 'keyward sign --key release --in artifact.tar']],
  });

  encoding = encodingOption();
  contextText = contextOption();

  async run(): Promise<number> {
    const r = single(
      done(
        await this.client().post('/v1/keys/{name}/sign', {
          ...this.onKey,
          body: { message: b64(await this.input('message')), ...signFields(this.encoding, this.contextText) },
        }),
      ),
    );
    this.print(r, r.signature);
    return 0;
  }
}
