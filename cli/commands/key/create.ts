import { Command, Option, UsageError } from 'clipanion';
import { RemoteCommand } from '../../base.js';
import { assertKeyType } from '../../../engine/crypto/types.js';
import { done } from '../../http.js';
import { readText } from '../../files.js';

export default class KeyCreateCommand extends RemoteCommand {
  static override paths = [['key', 'create']];
  static override usage = Command.Usage({
    category: 'Keys',
    description: 'create a key (or a verify/encapsulate-only key from --public-key)',
    examples: [
      ['An AES key', 'keyward key create orders --type aes256-gcm --label team=payments'],
      ['Verify-only from a PEM', 'keyward key create partner --type ecdsa-p256 --public-key partner.pem'],
    ],
  });

  name = Option.String({ required: true });
  type = Option.String('--type', {
    required: true,
    description: 'Key type (aes256-gcm, ed25519, ml-dsa-65, ml-kem-768, x-wing, ...)',
  });
  labels = Option.Array('--label', [], { description: 'A label k=v (repeat for several)' });
  exportable = Option.Boolean('--exportable', false, { description: 'Allow export (still subject to policy)' });
  publicKey = Option.String('--public-key', {
    description: 'File with a PEM/SPKI (classical) or base64 raw (post-quantum) public key',
  });

  async run(): Promise<number> {
    const labels: Record<string, string> = {};
    for (const l of this.labels) {
      const i = l.indexOf('=');
      if (i < 1) throw new UsageError(`--label expects k=v, got "${l}"`);
      labels[l.slice(0, i)] = l.slice(i + 1);
    }
    const publicKey = this.publicKey ? (await readText(this.publicKey, 'public key')).trim() : undefined;
    const type = this.type;
    assertKeyType(type); // as the server would: KEY_TYPE_INVALID, listing the types
    const k = done(
      await this.client().post('/v1/keys', {
        body: { name: this.name, type, labels, exportable: this.exportable, ...(publicKey ? { publicKey } : {}) },
      }),
    );
    this.print(k, `Created ${k.type} key ${k.name} (version ${k.latestVersion}).`);
    return 0;
  }
}
