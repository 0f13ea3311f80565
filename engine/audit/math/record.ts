/**
 * The audit record, which is the Merkle leaf (docs/architecture.md): one per request, allowed, denied or
 * failed, and one per ceremony event; one client's repeated refusals of one code (failed
 * authentication, requests refused before the pipeline) fold into one `request.refused.folded` record
 * per interval with a count (docs/audit-bundle.md §2.1, server/refusals.ts).
 *
 * The leaf is the exact UTF-8 bytes of the record's RFC 8785 (JSON Canonicalization Scheme) form,
 * stored as is and never re-serialized. Every field is always present (absent values are `null`),
 * so one record has one encoding. Numbers are safe integers only (no floats, NaN, ±Infinity or
 * −0), so RFC 8785's number formatting reduces to plain decimal integers. The sequence number is not
 * in the leaf: the leaf's position in the tree binds it.
 *
 * Example leaf (wrapped here; the real one is a single line with no whitespace):
 *
 *   {"approvalId":null,"code":null,"decision":"allow","details":null,"inputDigest":"9f86…",
 *    "key":"payments","keyVersion":3,"node":"n1","operation":"encrypt",
 *    "policies":[{"decision":"allow","gas":412,"sha256":"5d41…"}],"principal":"alice",
 *    "reason":null,"requestId":"01J…","sizes":{"in":512,"out":545},"status":200,
 *    "time":"2026-01-01T00:00:00.000Z","v":1}
 *
 * Sensitive values (tokens, secret principal ids, messages, AAD) are never put in a record in the
 * clear: {@link hmacField} turns them into `hmac-sha256:<epoch>:<b64url>` under an epoch key the
 * sealed core derives. Never store an unkeyed hash of a low-entropy value.
 * @module
 */
import canonicalize from 'canonicalize';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { abytes, fromUtf8, isPlainObject, toBase64Url, toHex, utf8 } from '../../../lib/bytes.js';
import { auditError } from './errors.js';

/** The record format version, the value of field `v`. */
export const RECORD_FORMAT = 1;

/** Largest leaf, in bytes (a typical record is 300-600 bytes). */
export const MAX_LEAF_BYTES = 64 * 1024;
/** Most policy results one record may carry. */
export const MAX_RECORD_POLICIES = 64;
/** Most entries in `details`. */
export const MAX_DETAILS_ENTRIES = 32;

/** A policy's own verdict: its decision, or `fault` (trap, out of gas, bad output: a deny). */
export type PolicyVerdict = 'allow' | 'deny' | 'require_approval' | 'fault';
/** The request's final decision; `none` for events no policy decides (ceremony, seal status). */
export type RecordDecision = 'allow' | 'deny' | 'require_approval' | 'none';

/** One policy's part in a decision. */
export interface AuditPolicyResult {
  /** SHA-256 of the policy's .wasm, lowercase hex (the policy's identity). */
  sha256: string;
  decision: PolicyVerdict;
  /** Gas the evaluation used (deterministic: replay must reproduce it exactly). */
  gas: number;
}

/** One audit record (one leaf). See the module comment for the encoding. */
export interface AuditRecord {
  v: 1;
  /** Request time, ISO-8601 UTC with milliseconds: `2026-01-01T00:00:00.000Z`. */
  time: string;
  /** The node that served the request. */
  node: string;
  requestId: string;
  /** Principal id (HMAC'd with {@link hmacField} if sensitive); null when unauthenticated. */
  principal: string | null;
  /** Operation name, e.g. "encrypt", "key.create", "sys.unseal". */
  operation: string;
  /** Target key name, or null. */
  key: string | null;
  keyVersion: number | null;
  /** Every policy evaluated, in evaluation order. */
  policies: AuditPolicyResult[];
  decision: RecordDecision;
  reason: string | null;
  approvalId: string | null;
  /** SHA-256 (lowercase hex) of the canonical binary PolicyInput the policies evaluated, or null. */
  inputDigest: string | null;
  /** HTTP-like result status (100-599). */
  status: number;
  /** Error code (UPPER_SNAKE) when the request failed, else null. */
  code: string | null;
  /** Payload sizes in bytes. */
  sizes: { in: number; out: number };
  /** Further non-secret facts (ceremony: holder and progress; rekey: new N/T …), or null. */
  details: Record<string, string | number | boolean | null> | null;
}

