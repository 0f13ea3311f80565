/**
 * The integrator (docs/architecture.md): extends the Merkle tree over newly committed records and signs a
 * checkpoint, at least every second while there are new records, and on demand before an export.
 *
 * Every node runs one; a transaction-scoped advisory lock lets exactly one integrate at a time, and
 * the tree row advances only by compare-and-set on its size, so a stale integrator (one that read
 * the tree before another moved it) writes nothing and cannot fork the log. Before extending the tree
 * the integrator checks that every new record is stored, in order, and that each stored chain value
 * follows from the one before it and the record's leaf hash: an edited or missing row stops
 * integration with AUDIT_LOG_CORRUPT instead of being signed over. The leaf hashes are those this
 * node's log computed when it committed the batch (`committed`, committed.ts), used only for a
 * stored batch with the same first index, record count, leaf byte length and chain values byte for
 * byte; any other batch is read back whole and its leaves re-hashed. So with kept hashes, a leaf
 * edited in place to the same byte length with its chain values untouched is not seen here: the tree
 * signs the hash of what was written, and the edit fails every later verification of that record
 * against it (`keyward audit verify`, inclusion proofs) instead of halting signing.
 *
 * (The first design named a session advisory lock held by one elected node. A transaction-scoped lock per
 * round gives the same one-writer guarantee without a connection pinned per node, and a node that
 * dies mid-round releases it with its transaction.)
 * @module
 */
import { KeywardError, isKeywardError } from '../../../lib/errors.js';
import type { Db } from '../../store/index.js';
import {
  advanceAuditTree,
  auditChainAt,
  auditCheckpointAt,
  auditHeadSize,
  getAuditTiles,
  getAuditTree,
  latestAuditCheckpoint,
  putAuditCheckpoint,
  putAuditTile,
  readAuditBatches,
  readAuditRoundBatches,
  tryIntegratorLock,
  withTransaction,
} from '../../store/index.js';
import type { TileRun } from '../../store/index.js';
import type { CommittedBatches } from './committed.js';
import {
  TILE_HEIGHT,
  TILE_WIDTH,
  appendLeaves,
  frontierNodes,
  nodeFromTile,
  nodeTileSpan,
  rootFromFrontier,
} from '../math/merkle.js';
import type { NodeHash } from '../math/merkle.js';
import { leafHashesInto, nodeHasher, sha256Is } from './digest.js';

/** The advisory lock key of the integrator ("KWIN"). */
export const INTEGRATOR_LOCK_KEY = 0x4b57494e;
/** Most records integrated per transaction. */
export const INTEGRATE_MAX = 4096;
export const INTEGRATE_INTERVAL_MS = 1000;

/** Signs checkpoints: what the audit signing keys provide while unsealed. */
export interface CheckpointSigner {
  readonly origin: string;
  /** The full signed note (C2SP tlog-checkpoint) for a tree of `size` leaves with `root`. */
  sign(size: number, root: Uint8Array, now: Date): string;
}

export interface Checkpoint {
  size: number;
  root: Uint8Array;
  note: string;
}

export interface IntegratorOptions {
  /** The signer, or undefined while sealed (then nothing is signed; appends go on). */
  signer: () => Promise<CheckpointSigner | undefined>;
  now?: () => Date;
  intervalMs?: number;
  /** Called with errors of background rounds (a corrupt log, a database failure). */
  onError?: (err: unknown) => void;
  /**
   * The batches this node's audit log committed, with their leaf hashes (AuditLog's
   * `committedBatches`): a round reads the leaves only of the stored batches that match none
   * (committed.ts says how), and drops what is integrated from them after every round.
   */
  committed?: CommittedBatches;
}

export class AuditIntegrator {
  readonly #db: Db;
  readonly #opts: IntegratorOptions;
  readonly #now: () => Date;
  #timer: NodeJS.Timeout | undefined;
  #latest: Checkpoint | undefined;
  #running: Promise<Checkpoint | undefined> | undefined;
  /** Set when an integrity check failed: nothing is signed over a corrupt log again (until restart). */
  #halted: KeywardError | undefined;

