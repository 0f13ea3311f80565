/**
 * The audit log's read side over the store: pages of records, inclusion and consistency proofs
 * from the stored tiles (each perfect node a proof needs folded from one tile), and the attestation export. Proofs are only served for
 * sizes that have a signed checkpoint, so a client can always check them against a signature.
 * @module
 */
import { KeywardError } from '../../../lib/errors.js';
import { toBase64 } from '../../../lib/bytes.js';
import type { AuditRecordsRaw, Db } from '../../store/index.js';
import {
  auditCheckpointAt,
  auditHeadSize,
  getAuditInputs,
  getAuditTiles,
  getAuditTree,
  getPolicy,
  readAuditBatchInputs,
  readAuditRecords,
  readAuditRecordsRaw,
  readAuditRecordsText,
  toPlainBytes,
} from '../../store/index.js';
import { buildBundle } from '../math/bundle.js';
import { batchInputsPath, decodeBatchInputs, singleInputPath } from './inputs.js';
import type { AttestationBundle } from '../math/bundle.js';
import { parseCheckpoint, parseNote } from '../math/note.js';
import { decodeRecord } from '../math/record.js';
import {
  consistencyProof,
  consistencyProofNodes,
  inclusionProof,
  inclusionProofNodes,
  leafHash,
  nodeFromTile,
  nodeTileSpan,
  rangeProof,
} from '../math/merkle.js';
import { nodeHashFast } from '../verifier/sha256-fast.js';
import type { GetNode, NodeId } from '../math/merkle.js';

/** Most records per page of GET /v1/audit/records. */
export const AUDIT_PAGE_MAX = 1000;

export interface RecordsPage {
  /** Committed records (the head), which may be ahead of the signed tree. */
  size: number;
  records: { index: number; leaf: string; chain: string }[];
  /** Where the next page starts, or null at the end. */
  next: number | null;
}

export async function auditRecordsPage(db: Db, from: number, to: number): Promise<RecordsPage> {
  const size = await auditHeadSize(db);
  const rows = await readAuditRecordsText(db, from, Math.min(to, size));
  const end = from + rows.length;
  return {
    size,
    records: rows.map((r) => ({ index: r.idx, leaf: r.leaf, chain: r.chain })),
    next: end < size && rows.length > 0 ? end : null,
  };
}

/**
 * Most records per page in the raw format (engine/audit/verifier/records-page.ts), and the bytes of
 * leaves after which a raw page ends early. Larger than the JSON page's: a raw page costs no
 * object or string per record, so the per-page costs (the request, its own audit record, two
 * queries) are what a larger page spreads.
 */
export const AUDIT_RAW_PAGE_MAX = 10_000;
export const AUDIT_RAW_PAGE_BYTES = 8 * 1024 * 1024;

/** Records [from, to) as stored (to capped at the head, and the page at AUDIT_RAW_PAGE_BYTES of leaves). */
export async function auditRecordsRaw(
  db: Db,
  from: number,
  to: number,
): Promise<{ size: number; next: number | null } & AuditRecordsRaw> {
  const size = await auditHeadSize(db);
  const raw = await readAuditRecordsRaw(db, from, Math.min(to, size), AUDIT_RAW_PAGE_BYTES);
  const end = raw.from + raw.count;
  return { size, next: end < size && raw.count > 0 ? end : null, ...raw };
}

/**
 * The perfect nodes `ids` from the stored tiles, fetched in one query (every tile any of them needs)
 * and folded here; nodes the tiles do not hold are absent from the map. Key: `${level}:${index}`.
 */
async function readAuditNodes(db: Db, ids: readonly NodeId[]): Promise<Map<string, Uint8Array>> {
  const spans = ids.map((n) => ({ n, span: nodeTileSpan(n.level, n.index) }));
  const tiles = await getAuditTiles(
    db,
    spans.map(({ span }) => span),
  );
  const out = new Map<string, Uint8Array>();
  for (const { n, span } of spans) {
    const tile = tiles.get(`${span.level}:${span.index}`);
    const h = tile && nodeFromTile(tile, span, nodeHashFast);
    if (h) out.set(`${n.level}:${n.index}`, h);
  }
  return out;
}

/** A GetNode over the store that fetches a plan's nodes in one query first. */
async function nodeReader(db: Db, plan: readonly NodeId[][]): Promise<GetNode> {
  const nodes = await readAuditNodes(db, plan.flat());
  return (level, index) => {
    const h = nodes.get(`${level}:${index}`);
    if (!h)
      throw new KeywardError('AUDIT_LOG_CORRUPT', `the audit tree node (${level}, ${index}) is missing from storage`);
    return h;
  };
}

async function requireCheckpoint(db: Db, size: number): Promise<void> {
  const tree = await getAuditTree(db);
  if (size > tree.size)
    throw new KeywardError(
      'AUDIT_RANGE_INVALID',
      `size ${size} is beyond the signed tree (${tree.size} records); fetch GET /v1/audit/checkpoint first`,
    );
  if (!(await auditCheckpointAt(db, size)))
    throw new KeywardError(
      'AUDIT_RANGE_INVALID',
      `no checkpoint was signed at size ${size}; use the size of a checkpoint you hold`,
    );
}

export async function auditInclusionProof(
  db: Db,
  index: number,
  size: number,
): Promise<{ index: number; size: number; leafHash: string; proof: string[] }> {
  if (index >= size)
    throw new KeywardError('AUDIT_RANGE_INVALID', `expected index < size, got index=${index} size=${size}`);
  await requireCheckpoint(db, size);
  const [row] = await readAuditRecords(db, index, index + 1);
  if (!row) throw new KeywardError('AUDIT_LOG_CORRUPT', `record ${index} is missing`);
  const proof = await inclusionProof(index, size, await nodeReader(db, inclusionProofNodes(index, size)));
  return { index, size, leafHash: toBase64(leafHash(row.leaf)), proof: proof.map(toBase64) };
}

