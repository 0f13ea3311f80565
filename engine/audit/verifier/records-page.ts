/**
 * The raw format of a GET /v1/audit/records page (docs/architecture.md, "The audit log"), asked for
 * with `Accept: application/vnd.keyward.audit-records`: the records as they are stored, so neither
 * side builds, escapes or parses a JSON string per record and the verifier's worker threads get the
 * page's bytes as they came (bench/verify: the JSON page's escaping, parsing and per-string
 * copying to the workers cost more CPU than the server's reading of the page).
 *
 *   {"size":S,"from":F,"count":N,"next":X}\n     one line of JSON, as in the JSON page (X may be null)
 *   N × 32 bytes                                  the chain values of records F .. F+N-1
 *   leaf_F \n leaf_F+1 \n ... leaf_F+N-1 \n       the leaves' exact bytes, each followed by a line feed
 *
 * A leaf is canonical JSON (RFC 8785), which escapes every control character, so it holds no line
 * feed; a leaf that did would break the count and fail `decodeRecordsPage`. Clients that don't ask
 * for it get the JSON page (`{size, records: [{index, leaf, chain}], next}`), unchanged.
 * @module
 */
export const AUDIT_RECORDS_MEDIA_TYPE = 'application/vnd.keyward.audit-records';

/** The header line's fields. */
export interface RecordsPageHead {
  /** Committed records (the head). */
  size: number;
  /** The index of the first record in the page. */
  from: number;
  /** Records in the page. */
  count: number;
  /** Where the next page starts, or null at the end. */
  next: number | null;
}

/** A decoded raw page: views into the body's bytes. */
export interface RecordsPageBytes extends RecordsPageHead {
  /** count × 32 bytes of chain values. */
  chains: Uint8Array;
  /** The leaves, each followed by a line feed. */
  leaves: Uint8Array;
  /** count + 1 offsets into `leaves`: leaf i is leaves[offsets[i], offsets[i + 1] - 1). */
  offsets: Uint32Array;
}

/** The body of a raw page: the header line, then the chain values and the leaves as given. */
export function encodeRecordsPage(head: RecordsPageHead, chains: Uint8Array, leaves: Uint8Array): Buffer {
  if (chains.length !== 32 * head.count)
    throw new TypeError(`"chains" expected ${32 * head.count} bytes, got ${chains.length}`);
  const line = Buffer.from(
    JSON.stringify({ size: head.size, from: head.from, count: head.count, next: head.next }) + '\n',
    'latin1',
  );
  return Buffer.concat([line, chains, leaves]);
}

/** What a malformed page is (the CLI answers it as BAD_RESPONSE). */
export class RecordsPageError extends Error {
  override name = 'RecordsPageError';
}

const bad = (message: string) => new RecordsPageError(`a raw page of audit records: ${message}`);

const index = (v: unknown) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/**
 * Parses a raw page strictly: the header's fields, exactly `count` chain values and `count` leaves
 * each ending in a line feed, nothing after.
 * @throws {@link RecordsPageError} saying what was expected
 */
export function decodeRecordsPage(body: Uint8Array): RecordsPageBytes {
  const bytes = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const nl = bytes.indexOf(0x0a);
  if (nl < 0 || nl > 256) throw bad('expected a first line of JSON {size, from, count, next}');
  let head: Record<string, unknown>;
  try {
    head = JSON.parse(bytes.toString('latin1', 0, nl)) as Record<string, unknown>;
  } catch {
    throw bad('the first line is not JSON');
  }
  const { size, from, count, next } = head;
  if (
    typeof head !== 'object' ||
    head === null ||
    !index(size) ||
    !index(from) ||
    !index(count) ||
    !(next === null || index(next))
  )
    throw bad('expected a first line {size, from, count, next} of non-negative integers (next may be null)');
  const n = count as number;
  const chainsEnd = nl + 1 + 32 * n;
  if (bytes.length < chainsEnd) throw bad(`expected ${n} chain values of 32 bytes, the body ends first`);
  const chains = bytes.subarray(nl + 1, chainsEnd);
  const leaves = bytes.subarray(chainsEnd);
  const offsets = new Uint32Array(n + 1);
  let start = 0;
  for (let i = 0; i < n; i++) {
    const end = leaves.indexOf(0x0a, start);
    if (end < 0) throw bad(`expected ${n} leaves each ending in a line feed, got ${i}`);
    start = end + 1;
    offsets[i + 1] = start;
  }
  if (start !== leaves.length) throw bad(`expected ${n} leaves each ending in a line feed, got more bytes after them`);
  return {
    size: size as number,
    from: from as number,
    count: n,
    next: next as number | null,
    chains,
    leaves,
    offsets,
  };
}
