import { Command, Option } from 'clipanion';
import { KeywardError } from '../../../lib/errors.js';
import type { VerifyBundleOptions } from '../../../engine/audit/math/index.js';
import { OfflineCommand } from '../../base.js';
import { num, policyReplayer, prefixed, readBundleFile, readTrustedCheckpoint, readTrustedKeys } from './shared.js';

/** Loaded when used: every command's module is imported when the CLI starts. */
const auditMath = () => import('../../../engine/audit/math/index.js');

export default class AuditVerifyBundleCommand extends OfflineCommand {
  static override paths = [['audit', 'verify-bundle']];
  static override usage = Command.Usage({
    category: 'Audit',
    description: 'verify an attestation bundle offline against pinned verifier keys',
    details: `
      Checks, with no server, that the bundle's records are exactly leaves [from, to) of the log whose checkpoint it carries, signed by every key in the --trusted-key file (one C2SP verifier key per line, as written by \`keyward audit keys\`): structure, checkpoint signatures, canonical records, the range proof, the consistency proof if any, and the policy and input hashes. The keys inside the bundle are never trusted. Prints OK with counts, or exits 1 with the error code and the first thing that failed.

      \`--replay\` re-runs every recorded policy decision on the recorded input with the policy engine and requires the same decision and gas; the bundle must carry inputs and wasm (\`keyward audit export --include-inputs\`).

      \`--previous-checkpoint FILE\` (a checkpoint you kept: the signed note, the JSON of GET /v1/audit/checkpoint, or an earlier bundle; it must verify under the same keys) requires the bundle to prove the log only grew since: a smaller tree means a rollback, another root at the same size a fork.
    `,
    examples: [
      ['Verify', 'keyward audit verify-bundle bundle.json --trusted-key trusted.txt'],
      [
        'Verify and re-run every decision',
        'keyward audit verify-bundle bundle.json --trusted-key trusted.txt --replay',
      ],
    ],
  });

  file = Option.String({ required: true });
  trustedKey = Option.String('--trusted-key', {
    required: true,
    description: 'File of pinned verifier keys (one per line, # comments)',
  });
  replay = Option.Boolean('--replay', false, {
    description: 'Re-run every recorded decision (needs a bundle with inputs and wasm)',
  });
  previous = Option.String('--previous-checkpoint', {
    description: 'A checkpoint you kept; the bundle must be consistent with it',
  });

  async run(): Promise<number> {
    const { SignatureType, verifyBundle } = await auditMath();
    const trusted = await readTrustedKeys(this.trustedKey);
    const opts: VerifyBundleOptions = {};
    if (this.previous !== undefined) {
      const prev = await readTrustedCheckpoint(this.previous, trusted);
      opts.previous = { size: prev.size, root: prev.root };
    }
    const replayer = this.replay ? await policyReplayer() : undefined;
    if (replayer) opts.replay = replayer.replay;
    const bytes = await readBundleFile(this.file);
    const started = performance.now();
    let v: Awaited<ReturnType<typeof verifyBundle>>;
    try {
      v = await verifyBundle(bytes, trusted, opts);
    } catch (err) {
      throw prefixed(`${this.file}: `, err);
    }
    if (this.replay && v.notReplayable > 0) {
      throw new KeywardError(
        'AUDIT_REPLAY_UNAVAILABLE',
        `${this.file}: ${v.notReplayable} of ${v.records.length} records name a policy input the bundle does not carry, so --replay cannot re-run them; export with --include-inputs`,
      );
    }
    const seconds = (performance.now() - started) / 1000;
    const decided = v.records.filter((r) => r.policies.length > 0).length;
    const summary = {
      ok: true,
      file: this.file,
      origin: v.origin,
      from: v.from,
      to: v.to,
      records: v.records.length,
      treeSize: v.size,
      root: Buffer.from(v.root).toString('base64'),
      signatures: v.signatures.map((s) => ({
        key: s.key,
        type: s.type === SignatureType.ed25519 ? 'ed25519' : 'ml-dsa-44',
        timestamp: s.timestamp,
      })),
      policies: v.policyLabels,
      previous: opts.previous ? { size: opts.previous.size } : null,
      replayed: v.replayed,
      recordsWithDecisions: decided,
      notReplayable: v.notReplayable,
      seconds,
    };
    this.print(summary, () =>
      [
        `OK ${this.file}: records [${v.from}, ${v.to}) (${num(v.records.length)} records) are leaves of ${v.origin} at signed tree size ${num(v.size)}`,
        `Signatures ${v.signatures.length} verified: ${summary.signatures.map((s) => `${s.key} (${s.type}${s.timestamp !== null ? `, cosigned ${new Date(s.timestamp * 1000).toISOString()}` : ''})`).join(', ')}`,
        `Policies ${
          Object.entries(v.policyLabels)
            .map(([h, p]) => `${p.name}${p.version ? `@${p.version}` : ''} ${h.slice(0, 12)}…`)
            .join(', ') || 'none'
        } (names are unauthenticated labels; the hashes are signed)`,
        ...(opts.previous ? [`Consistent with your checkpoint at size ${num(opts.previous.size)}`] : []),
        this.replay
          ? `Replayed ${num(v.replayed)} decisions of ${num(decided)} records with policy decisions: all match`
          : `Replayed 0 decisions (use --replay on a bundle exported with --include-inputs)${v.notReplayable > 0 ? `; ${num(v.notReplayable)} records' inputs are not in the bundle` : ''}`,
      ].join('\n'),
    );
    return 0;
  }
}
