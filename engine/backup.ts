/**
 * Backup and restore (docs/backup.md; docs/architecture.md, "The parts"). A backup file is three
 * parts, newline-separated:
 *
 * 1. the header, one line of JSON: the format, the ceremony (id, generation, quorum, holders), the
 *    audit log at the snapshot (origin, tree size and root, head size, the newest checkpoint as its
 *    signed note), the schema's migration version, each table's row count, and the body's SHA-256
 *    and length;
 * 2. the seal, one line of JSON: SHA-256 of the header line, encrypted by the barrier (AES-256-GCM
 *    under the active barrier key, its path `backup/v1/<id>` bound as AAD) — a MAC only this HSM's
 *    keyring can make or check;
 * 3. the body: each table of engine/store/schema.ts as a line `@<table>` followed by its rows, one
 *    `row_to_json` text per line (engine/store/backup.ts). Everything secret in it is already
 *    encrypted under the barrier.
 *
 * The file is gzipped (RFC 1952), as two members: the header and seal, then the body, which is
 * spooled compressed once while the snapshot is read. A client that does not ask for gzip (a CLI of
 * a release before it) gets the same file decompressed, as those releases read it
 * ({@link backupStream}). Restore reads a gzipped file and a plain one alike, told apart by the
 * first two bytes.
 *
 * Restore (offline, into an empty store) checks the body against the header (digest, length, row
 * counts, the ceremony row) before writing anything, loads it in one transaction, and leaves the
 * header and seal at the barrier path {@link RESTORE_PENDING_PATH}. The first unseal of the restored
 * HSM opens the seal with the restored keyring ({@link verifyRestored}) before the unsealed state is
 * published (SealManager `beforeUnseal`); when it does not open, or does not match the header, the
 * keys are wiped, the unseal fails with BACKUP_INVALID, and every later quorum fails the same way.
 * @module
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { once } from 'node:events';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip, gzipSync } from 'node:zlib';
import { z } from 'zod';
import { KeywardError } from '../lib/errors.js';
import { equalBytes, fromBase64, toBase64 } from '../lib/bytes.js';
import type { Barrier } from './seal/barrier.js';
import { parseCheckpoint, parseNote } from './audit/math/note.js';
import {
  auditHeadSize,
  deleteEntry,
  getAuditTree,
  getEntry,
  getSealConfig,
  latestAuditCheckpoint,
  putEntry,
} from './store/index.js';
import type { Db, StoreDriver } from './store/index.js';
import { backupTables, loadTables, snapshotTables } from './store/backup.js';
import type { TableCount } from './store/backup.js';

export const BACKUP_FORMAT = 'keyward.backup/v1';
/** Where a restore leaves the header and seal until the first unseal checks them (not encrypted). */
export const RESTORE_PENDING_PATH = 'sys/restore/pending';
/** Longest header or seal line read, in bytes (the header has a few hundred bytes per holder). */
const MAX_HEAD_LINE = 1024 * 1024;
/** Longest row line read, in bytes (a row's JSON: the largest are policy modules and audit leaves, in hex). */
const MAX_ROW_LINE = 64 * 1024 * 1024;

const hex64 = z.string().regex(/^[0-9a-f]{64}$/);
const count = z.number().int().min(0);

const BackupHeaderSchema = z.strictObject({
  format: z.literal(BACKUP_FORMAT),
  id: z.string().regex(/^bk_[0-9a-f]{32}$/),
  createdAt: z.string(),
  node: z.string(),
  version: z.string(),
  driver: z.enum(['pglite', 'postgres']),
  schema: z.strictObject({ migrations: count, last: z.string() }),
  ceremony: z.strictObject({
    id: z.string(),
    generation: count,
    threshold: count,
    shares: count,
    holders: z.array(z.strictObject({ name: z.string(), fingerprint: z.string(), index: count })),
  }),
  audit: z.strictObject({
    origin: z.string().nullable(),
    headSize: count,
    treeSize: count,
    root: z.string(),
    checkpoint: z.strictObject({ size: count, root: z.string(), note: z.string() }).nullable(),
  }),
  tables: z.array(z.strictObject({ name: z.string(), rows: count })),
  body: z.strictObject({ sha256: hex64, bytes: count }),
});

/** What the header line says (see the module comment). */
export type BackupHeader = z.infer<typeof BackupHeaderSchema>;