// ---------------------------------------------------------------------------------------------
// Strict validation. Records arrive from the pipeline (a bug) or from leaves (attacker input); in
// both cases the first offending field is named. String values are never echoed (they may be
// sensitive); only their type and length are.
// ---------------------------------------------------------------------------------------------

const FIELDS = [
  'v',
  'time',
  'node',
  'requestId',
  'principal',
  'operation',
  'key',
  'keyVersion',
  'policies',
  'decision',
  'reason',
  'approvalId',
  'inputDigest',
  'status',
  'code',
  'sizes',
  'details',
] as const;

const POLICY_FIELDS = ['sha256', 'decision', 'gas'] as const;
const SIZE_FIELDS = ['in', 'out'] as const;

const TIME_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
/** The clock part of a time, in range (the date part is checked against the calendar, memoized). */
const CLOCK_RE = /^T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d\.\d{3}Z$/;
const HEX64_RE = /^[0-9a-f]{64}$/;
const CODE_RE = /^[A-Z][A-Z0-9_]{0,63}$/;
const DETAIL_KEY_RE = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;
const VERDICTS: readonly string[] = ['allow', 'deny', 'require_approval', 'fault'];
const DECISIONS: readonly string[] = ['allow', 'deny', 'require_approval', 'none'];
const I32_MAX = 0x7fffffff;
// In u-mode a valid surrogate pair is one code point, so only a lone surrogate is category Cs.
const LONE_SURROGATE_RE = /\p{Cs}/u;

/** UTF-8 byte limits of the string fields. */
const MAX_BYTES = {
  node: 128,
  requestId: 128,
  principal: 256,
  operation: 128,
  key: 256,
  reason: 1024,
  approvalId: 128,
  detail: 1024,
} as const;

function invalid(field: string, expected: string, got: string): never {
  throw auditError('AUDIT_RECORD_INVALID', `audit record: field "${field}" expected ${expected}, got ${got}`, {
    details: { field },
  });
}

/** A description of `v` that never shows string contents. */
function got(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'nothing (field missing)';
  if (Array.isArray(v)) return `array of length ${v.length}`;
  if (typeof v === 'string') return `string of ${v.length} characters`;
  if (typeof v === 'number') return Number.isNaN(v) ? 'NaN' : Object.is(v, -0) ? '-0' : `number ${v}`;
  return typeof v;
}

/**
 * Node's Buffer.byteLength when the runtime has one (found on globalThis, not imported, so a browser
 * loads this file): measured 2.3x faster than the loop below (116 vs 263 ns for record-sized strings).
 */
const byteLength = (globalThis as { Buffer?: { byteLength(s: string, enc: 'utf8'): number } }).Buffer?.byteLength;

/** UTF-8 length of a well-formed string, or -1 for a lone surrogate (not encodable by RFC 8785). */
function utf8Length(s: string): number {
  // Surrogates are rare in records: only strings holding one pay for the full check.
  if (SURROGATE_RE.test(s) && LONE_SURROGATE_RE.test(s)) return -1;
  if (byteLength) return byteLength(s, 'utf8');
  // Counted, not encoded; each half of a surrogate pair is 2 bytes.
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) n += c < 0x800 || (c >= 0xd800 && c <= 0xdfff) ? 1 : 2;
  }
  return n;
}

const SURROGATE_RE = /[\uD800-\uDFFF]/;

/** How `str` bounds a field (shared constants: no options object per call on the hot path). */
interface StrRule {
  nullable?: boolean;
  nonEmpty?: boolean;
}
const ANY: StrRule = {};
const NON_EMPTY: StrRule = { nonEmpty: true };
const NULLABLE: StrRule = { nullable: true };
const NULLABLE_NON_EMPTY: StrRule = { nullable: true, nonEmpty: true };

function str(field: string, v: unknown, maxBytes: number, opts: StrRule = ANY): string | null {
  if (v === null && opts.nullable) return null;
  if (typeof v !== 'string') strInvalid(field, maxBytes, opts, got(v));
  // A UTF-16 code unit is at most 3 UTF-8 bytes: a string that short is within the bound whatever it
  // holds, and 0 bytes only when empty, so only a lone surrogate is left to look for (no byte count).
  const n =
    v.length * 3 <= maxBytes ? (SURROGATE_RE.test(v) && LONE_SURROGATE_RE.test(v) ? -1 : v.length) : utf8Length(v);
  if (n < 0) invalid(field, 'well-formed Unicode', 'a lone surrogate');
  if (n > maxBytes || (opts.nonEmpty && n === 0)) strInvalid(field, maxBytes, opts, `${n} bytes`);
  return v;
}

