import { Command, Option } from 'clipanion';
import { KeywardError } from '../../../lib/errors.js';
import { fromBase64 } from '../../../lib/bytes.js';
import { existsSync } from 'node:fs';
import type { AttestationBundle } from '../../../engine/audit/math/index.js';
import { RemoteCommand, wholeNumber } from '../../base.js';
import { writeFileSafe } from '../../files.js';
import { done } from '../../http.js';
import { checkRange, num, prefixed, readCheckpointUnverified } from './shared.js';

/** Loaded when used: every command's module is imported when the CLI starts. */
const auditMath = () => import('../../../engine/audit/math/index.js');

export default class AuditExportCommand extends RemoteCommand {
  static override paths = [['audit', 'export']];
  static override usage = Command.Usage({
    category: 'Audit',
    description: 'export records as an attestation bundle that anyone holding the verifier keys can check offline',
    details: `
      Writes the attestation bundle (docs/audit-bundle.md) of records [--from, --to): the exact leaves, a checkpoint the server signs for the export, the range proof linking the records to it, and the policies the records name. Without --from/--to, the whole signed log. One export carries at most 100,000 records: export larger logs in ranges.

      \`--include-wasm\` adds the policies' WebAssembly; \`--include-inputs\` adds the recorded policy inputs, so that \`keyward audit verify-bundle --replay\` can re-run every decision (it implies --include-wasm). Inputs name principals and keys in the clear: the file is then written with mode 0600.

      \`--previous-checkpoint FILE\` (a checkpoint you kept: the signed note, the JSON of GET /v1/audit/checkpoint, or an earlier bundle) adds a consistency proof from it, checked here, so that verifiers holding that checkpoint can tell the log only grew.

      Needs a token allowed \`audit.export\` (auditor or admin under the default policy).
    `,
    examples: [
      ['Export the whole log', 'keyward audit export --out bundle.json'],
      [
        'Export a range, replayable offline',
        'keyward audit export --from 1000 --to 2000 --include-inputs --out bundle.json',
      ],
    ],
  });

  from = Option.String('--from', { description: 'First record index (default 0)', validator: wholeNumber(0) });
  to = Option.String('--to', {
    description: 'One past the last record index (default: the signed tree size)',
    validator: wholeNumber(0),
  });
  includeInputs = Option.Boolean('--include-inputs', false, {
    description: 'Include the recorded policy inputs (for replay; implies --include-wasm)',
  });
  includeWasm = Option.Boolean('--include-wasm', false, { description: "Include the policies' WebAssembly modules" });
  previous = Option.String('--previous-checkpoint', {
    description: 'Add a consistency proof from this earlier checkpoint',
  });
  out = Option.String('--out', { required: true, description: 'Write the bundle here' });
  force = Option.Boolean('--force', false, { description: 'Overwrite --out if it exists' });

  async run(): Promise<number> {
    const from = this.from;
    const to = this.to;
    checkRange(from, to);
    const includeWasm = this.includeWasm || this.includeInputs;
    const prev = this.previous === undefined ? undefined : await readCheckpointUnverified(this.previous);
    // Fail on an existing file before the server does any work.
    if (!this.force && existsSync(this.out))
      throw new KeywardError('FILE_EXISTS', `${this.out} already exists; refusing to overwrite it (use --force)`);
    const client = this.client();
    let bundle: AttestationBundle = done(
      await client.post('/v1/audit/export', {
        body: {
          ...(from !== undefined ? { from } : {}),
          ...(to !== undefined ? { to } : {}),
          includeInputs: this.includeInputs,
          includeWasm,
        },
      }),
    );
    if (prev) bundle = await this.#withConsistency(bundle, prev);
    const text = JSON.stringify(bundle, null, 2) + '\n';
    await writeFileSafe(this.out, text, { overwrite: this.force, ...(this.includeInputs ? { mode: 0o600 } : {}) });
    const summary = {
      file: this.out,
      bytes: Buffer.byteLength(text),
      origin: bundle.origin,
      from: bundle.range.from,
      to: bundle.range.to,
      records: bundle.records.length,
      treeSize: bundle.treeSize,
      policies: Object.keys(bundle.policies).length,
      wasm: includeWasm,
      inputs: Object.keys(bundle.inputs ?? {}).length,
      consistencyFrom: bundle.consistency?.fromSize ?? null,
    };
    this.print(summary, () =>
      [
        `Exported records [${summary.from}, ${summary.to}) (${num(summary.records)} records) to ${summary.file} (${num(summary.bytes)} bytes)`,
        `Signed tree size ${num(summary.treeSize)}, origin ${summary.origin}`,
        `Policies ${summary.policies}${includeWasm ? ' (with wasm)' : ''}${this.includeInputs ? `, inputs ${num(summary.inputs)}` : ''}${summary.consistencyFrom !== null ? `, consistency proof from size ${num(summary.consistencyFrom)}` : ''}`,
        `Verify offline: keyward audit verify-bundle ${summary.file} --trusted-key trusted.txt${this.includeInputs ? ' --replay' : ''}`,
      ].join('\n'),
    );
    return 0;
  }

  /** Adds the consistency proof from a kept checkpoint to the bundle's, after checking it here. */
  async #withConsistency(
    bundle: AttestationBundle,
    prev: { origin: string; size: number; root: Uint8Array },
  ): Promise<AttestationBundle> {
    const { parseCheckpoint, parseNote, verifyConsistency } = await auditMath();
    const cp = parseCheckpoint(parseNote(bundle.checkpoint).text);
    if (prev.origin !== cp.origin)
      throw new KeywardError(
        'AUDIT_CHECKPOINT_INVALID',
        `--previous-checkpoint is of log "${prev.origin}", this server's is "${cp.origin}"`,
      );
    if (prev.size > cp.size) {
      throw new KeywardError(
        'AUDIT_LOG_CORRUPT',
        `the checkpoint you hold covers ${prev.size} records, the server now signs only ${cp.size}: the log was rolled back (or this is another log)`,
      );
    }
    if (prev.size === cp.size) {
      if (!Buffer.from(prev.root).equals(Buffer.from(cp.root)))
        throw new KeywardError(
          'AUDIT_LOG_CORRUPT',
          `the checkpoint you hold and the server's have the same size ${cp.size} but different roots: the log forked`,
        );
      return bundle; // Same tree: nothing to prove (verify-bundle accepts an equal checkpoint).
    }
    const res = done(
      await this.client().get('/v1/audit/proofs/consistency', { params: { query: { from: prev.size, to: cp.size } } }),
    );
    const proof = res.proof.map((h, i) => fromBase64(h, `consistency proof hash ${i}`, 32, 'BAD_RESPONSE'));
    try {
      verifyConsistency(prev.size, cp.size, proof, prev.root, cp.root);
    } catch (err) {
      throw prefixed(`the log is not consistent with the checkpoint you hold (size ${prev.size}): `, err);
    }
    const { consistency: _drop, policies, inputs, keys, ...head } = bundle;
    // Documented field order: consistency right after rangeProof.
    return {
      ...head,
      consistency: { fromSize: prev.size, fromRoot: Buffer.from(prev.root).toString('base64'), proof: res.proof },
      policies,
      ...(inputs ? { inputs } : {}),
      ...(keys ? { keys } : {}),
    };
  }
}
