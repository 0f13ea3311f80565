import { KeywardApiError } from '@keyward/client';
import type { KeywardClient } from '@keyward/client';
import { Command, Option } from 'clipanion';
import { KeywardError, isKeywardError } from '../../../lib/errors.js';
import { fromBase64 } from '../../../lib/bytes.js';
import type { NoteVerifyOptions, VerifiedCheckpoint, VerifierKey } from '../../../engine/audit/math/note.js';
import type { LeafHashes, RootCheck, VerifyPool } from '../../../engine/audit/verifier/index.js';
import { RemoteCommand, wholeNumber } from '../../base.js';
import { done, plainJson, toCliError } from '../../http.js';
import { RAW_PAGE, fetchRecordsPage, firstRecords } from './pages.js';
import type { RecordsPage } from './pages.js';
import { noteVerifyOptions } from './note-verify.js';
import { checkRange, liveTrustedKeys, num, prefixed, Progress, readTrustedCheckpoint } from './shared.js';

/** Loaded when used: every command's module is imported when the CLI starts. */
const logVerifier = () => import('../../../engine/audit/verifier/index.js');

/**
 * Loaded when used: every command's module is imported when the CLI starts. The note module alone,
 * not ../math/index.js, whose bundle verifier loads zod.
 */
const notes = () => import('../../../engine/audit/math/note.js');

/** Records in the first raw page asked for. */
const FIRST_PAGE = 2000;

function corrupt(message: string, details?: Record<string, unknown>): KeywardError {
  return new KeywardError('AUDIT_LOG_CORRUPT', message, details ? { details } : undefined);
}

export default class AuditVerifyCommand extends RemoteCommand {
  static override paths = [['audit', 'verify']];
  static override usage = Command.Usage({
    category: 'Audit',
    description:
      "verify the live audit log: every record's canonical form, chain and index, and the tree against the signed checkpoint",
    details: `
      Fetches the latest checkpoint and checks its signatures (against the --trusted-key file; without one, against the keys the server publishes, which only proves the server signed its own log), then reads every record from index 0 to the head and checks, for each: that it is canonical JSON and a valid record, that indexes are contiguous, and that its chain value follows from the previous one (the first mismatch names the edited, reordered or deleted row). The leaf hashes are folded into the RFC 9162 tree, whose root at the checkpoint's size must be the signed root; when it is not (rows edited and their chain values recomputed), inclusion proofs name the first record that differs from the signed tree.

      --from/--to only narrow which records are reported: the chain and the tree start at record 0, so every record from 0 to the end of the range and to the checkpoint's size is still fetched and checked, and a failure anywhere fails the run.

      --previous-checkpoint FILE (a checkpoint you kept: the signed note, the JSON of GET /v1/audit/checkpoint, or a bundle) also requires the log to still hash to that checkpoint's root at its size: a log rolled back or rewritten since fails.

      Shows a progress bar on a terminal, and the records/s figure at the end. Exits 1 at the first failure with its code (AUDIT_LOG_CORRUPT, or the specific one, e.g. AUDIT_LEAF_NOT_CANONICAL). Needs a token allowed \`audit.read\` (auditor or admin under the default policy).
    `,
    examples: [
      ['Verify the whole log against pinned keys', 'keyward audit verify --trusted-key trusted.txt'],
      [
        'Report records 1000..1999 (still checked from 0)',
        'keyward audit verify --from 1000 --to 2000 --trusted-key trusted.txt',
      ],
    ],
  });

  from = Option.String('--from', {
    description: 'First record index to report (checking still starts at 0)',
    validator: wholeNumber(0),
  });
  to = Option.String('--to', {
    description: 'One past the last record index to report (default: the head)',
    validator: wholeNumber(0),
  });
  trustedKey = Option.String('--trusted-key', {
    description: "File of pinned verifier keys (default: the server's own, with a warning)",
  });
  previous = Option.String('--previous-checkpoint', {
    description: 'A checkpoint you kept; the log must still hash to it',
  });

