import { Command, Option } from 'clipanion';
import { KeywardError } from '../../../lib/errors.js';
import { RemoteCommand, wholeNumber } from '../../base.js';
import { done } from '../../http.js';
import { checkRange, liveTrustedKeys, num, policyReplayer, prefixed, Progress } from './shared.js';

/** Loaded when used: every command's module is imported when the CLI starts. */
const auditMath = () => import('../../../engine/audit/math/index.js');

/** Records per export while replaying (bounded memory; the server allows up to 100,000). */
const CHUNK = 25_000;

interface Mismatch {
  index: number;
  policy: string;
  name: string;
  recorded: { decision: string; gas: number };
  replayed: { decision: string; gas: number };
}

export default class AuditReplayCommand extends RemoteCommand {
  static override paths = [['audit', 'replay']];
  static override usage = Command.Usage({
    category: 'Audit',
    description: 're-evaluate every recorded policy decision and report any that differs',
    details: `
      Exports records [--from, --to) with their policy inputs and WebAssembly (in chunks), verifies each export like \`keyward audit verify-bundle\` (against --trusted-key, else the server's own keys with a warning), then re-runs every policy each record names on the record's input and compares the decision and the gas with what the record says. Policy evaluation is deterministic, gas included: there must be no difference. Lists every mismatch and exits 1 if there is any.

      Records without policy decisions (the ceremony, unauthenticated requests) have nothing to replay; records whose input was not kept are counted as not replayable.

      Needs a token allowed \`audit.export\` (auditor or admin under the default policy); the inputs name principals and keys, and never leave this process.
    `,
    examples: [
      ['Replay the whole signed log', 'keyward audit replay --trusted-key trusted.txt'],
      ['Replay a range', 'keyward audit replay --from 1000 --to 2000'],
    ],
  });

  from = Option.String('--from', { description: 'First record index (default 0)', validator: wholeNumber(0) });
  to = Option.String('--to', {
    description: 'One past the last record index (default: the signed tree size)',
    validator: wholeNumber(0),
  });
  trustedKey = Option.String('--trusted-key', {
    description: "File of pinned verifier keys (default: the server's own, with a warning)",
  });

  async run(): Promise<number> {
    const { verifyBundle } = await auditMath();
    const from = this.from ?? 0;
    const toOpt = this.to;
    checkRange(from, toOpt);
    const client = this.client();
    const { keys } = await liveTrustedKeys(
      () => client,
      this.trustedKey,
      (t) => this.note(t),
    );
    const to = toOpt ?? done(await client.get('/v1/audit/checkpoint')).size;
    if (!(from < to))
      throw new KeywardError(
        'AUDIT_RANGE_INVALID',
        `nothing to replay: --from ${from} is not below the signed tree size ${to}`,
      );
    const replayer = await policyReplayer();
    const progress = new Progress(this.context.stderr, { enabled: !this.json, label: 'replaying' });
    const started = performance.now();
    let replayedRecords = 0;
    let decisions = 0;
    let noDecision = 0;
    let notReplayable = 0;
    let origin = '';
    const names: Record<string, string> = {};
    const mismatches: Mismatch[] = [];
    try {
      for (let a = from; a < to; a += CHUNK) {
        const b = Math.min(to, a + CHUNK);
        const bundle = done(
          await client.post('/v1/audit/export', { body: { from: a, to: b, includeInputs: true, includeWasm: true } }),
        );
        let v: Awaited<ReturnType<typeof verifyBundle>>;
        try {
          v = await verifyBundle(bundle, keys);
        } catch (err) {
          throw prefixed(`the export of records [${a}, ${b}): `, err);
        }
        origin = v.origin;
        // verifyBundle checked every wasm and input against its hash; decode each once.
        const wasm = new Map(
          Object.entries(bundle.policies).flatMap(([h, p]) =>
            p.wasm !== undefined ? [[h, new Uint8Array(Buffer.from(p.wasm, 'base64'))] as const] : [],
          ),
        );
        const inputs = new Map(
          Object.entries(bundle.inputs ?? {}).map(
            ([d, text]) => [d, new Uint8Array(Buffer.from(text, 'base64'))] as const,
          ),
        );
        for (const [h, p] of Object.entries(v.policyLabels)) names[h] = p.name;
        for (const [i, r] of v.records.entries()) {
          if (r.policies.length === 0) {
            noDecision++;
            continue;
          }
          const input = r.inputDigest === null ? undefined : inputs.get(r.inputDigest);
          if (!input) {
            notReplayable++;
            continue;
          }
          for (const p of r.policies) {
            const module = wasm.get(p.sha256);
            if (!module)
              throw new KeywardError(
                'AUDIT_BUNDLE_INVALID',
                `record ${a + i}: the export carries no wasm for policy ${p.sha256}`,
              );
            const got = await replayer.replay(module, input);
            decisions++;
            if (got.decision !== p.decision || got.gas !== p.gas) {
              mismatches.push({
                index: a + i,
                policy: p.sha256,
                name: names[p.sha256] ?? '?',
                recorded: { decision: p.decision, gas: p.gas },
                replayed: { decision: String(got.decision), gas: got.gas },
              });
            }
          }
          replayedRecords++;
          if (i % 256 === 0) progress.update(a + i - from, to - from);
        }
        progress.update(b - from, to - from, true);
      }
    } finally {
      progress.done();
    }
    const seconds = (performance.now() - started) / 1000;
    const summary = {
      ok: mismatches.length === 0,
      origin,
      from,
      to,
      records: to - from,
      replayedRecords,
      replayedDecisions: decisions,
      noDecision,
      notReplayable,
      policies: names,
      mismatches,
      seconds,
    };
    this.print(summary, () =>
      [
        ...mismatches.map(
          (m) =>
            `MISMATCH record ${m.index}, policy ${m.name} ${m.policy.slice(0, 12)}…: recorded ${m.recorded.decision} gas ${m.recorded.gas}, replayed ${m.replayed.decision} gas ${m.replayed.gas}`,
        ),
        `${mismatches.length === 0 ? 'OK' : 'FAILED'}: replayed ${num(decisions)} decisions of ${num(replayedRecords)} records in [${from}, ${to}) of ${origin}: ${num(mismatches.length)} mismatches`,
        `${num(noDecision)} records have no policy decision (ceremony, unauthenticated); ${num(notReplayable)} not replayable (input not kept)`,
        `${Object.keys(names).length} policies (${replayer.loaded} loaded), ${seconds.toFixed(2)} s`,
      ].join('\n'),
    );
    if (mismatches.length > 0) {
      const m = mismatches[0]!;
      throw new KeywardError(
        'AUDIT_REPLAY_MISMATCH',
        `${mismatches.length} of ${decisions} replayed decisions differ from the records; the first: record ${m.index}, policy ${m.policy}: recorded ${m.recorded.decision} gas ${m.recorded.gas}, replayed ${m.replayed.decision} gas ${m.replayed.gas}`,
      );
    }
    return 0;
  }
}