const SealSchema = z.strictObject({ seal: z.string() });

const invalid = (message: string): never => {
  throw new KeywardError('BACKUP_INVALID', message);
};

const sealPath = (id: string) => `backup/v1/${id}`;
const sha256 = (b: Uint8Array | string) => createHash('sha256').update(b).digest();

/** What {@link writeBackup} needs of the HSM: the database, the barrier (unsealed), names for the header. */
export interface BackupSource {
  db: Db;
  barrier: Barrier;
  driver: StoreDriver;
  node: string;
  version: string;
  now: () => Date;
}

/**
 * The server could not write its spool (ENOSPC, EIO, …): an infrastructure failure, so 503 with
 * Retry-After. The cause's errno code is named; its message (which holds the spool's path) is not.
 */
export function spoolFailed(err: unknown): KeywardError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return new KeywardError(
    'BACKUP_SPOOL_FAILED',
    `the backup could not be spooled to the server's temporary directory${code ? ` (${code})` : ''}; retry shortly`,
    { details: { retryAfter: 1 } },
  );
}

/** gzip's level for a backup: 6, zlib's default. */
const GZIP_LEVEL = 6;

/** A backup spooled by {@link writeBackup}: its header, and the file's two parts (gzip members). */
export interface BackupSpool {
  header: BackupHeader;
  /** The header and seal lines, gzipped (the file's first gzip member). */
  head: Buffer;
  /** The header and seal lines as they are (a plain file's start). */
  headLines: Buffer;
  /** The file holding the body, gzipped (the second member): the file is `head` then these bytes. */
  body: string;
}

/**
 * Takes a snapshot of the store (needs the HSM unsealed) and spools its body, gzipped, to
 * `bodyFile` (created, mode 0600): the one copy on disk. The header (which names the body's digest
 * and length) and the seal are known only once the body is read, so they come back as `head`, the
 * gzip member the backup file starts with: the file is `head` followed by `bodyFile`'s bytes
 * ({@link backupStream}), one gzip file of two members (RFC 1952 §2.2) that `gzip -d` reads whole.
 */
export async function writeBackup(src: BackupSource, bodyFile: string): Promise<BackupSpool> {
  const file = createWriteStream(bodyFile, { mode: 0o600, flags: 'wx' });
  const gzip = createGzip({ level: GZIP_LEVEL });
  // The spool can fail while the snapshot waits on the database (a full disk): the failure is held
  // here at once (never an unhandled rejection, which would stop the server) and ends the snapshot at
  // its next line, whose write would otherwise wait forever for a 'drain' the destroyed gzip never emits.
  let spoolError: unknown;
  const piped = pipeline(gzip, file).catch((err: unknown) => {
    spoolError ??= err;
  });
  const hash = createHash('sha256');
  let bytes = 0;
  const emit = async (line: string) => {
    if (spoolError !== undefined) throw spoolFailed(spoolError);
    const b = Buffer.from(line + '\n', 'utf8');
    hash.update(b);
    bytes += b.length;
    if (!gzip.write(b)) await Promise.race([once(gzip, 'drain'), piped]);
  };
  let snap;
  try {
    snap = await snapshotTables(src.db, {
      header: async (tx) => {
        const [config, tree, head, cp] = [
          await getSealConfig(tx),
          await getAuditTree(tx),
          await auditHeadSize(tx),
          await latestAuditCheckpoint(tx),
        ];
        if (!config) throw new KeywardError('SEALED', 'keyward is not initialized: there is nothing to back up');
        return { config, tree, head, cp };
      },
      table: (name) => emit(`@${name}`),
      row: (json) => emit(json),
    });
  } catch (err) {
    gzip.destroy();
    await piped;
    throw spoolError !== undefined ? spoolFailed(spoolError) : err;
  }
  gzip.end();
  await piped;
  if (spoolError !== undefined) throw spoolFailed(spoolError);
  const { config, tree, head, cp } = snap.header;
  const origin = cp ? parseCheckpoint(parseNote(cp.note).text).origin : null;
  const header: BackupHeader = {
    format: BACKUP_FORMAT,
    id: `bk_${randomBytes(16).toString('hex')}`,
    createdAt: src.now().toISOString(),
    node: src.node,
    version: src.version,
    driver: src.driver,
    schema: snap.version,
    ceremony: {
      id: config.ceremonyId,
      generation: config.generation,
      threshold: config.threshold,
      shares: config.shares,
      holders: config.holders.map((h) => ({ name: h.name, fingerprint: h.fingerprint, index: h.index })),
    },
    audit: {
      origin,
      headSize: head,
      treeSize: tree.size,
      root: toBase64(tree.root),
      checkpoint: cp ? { size: cp.size, root: toBase64(cp.root), note: cp.note } : null,
    },
    tables: snap.tables,
    body: { sha256: hash.digest('hex'), bytes },
  };
  const headerLine = JSON.stringify(header);
  const seal = src.barrier.encrypt(sealPath(header.id), sha256(headerLine));
  const headLines = Buffer.from(headerLine + '\n' + JSON.stringify({ seal: toBase64(seal) }) + '\n', 'utf8');
  return { header, head: gzipSync(headLines, { level: GZIP_LEVEL }), headLines, body: bodyFile };
}

