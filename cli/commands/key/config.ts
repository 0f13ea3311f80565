import { Command, Option, UsageError } from 'clipanion';
import { RemoteCommand, trueOrFalse, wholeNumber } from '../../base.js';
import { done } from '../../http.js';

export default class KeyConfigCommand extends RemoteCommand {
  static override paths = [['key', 'config']];
  static override usage = Command.Usage({
    category: 'Keys',
    description: 'set the minimum decryption version or allow deletion',
    examples: [
      ['Retire version 1', 'keyward key config orders --min-decryption-version 2'],
      ['Allow deletion', 'keyward key config orders --deletion-allowed true'],
    ],
  });

  name = Option.String({ required: true });
  minDecryptionVersion = Option.String('--min-decryption-version', {
    description: 'Oldest version that still decrypts/verifies',
    validator: wholeNumber(0),
  });
  deletionAllowed = Option.String('--deletion-allowed', { description: 'true or false', validator: trueOrFalse() });

  async run(): Promise<number> {
    const body: { minDecryptionVersion?: number; deletionAllowed?: boolean } = {};
    if (this.minDecryptionVersion !== undefined) {
      body.minDecryptionVersion = this.minDecryptionVersion;
    }
    if (this.deletionAllowed !== undefined) {
      body.deletionAllowed = this.deletionAllowed;
    }
    if (Object.keys(body).length === 0) throw new UsageError('give --min-decryption-version and/or --deletion-allowed');
    const k = done(await this.client().post('/v1/keys/{name}/config', { params: { path: { name: this.name } }, body }));
    this.print(
      k,
      `${k.name}: versions ${k.minDecryptionVersion}..${k.latestVersion}, deletion ${k.deletionAllowed ? 'allowed' : 'not allowed'}.`,
    );
    return 0;
  }
}
