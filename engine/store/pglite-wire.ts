/**
 * One fixed statement on embedded PGlite, prepared once and bound with binary parameters, in one call
 * into PostgreSQL (docs/architecture.md, "The parts" (engine/store); issue 14: the audit log's group
 * commit is the one statement the request path runs per batch).
 *
 * PGlite's `query` runs the extended protocol as six separate calls into its WebAssembly build
 * (Parse of an unnamed statement, Describe, Bind, Describe, Execute, Sync), so PostgreSQL parses,
 * analyzes and plans the statement on every call, and it sends each `bytea` parameter as hex text
 * built one byte at a time in JavaScript. Measured on the audit append (batches of 13 records): about
 * 630 µs per statement through `query`, 300 µs as one Parse + Bind + Execute + Sync message, 125 µs
 * with the statement prepared once under a name. So the statement is parsed once per client under
 * its name, and each run sends Bind + Execute + Sync (PostgreSQL wire protocol §55.2.3, message
 * formats §55.7) as ONE message to `execProtocolRawStream`, parameters in binary format: int8 as 8
 * bytes big-endian, bytea as its bytes, text as its UTF-8. The response is read for what the caller
 * needs: the number of rows returned, the row count of the command's tag (CommandComplete: `INSERT
 * 0 1` counts 1), the first ErrorResponse (thrown), and the transaction status of ReadyForQuery.
 * It is taken as PGlite hands it over (`onRawData`): `execProtocolRaw` would also copy it into
 * PGlite's receive buffer and run PGlite's own protocol parser over it, building a message object
 * for each message that nobody reads (measured on the append: ~20 µs per statement).
 *
 * What `query` does around the call is done here the same way: the client's transaction and query
 * mutexes are taken (so the statement never runs inside another caller's transaction or between
 * the messages of another query), `_checkReady` first (a closed PGlite says "PGlite is closed"),
 * and the call syncs the file system after the statement as `query` does, except where that
 * sync does nothing: PGlite's in-memory and Node file systems (its `EmscriptenBuiltinFilesystem`,
 * whose `syncToFs` is an empty method: they write through to memory or to the files at once) would
 * still take PGlite's file-system mutex and three promise turns per statement for it
 * (`syncToFsIsNoop`; any other file system, IndexedDB's say, is synced as before). A statement that finds
 * the connection inside a transaction block (ReadyForQuery status other than idle) fails: it would
 * not have committed.
 *
 * The name is prepared with Close + Parse in front of the first Bind (Close of a statement that does
 * not exist is not an error, and one left by an earlier user of the same client is replaced), and
 * again when a Bind finds it gone (SQLSTATE 26000). A Parse that fails leaves it unprepared.
 * @module
 */

/** The parts of a PGlite client used here (public in @electric-sql/pglite 0.5's typings). */
export interface PgliteRawClient {
  /** Runs `message`, handing each piece of the response to `onRawData` (a view valid only during the call). */
  execProtocolRawStream(
    message: Uint8Array,
    options: { syncToFs?: boolean; onRawData: (data: Uint8Array) => void },
  ): Promise<void>;
  _checkReady(): Promise<void>;
  isInTransaction(): boolean;
  _runExclusiveQuery<T>(fn: () => Promise<T>): Promise<T>;
  _runExclusiveTransaction<T>(fn: () => Promise<T>): Promise<T>;
  /** The client's file system (PGlite 0.5: public, set once created). */
  readonly fs?: unknown;
}

/**
 * True when `client`'s file system's `syncToFs` is an empty method, as PGlite 0.5's in-memory and
 * Node file systems inherit it (they write through): then a sync after a statement does nothing.
 * False for anything else, or when the method cannot be read: then it is called as PGlite would.
 */
export function syncToFsIsNoop(client: PgliteRawClient): boolean {
  const fs = client.fs;
  if (typeof fs !== 'object' || fs === null) return false;
  const sync = (fs as { syncToFs?: unknown }).syncToFs;
  if (typeof sync !== 'function') return false;
  try {
    return /^async\s+syncToFs\s*\([^)]*\)\s*\{\s*\}$/.test(Function.prototype.toString.call(sync));
  } catch {
    return false;
  }
}

/** True when `client` offers what a PglitePreparedStatement needs. */
export function isPgliteRawClient(client: unknown): client is PgliteRawClient {
  if ((typeof client !== 'object' && typeof client !== 'function') || client === null) return false;
  const c = client as Partial<Record<keyof PgliteRawClient, unknown>>;
  return (
    typeof c.execProtocolRawStream === 'function' &&
    typeof c._checkReady === 'function' &&
    typeof c.isInTransaction === 'function' &&
    typeof c._runExclusiveQuery === 'function' &&
    typeof c._runExclusiveTransaction === 'function'
  );
}