function strInvalid(field: string, maxBytes: number, opts: StrRule, gotText: string): never {
  invalid(
    field,
    `${opts.nonEmpty ? 'a non-empty' : 'a'} string of at most ${maxBytes} UTF-8 bytes${opts.nullable ? ' or null' : ''}`,
    gotText,
  );
}

function int(field: string, v: unknown, min: number, max: number, nullable = false): number | null {
  if (v === null && nullable) return null;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || Object.is(v, -0) || v < min || v > max) {
    invalid(field, `an integer from ${min} to ${max}${nullable ? ' or null' : ''}`, got(v));
  }
  return v;
}

function pattern(field: string, v: unknown, re: RegExp, expected: string, nullable = false): string | null {
  if (v === null && nullable) return null;
  if (typeof v !== 'string' || !re.test(v)) invalid(field, `${expected}${nullable ? ' or null' : ''}`, got(v));
  return v;
}

function oneOf<T extends string>(field: string, v: unknown, values: readonly string[]): T {
  if (typeof v !== 'string' || !values.includes(v))
    invalid(
      field,
      `one of ${values.map((x) => `"${x}"`).join(', ')}`,
      typeof v === 'string' && v.length <= 32 ? JSON.stringify(v) : got(v),
    );
  return v as T;
}

/**
 * True when `obj`'s enumerable keys, own and inherited, are exactly `keys` in that order and the
 * last is its own: then every key is its own (for-in lists own keys before inherited ones) and there
 * is no other, which is what exactKeys checks. Records and their parts are built with their fields in
 * this order, so this is what they pass; without the two arrays exactKeys makes (Object.keys, and
 * `includes` for each key), which cost a sixth of the record's encoding (issue 14).
 */
function hasKeysInOrder(obj: Record<string, unknown>, keys: readonly string[]): boolean {
  let i = 0;
  for (const k in obj) if (k !== keys[i++]) return false;
  return i === keys.length && Object.hasOwn(obj, keys[i - 1]!);
}

function exactKeys(field: string, obj: Record<string, unknown>, keys: readonly string[]): void {
  if (hasKeysInOrder(obj, keys)) return;
  for (const k of keys)
    if (!Object.hasOwn(obj, k)) invalid(field === '' ? k : `${field}.${k}`, 'to be present', 'nothing (field missing)');
  for (const k of Object.keys(obj)) {
    if (!keys.includes(k)) {
      throw auditError(
        'AUDIT_RECORD_INVALID',
        `audit record: field "${field === '' ? '' : `${field}.`}${k.slice(0, 64)}" is not part of record format ${RECORD_FORMAT}`,
        {
          details: { field: field === '' ? k : `${field}.${k}` },
        },
      );
    }
  }
}

/** Calendar dates (YYYY-MM-DD) already found valid: records come in runs with the same date. */
const validDates = new Set<string>();

/**
 * The last time found valid: a node's records come in runs with the same millisecond. It starts as
 * a valid time (not '' or undefined, which an input could equal before any time was checked).
 */
let lastTime = '2000-01-01T00:00:00.000Z';

function time(v: unknown): string {
  if (v === lastTime) return v;
  const expected = 'an ISO-8601 UTC time with milliseconds (YYYY-MM-DDTHH:MM:SS.mmmZ)';
  if (typeof v !== 'string' || !TIME_RE.test(v))
    invalid('time', expected, typeof v === 'string' && v.length <= 32 ? JSON.stringify(v) : got(v));
  const date = v.slice(0, 10);
  if (validDates.has(date) && CLOCK_RE.test(v.slice(10))) return (lastTime = v);
  const d = new Date(v);
  if (Number.isNaN(d.getTime()) || d.toISOString() !== v)
    invalid('time', `${expected} that exists in the calendar`, JSON.stringify(v));
  if (validDates.size >= 4096) validDates.clear();
  validDates.add(date);
  return (lastTime = v);
}

/**
 * Checks `value` against record format 1 and returns a fresh plain copy of it (so that no getter,
 * prototype or `toJSON` of the input can reach the encoder).
 * @throws {@link KeywardError} `AUDIT_RECORD_INVALID` naming the first offending field.
 */
