import { Command, Option } from 'clipanion';
import type { components } from '@keyward/client';
import { RemoteCommand } from '../../base.js';
import { done } from '../../http.js';

/** The human form of `GET /v1/keys/:name`: the key, then one line per version with its public key. */
export function keyText(k: components['schemas']['KeyInfo']): string {
  const labels = Object.entries(k.labels)
    .map(([n, v]) => `${n}=${v}`)
    .join(', ');
  const lines = [
    `${k.name}  ${k.type}${k.verifyOnly ? '  (verify-only: public key imported)' : ''}`,
    `  versions    ${k.latestVersion} (latest), decrypts/verifies from v${k.minDecryptionVersion}`,
    `  labels      ${labels || '(none)'}`,
    `  exportable  ${k.exportable ? 'yes' : 'no'}    deletion allowed  ${k.deletionAllowed ? 'yes' : 'no'}`,
    ...(k.deleteAfter ? [`  DELETION SCHEDULED: refuses operations; purged after ${k.deleteAfter}`] : []),
    `  created     ${k.createdAt}`,
  ];
  for (const v of k.versions) {
    lines.push(`  v${v.version}  created ${v.createdAt}${v.publicKey ? `  public key (base64): ${v.publicKey}` : ''}`);
  }
  return lines.join('\n');
}

export default class KeyShowCommand extends RemoteCommand {
  static override paths = [['key', 'show']];
  static override usage = Command.Usage({
    category: 'Keys',
    description: 'show a key: type, versions, labels, public keys',
    details:
      "Asymmetric keys print each version's public key in base64, as GET /v1/keys/:name returns it (GET /v1/keys/:name/public?format=pem|jwk gives other forms); --json prints the whole record.",
    examples: [['Show', 'keyward key show orders']],
  });

  name = Option.String({ required: true });

  async run(): Promise<number> {
    const k = done(await this.client().get('/v1/keys/{name}', { params: { path: { name: this.name } } }));
    this.print(k, () => keyText(k));
    return 0;
  }
}
