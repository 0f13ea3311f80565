/**
 * The policy inputs of one committed batch, kept for replay and export (docs/architecture.md, "The
 * audit log"): encrypted under the barrier ONCE per batch, one blob with one IV at path
 * `audit/inputs/<first>` (the batch's first index, so a blob moved to another batch does not
 * decrypt), instead of once per record. Two plaintext layouts, told apart by bytes 32..35:
 *
 * Format 1 (written before issue 14's compression; still read), per input, in record order without repeats:
 *
 *   digest (32 bytes, SHA-256 of the input's canonical bytes) ‖ length (u32 BE) ‖ bytes
 *
 * Format 2, a 36-byte header, then the inputs without their digests (each is the SHA-256 of its
 * bytes, recomputed on reading), coded by the header's codec:
 *
 *   "KWAI" ‖ version u8 = 2 ‖ codec u8 ‖ u16 0 ‖ decoded length (u32 BE) ‖ 20 zero bytes ‖ 0xFFFFFFFF ‖ body
 *
 * - codec 1 (written by the previous release; still read): body = raw DEFLATE (RFC 1951) of
 *   (length (u32 BE) ‖ bytes) per input;
 * - codec 2 (written now): body = one entry per input, each against the input before it (the first
 *   against no bytes): prefix ‖ suffix ‖ middle length (unsigned LEB128 varints of at most 4 bytes) ‖
 *   middle, the input being the previous input's first `prefix` bytes ‖ middle ‖ its last `suffix` bytes.
 *
 * The decoded length is that of (length (u32 BE) ‖ bytes) per input for both codecs.
 *
 * A format-1 blob can never have 0xFFFFFFFF at bytes 32..35 (the first input's length: 4 GiB), so
 * the two cannot be confused. The inputs of one batch are near-identical (same operation, key,
 * principal; different times): 8 encrypt inputs of 95 bytes (1,048 bytes in format 1) code to 162
 * bytes with codec 2, which keeps the batch row under PostgreSQL's TOAST threshold (an out-of-line
 * blob of random bytes cost each append one heap and one index insert per ~2 KB chunk). Codec 2
 * replaced DEFLATE (issue 14): deflateRawSync sets up a zlib stream (hundreds of KB of state) per
 * call, ~10 µs on a quiet machine and 5.6% of a PostgreSQL dev server's CPU under load, where the
 * prefix/suffix comparison costs ~1 µs a batch. The writer keeps format 1 when coding does not make
 * the blob smaller (a single input) or the batch is larger than INFLATED_MAX. On reading, the
 * declared length must be at most INFLATED_MAX and the output is bounded by it, so a damaged or
 * forged blob cannot exhaust memory; a malformed blob of either format is AUDIT_LOG_CORRUPT naming
 * its batch.
 *
 * Coding before encrypting lets the stored blob's length depend on how alike a batch's inputs
 * are. A policy input holds nothing secret by its schema (engine/policy/sandbox/schema.ts: never
 * plaintext, key material or tokens; what an audit record may keep), and the records themselves are
 * stored in the clear beside it, so the length tells a reader of the database nothing the row does not.
 *
 * Inputs written one by one by releases before migration 0008 stay in audit_inputs at
 * `audit/input/<digest>`; `exportBundle` (read.ts) reads both.
 * @module
 */
import { hash } from 'node:crypto';
import { inflateRawSync } from 'node:zlib';
import { KeywardError } from '../../../lib/errors.js';

/** A policy input as the pipeline hands it to the log: its SHA-256 (hex) and canonical bytes. */
export interface AuditInput {
  digest: string;
  bytes: Uint8Array;
}

/** The barrier path of a batch's inputs blob. */
export const batchInputsPath = (first: number): string => `audit/inputs/${first}`;
/** The barrier path of an input stored on its own (releases before 0008). */
export const singleInputPath = (digest: string): string => `audit/input/${digest}`;

/**
 * The largest inflated payload a format-2 blob may declare: a full batch (256 records, the log's
 * AUDIT_BATCH_MAX) of the largest policy inputs (16 KiB, MAX_INPUT_BYTES), each with its length.
 */
export const INFLATED_MAX = 256 * (4 + 16 * 1024);