export function validateRecord(value: unknown): AuditRecord {
  if (!isPlainObject(value)) {
    throw auditError('AUDIT_RECORD_INVALID', `audit record: expected a plain JSON object, got ${got(value)}`, {
      details: { field: '' },
    });
  }
  exactKeys('', value, FIELDS);
  if (value.v !== RECORD_FORMAT) invalid('v', `${RECORD_FORMAT}`, got(value.v));
  // Checked in field order, so the error names the first offending field.
  const t = time(value.time);
  const node = str('node', value.node, MAX_BYTES.node, NON_EMPTY)!;
  const requestId = str('requestId', value.requestId, MAX_BYTES.requestId, NON_EMPTY)!;
  const principal = str('principal', value.principal, MAX_BYTES.principal, NULLABLE_NON_EMPTY);
  const operation = str('operation', value.operation, MAX_BYTES.operation, NON_EMPTY)!;
  const key = str('key', value.key, MAX_BYTES.key, NULLABLE_NON_EMPTY);
  const keyVersion = int('keyVersion', value.keyVersion, 0, I32_MAX, true);
  const policies = policyResults(value.policies);
  const decision = oneOf<RecordDecision>('decision', value.decision, DECISIONS);
  const reason = str('reason', value.reason, MAX_BYTES.reason, NULLABLE);
  const approvalId = str('approvalId', value.approvalId, MAX_BYTES.approvalId, NULLABLE_NON_EMPTY);
  const inputDigest = pattern('inputDigest', value.inputDigest, HEX64_RE, '64 lowercase hex digits', true);
  const status = int('status', value.status, 100, 599)!;
  const code = pattern('code', value.code, CODE_RE, 'an UPPER_SNAKE error code of at most 64 characters', true);
  const sizes = payloadSizes(value.sizes);
  const details = detailsOf(value.details);
  return {
    v: RECORD_FORMAT,
    time: t,
    node,
    requestId,
    principal,
    operation,
    key,
    keyVersion,
    policies,
    decision,
    reason,
    approvalId,
    inputDigest,
    status,
    code,
    sizes,
    details,
  };
}

function policyResults(v: unknown): AuditPolicyResult[] {
  if (!Array.isArray(v) || v.length > MAX_RECORD_POLICIES)
    invalid('policies', `an array of at most ${MAX_RECORD_POLICIES} policy results`, got(v));
  // Every index is read (map would skip the holes of a sparse array, and so drop them from the leaf);
  // the length once, as map did (a getter that pushes cannot take the array past the bound checked).
  const out: AuditPolicyResult[] = [];
  for (let i = 0, n = v.length; i < n; i++) {
    const p: unknown = v[i];
    const f = `policies.${i}`;
    if (!isPlainObject(p)) invalid(f, 'an object {sha256, decision, gas}', got(p));
    exactKeys(f, p, POLICY_FIELDS);
    out.push({
      sha256: policyHash(f, p.sha256),
      decision: oneOf<PolicyVerdict>(`${f}.decision`, p.decision, VERDICTS),
      gas: int(`${f}.gas`, p.gas, 0, Number.MAX_SAFE_INTEGER)!,
    });
  }
  return out;
}

/** Policy hashes found to match HEX64_RE: the same few in every record (bounded: cleared when full). */
const validPolicyHashes = new Set<string>();

function policyHash(f: string, v: unknown): string {
  if (typeof v === 'string' && validPolicyHashes.has(v)) return v;
  const checked = pattern(`${f}.sha256`, v, HEX64_RE, '64 lowercase hex digits')!;
  if (validPolicyHashes.size >= 256) validPolicyHashes.clear();
  validPolicyHashes.add(checked);
  return checked;
}

function payloadSizes(v: unknown): AuditRecord['sizes'] {
  if (!isPlainObject(v)) invalid('sizes', 'an object {in, out}', got(v));
  exactKeys('sizes', v, SIZE_FIELDS);
  return {
    in: int('sizes.in', v.in, 0, Number.MAX_SAFE_INTEGER)!,
    out: int('sizes.out', v.out, 0, Number.MAX_SAFE_INTEGER)!,
  };
}

