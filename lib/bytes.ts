/**
 * Byte helpers shared by every layer: strict base64 (RFC 4648 §4, padded, canonical), base64url
 * (RFC 4648 §5, unpadded), hex, UTF-8, concatenation, equality (plain and constant-time), argument
 * asserts and best-effort wiping, plus the value checks strict parsers share ({@link isPlainObject},
 * {@link describe}).
 *
 * Bottom layer (docs/architecture.md, "Dependency direction"): imports nothing of ours but lib/errors.ts, and nothing Node-only
 * (no node:buffer, no node:crypto), so a browser can load it: base64 goes through the global
 * `btoa`/`atob` (Node ≥ 16 and browsers) with strictness checked here.
 *
 * Zeroization in JavaScript is best effort: `wipe()` overwrites the bytes it is given, but the
 * engine may have copied them (garbage collector moves, string conversions, library internals),
 * and nothing can wipe those copies.
 * @module
 */
import { KeywardError, type KeywardCode } from './errors.js';

/**
 * Asserts a Uint8Array (of length `len` if given); `what` names the parameter. Throws `TypeError`
 * (not bytes) or `RangeError` (wrong length): a programming error, not bad input.
 */
export function abytes(b: unknown, what: string, len?: number): asserts b is Uint8Array {
  if (!(b instanceof Uint8Array))
    throw new TypeError(
      `"${what}" expected Uint8Array, got ${b === null ? 'null' : Array.isArray(b) ? 'array' : typeof b}`,
    );
  if (len !== undefined && b.length !== len)
    throw new RangeError(`"${what}" expected Uint8Array of length ${len}, got length=${b.length}`);
}

// Padded standard alphabet only: no URL-safe characters, no whitespace, no missing padding.
const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
// Unpadded URL-safe alphabet; a length of 1 mod 4 encodes no whole byte.
const BASE64URL_RE = /^(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-]{2,3})?$/;

/**
 * Node's Buffer when the runtime has one (found on globalThis, not imported, so a browser bundle
 * loads this file): measured here 28-60x faster than btoa/atob over binary strings (1 KiB decode
 * 1 µs vs 28 µs, 700 KB 1.2 ms vs 43 ms), and base64 sits on every request's path. Browsers use
 * btoa/atob; strictness is checked here either way.
 */
type NodeBuffer = Uint8Array & { toString(encoding: 'base64'): string };
const NodeBuffer = (
  globalThis as {
    Buffer?: {
      from(data: ArrayBufferLike | string, offsetOrEncoding?: number | 'base64', length?: number): NodeBuffer;
    };
  }
).Buffer;

// btoa/atob speak "binary strings" (one char per byte); chunked so large inputs don't overflow the
// argument list of String.fromCharCode.
function toBinaryString(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return s;
}