/** A parameter's type, sent in binary format. */
export type WireType = 'int8' | 'bytea' | 'text';
/** A parameter's value: int8 a safe integer, bytea bytes, text a string or its UTF-8 bytes; null is SQL NULL. */
export type WireValue = number | Uint8Array | string | null;

const OID: Record<WireType, number> = { int8: 20, bytea: 17, text: 25 };

/** A failure PostgreSQL reported (ErrorResponse), with its SQLSTATE as `code`. */
export class PgliteStatementError extends Error {
  readonly code: string;
  readonly severity: string;
  readonly detail: string | undefined;
  constructor(fields: Map<string, string>) {
    super(fields.get('M') ?? 'the statement failed');
    this.name = 'PgliteStatementError';
    this.code = fields.get('C') ?? '';
    this.severity = fields.get('S') ?? '';
    this.detail = fields.get('D');
  }
}

const SQLSTATE_NO_SUCH_STATEMENT = '26000';

/** What a run of a PglitePreparedStatement returned: DataRow messages, and the row count of its command's tag. */
export interface PgliteRunResult {
  rows: number;
  count: number | null;
}

/** Execute (unnamed portal, all rows) and Sync, sent after every Bind. */
const EXECUTE_SYNC = Buffer.from([0x45, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0x53, 0, 0, 0, 4]);

export class PglitePreparedStatement {
  readonly #client: PgliteRawClient;
  readonly #types: readonly WireType[];
  readonly #name: Buffer;
  /** Close + Parse of this statement under its name, sent in front of a Bind until one succeeds. */
  readonly #prepare: Buffer;
  #prepared = false;
  /** Whether the call syncs the file system after the statement (see syncToFsIsNoop). */
  readonly #syncToFs: boolean;

  /**
   * `name` must be unique among the statements prepared on this client (it is sent as a C string),
   * `sql` has placeholders $1..$n of the given types.
   */
  constructor(client: PgliteRawClient, name: string, sql: string, types: readonly WireType[]) {
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new TypeError('"name" expected a lowercase SQL identifier');
    this.#client = client;
    this.#types = types;
    this.#name = Buffer.from(name + '\0', 'utf8');
    const close = message(0x43, [Buffer.of(0x53), this.#name]);
    const typeList = Buffer.allocUnsafe(2 + 4 * types.length);
    typeList.writeInt16BE(types.length, 0);
    types.forEach((t, i) => typeList.writeInt32BE(OID[t], 2 + 4 * i));
    const parse = message(0x50, [this.#name, Buffer.from(sql + '\0', 'utf8'), typeList]);
    this.#prepare = Buffer.concat([close, parse]);
    this.#syncToFs = !syncToFsIsNoop(client);
  }

  /**
   * Runs the statement with `values` (one per declared type) as its own transaction; resolves with
   * the rows it returned and the row count of its command's tag (null for a tag without one).
   */
  async run(values: readonly WireValue[]): Promise<PgliteRunResult> {
    const bind = this.#bind(values);
    const c = this.#client;
    await c._checkReady();
    return c._runExclusiveTransaction(() =>
      c._runExclusiveQuery(async () => {
        // Inside a transaction block someone opened with a bare BEGIN, the statement would commit
        // with that block, later or never: refuse before sending anything.
        if (c.isInTransaction()) throw new Error('the statement would run inside an open transaction block');
        for (let retried = false; ; retried = true) {
          const preparing = !this.#prepared;
          const r = readResponse(await this.#exchange(preparing ? Buffer.concat([this.#prepare, bind]) : bind));
          if (r.error === undefined) {
            if (r.status !== 0x49) throw new Error('the statement ran inside an open transaction block');
            this.#prepared = true;
            return { rows: r.rows, count: r.count };
          }
          if (preparing) this.#prepared = false;
          else if (r.error.code === SQLSTATE_NO_SUCH_STATEMENT && !retried) {
            this.#prepared = false;
            continue;
          }
          throw r.error;
        }
      }),
    );
  }

  /** Sends `message` and returns the whole response (the pieces PGlite hands over are views into its memory: copied). */
  async #exchange(message: Uint8Array): Promise<Buffer> {
    const pieces: Buffer[] = [];
    await this.#client.execProtocolRawStream(message, {
      syncToFs: this.#syncToFs,
      onRawData: (data) => void pieces.push(Buffer.from(data)),
    });
    return pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces);
  }

  /** Bind (unnamed portal, this statement, every parameter binary, result columns text) + Execute + Sync. */
  #bind(values: readonly WireValue[]): Buffer {
    const types = this.#types;
    if (values.length !== types.length)
      throw new TypeError(`expected ${types.length} parameters, got ${values.length}`);
    let size = 1 + 4 + 1 + this.#name.length + 4 + 2 + 2;
    for (let i = 0; i < values.length; i++) size += 4 + valueLength(types[i]!, values[i]!);
    const out = Buffer.allocUnsafe(size + EXECUTE_SYNC.length);
    out[0] = 0x42; // 'B'
    out.writeInt32BE(size - 1, 1);
    out[5] = 0; // unnamed portal
    let at = 6 + this.#name.copy(out, 6);
    out.writeInt16BE(1, at); // one format code for all parameters: binary
    out.writeInt16BE(1, at + 2);
    out.writeInt16BE(values.length, at + 4);
    at += 6;
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      const t = types[i]!;
      if (v === null) {
        out.writeInt32BE(-1, at);
        at += 4;
      } else if (t === 'int8') {
        if (typeof v !== 'number' || !Number.isSafeInteger(v))
          throw new TypeError(`parameter ${i + 1}: expected an integer`);
        out.writeInt32BE(8, at);
        out.writeBigInt64BE(BigInt(v), at + 4);
        at += 12;
      } else if (typeof v === 'string') {
        if (t !== 'text') throw new TypeError(`parameter ${i + 1}: expected bytes`);
        const n = out.write(v, at + 4, 'utf8');
        out.writeInt32BE(n, at);
        at += 4 + n;
      } else if (v instanceof Uint8Array) {
        out.writeInt32BE(v.length, at);
        out.set(v, at + 4);
        at += 4 + v.length;
      } else throw new TypeError(`parameter ${i + 1}: expected bytes or text`);
    }
    out.writeInt16BE(0, at); // result columns: text
    EXECUTE_SYNC.copy(out, at + 2);
    return out;
  }
}