  constructor(db: Db, opts: IntegratorOptions) {
    this.#db = db;
    this.#opts = opts;
    this.#now = opts.now ?? (() => new Date());
  }

  /** The newest checkpoint this node has seen (signed here or by another node). */
  get latest(): Checkpoint | undefined {
    return this.#latest;
  }

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => {
      if (this.#halted) return; // reported once, when found
      this.integrate().catch((err) => this.#opts.onError?.(err));
    }, this.#opts.intervalMs ?? INTEGRATE_INTERVAL_MS);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running?.catch(() => undefined);
  }

  /**
   * Integrates every committed record (in rounds of ≤ INTEGRATE_MAX) and returns the newest
   * checkpoint. With `fresh`, also signs a new checkpoint when nothing is new (exports want one
   * signed now). Rounds on one node don't overlap; another node integrating makes this one wait for
   * the next round, then read what that node signed.
   */
  integrate(opts: { fresh?: boolean } = {}): Promise<Checkpoint | undefined> {
    const run = (this.#running ?? Promise.resolve(undefined))
      .catch(() => undefined)
      .then(() => this.#integrateAll(opts.fresh === true));
    this.#running = run;
    return run;
  }

  /**
   * Checks the stored tree against the newest signed checkpoint before signing anything more (run at
   * unseal): the checkpoint must carry this log's valid signatures, and the tree row must be at its
   * size with its root, folded from the stored frontier. A database edited or rolled back behind the
   * log's back fails here with AUDIT_LOG_CORRUPT. (A rollback of the whole database, checkpoints
   * included, is only caught by checkpoints held elsewhere: see docs/audit-bundle.md §8.)
   */
  async verifyTail(verify: (note: string) => { size: number; root: Uint8Array }): Promise<void> {
    try {
      await this.#verifyTail(verify);
    } catch (err) {
      if (err instanceof KeywardError && err.code === 'AUDIT_LOG_CORRUPT') this.#halt(err);
      throw err;
    }
  }

  /**
   * Stops signing for good (until restart), and the node's log from keeping leaf hashes for rounds
   * that will not run: the timer's rounds skip a halted integrator, so nothing would drop them and
   * they would grow to their cap.
   */
  #halt(err: KeywardError): void {
    this.#halted = err;
    this.#opts.committed?.stopKeeping();
  }

  /** The integrity failure that stopped signing, if any. */
  get halted(): KeywardError | undefined {
    return this.#halted;
  }

  async #verifyTail(verify: (note: string) => { size: number; root: Uint8Array }): Promise<void> {
    // One snapshot: another node's integrator commits its tree row and its checkpoint together, and
    // read one after the other outside a snapshot a round committing in between looks like a tree
    // ahead of its checkpoint (a false AUDIT_LOG_CORRUPT that would halt this node's signing).
    const { cp, tree, head } = await withTransaction(
      this.#db,
      async (tx) => ({
        cp: await latestAuditCheckpoint(tx),
        tree: await getAuditTree(tx),
        head: await auditHeadSize(tx),
      }),
      { isolationLevel: 'repeatable read', accessMode: 'read only' },
    );
    if (!cp) {
      if (tree.size !== 0) throw corrupt(`the tree holds ${tree.size} records but no checkpoint was ever signed`);
      return;
    }
    let signed: { size: number; root: Uint8Array };
    try {
      signed = verify(cp.note);
    } catch (err) {
      throw corrupt(
        `the newest checkpoint (size ${cp.size}) does not verify under this log's keys: ${(err as Error).message}`,
      );
    }
    if (signed.size !== cp.size || !Buffer.from(signed.root).equals(Buffer.from(cp.root)))
      throw corrupt(`the checkpoint row at size ${cp.size} does not match its signed note`);
    if (tree.size !== cp.size)
      throw corrupt(`the tree is at size ${tree.size} but the newest checkpoint at ${cp.size}`);
    let folded: Buffer;
    try {
      folded = Buffer.from(rootFromFrontier(tree.frontier, tree.size));
    } catch (err) {
      throw corrupt(`the stored tree frontier is malformed: ${(err as Error).message}`);
    }
    if (!folded.equals(Buffer.from(cp.root)) || !folded.equals(Buffer.from(tree.root)))
      throw corrupt(`the stored tree does not hash to the signed root at size ${cp.size}`);
    if (head < tree.size)
      throw corrupt(
        `the log head (${head} records) is behind the signed tree (${tree.size}): records were deleted or the database was rolled back`,
      );
  }

  async #integrateAll(fresh: boolean): Promise<Checkpoint | undefined> {
    // The signer is loaded outside the transaction: it reads the store, and PGlite's one connection
    // would wait for the open transaction forever.
    if (this.#halted) throw this.#halted;
    const signer = await this.#opts.signer();
    try {
      for (let round = 0, repaired = false; signer; round++) {
        let r: 'busy' | 'done' | 'more';
        try {
          r = await withTransaction(this.#db, (tx) => this.#round(tx, signer, fresh && round === 0));
        } catch (err) {
          // A tile the round writes disagrees with the stored ones (TileFault): tiles are derived
          // data, so rebuild the tree's partial tiles that are missing or of the wrong width (from
          // the checked records, and from full tiles below them) once, and run the round again.
          // What cannot be rebuilt, or rebuilds to another root than the signed one, stops
          // integration (below).
          if (repaired || !(err instanceof TileFault)) throw err;
          repaired = true;
          await withTransaction(this.#db, (tx) => this.#repairTiles(tx, err));
          continue;
        }
        if (r === 'busy' || r === 'done') break;
      }
    } catch (err) {
      if (err instanceof KeywardError && err.code === 'AUDIT_LOG_CORRUPT') this.#halt(err);
      throw err;
    }
    const cp = await latestAuditCheckpoint(this.#db);
    if (cp && (!this.#latest || cp.size >= this.#latest.size))
      this.#latest = { size: cp.size, root: cp.root, note: cp.note };
    // What another node integrated too: a node that never wins the lock (or is sealed) would
    // otherwise keep every batch's hashes up to the cap, unused.
    if (this.#latest) this.#opts.committed?.forgetBefore(this.#latest.size);
    return this.#latest;
  }

  async #round(tx: Db, signer: CheckpointSigner, fresh: boolean): Promise<'busy' | 'done' | 'more'> {
    if (!(await tryIntegratorLock(tx, INTEGRATOR_LOCK_KEY))) return 'busy';
    const tree = await getAuditTree(tx);
    const head = await auditHeadSize(tx);
    if (head < tree.size)
      throw corrupt(
        `the log head (${head} records) is behind the signed tree (${tree.size}): records were deleted or the database was rolled back`,
      );
    if (head === tree.size && !fresh) return 'done';
    if (head === tree.size) {
      await putAuditCheckpoint(tx, tree.size, tree.root, signer.sign(tree.size, tree.root, this.#now()));
      return 'done';
    }
    const to = Math.min(head, tree.size + INTEGRATE_MAX);
    const n = to - tree.size;
    const batches = await this.#readBatches(tx, tree.size, to);
    const prev = await auditChainAt(tx, tree.size - 1);
    if (!prev) throw corrupt(`record ${tree.size - 1} is missing`);
    const leafHashes = checkedLeafHashes(batches, tree.size, n, prev);
    const hashes: Uint8Array[] = new Array<Uint8Array>(n);
    for (let k = 0; k < n; k++) hashes[k] = leafHashes.subarray(32 * k, 32 * k + 32);
    const next = appendLeaves(tree.frontier, tree.size, hashes, { hash: nodeHasher(), keepLevel: isTileLevel });
    const note = signer.sign(next.size, next.root, this.#now());
    let moved: boolean;
    try {
      moved = await advanceAuditTree(tx, {
        fromSize: tree.size,
        size: next.size,
        root: next.root,
        frontier: next.frontier,
        tiles: tileRuns(tree.size, leafHashes, next.newNodes),
        note,
      });
    } catch (err) {
      // Its only integrity failure: a stored tile that disagrees with the tree.
      throw isKeywardError(err, 'AUDIT_LOG_CORRUPT') ? new TileFault(err) : err;
    }
    // Another integrator moved the tree since we read it (only possible without the lock): nothing written.
    if (!moved) return 'busy';
    this.#opts.committed?.forgetBefore(next.size);
    return next.size < head ? 'more' : 'done';
  }

  /**
   * Rebuilds the tree's partial tiles (the last tile of each tile level, which the next round
   * extends) where one is missing or does not hold exactly the hashes the tree size implies: level 0
   * from the stored records (re-hashed, every chain value checked as in a round), level L from the
   * full tiles of level L − 1 below it (each hash the MTH of one). A full tile below that is missing
   * too cannot be rebuilt this way: AUDIT_LOG_CORRUPT says so, and integration stays stopped. With
   * no such tile to rebuild, `fault` was something else (tiles beyond the tree): it stops integration.
   *
   * Before anything is written, the partial tiles (rebuilt and stored alike) must reproduce the
   * tree's signed root at its size: they hold exactly the tree's frontier (the nodes of levels
   * 8L … 8L + 7 of the frontier lie in the partial tile of level L), so a rebuild from a full tile or
   * a record that differs from what was signed — a chain of edited records recomputed to match is
   * one — gives another root, and AUDIT_LOG_CORRUPT says to restore from a backup.
   */
  async #repairTiles(tx: Db, fault: TileFault): Promise<void> {
    if (!(await tryIntegratorLock(tx, INTEGRATOR_LOCK_KEY))) return;
    const tree = await getAuditTree(tx);
    const size = tree.size;
    const partial: { level: number; index: number; count: number }[] = [];
    for (let level = 0, width = 1; width <= size; level++, width *= TILE_WIDTH) {
      const nodes = Math.floor(size / width); // complete nodes of tree level 8 · level
      if (nodes % TILE_WIDTH !== 0)
        partial.push({ level, index: Math.floor(nodes / TILE_WIDTH), count: nodes % TILE_WIDTH });
    }
    const stored = await getAuditTiles(tx, partial);
    const nodeHash = nodeHasher();
    const rebuilt = new Map<string, { level: number; index: number; hashes: Uint8Array }>();
    for (const { level, index, count } of partial) {
      if (stored.get(`${level}:${index}`)?.length === 32 * count) continue;
      const from = index * TILE_WIDTH;
      let hashes: Uint8Array;
      if (level === 0) {
        const prev = await auditChainAt(tx, from - 1);
        if (!prev) throw corrupt(`record ${from - 1} is missing`);
        hashes = checkedLeafHashes(await readAuditBatches(tx, from, from + count), from, count, prev);
      } else {
        const below = Array.from({ length: count }, (_, k) => ({ level: level - 1, index: from + k }));
        const tiles = await getAuditTiles(tx, below);
        const out = Buffer.allocUnsafe(32 * count);
        for (const t of below) {
          const tile = tiles.get(`${t.level}:${t.index}`);
          const node =
            tile?.length === 32 * TILE_WIDTH
              ? nodeFromTile(tile, { level: t.level, index: 0, start: 0, count: TILE_WIDTH }, nodeHash)
              : undefined;
          if (!node)
            throw corrupt(
              `tile (${level}, ${index}) is missing or wrong and cannot be rebuilt: tile (${t.level}, ${t.index}) below it ` +
                `is missing or not full too. Signing stays stopped; restore the database from a backup taken before the loss`,
            );
          out.set(node, 32 * (t.index - from));
        }
        hashes = out;
      }
      rebuilt.set(`${level}:${index}`, { level, index, hashes });
    }
    if (rebuilt.size === 0) throw fault;
    const tiles = new Map(stored);
    for (const [key, t] of rebuilt) tiles.set(key, t.hashes);
    const frontier = frontierNodes(size).map(({ level, index }) => {
      const span = nodeTileSpan(level, index);
      const tile = tiles.get(`${span.level}:${span.index}`);
      return tile ? nodeFromTile(tile, span, nodeHash) : undefined;
    });
    const root = frontier.every((h) => h !== undefined) ? Buffer.from(rootFromFrontier(frontier, size)) : undefined;
    const cp = await auditCheckpointAt(tx, size);
    if (!root?.equals(tree.root) || (cp && !root.equals(cp.root)))
      throw corrupt(
        `tiles ${[...rebuilt.keys()].map((k) => `(${k.replace(':', ', ')})`).join(', ')} are missing or wrong, and rebuilt ` +
          `from the records and full tiles below them they do not reproduce the signed root at size ${size}: a full tile or ` +
          `a record below them differs from what was signed. Nothing was written and signing stays stopped; restore the ` +
          `database from a backup taken before the damage`,
      );
    for (const t of rebuilt.values()) await putAuditTile(tx, t.level, t.index, t.hashes);
  }

  /**
   * The stored batches holding records [from, to), each with its leaf hashes (`hashes`) or its
   * leaves to hash, in one read of the rows. A batch this node committed (same first index, record
   * count and leaf byte length, and byte for byte the same chain values as stored) comes without its
   * leaves, and the kept hashes are used; any other comes whole. When a batch read without its
   * leaves differs from what this node wrote, the rows are read again whole, so it is judged by
   * re-hashing what is stored. With no kept batch in the range (another node's records), the rows
   * are read whole at once.
   */
  async #readBatches(tx: Db, from: number, to: number): Promise<RoundBatch[]> {
    const kept = this.#opts.committed;
    const firsts = kept?.firstsIn(from, to) ?? [];
    if (!kept || firsts.length === 0) return readAuditBatches(tx, from, to);
    const out: RoundBatch[] = [];
    for (const b of await readAuditRoundBatches(tx, from, to, firsts)) {
      if (b.leaves !== null) {
        out.push({ first: b.first, n: b.n, leaves: b.leaves, chains: b.chains });
        continue;
      }
      const k = kept.get(b.first);
      if (
        !k ||
        k.n !== b.n ||
        k.leafBytes !== b.leafBytes ||
        !Buffer.from(k.chains.buffer, k.chains.byteOffset, k.chains.byteLength).equals(b.chains)
      )
        return readAuditBatches(tx, from, to);
      out.push({ first: b.first, n: b.n, leaves: '', chains: b.chains, hashes: k.hashes });
    }
    return out;
  }
}

/**
 * The leaf hashes (concatenated) of records [from, from + n) in `batches` (as #readBatches gives
 * them), after checking that every one is there, in index order, and that its stored chain value
 * follows from the one before it (`prev`: record from − 1's) and its leaf hash (in a batch with kept
 * hashes, checked for its first record in the range; the others hold by construction).
 */
function checkedLeafHashes(batches: readonly RoundBatch[], from: number, n: number, prev: Uint8Array): Buffer {
  // The leaf hashes, concatenated: the level 0 tiles as stored. node:crypto's (merkle.ts's are
  // @noble's, which also run in the browser, ~2.5x slower here): those this node kept when it
  // committed the batch (#readBatches), else each batch's leaves encoded once and hashed in place
  // (leafHashesInto). Every new record must be there, in index order, and its stored chain
  // value must follow from the one before it and its leaf hash.
  const leafHashes = Buffer.allocUnsafe(32 * n);
  const link = Buffer.allocUnsafe(64); // chain(i - 1) ‖ leaf hash(i)
  link.set(prev, 0);
  let i = 0; // records checked so far: the next is record from + i
  for (const b of batches) {
    if (i >= n) break;
    const k0 = from + i - b.first; // this batch's first record to check
    if (k0 < 0) break; // a gap: reported below
    if (i > 0 && k0 !== 0) throw corrupt(`record ${b.first}: its batch overlaps the one before it`);
    if (b.chains.length !== 32 * b.n)
      throw corrupt(`record ${b.first}: its batch holds ${b.chains.length} bytes of chain values for ${b.n} records`);
    const { hashes, count } = b.hashes ? { hashes: b.hashes, count: b.n } : leafHashesInto(b.leaves);
    if (count !== b.n) throw corrupt(`record ${b.first}: its batch holds ${count} leaves where ${b.n} were written`);
    if (b.hashes) {
      // A batch this node committed, its stored chain values byte for byte the ones it computed
      // from these leaf hashes (#readBatches): each follows from the one before it by construction,
      // so only the first one in the range is checked, against the record before it (one hash per
      // batch instead of one per record).
      const m = Math.min(b.n - k0, n - i);
      if (m <= 0) continue;
      leafHashes.set(hashes.subarray(32 * k0, 32 * (k0 + m)), 32 * i);
      link.set(hashes.subarray(32 * k0, 32 * k0 + 32), 32);
      if (!sha256Is(link, b.chains.subarray(32 * k0, 32 * k0 + 32)))
        throw corrupt(
          `record ${from + i}: its chain value does not follow from record ${from + i - 1} and its leaf (edited or reordered)`,
        );
      i += m;
      link.set(b.chains.subarray(32 * (k0 + m - 1), 32 * (k0 + m)), 0);
      continue;
    }
    for (let k = k0; k < b.n && i < n; k++, i++) {
      const idx = from + i;
      const lh = hashes.subarray(32 * k, 32 * k + 32);
      leafHashes.set(lh, 32 * i);
      link.set(lh, 32);
      const chain = b.chains.subarray(32 * k, 32 * k + 32);
      if (!sha256Is(link, chain))
        throw corrupt(
          `record ${idx}: its chain value does not follow from record ${idx - 1} and its leaf (edited or reordered)`,
        );
      link.set(chain, 0);
    }
  }
  if (i < n) throw corrupt(`record ${from + i} is missing`);
  return leafHashes;
}

/** A stored batch as a round reads it: with the leaf hashes its node kept, or with its leaves. */
interface RoundBatch {
  first: number;
  n: number;
  leaves: string;
  chains: Uint8Array;
  hashes?: Uint8Array;
}

/** The tree levels audit_tiles stores above the leaves: 8, 16, … (C2SP tlog-tiles). */
const isTileLevel = (level: number): boolean => level > 0 && level % TILE_HEIGHT === 0;

/**
 * The new hashes of each tile level, as advanceAuditTree stores them: the leaf hashes (level 0,
 * from leaf `size`), then the new nodes of levels 8, 16, … (`appendLeaves` makes each level's in
 * index order, one contiguous run per level).
 */
export function tileRuns(size: number, leafHashes: Uint8Array, upper: readonly NodeHash[]): TileRun[] {
  const runs: TileRun[] = [{ level: 0, from: size, hashes: leafHashes }];
  const byLevel = new Map<number, NodeHash[]>();
  for (const node of upper) {
    let list = byLevel.get(node.level);
    if (!list) byLevel.set(node.level, (list = []));
    list.push(node);
  }
  for (const [level, list] of [...byLevel].sort((x, y) => x[0] - y[0])) {
    list.forEach((node, i) => {
      if (node.index !== list[0]!.index + i)
        throw new Error(`internal: the new nodes of level ${level} are not contiguous`);
    });
    runs.push({ level: level / TILE_HEIGHT, from: list[0]!.index, hashes: Buffer.concat(list.map((x) => x.hash)) });
  }
  return runs;
}

/**
 * A round's tile write failed its integrity check (advanceAuditTree's AUDIT_LOG_CORRUPT: a stored
 * tile missing, of the wrong width, or already there): the one failure a repair of the partial tiles
 * may cure. Marked by type where the round catches it, never recognised by its message, so neither a
 * reworded message nor another error worded like it changes what is repaired. Unrepaired, it stops
 * integration as the AUDIT_LOG_CORRUPT it is.
 */
export class TileFault extends KeywardError<'AUDIT_LOG_CORRUPT'> {
  constructor(cause: KeywardError) {
    super('AUDIT_LOG_CORRUPT', cause.message, { cause, ...(cause.details ? { details: { ...cause.details } } : {}) });
  }
}

function corrupt(message: string): KeywardError {
  return new KeywardError('AUDIT_LOG_CORRUPT', `the audit log failed its integrity check: ${message}`);
}