  async run(): Promise<number> {
    const { VerifyPool } = await logVerifier();
    // The worker threads start now, while the keys, the checkpoint and the first page are fetched;
    // the records/s figure counts from here, their start-up included.
    const started = performance.now();
    const pool = new VerifyPool();
    try {
      return await this.#verify(pool, started);
    } finally {
      await pool.close();
    }
  }

  async #verify(pool: VerifyPool, started: number): Promise<number> {
    const { LogVerifier, RootMismatch } = await logVerifier();
    const from = this.from ?? 0;
    const to = this.to;
    checkRange(from, to);
    // Every GET goes over node:http first (cli/http.ts PlainGet); the typed client, whose creation
    // loads undici, is made only to ask again after anything but a 200, and words the error.
    const plain = await this.plainGet();
    const client = () => this.client();
    // 2 (started first). The records are walked from 0 in pages (raw pages where the server speaks them:
    // ./pages.ts). The first pages are smaller (2,000 records, then twice as many up to RAW_PAGE): the
    // workers start checking while the server still reads the next, larger one. The first is asked for
    // now, so the server reads it while the keys and the checkpoint are fetched.
    let limit = FIRST_PAGE;
    const page = (f: number, t?: number) => {
      const p = fetchRecordsPage(client, plain, f, { limit, ...(t !== undefined ? { to: t } : {}) });
      limit = Math.min(RAW_PAGE, 2 * limit);
      return p;
    };
    const firstPage = page(0);
    firstPage.catch(() => undefined); // awaited below, after the checkpoint's errors
    const { keys, pinned } = await liveTrustedKeys(client, this.trustedKey, (t) => this.note(t), plain);
    // The signature checks (the addon loads and self-tests here), while the first page is read.
    const fast = noteVerifyOptions();
    const prev = this.previous === undefined ? undefined : await readTrustedCheckpoint(this.previous, keys, fast);

    // 1. The latest checkpoint (the server integrates first). Its signatures are verified in the walk,
    // once the workers have the first page; nothing in it is used before then but its size, which must
    // then be the signed one.
    let cpBody: { size: number; root: string; note: string } | undefined;
    let refused: KeywardError | undefined;
    try {
      cpBody =
        (await plainJson<{ size: number; root: string; note: string }>(plain, '/v1/audit/checkpoint')) ??
        done(await client().get('/v1/audit/checkpoint'));
    } catch (err) {
      // The integrator refuses to sign over a log it finds corrupt: still walk the records to name the row.
      const e = err instanceof KeywardApiError ? toCliError(err) : err;
      if (!isKeywardError(e, 'AUDIT_LOG_CORRUPT')) throw e;
      refused = e;
      this.note(`warning: the server refuses to sign a checkpoint (${e.message}); checking the records anyway`);
    }
    const first = await firstPage.then(
      (p) => ({ page: p, error: undefined }),
      (error: unknown) => ({ page: undefined, error }),
    );
    // The page may have been read before the checkpoint was signed: the head is at least its size.
    const head = Math.max(first.page?.size ?? 0, cpBody?.size ?? 0);
    const treeEnd = Math.max(cpBody?.size ?? 0, prev?.size ?? 0);
    const end = Math.max(to ?? head, treeEnd);
    const reportTo = to ?? head;
    // No page to read from `at`: the walk reports the records from there as missing.
    const noRecords = (at: number): RecordsPage => ({ raw: false, size: head, from: at, count: 0, end: at, rows: [] });