/**
 * The backup file of a spool. Gzipped (`gzip`, what the current CLI and client ask for): its head
 * member, then the body's bytes as spooled. Plain: the same file decompressed, the head lines then
 * the spool gunzipped as it is read (NDJSON, what releases before gzip sent and read).
 */
export function backupStream(spool: BackupSpool, { gzip = true }: { gzip?: boolean } = {}): Readable {
  return Readable.from(
    (async function* () {
      if (gzip) {
        yield spool.head;
        yield* createReadStream(spool.body) as AsyncIterable<Buffer>;
        return;
      }
      yield spool.headLines;
      // Both streams are destroyed when the reader stops early or the gunzip fails: `.pipe()` would
      // leave the file open (and its deleted spool's disk space held) after the answer was aborted.
      const file = createReadStream(spool.body);
      const body = file.pipe(createGunzip());
      try {
        yield* body as AsyncIterable<Buffer>;
      } finally {
        body.destroy();
        file.destroy();
      }
    })(),
  );
}

/** gzip's magic bytes (RFC 1952 §2.3.1): a backup file that starts with them is gzipped. */
const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);

/**
 * A backup file's bytes, decompressed when it is gzipped (what `keyward backup` writes since issue
 * 14) and as they are when not (NDJSON, as earlier releases wrote it): told by the first two bytes,
 * which a plain backup's `{` never matches. A damaged or truncated gzip stream is BACKUP_INVALID.
 */