function detailsOf(v: unknown): AuditRecord['details'] {
  if (v === null) return null;
  if (!isPlainObject(v)) invalid('details', 'an object or null', got(v));
  const keys = Object.keys(v);
  if (keys.length > MAX_DETAILS_ENTRIES) invalid('details', `at most ${MAX_DETAILS_ENTRIES} entries`, `${keys.length}`);
  const out: NonNullable<AuditRecord['details']> = {};
  for (const k of keys) {
    if (!DETAIL_KEY_RE.test(k))
      invalid(
        'details',
        'keys of 1-64 characters [A-Za-z0-9_.-] starting with a letter',
        `a key of ${k.length} characters that is not`,
      );
    const x = v[k];
    const f = `details.${k}`;
    if (x === null || typeof x === 'boolean') out[k] = x;
    else if (typeof x === 'number') out[k] = int(f, x, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER)!;
    else if (typeof x === 'string') out[k] = str(f, x, MAX_BYTES.detail)!;
    else invalid(f, 'a string, integer, boolean or null', got(x));
  }
  return out;
}

/**
 * RFC 8785 serialization of a VALIDATED record (what validateRecord returns): its values are only
 * well-formed strings, safe integers other than -0, booleans, null, arrays and plain objects, and for
 * those RFC 8785 is exactly ECMAScript JSON.stringify with object keys sorted by UTF-16 code units
 * (Array.prototype.sort's default order). About 10× faster than the general `canonicalize`
 * package, which stays the reference for arbitrary JSON (the tests compare the two).
 */
