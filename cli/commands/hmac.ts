import { Command } from 'clipanion';
import { toBase64 as b64 } from '../../lib/bytes.js';
import { done, single } from '../http.js';
import { InputOpCommand } from '../key-op.js';

export default class HmacCommand extends InputOpCommand {
  static override paths = [['hmac']];
  static override usage = Command.Usage({
    category: 'Data',
    description: 'HMAC-SHA256 of a message; prints kw:v<N>:…',
    examples: [['HMAC', 'keyward hmac --key tags --text hello']],
  });

  async run(): Promise<number> {
    const r = single(
      done(
        await this.client().post('/v1/keys/{name}/hmac', {
          ...this.onKey,
          body: { message: b64(await this.input('message')) },
        }),
      ),
    );
    this.print(r, r.hmac);
    return 0;
  }
}
