import { Command, Option, UsageError } from 'clipanion';
import { BaseCommand } from '../../base.js';
import { done } from '../../http.js';

export default class KeyConfigCommand extends BaseCommand {
  static override paths = [['key', 'config']];
  static override usage = Command.Usage({
    category: 'Keys',
    description: 'set the minimum decryption version or allow deletion',
    examples: [['Retire version 1', 'keyward key config orders --min-decryption-version 2'], ['Allow deletion', 'keyward key config orders --deletion-allowed true']],
  });

  name = Option.String({ required: true });
  minDecryptionVersion = Option.String('--min-decryption-version', { description: 'Oldest version that still decrypts/verifies' });
  deletionAllowed = Option.String('--deletion-allowed', { description: 'true or false' });

  async run(): Promise<number> {
    const body: { minDecryptionVersion?: number; deletionAllowed?: boolean } = {};
    if (this.minDecryptionVersion !== undefined) {
      if (!/^\d+$/.test(this.minDecryptionVersion)) throw new UsageError(`--min-decryption-version expects a whole number, got "${this.minDecryptionVersion}"`);
      body.minDecryptionVersion = Number(this.minDecryptionVersion);
    }
    if (this.deletionAllowed !== undefined) {
      if (!['true', 'false'].includes(this.deletionAllowed)) throw new UsageError(`--deletion-allowed expects true or false, got "${this.deletionAllowed}"`);
      body.deletionAllowed = this.deletionAllowed === 'true';
    }
    if (Object.keys(body).length === 0) throw new UsageError('give --min-decryption-version and/or --deletion-allowed');
    const k = done(await this.client().post('/v1/keys/{name}/config', { params: { path: { name: this.name } }, body }));
    this.print(k, `${k.name}: versions ${k.minDecryptionVersion}..${k.latestVersion}, deletion ${k.deletionAllowed ? 'allowed' : 'not allowed'}.`);
    return 0;
  }
}
