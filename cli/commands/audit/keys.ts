import { Command, Option } from 'clipanion';
import { RemoteCommand } from '../../base.js';
import { writeFileSafe } from '../../files.js';
import { done } from '../../http.js';
import { prefixed } from './shared.js';

/** Loaded when used: every command's module is imported when the CLI starts. */
const auditMath = () => import('../../../engine/audit/math/index.js');

export default class AuditKeysCommand extends RemoteCommand {
  static override paths = [['audit', 'keys']];
  static override usage = Command.Usage({
    category: 'Audit',
    description: "fetch the audit log's checkpoint verifier keys (what an auditor pins)",
    details: `
      Fetches GET /v1/audit/keys: the Ed25519 and ML-DSA-44 verifier keys (C2SP verifier key strings) that sign the log's checkpoints, and writes them as a trusted keys file for \`--trusted-key\`.

      Fetching them over the network only proves what this server says: compare the key IDs with a copy obtained out of band (from the operators, a signed release note...) before relying on them.
    `,
    examples: [
      ['Pin the keys', 'keyward audit keys --out trusted.txt'],
      ['Print them', 'keyward audit keys'],
    ],
  });

  out = Option.String('--out', {
    description: 'Write the trusted keys file here (else print the key lines on stdout)',
  });
  force = Option.Boolean('--force', false, { description: 'Overwrite --out if it exists' });

  async run(): Promise<number> {
    const { parseTrustedKeysFile } = await auditMath();
    const k = done(await this.client().get('/v1/audit/keys'));
    // Refuse to write keys that would not parse back (a confused server or proxy).
    try {
      parseTrustedKeysFile([k.ed25519, k.mlDsa44].join('\n'));
    } catch (err) {
      throw prefixed('GET /v1/audit/keys: ', err);
    }
    const text = [
      `# ${k.origin}: audit checkpoint verifier keys, fetched from ${this.client().baseUrl} at ${new Date().toISOString()}`,
      '# Check these key IDs against a copy obtained out of band before trusting them.',
      k.ed25519,
      k.mlDsa44,
      '',
    ].join('\n');
    if (this.out !== undefined) {
      await writeFileSafe(this.out, text, { overwrite: this.force });
      const ids = [k.ed25519, k.mlDsa44].map((s) => s.split('+').slice(0, 2).join('+'));
      this.print(
        { origin: k.origin, file: this.out, keys: [k.ed25519, k.mlDsa44] },
        `Wrote the verifier keys of ${k.origin} to ${this.out}:\n  ${ids.join('\n  ')}\nCompare these key IDs with a copy obtained out of band.`,
      );
    } else {
      this.print({ origin: k.origin, keys: [k.ed25519, k.mlDsa44] }, `${k.ed25519}\n${k.mlDsa44}`);
    }
    return 0;
  }
}