const HEX64 = /^[0-9a-f]{64}$/;
const HEADER = 36;
const MAGIC = 0x4b574149; // "KWAI"
const FORMAT_2 = 2;
const CODEC_DEFLATE_RAW = 1;
const CODEC_DELTA = 2;
const FORMAT_MARK = 0xffffffff;

/** The distinct inputs of a batch, in record order (repeated digests kept once). */
function distinct(inputs: readonly AuditInput[]): AuditInput[] {
  const seen = new Set<string>();
  const out: AuditInput[] = [];
  for (const i of inputs) {
    if (seen.has(i.digest)) continue;
    if (!HEX64.test(i.digest)) throw new TypeError('"digest" expected 64 lowercase hex digits');
    seen.add(i.digest);
    out.push(i);
  }
  return out;
}

const view = (b: Uint8Array): Buffer => Buffer.from(b.buffer, b.byteOffset, b.byteLength);

/** The format-1 plaintext of a batch's inputs blob (repeated digests kept once). */
export function encodeBatchInputs(inputs: readonly AuditInput[]): Uint8Array {
  const parts: Buffer[] = [];
  for (const i of distinct(inputs)) {
    const head = Buffer.allocUnsafe(36);
    head.write(i.digest, 0, 'hex');
    head.writeUInt32BE(i.bytes.length, 32);
    parts.push(head, view(i.bytes));
  }
  return Buffer.concat(parts);
}

/**
 * The plaintext to seal for a batch's inputs: format 2 with codec 2 (each input against the one
 * before it, digests dropped), or format 1 when that is not smaller or the batch is over INFLATED_MAX.
 */
export function packBatchInputs(inputs: readonly AuditInput[]): Uint8Array {
  const list = distinct(inputs);
  let size = 0;
  let worst = 0;
  for (const i of list) {
    size += 4 + i.bytes.length;
    worst += 12 + i.bytes.length;
  }
  const v1Size = size + 32 * list.length;
  if (size > INFLATED_MAX || list.length === 0) return encodeBatchInputs(list);
  const out = Buffer.allocUnsafe(HEADER + worst);
  let at = HEADER;
  let prev: Uint8Array = EMPTY;
  for (const { bytes: cur } of list) {
    const max = Math.min(prev.length, cur.length);
    let prefix = 0;
    while (prefix < max && prev[prefix] === cur[prefix]) prefix++;
    let suffix = 0;
    while (suffix < max - prefix && prev[prev.length - 1 - suffix] === cur[cur.length - 1 - suffix]) suffix++;
    const middle = cur.length - prefix - suffix;
    at = putVarint(out, at, prefix);
    at = putVarint(out, at, suffix);
    at = putVarint(out, at, middle);
    out.set(cur.subarray(prefix, prefix + middle), at);
    at += middle;
    prev = cur;
    if (at >= v1Size) return encodeBatchInputs(list);
  }
  out.fill(0, 0, HEADER);
  out.writeUInt32BE(MAGIC, 0);
  out[4] = FORMAT_2;
  out[5] = CODEC_DELTA;
  out.writeUInt32BE(size, 8);
  out.writeUInt32BE(FORMAT_MARK, 32);
  return out.subarray(0, at);
}

const EMPTY = new Uint8Array(0);

/** Writes `n` (< 2^28) as an unsigned LEB128 varint at `at`; returns the offset after it. */
function putVarint(out: Buffer, at: number, n: number): number {
  while (n >= 0x80) {
    out[at++] = (n & 0x7f) | 0x80;
    n >>>= 7;
  }
  out[at++] = n;
  return at;
}

/**
 * Reads a decrypted batch inputs blob (either format) into digest → bytes: into `into` when given,
 * all or nothing (a malformed blob leaves it as it was, none of the inputs read before the damage
 * added), else into a new map. `first` (the batch's first index) names the batch in the
 * AUDIT_LOG_CORRUPT error of a malformed blob.
 */
export function decodeBatchInputs(
  plain: Uint8Array,
  into?: Map<string, Uint8Array>,
  first?: number,
): Map<string, Uint8Array> {
  const read = decodeInto(view(plain), new Map(), first);
  if (into === undefined) return read;
  for (const [digest, bytes] of read) into.set(digest, bytes);
  return into;
}