function valueLength(t: WireType, v: WireValue): number {
  if (v === null) return 0;
  if (t === 'int8') return 8;
  if (typeof v === 'string') return Buffer.byteLength(v, 'utf8');
  return v instanceof Uint8Array ? v.length : 0; // anything else is refused while writing
}

/** A frontend message: type byte, length, body. */
function message(type: number, body: readonly Buffer[]): Buffer {
  const head = Buffer.allocUnsafe(5);
  head[0] = type;
  head.writeInt32BE(4 + body.reduce((n, b) => n + b.length, 0), 1);
  return Buffer.concat([head, ...body]);
}

/**
 * The rows (DataRow messages), the row count of the last CommandComplete's tag, the first
 * ErrorResponse and ReadyForQuery's transaction status of a response.
 */
function readResponse(v: Buffer): {
  rows: number;
  count: number | null;
  error: PgliteStatementError | undefined;
  status: number;
} {
  let rows = 0;
  let count: number | null = null;
  let error: PgliteStatementError | undefined;
  let status = -1;
  let at = 0;
  while (at + 5 <= v.length) {
    const type = v[at]!;
    const end = at + 1 + v.readInt32BE(at + 1);
    if (end > v.length || end < at + 5) throw new Error('PGlite answered a malformed protocol message');
    if (type === 0x44) rows++;
    else if (type === 0x43) count = tagCount(v, at + 5, end);
    else if (type === 0x45 && error === undefined) error = new PgliteStatementError(errorFields(v, at + 5, end));
    else if (type === 0x5a) status = v[at + 5] ?? -1;
    at = end;
  }
  if (status === -1) throw new Error('PGlite answered no ReadyForQuery');
  return { rows, count, error, status };
}

/**
 * The row count of a CommandComplete's tag (a C string from `at` to `end`): its last word when that
 * is a decimal number (`INSERT 0 1`, `UPDATE 3`, `SELECT 2`), else null (`BEGIN`).
 */
function tagCount(v: Buffer, at: number, end: number): number | null {
  let i = end - 1;
  if (v[i] === 0) i--;
  let n = 0;
  let scale = 1;
  const last = i;
  for (; i >= at && v[i]! >= 0x30 && v[i]! <= 0x39; i--) {
    n += (v[i]! - 0x30) * scale;
    scale *= 10;
  }
  return i < last && i >= at && v[i] === 0x20 ? n : null;
}

/** An ErrorResponse's fields: type byte → value, each a C string, ended by a zero byte. */
function errorFields(v: Buffer, at: number, end: number): Map<string, string> {
  const fields = new Map<string, string>();
  while (at < end && v[at] !== 0) {
    const nul = v.indexOf(0, at + 1);
    if (nul < 0 || nul >= end) break;
    fields.set(String.fromCharCode(v[at]!), v.toString('utf8', at + 1, nul));
    at = nul + 1;
  }
  return fields;
}