    // 3. The walk. Per-record checks run in worker threads; this thread fetches (a page ahead), and
    // folds the tree in order. The first page goes to the workers before the checkpoint's signatures
    // are verified (the usual case: a raw page from record 0); anything else waits for the checks, so
    // a gap is reported in order. Nothing is folded before the signed roots are set.
    const verifier = new LogVerifier({ pool, checksLater: true });
    const progress = new Progress(this.context.stderr, { enabled: !this.json, label: 'verifying' });
    let cp: VerifiedCheckpoint | undefined;
    let checked = false;
    let expected = 0;
    let ahead: Promise<RecordsPage> | undefined;
    try {
      for (;;) {
        const early = expected === 0 && first.page?.raw && first.page.count > 0 && first.page.from === 0;
        if (!checked && !early) {
          // Verified while the next page is fetched (and, usually, the workers check the first).
          cp = cpBody && (await this.#signed(cpBody, keys, prev, fast));
          if (!first.page) throw first.error;
          if (to !== undefined && to > head)
            throw new KeywardError(
              'AUDIT_RANGE_INVALID',
              `--to ${to} is beyond the log's head (${num(head)} committed records)`,
            );
          if (from >= reportTo)
            throw new KeywardError(
              'AUDIT_RANGE_INVALID',
              `--from ${from} is not below the log's head (${num(head)} committed records)`,
            );
          const rootChecks: RootCheck[] = [];
          if (cp) rootChecks.push({ size: cp.size, root: cp.root, what: `the root signed at size ${num(cp.size)}` });
          if (prev)
            rootChecks.push({
              size: prev.size,
              root: prev.root,
              what: `the root of the checkpoint you hold (size ${num(prev.size)})`,
            });
          verifier.setChecks({ rootChecks, keepLeafHashesBelow: treeEnd });
          checked = true;
        }
        if (expected >= end) break;
        const current = expected === 0 ? first.page! : ahead ? await ahead : noRecords(expected);
        // Fetch the next page while this one is checked.
        ahead = current.count > 0 && current.end < end ? page(current.end, end) : undefined;
        ahead?.catch(() => undefined);
        if (current.count === 0) {
          await verifier.finish(); // an earlier failure is reported first
          throw corrupt(
            `records [${expected}, ${end}) are missing: the stored log ends at ${expected}` +
              (cp && cp.size > expected
                ? `, but its signed checkpoint covers ${num(cp.size)} records`
                : head > expected
                  ? `, but its head says ${num(head)} records were committed`
                  : '') +
              ' (deleted rows or a rolled-back database)',
            { index: expected },
          );
        }
        const take = firstRecords(current, end - expected);
        if (take.raw) await verifier.addPage(take.page);
        else await verifier.add(take.rows);
        expected += take.count;
        progress.update(expected, end, expected >= end);
      }
      await verifier.finish();
    } catch (err) {
      if (!(err instanceof RootMismatch)) throw err;
      const c = err.check;
      const bad = await this.#locate(client(), verifier.leafHashes, c.size, c.root).catch(() => undefined);
      throw corrupt(
        `records [0, ${c.size}) do not hash to ${c.what}` +
          (bad !== undefined
            ? `: record ${bad} is the first that differs from the signed tree (edited, with the chain values recomputed to hide it)`
            : ' (rows edited with their chain values recomputed, or the log rewritten)'),
        { index: bad ?? null, size: c.size },
      );
    } finally {
      progress.done();
      await verifier.close();
    }
    if (refused) throw prefixed('the records check out, but the server refuses to sign a checkpoint: ', refused);
    const { SignatureType } = await notes();
    const seconds = (performance.now() - started) / 1000;
    const rate = expected / Math.max(seconds, 1e-9);
    const newer = cp ? Math.max(0, expected - cp.size) : expected;
    const summary = {
      ok: true,
      origin: cp!.origin,
      from,
      to: reportTo,
      records: Math.max(0, reportTo - from),
      checked: expected,
      head,
      checkpoint: { size: cp!.size, root: Buffer.from(cp!.root).toString('base64') },
      signatures: cp!.signatures.map((s) => ({
        key: s.key,
        type: s.type === SignatureType.ed25519 ? 'ed25519' : 'ml-dsa-44',
        timestamp: s.timestamp,
      })),
      pinned,
      previous: prev ? { size: prev.size } : null,
      chainOnly: newer,
      seconds,
      recordsPerSecond: Math.round(rate),
    };
    this.print(summary, () =>
      [
        `OK: records [${from}, ${reportTo}) of ${summary.origin} verified (${num(summary.records)} records)`,
        `Chain intact and indexes contiguous over [0, ${expected}); every record canonical and valid`,
        `Records [0, ${cp!.size}) hash to the root signed at size ${num(cp!.size)} by ${summary.signatures.map((s) => s.key).join(', ')}${pinned ? ' (pinned keys)' : " (the server's own keys: not pinned)"}`,
        ...(prev ? [`The log still hashes to your checkpoint at size ${num(prev.size)}`] : []),
        ...(newer > 0
          ? [`Records [${cp!.size}, ${expected}) are newer than the checkpoint: checked by the chain only`]
          : []),
        `${num(expected)} records in ${seconds.toFixed(2)} s: ${num(rate)} records/s`,
      ].join('\n'),
    );
    return 0;
  }