export async function auditConsistencyProof(
  db: Db,
  from: number,
  to: number,
): Promise<{ from: number; to: number; proof: string[] }> {
  if (from < 1 || from > to)
    throw new KeywardError('AUDIT_RANGE_INVALID', `expected 1 ≤ from ≤ to, got from=${from} to=${to}`);
  await requireCheckpoint(db, from);
  await requireCheckpoint(db, to);
  const proof = await consistencyProof(from, to, await nodeReader(db, consistencyProofNodes(from, to)));
  return { from, to, proof: proof.map(toBase64) };
}

/** The range proof linking records [from, to) to the tree of `size` leaves (see merkle.ts). */
export async function auditRangeProof(
  db: Db,
  from: number,
  to: number,
  size: number,
): Promise<{ left: Uint8Array[]; right: Uint8Array[] }> {
  // Which nodes a range proof needs is merkle.ts's business; fetch them lazily but batched per level.
  const cache = new Map<string, Uint8Array>();
  const wanted: NodeId[] = [];
  await rangeProof(from, to, size, (level, index) => {
    wanted.push({ level, index });
    return new Uint8Array(32);
  });
  for (const [k, v] of await readAuditNodes(db, wanted)) cache.set(k, v);
  return rangeProof(from, to, size, (level, index) => {
    const h = cache.get(`${level}:${index}`);
    if (!h)
      throw new KeywardError('AUDIT_LOG_CORRUPT', `the audit tree node (${level}, ${index}) is missing from storage`);
    return h;
  });
}

/** Most records one export carries; larger logs are exported in ranges. */
export const AUDIT_EXPORT_MAX = 100_000;

export interface ExportOptions {
  from: number;
  to: number;
  includeInputs: boolean;
  includeWasm: boolean;
  keys: { ed25519: string; mlDsa44: string };
}

/**
 * The attestation bundle (docs/audit-bundle.md) of records [from, to) against `checkpoint`, with
 * the policies the records name (and their wasm), and, when asked, the decrypted policy inputs for
 * offline replay. Needs the HSM unsealed (the inputs are under the barrier).
 */
export async function exportBundle(
  ctx: { store: { db: Db }; seal: { barrier: { decrypt(path: string, blob: Uint8Array): Promise<Uint8Array> } } },
  checkpoint: { size: number; note: string },
  opts: ExportOptions,
): Promise<AttestationBundle> {
  const db = ctx.store.db;
  const { from, to } = opts;
  if (!(from < to)) throw new KeywardError('AUDIT_RANGE_INVALID', `expected from < to, got from=${from} to=${to}`);
  if (to > checkpoint.size)
    throw new KeywardError('AUDIT_RANGE_INVALID', `to=${to} is beyond the signed tree (${checkpoint.size} records)`);
  if (to - from > AUDIT_EXPORT_MAX)
    throw new KeywardError(
      'AUDIT_RANGE_INVALID',
      `at most ${AUDIT_EXPORT_MAX} records per export, got ${to - from}; export in ranges`,
    );
  const rows = await readAuditRecords(db, from, to);
  if (rows.length !== to - from)
    throw new KeywardError('AUDIT_LOG_CORRUPT', `records [${from}, ${to}) are not all present (${rows.length} found)`);
  const leaves = rows.map((r) => r.leaf);
  const records = leaves.map((l) => decodeRecord(l));

  const policies: Record<string, { name: string; wasm?: Uint8Array }> = {};
  for (const hash of new Set(records.flatMap((r) => r.policies.map((p) => p.sha256)))) {
    const row = await getPolicy(db, hash);
    // A policy row is never deleted; a missing one means the store lost data.
    if (!row) throw new KeywardError('AUDIT_LOG_CORRUPT', `policy ${hash}, named by the records, is not in the store`);
    policies[hash] = { name: row.name, ...(opts.includeWasm ? { wasm: toPlainBytes(row.wasm) } : {}) };
  }
  let inputs: Record<string, Uint8Array> | undefined;
  if (opts.includeInputs) {
    inputs = {};
    const digests = new Set(records.flatMap((r) => (r.inputDigest ? [r.inputDigest] : [])));
    // Each batch keeps its records' inputs in one blob (inputs.ts); a record's input is in its own batch.
    const found = new Map<string, Uint8Array>();
    for (const [first, blob] of await readAuditBatchInputs(db, from, to))
      decodeBatchInputs(await ctx.seal.barrier.decrypt(batchInputsPath(first), blob), found, first);
    for (const d of digests) {
      const bytes = found.get(d);
      if (bytes) inputs[d] = bytes;
    }
    // Inputs stored one by one, by releases before migration 0008.
    const rest = [...digests].filter((d) => !found.has(d));
    for (let i = 0; i < rest.length; i += 1000) {
      for (const [d, blob] of await getAuditInputs(db, rest.slice(i, i + 1000)))
        inputs[d] = await ctx.seal.barrier.decrypt(singleInputPath(d), blob);
    }
  }
  const { origin } = parseCheckpoint(parseNote(checkpoint.note).text);
  return buildBundle({
    origin,
    from,
    to,
    treeSize: checkpoint.size,
    leaves,
    checkpoint: checkpoint.note,
    rangeProof: await auditRangeProof(db, from, to, checkpoint.size),
    policies,
    ...(inputs ? { inputs } : {}),
    keys: [opts.keys.ed25519, opts.keys.mlDsa44],
  });
}