function decodeInto(buf: Buffer, into: Map<string, Uint8Array>, first: number | undefined): Map<string, Uint8Array> {
  if (buf.length >= HEADER && buf.readUInt32BE(32) === FORMAT_MARK) return decodeFormat2(buf, into, first);
  let at = 0;
  while (at < buf.length) {
    if (at + 36 > buf.length) throw corrupt(first, 'truncated');
    const digest = buf.toString('hex', at, at + 32);
    const len = buf.readUInt32BE(at + 32);
    if (at + 36 + len > buf.length) throw corrupt(first, 'truncated');
    into.set(digest, new Uint8Array(buf.subarray(at + 36, at + 36 + len)));
    at += 36 + len;
  }
  return into;
}

function decodeFormat2(buf: Buffer, into: Map<string, Uint8Array>, first: number | undefined) {
  if (buf.readUInt32BE(0) !== MAGIC || buf[4] !== FORMAT_2 || buf.readUInt16BE(6) !== 0)
    throw corrupt(first, 'an unknown format');
  if (buf[5] !== CODEC_DEFLATE_RAW && buf[5] !== CODEC_DELTA) throw corrupt(first, `an unknown codec ${buf[5]}`);
  for (let i = 12; i < 32; i++) if (buf[i] !== 0) throw corrupt(first, 'a damaged header');
  const size = buf.readUInt32BE(8);
  if (size > INFLATED_MAX) throw corrupt(first, `an inflated length of ${size} bytes, over ${INFLATED_MAX}`);
  if (buf[5] === CODEC_DELTA) return decodeDelta(buf.subarray(HEADER), size, into, first);
  let body: Buffer;
  try {
    // maxOutputLength: a stream that inflates past its declared length stops there (RangeError).
    body = inflateRawSync(buf.subarray(HEADER), { maxOutputLength: Math.max(size, 1) });
  } catch {
    throw corrupt(first, 'damaged compressed data');
  }
  if (body.length !== size) throw corrupt(first, `${body.length} inflated bytes where ${size} were declared`);
  let at = 0;
  while (at < body.length) {
    if (at + 4 > body.length) throw corrupt(first, 'truncated');
    const len = body.readUInt32BE(at);
    if (at + 4 + len > body.length) throw corrupt(first, 'truncated');
    const bytes = new Uint8Array(body.subarray(at + 4, at + 4 + len));
    into.set(hash('sha256', bytes, 'hex'), bytes);
    at += 4 + len;
  }
  return into;
}

/**
 * Codec 2's body: each entry rebuilds an input from the one before it. The decoded inputs (4 bytes
 * of length each included) must add up to exactly the declared `size`, and no input is built that
 * would pass it, so a forged body cannot make the reader allocate more than the header declared.
 */
function decodeDelta(body: Buffer, size: number, into: Map<string, Uint8Array>, first: number | undefined) {
  let at = 0;
  let total = 0;
  let prev: Uint8Array = EMPTY;
  const varint = (): number => {
    let n = 0;
    for (let shift = 0; shift < 28; shift += 7) {
      if (at >= body.length) throw corrupt(first, 'truncated');
      const b = body[at++]!;
      n += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return n;
    }
    throw corrupt(first, 'a length of more than 4 bytes');
  };
  while (at < body.length) {
    const prefix = varint();
    const suffix = varint();
    const middle = varint();
    if (prefix + suffix > prev.length) throw corrupt(first, 'an entry reusing more bytes than the input before it');
    if (at + middle > body.length) throw corrupt(first, 'truncated');
    const len = prefix + middle + suffix;
    total += 4 + len;
    if (total > size) throw corrupt(first, `more decoded bytes than the ${size} declared`);
    const bytes = new Uint8Array(len);
    bytes.set(prev.subarray(0, prefix), 0);
    bytes.set(body.subarray(at, at + middle), prefix);
    bytes.set(prev.subarray(prev.length - suffix), prefix + middle);
    at += middle;
    into.set(hash('sha256', bytes, 'hex'), bytes);
    prev = bytes;
  }
  if (total !== size) throw corrupt(first, `${total} decoded bytes where ${size} were declared`);
  return into;
}

function corrupt(first: number | undefined, what: string): KeywardError {
  const batch = first === undefined ? 'a stored batch' : `the batch at record ${first}`;
  return new KeywardError('AUDIT_LOG_CORRUPT', `the policy inputs of ${batch} are malformed (${what})`, {
    ...(first === undefined ? {} : { details: { index: first } }),
  });
}