  /**
   * The server's checkpoint, its signatures verified against `keys` (with `fast`'s checks first,
   * ./note-verify.ts), and consistent with what it says unsigned and with the checkpoint you hold.
   */
  async #signed(
    cpBody: { size: number; root: string; note: string },
    keys: VerifierKey[],
    prev: VerifiedCheckpoint | undefined,
    fast: NoteVerifyOptions,
  ): Promise<VerifiedCheckpoint> {
    const { verifyNote } = await notes();
    let cp: VerifiedCheckpoint;
    try {
      cp = verifyNote(cpBody.note, keys, fast);
    } catch (err) {
      throw prefixed("the server's checkpoint: ", err);
    }
    if (cp.size !== cpBody.size || Buffer.from(cp.root).toString('base64') !== cpBody.root) {
      throw new KeywardError(
        'AUDIT_CHECKPOINT_INVALID',
        `the server's checkpoint says size ${cpBody.size} root ${cpBody.root}, its signed note size ${cp.size}: they disagree`,
      );
    }
    if (prev && prev.origin !== cp.origin)
      throw new KeywardError(
        'AUDIT_CHECKPOINT_INVALID',
        `--previous-checkpoint is of log "${prev.origin}", this server's is "${cp.origin}"`,
      );
    if (prev && prev.size > cp.size)
      throw corrupt(
        `the checkpoint you hold covers ${num(prev.size)} records, the server signs only ${num(cp.size)}: the log was rolled back`,
      );
    return cp;
  }

  /**
   * Finds the first leaf that differs from the signed tree of `size` with `root`, by inclusion
   * proofs: a proof that verifies with our hash of leaf i authenticates its sibling subtrees, so the
   * leftmost sibling whose hash differs from ours holds the first bad leaf; descend into it. About
   * log2(size) requests. Assumes the server's stored tree nodes are honest (an edited node makes the
   * proofs fail, and the leaf they were fetched for is named).
   */
  async #locate(
    client: KeywardClient,
    hashes: LeafHashes,
    size: number,
    root: Uint8Array,
  ): Promise<number | undefined> {
    const { inclusionProofRanges, rootOf, verifyInclusion } = await import('../../../engine/audit/math/merkle.js');
    let lo = 0;
    let hi = size;
    for (let step = 0; step < 64; step++) {
      const res = done(await client.get('/v1/audit/proofs/inclusion', { params: { query: { index: lo, size } } }));
      const proof = res.proof.map((h, i) => fromBase64(h, `inclusion proof hash ${i}`, 32, 'BAD_RESPONSE'));
      try {
        verifyInclusion(hashes.get(lo), lo, size, proof, root);
      } catch {
        return lo;
      }
      const ranges = inclusionProofRanges(lo, size);
      let next: [number, number] | undefined;
      ranges.forEach(([b, e], k) => {
        if (b < lo || e > hi || (next && next[0] < b)) return;
        if (!Buffer.from(rootOf(hashes.slice(b, e))).equals(Buffer.from(proof[k]!))) next = [b, e];
      });
      if (!next) return undefined;
      [lo, hi] = next;
    }
    return undefined;
  }
}