async function* readBackupBytes(file: string): AsyncGenerator<Buffer, void> {
  const fh = await open(file, 'r');
  let magic: Buffer;
  try {
    const { buffer, bytesRead } = await fh.read(Buffer.alloc(2), 0, 2, 0);
    magic = buffer.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
  if (!magic.equals(GZIP_MAGIC)) {
    yield* createReadStream(file) as AsyncIterable<Buffer>;
    return;
  }
  const gunzip = createReadStream(file).pipe(createGunzip());
  try {
    yield* gunzip as AsyncIterable<Buffer>;
  } catch (err) {
    invalid(`the file is not a whole gzip stream (${(err as Error).message}): it was truncated or damaged`);
  } finally {
    gunzip.destroy();
  }
}

/** The lines of a file as Buffers (without the newline), and whether the last one ended with one. */
async function* lines(file: string): AsyncGenerator<Buffer, void> {
  let rest: Buffer = Buffer.alloc(0);
  let lineNo = 0;
  for await (const chunk of readBackupBytes(file)) {
    let buf = rest.length ? Buffer.concat([rest, chunk as Buffer]) : (chunk as Buffer);
    let at: number;
    while ((at = buf.indexOf(0x0a)) >= 0) {
      lineNo++;
      yield buf.subarray(0, at);
      buf = buf.subarray(at + 1);
    }
    rest = buf;
    const max = lineNo < 2 ? MAX_HEAD_LINE : MAX_ROW_LINE;
    if (rest.length > max) invalid(`line ${lineNo + 1} is longer than ${max} bytes`);
  }
  if (rest.length > 0) invalid('the file does not end with a newline: it was truncated');
}

/** A parsed backup file's first two lines. */
export interface BackupHead {
  header: BackupHeader;
  headerLine: string;
  seal: Uint8Array;
}

function parseHead(headerLine: Buffer | undefined, sealLine: Buffer | undefined): BackupHead {
  if (headerLine === undefined || sealLine === undefined)
    invalid('expected a header line and a seal line; the file is empty or truncated');
  const text = headerLine!.toString('utf8');
  let header: BackupHeader;
  try {
    header = BackupHeaderSchema.parse(JSON.parse(text));
  } catch (err) {
    const format = (() => {
      try {
        return (JSON.parse(text) as { format?: unknown }).format;
      } catch {
        return undefined;
      }
    })();
    if (format !== undefined && format !== BACKUP_FORMAT)
      invalid(`expected a ${BACKUP_FORMAT} file, got format ${JSON.stringify(format)}`);
    throw new KeywardError(
      'BACKUP_INVALID',
      `the header line is not a ${BACKUP_FORMAT} header: ${(err as Error).message.slice(0, 300)}`,
    );
  }
  let seal: Uint8Array;
  try {
    seal = fromBase64(
      SealSchema.parse(JSON.parse(sealLine!.toString('utf8'))).seal,
      'seal',
      { min: 5 },
      'BACKUP_INVALID',
    );
  } catch (err) {
    throw new KeywardError(
      'BACKUP_INVALID',
      `the second line is not the backup's seal: ${(err as Error).message.slice(0, 200)}`,
    );
  }
  return { header: header!, headerLine: text, seal };
}

/** The first two lines of a backup file, parsed (nothing verified). */
export async function readBackupHead(file: string): Promise<BackupHead> {
  const it = lines(file);
  try {
    const a = await it.next();
    const b = a.done ? a : await it.next();
    return parseHead(a.done ? undefined : a.value, b.done ? undefined : b.value);
  } finally {
    await it.return();
  }
}

/**
 * Checks a backup file against its own header, reading it once: the body's length and SHA-256,
 * each table's rows in the header's order, the tables being this schema's, and the seal_config row
 * naming the header's ceremony. This catches truncation and accidental damage, and an edit that
 * did not also rewrite the header; the seal (checked at the first unseal) catches the rest.
 */
export async function checkBackupFile(file: string): Promise<BackupHead> {
  const it = lines(file);
  const first = await it.next();
  const second = first.done ? first : await it.next();
  const head = parseHead(first.done ? undefined : first.value, second.done ? undefined : second.value);
  const { header } = head;
  const schemaTables = new Set(backupTables().map((t) => t.name));
  const hash = createHash('sha256');
  let bytes = 0;
  const seen: TableCount[] = [];
  let current: TableCount | undefined;
  let ceremonyRow: string | undefined;
  for await (const line of it) {
    hash.update(line);
    hash.update('\n');
    bytes += line.length + 1;
    if (line[0] === 0x40 /* @ */) {
      const name = line.subarray(1).toString('utf8');
      if (!schemaTables.has(name)) invalid(`the body holds table "${name}", which this schema does not have`);
      current = { name, rows: 0 };
      seen.push(current);
    } else if (line[0] === 0x7b /* { */ && current) {
      current.rows++;
      if (current.name === 'seal_config') ceremonyRow = line.toString('utf8');
    } else {
      invalid(`body line ${seen.reduce((n, t) => n + t.rows + 1, 0) + 1} is neither "@table" nor a row`);
    }
  }
  if (bytes !== header.body.bytes || hash.digest('hex') !== header.body.sha256)
    invalid(
      `the body (${bytes} bytes) does not match the header's SHA-256 and length (${header.body.bytes} bytes): the file was altered or truncated`,
    );
  const want = header.tables.map((t) => `${t.name}:${t.rows}`).join(',');
  if (seen.map((t) => `${t.name}:${t.rows}`).join(',') !== want)
    invalid(`the body's tables and row counts differ from the header's (${want})`);
  let ceremonyId: unknown;
  try {
    ceremonyId =
      ceremonyRow === undefined ? undefined : (JSON.parse(ceremonyRow) as { ceremony_id?: unknown }).ceremony_id;
  } catch {
    invalid('the seal_config row is not JSON');
  }
  if (ceremonyId !== header.ceremony.id)
    invalid(`the body's ceremony (${String(ceremonyId)}) is not the header's (${header.ceremony.id})`);
  return head;
}

/** The body's tables and rows, streamed for {@link loadTables}. */
async function* bodyTables(file: string): AsyncGenerator<{ name: string; rows: AsyncIterable<string> }> {
  const it = lines(file);
  await it.next();
  await it.next();
  let pending: Buffer | undefined;
  const next = async () => {
    if (pending) {
      const p = pending;
      pending = undefined;
      return p;
    }
    const r = await it.next();
    return r.done ? undefined : r.value;
  };
  for (let line = await next(); line; line = await next()) {
    const name = line.subarray(1).toString('utf8');
    const rows = async function* () {
      for (let l = await next(); l; l = await next()) {
        if (l[0] === 0x40) {
          pending = l;
          return;
        }
        yield l.toString('utf8');
      }
    };
    yield { name, rows: rows() };
  }
}

/**
 * BACKUP_OLDER_THAN_TARGET when `db` already holds this backup's HSM (the same ceremony) with an
 * audit log ahead of the backup's: restoring it there would roll that log back (docs/backup.md,
 * "Rollback"). A store of another ceremony, or not ahead, is left to the emptiness check.
 */
export async function refuseRollback(db: Db, header: BackupHeader): Promise<void> {
  const config = await getSealConfig(db);
  if (!config || config.ceremonyId !== header.ceremony.id) return;
  const size = await auditHeadSize(db);
  if (size > header.audit.headSize)
    throw new KeywardError(
      'BACKUP_OLDER_THAN_TARGET',
      `backup ${header.id} (taken ${header.createdAt}) is older than the target, which holds the same HSM (ceremony ` +
        `${config.ceremonyId}) with ${size} audit records to the backup's ${header.audit.headSize}: restoring it would ` +
        'roll the log back and fork it; restore only into an empty store, after checking this is the backup you mean',
    );
}

/**
 * Restores a checked backup file into an empty store (see the module comment): every table in one
 * transaction, then the pending seal check. Refuses a store holding the same HSM further on
 * (BACKUP_OLDER_THAN_TARGET), any other store with rows (RESTORE_TARGET_NOT_EMPTY) and a snapshot
 * of another schema version (BACKUP_SCHEMA_MISMATCH).
 */
export async function restoreBackup(db: Db, file: string): Promise<{ head: BackupHead; tables: TableCount[] }> {
  const head = await checkBackupFile(file);
  await refuseRollback(db, head.header);
  const tables = await loadTables(db, head.header.schema, bodyTables(file), async (tx) => {
    const pending = JSON.stringify({ header: head.headerLine, seal: toBase64(head.seal) });
    await putEntry(tx, RESTORE_PENDING_PATH, Buffer.from(pending, 'utf8'));
  });
  return { head, tables };
}

/**
 * The first unseal after a restore: opens the backup's seal with this HSM's barrier and compares it
 * with the header's SHA-256, then forgets the pending check. Nothing to do (undefined) when the
 * store was not restored. BACKUP_INVALID when the seal does not open or does not match: the caller
 * (SealManager's `beforeUnseal`) then stays sealed.
 */
export async function verifyRestored(db: Db, barrier: Barrier): Promise<BackupHeader | undefined> {
  const blob = await getEntry(db, RESTORE_PENDING_PATH);
  if (!blob) return undefined;
  let header: BackupHeader;
  let headerLine: string;
  let seal: Uint8Array;
  try {
    const pending = JSON.parse(Buffer.from(blob).toString('utf8')) as { header: string; seal: string };
    headerLine = pending.header;
    header = BackupHeaderSchema.parse(JSON.parse(headerLine));
    seal = fromBase64(pending.seal, 'seal', { min: 5 }, 'BACKUP_INVALID');
  } catch {
    return invalid("the restored backup's pending check is unreadable: restore again from a good backup");
  }
  let digest: Uint8Array;
  try {
    digest = await barrier.decrypt(sealPath(header.id), seal);
  } catch {
    return invalid(
      `the restored backup ${header.id} fails its seal: the file was altered, or is not a backup of this HSM's keyring; ` +
        'keyward stays sealed: restore again from a good backup into an empty store',
    );
  }
  if (!equalBytes(digest, sha256(headerLine)))
    invalid(
      `the restored backup ${header.id}'s header does not match its seal: the file was altered; keyward stays sealed`,
    );
  await deleteEntry(db, RESTORE_PENDING_PATH);
  return header;
}