export function canonicalRecordJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(canonicalRecordJson).join(',')}]`;
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o).sort();
  let out = '{';
  for (let i = 0; i < keys.length; i++)
    out += `${i === 0 ? '' : ','}${JSON.stringify(keys[i])}:${canonicalRecordJson(o[keys[i]!])}`;
  return out + '}';
}

/**
 * canonicalRecordJson of a validated record, with the top-level and policy keys written out in
 * their sorted order (the hot path of appending and verifying: no per-record key sort).
 */
function recordJson(r: AuditRecord): string {
  const j = JSON.stringify;
  const policies = r.policies
    .map((p) => `{"decision":${j(p.decision)},"gas":${p.gas},"sha256":${j(p.sha256)}}`)
    .join(',');
  return (
    `{"approvalId":${j(r.approvalId)},"code":${j(r.code)},"decision":${j(r.decision)},"details":${r.details === null ? 'null' : canonicalRecordJson(r.details)},` +
    `"inputDigest":${j(r.inputDigest)},"key":${j(r.key)},"keyVersion":${j(r.keyVersion)},"node":${j(r.node)},"operation":${j(r.operation)},` +
    `"policies":[${policies}],"principal":${j(r.principal)},"reason":${j(r.reason)},"requestId":${j(r.requestId)},` +
    `"sizes":{"in":${r.sizes.in},"out":${r.sizes.out}},"status":${r.status},"time":${j(r.time)},"v":${r.v}}`
  );
}

/**
 * The leaf bytes of a record: the UTF-8 of its RFC 8785 canonical JSON, after strict validation.
 * @throws {@link KeywardError} `AUDIT_RECORD_INVALID` naming the offending field, or when the
 *   leaf would exceed {@link MAX_LEAF_BYTES}.
 */
export function encodeRecord(r: AuditRecord): Uint8Array {
  return utf8(encodeRecordText(r));
}

/**
 * `encodeRecord` as text: the record's RFC 8785 canonical JSON (the leaf is its UTF-8), after the
 * same validation and size check. The audit log keeps records as text until a batch is built and
 * encodes the batch's leaves in one go (engine/audit/log/log.ts), so the request path does not
 * encode each one to bytes and back (issue 14).
 * @throws {@link KeywardError} `AUDIT_RECORD_INVALID`, as `encodeRecord`.
 */
export function encodeRecordText(r: AuditRecord): string {
  const text = recordJson(validateRecord(r));
  // Validated strings are well-formed, so utf8Length is the UTF-8 length (it is -1 only for a lone surrogate).
  const n = text.length > MAX_LEAF_BYTES / 3 ? utf8Length(text) : text.length;
  if (n > MAX_LEAF_BYTES) {
    throw auditError(
      'AUDIT_RECORD_INVALID',
      `audit record: expected at most ${MAX_LEAF_BYTES} bytes once encoded, got ${n}`,
      { details: { field: '' } },
    );
  }
  return text;
}

/**
 * Parses a leaf back into its record. The leaf must be valid UTF-8, valid JSON, byte-identical to
 * the RFC 8785 form of its own value (so no other byte string can stand for the same record), and
 * a valid record. Leaves are attacker input here (exports, bundles, a tampered database).
 * @throws {@link KeywardError} `AUDIT_LEAF_NOT_CANONICAL` for the first three,
 *   `AUDIT_RECORD_INVALID` naming the field for the last.
 */
export function decodeRecord(leaf: Uint8Array): AuditRecord {
  abytes(leaf, 'leaf');
  if (leaf.length > MAX_LEAF_BYTES) {
    throw auditError('AUDIT_RECORD_INVALID', `leaf: expected at most ${MAX_LEAF_BYTES} bytes, got ${leaf.length}`, {
      details: { field: '' },
    });
  }
  const text = fromUtf8(leaf);
  if (text === undefined) throw auditError('AUDIT_LEAF_NOT_CANONICAL', 'leaf is not valid UTF-8');
  return decodeLeafText(text);
}

/**
 * `decodeRecord` for a leaf already decoded from UTF-8 whose size was checked (the log verifier has
 * both from hashing it): the JSON and canonical-form checks and validation, without re-decoding.
 */
export function decodeLeafText(text: string): AuditRecord {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw auditError('AUDIT_LEAF_NOT_CANONICAL', 'leaf is not JSON', { cause });
  }
  // Fast path: a valid record is canonical iff the fast serializer of its validated copy gives the
  // leaf back (validation leaves no other keys or values that could differ).
  let clean: AuditRecord | undefined;
  try {
    clean = validateRecord(value);
  } catch {
    clean = undefined;
  }
  if (clean !== undefined) {
    if (recordJson(clean) !== text)
      throw auditError('AUDIT_LEAF_NOT_CANONICAL', 'leaf is not canonical JSON (RFC 8785)');
    return clean;
  }
  // Invalid records take the general path, so a non-canonical leaf is still reported as such first.
  // canonicalize ≥ 5 serializes with an explicit stack: a leaf nested thousands deep (JSON.parse
  // takes it) gets its real answer instead of a RangeError (test/engine/audit/canonical.test.ts).
  let canonical: string | undefined;
  try {
    canonical = canonicalize(value);
  } catch (cause) {
    throw auditError(
      'AUDIT_LEAF_NOT_CANONICAL',
      'leaf is not canonical JSON (RFC 8785): its value has no canonical form',
      { cause },
    );
  }
  if (canonical !== text) throw auditError('AUDIT_LEAF_NOT_CANONICAL', 'leaf is not canonical JSON (RFC 8785)');
  return validateRecord(value);
}

/** SHA-256 (lowercase hex) of bytes: how `inputDigest` and policy hashes are computed. */
export function sha256Hex(bytes: Uint8Array): string {
  abytes(bytes, 'bytes');
  return toHex(sha256(bytes));
}

// ---------------------------------------------------------------------------------------------
// Keyed hashes of sensitive fields (docs/architecture.md).
// ---------------------------------------------------------------------------------------------

/** Length of an audit HMAC epoch key: 32 bytes of HKDF(root key, "keyward/audit-hmac/v1/epoch-N"). */
export const HMAC_FIELD_KEY_LEN = 32;

/** `hmac-sha256:<epoch>:<43 characters of unpadded base64url>`. */
export const HMAC_FIELD_RE = /^hmac-sha256:(0|[1-9][0-9]{0,8}):[A-Za-z0-9_-]{43}$/;

/**
 * The keyed stand-in for a sensitive value in a record: `hmac-sha256:<epoch>:<b64url>`, the
 * HMAC-SHA-256 (RFC 2104) of the value's UTF-8 under the epoch's key, base64url without padding.
 * The same value and epoch always give the same string, so an authorized caller can find records
 * by it (`POST /v1/audit/hash`); without the key, nothing about the value can be learned or tested.
 * The key is derived in the sealed core and never stored; this function only applies it.
 */
export function hmacField(key: Uint8Array, epoch: number, value: string): string {
  abytes(key, 'key', HMAC_FIELD_KEY_LEN);
  if (!Number.isSafeInteger(epoch) || epoch < 0 || epoch > 999_999_999)
    throw new RangeError(`"epoch" expected an integer from 0 to 999999999, got ${epoch}`);
  if (typeof value !== 'string') throw new TypeError(`"value" expected string, got ${typeof value}`);
  if (LONE_SURROGATE_RE.test(value)) throw new RangeError('"value" expected well-formed Unicode, got a lone surrogate');
  const mac = hmac(sha256, key, utf8(value));
  return `hmac-sha256:${epoch}:${toBase64Url(mac)}`;
}