function fromBinaryString(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** Standard padded base64 (RFC 4648 §4) of `bytes`. */
export function toBase64(bytes: Uint8Array): string {
  if (!(bytes instanceof Uint8Array)) throw new TypeError(`"toBase64" expected Uint8Array, got ${describe(bytes)}`);
  if (NodeBuffer) return NodeBuffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
  return btoa(toBinaryString(bytes));
}

/** Expected decoded length for {@link fromBase64}: exact, or a range (inclusive). */
export type LengthSpec = number | { min?: number; max?: number };

/**
 * Decodes strict, canonical base64 (RFC 4648 §4 with padding, no whitespace, unused bits zero), so
 * that every byte string has exactly one accepted text. `what` names the value in the error.
 *
 * Failures throw `KeywardError(code)` when a `code` is given (the text came from a file or a
 * request), else `RangeError` (`TypeError` for a non-string). Returns a fresh Uint8Array.
 */
export function fromBase64<C extends KeywardCode>(
  text: string,
  what: string,
  expectedLen?: LengthSpec,
  code?: C,
): Uint8Array {
  if (typeof text !== 'string' && code === undefined)
    throw new TypeError(`${what}: expected base64 string, got ${describe(text)}`);
  const r = decodeBase64(text, expectedLen);
  if (typeof r === 'string') {
    throw code === undefined
      ? new RangeError(`${what}: ${r}`)
      : new KeywardError(code, `${what}: ${r}`, { details: { field: what } });
  }
  return r;
}

/**
 * The bytes of strict base64 `text` (see {@link fromBase64}), or what is wrong with it ("expected
 * ..., got ..."), for parsers that collect problems instead of throwing.
 *
 * Decoded first, then accepted only if re-encoding gives `text` back: Node's decoder is lenient
 * (skips what is not base64, stops at padding, reads base64url), but every text it reads that is
 * not the one canonical encoding of its bytes fails the comparison, so this accepts exactly the
 * strict grammar (BASE64_RE) with unused bits zero — fuzzed against the regex in
 * test/lib/bytes.test.ts. The regex itself, several times slower than the decode (issue 14: ~27 ms
 * against ~4.7 ms for a 700k-character item), only words the error of a text already refused.
 */
export function decodeBase64(text: unknown, expectedLen?: LengthSpec): Uint8Array | string {
  if (typeof text !== 'string') return `expected base64 string, got ${describe(text)}`;
  let out: Uint8Array;
  if (NodeBuffer) {
    // Decoded straight into a fresh array the caller owns (and may wipe), sized for the canonical
    // text of this length: no copy in Buffer's shared pool to wipe, and no second copy (a third of a
    // 1 KiB decode). A text that decodes to any other length is not canonical: refused below.
    const n = text.length % 4 === 0 ? (text.length / 4) * 3 - padding(text) : -1;
    out = new Uint8Array(n < 0 ? 0 : n);
    if (n < 0 || (NodeBuffer.from(out.buffer, 0, n) as NodeBuffer & BufferWrite).write(text, 'base64') !== n) {
      out.fill(0);
      return BASE64_RE.test(text)
        ? 'expected canonical base64 (unused bits zero), got a non-canonical encoding'
        : notBase64(text);
    }
  } else {
    // atob reads whitespace and missing padding, and throws on other characters: the grammar first.
    if (!BASE64_RE.test(text)) return notBase64(text);
    out = fromBinaryString(atob(text));
  }
  // Anything but the canonical text of `out` (other characters, whitespace, missing or misplaced
  // padding, non-zero unused bits in the last group) would give two texts for one value.
  if (toBase64(out) !== text) {
    out.fill(0);
    return BASE64_RE.test(text)
      ? 'expected canonical base64 (unused bits zero), got a non-canonical encoding'
      : notBase64(text);
  }
  const len = out.length;
  if (expectedLen !== undefined) {
    const { min, max } = typeof expectedLen === 'number' ? { min: expectedLen, max: expectedLen } : expectedLen;
    if ((min !== undefined && len < min) || (max !== undefined && len > max)) {
      out.fill(0);
      const want = min === max ? `${min}` : max === undefined ? `at least ${min ?? 0}` : `${min ?? 0} to ${max}`;
      return `expected ${want} bytes, got ${len}`;
    }
  }
  return out;
}

/** Buffer's `write`, which decodes into the Buffer's own bytes and returns how many it wrote. */
interface BufferWrite {
  write(text: string, encoding: 'base64'): number;
}

/** The `=` characters that end `text` (0, 1 or 2 in canonical base64). */
function padding(text: string): number {
  const l = text.length;
  return l === 0 || text.charCodeAt(l - 1) !== 0x3d ? 0 : text.charCodeAt(l - 2) === 0x3d ? 2 : 1;
}

const notBase64 = (text: string) => `expected standard padded base64, got ${text.length} characters that are not`;

/**
 * Whether `text` is strict, canonical base64 (what {@link decodeBase64} accepts), without keeping
 * the bytes: for validators that only check the form (server/schemas.ts), at the cost of a decode.
 */
export function isCanonicalBase64(text: string): boolean {
  if (!NodeBuffer) return BASE64_RE.test(text) && typeof decodeBase64(text) !== 'string';
  const buf = NodeBuffer.from(text, 'base64');
  const ok = buf.toString('base64') === text;
  buf.fill(0);
  return ok;
}

/** Unpadded base64url (RFC 4648 §5) of `bytes`. */
export function toBase64Url(bytes: Uint8Array): string {
  if (!(bytes instanceof Uint8Array)) throw new TypeError(`"toBase64Url" expected Uint8Array, got ${describe(bytes)}`);
  return toBase64(bytes).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
}

/** Decodes strict, canonical, unpadded base64url; `RangeError` naming `what` otherwise. */
export function fromBase64Url(text: string, what: string): Uint8Array {
  if (typeof text !== 'string') throw new TypeError(`${what}: expected base64url string, got ${describe(text)}`);
  if (!BASE64URL_RE.test(text))
    throw new RangeError(`${what}: expected unpadded base64url, got ${text.length} characters that are not`);
  const std = text.replace(/-/g, '+').replace(/_/g, '/');
  const r = decodeBase64(std + '='.repeat((4 - (std.length % 4)) % 4));
  if (typeof r === 'string') throw new RangeError(`${what}: ${r.replace('base64', 'base64url')}`);
  return r;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** Lowercase hex of `bytes` (for messages and map keys; never use on secrets). */
export function toHex(bytes: Uint8Array): string {
  if (!(bytes instanceof Uint8Array)) throw new TypeError(`"toHex" expected Uint8Array, got ${describe(bytes)}`);
  let s = '';
  for (const b of bytes) s += HEX[b]!;
  return s;
}

/** Decodes even-length hex (either case); `RangeError` naming `what` otherwise. */
export function fromHex(text: string, what: string): Uint8Array {
  if (typeof text !== 'string') throw new TypeError(`${what}: expected hex string, got ${describe(text)}`);
  if (text.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(text))
    throw new RangeError(`${what}: expected an even number of hex digits, got ${text.length} characters that are not`);
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Equality of two public byte strings (hashes, roots, key IDs); returns early on a difference. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Compares two byte strings in time that depends only on their lengths (lengths are not secret):
 * use it for secrets and MACs.
 */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (!(a instanceof Uint8Array) || !(b instanceof Uint8Array)) {
    throw new TypeError(`"constantTimeEqual" expected two Uint8Arrays, got ${describe(a)} and ${describe(b)}`);
  }
  if (a.byteLength !== b.byteLength) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/**
 * Overwrites each array with zeros. Best effort only: JavaScript gives no guarantee that no other
 * copy of the bytes exists (see the module comment). `undefined`/`null` entries are skipped so
 * `finally` blocks can wipe values that may not have been assigned.
 */
export function wipe(...arrays: Array<Uint8Array | null | undefined>): void {
  for (const a of arrays) a?.fill(0);
}

const ENCODER = new TextEncoder();
const STRICT_DECODER = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** UTF-8 bytes of `text`. */
export function utf8(text: string): Uint8Array {
  if (typeof text !== 'string') throw new TypeError(`"utf8" expected string, got ${describe(text)}`);
  return ENCODER.encode(text);
}

/** Decodes strict UTF-8 (no replacement characters); `undefined` when `bytes` is not valid UTF-8. */
export function fromUtf8(bytes: Uint8Array): string | undefined {
  try {
    return STRICT_DECODER.decode(bytes);
  } catch {
    return undefined;
  }
}

/** Concatenation of `arrays` into a new Uint8Array. */
export function concatBytes(...arrays: Uint8Array[]): Uint8Array {
  let len = 0;
  for (const a of arrays) {
    if (!(a instanceof Uint8Array)) throw new TypeError(`"concatBytes" expected Uint8Arrays, got ${describe(a)}`);
    len += a.byteLength;
  }
  const out = new Uint8Array(len);
  let off = 0;
  for (const a of arrays) {
    out.set(a, off);
    off += a.byteLength;
  }
  return out;
}

/**
 * True for a plain JSON-like object: not null, not an array, and made by `{}`/`JSON.parse` (its
 * prototype is Object.prototype or null), so class instances such as Uint8Array or Date are not.
 */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

/**
 * True for any non-null object that is neither an array nor a Uint8Array, whatever its prototype.
 * Looser than {@link isPlainObject}: for readers that then take own properties only (Object.hasOwn),
 * so an inherited property still reads as missing rather than the whole value as "not an object".
 */
export function isObjectRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

/**
 * Short, safe description of a value for error messages: its type, and for short strings and
 * numbers the value itself. Only call it on non-secret values.
 */
export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return `array of length ${v.length}`;
  if (v instanceof Uint8Array) return `Uint8Array of length ${v.byteLength}`;
  switch (typeof v) {
    case 'string':
      return v.length <= 64 ? `string ${JSON.stringify(v)}` : `string of ${v.length} characters`;
    case 'number':
      return `number ${v}`;
    case 'object':
      return 'object';
    default:
      return typeof v;
  }
}
