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

/**
 * A pattern of ASCII identifiers: one character of class `first`, then `restMin` to `restMax` of
 * class `rest` (regular-expression class bodies). validateRecord tests strings with `re`; the leaf
 * scanner tests bytes with the tables, made by testing each ASCII character against the same classes.
 */
interface AsciiPattern {
  re: RegExp;
  first: Uint8Array;
  rest: Uint8Array;
  minLength: number;
  maxLength: number;
}

function asciiPattern(first: string, rest: string, restMin: number, restMax: number): AsciiPattern {
  const table = (cls: string) => {
    const one = new RegExp(`^[${cls}]$`);
    return Uint8Array.from({ length: 128 }, (_, c) => (one.test(String.fromCharCode(c)) ? 1 : 0));
  };
  return {
    re: new RegExp(`^[${first}][${rest}]{${restMin},${restMax}}$`),
    first: table(first),
    rest: table(rest),
    minLength: 1 + restMin,
    maxLength: 1 + restMax,
  };
}

const HEX64_PATTERN = asciiPattern('0-9a-f', '0-9a-f', 63, 63);
const CODE_PATTERN = asciiPattern('A-Z', 'A-Z0-9_', 0, 63);
const DETAIL_KEY = asciiPattern('A-Za-z', 'A-Za-z0-9_.-', 0, 63);
const VERDICTS: readonly string[] = ['allow', 'deny', 'require_approval', 'fault'];
const DECISIONS: readonly string[] = ['allow', 'deny', 'require_approval', 'none'];
const I32_MAX = 0x7fffffff;
// In u-mode a valid surrogate pair is one code point, so only a lone surrogate is category Cs.
const LONE_SURROGATE_RE = /\p{Cs}/u;

/** A string field: its bound in UTF-8 bytes, and whether it may be empty or null. */
interface StrRule {
  kind: 'str';
  maxBytes: number;
  nonEmpty: boolean;
  nullable: boolean;
}
/** An integer field: its range, and whether it may be null. */
interface IntRule {
  kind: 'int';
  min: number;
  max: number;
  nullable: boolean;
}
/** A string field of ASCII identifiers: the pattern, and what the error says it expected. */
interface PatternRule {
  kind: 'pattern';
  pattern: AsciiPattern;
  expected: string;
  nullable: boolean;
}
/** A string field with a closed set of values (`spelled`: each value's canonical JSON, for the scanner). */
interface OneOfRule {
  kind: 'oneOf';
  values: readonly string[];
  spelled: readonly Uint8Array[];
}
/** A field checked by code of its own (its bounds are the constants named there). */
interface OwnRule {
  kind: 'format' | 'time' | 'policies' | 'sizes' | 'details';
}
type Rule = StrRule | IntRule | PatternRule | OneOfRule | OwnRule;

const strRule = (maxBytes: number, nonEmpty: boolean, nullable: boolean): StrRule => ({
  kind: 'str',
  maxBytes,
  nonEmpty,
  nullable,
});
const intRule = (min: number, max: number, nullable: boolean): IntRule => ({ kind: 'int', min, max, nullable });
const oneOfRule = (values: readonly string[]): OneOfRule => ({
  kind: 'oneOf',
  values,
  spelled: values.map((v) => new TextEncoder().encode(JSON.stringify(v))),
});
const HEX64: PatternRule = {
  kind: 'pattern',
  pattern: HEX64_PATTERN,
  expected: '64 lowercase hex digits',
  nullable: false,
};

/**
 * Record format 1, field by field: the one definition of each field's bounds, which both
 * validateRecord (objects) and the leaf scanner (isCanonicalRecordLeaf, bytes) read.
 */
const RULES = {
  v: { kind: 'format' },
  time: { kind: 'time' },
  node: strRule(128, true, false),
  requestId: strRule(128, true, false),
  principal: strRule(256, true, true),
  operation: strRule(128, true, false),
  key: strRule(256, true, true),
  keyVersion: intRule(0, I32_MAX, true),
  policies: { kind: 'policies' },
  decision: oneOfRule(DECISIONS),
  reason: strRule(1024, false, true),
  approvalId: strRule(128, true, true),
  inputDigest: { ...HEX64, nullable: true },
  status: intRule(100, 599, false),
  code: {
    kind: 'pattern',
    pattern: CODE_PATTERN,
    expected: 'an UPPER_SNAKE error code of at most 64 characters',
    nullable: true,
  },
  sizes: { kind: 'sizes' },
  details: { kind: 'details' },
} as const satisfies Record<(typeof FIELDS)[number], Rule>;

const POLICY_RULES = {
  sha256: HEX64,
  decision: oneOfRule(VERDICTS),
  gas: intRule(0, Number.MAX_SAFE_INTEGER, false),
} as const satisfies Record<(typeof POLICY_FIELDS)[number], Rule>;

const SIZE_RULES = {
  in: intRule(0, Number.MAX_SAFE_INTEGER, false),
  out: intRule(0, Number.MAX_SAFE_INTEGER, false),
} as const satisfies Record<(typeof SIZE_FIELDS)[number], Rule>;

/** A `details` value that is a string, or a number. */
const DETAIL_STR = strRule(1024, false, false);
const DETAIL_INT = intRule(Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, false);

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

function str(field: string, v: unknown, rule: StrRule): string | null {
  if (v === null && rule.nullable) return null;
  if (typeof v !== 'string') strInvalid(field, rule, got(v));
  // A UTF-16 code unit is at most 3 UTF-8 bytes: a string that short is within the bound whatever it
  // holds, and 0 bytes only when empty, so only a lone surrogate is left to look for (no byte count).
  const n =
    v.length * 3 <= rule.maxBytes ? (SURROGATE_RE.test(v) && LONE_SURROGATE_RE.test(v) ? -1 : v.length) : utf8Length(v);
  if (n < 0) invalid(field, 'well-formed Unicode', 'a lone surrogate');
  if (n > rule.maxBytes || (rule.nonEmpty && n === 0)) strInvalid(field, rule, `${n} bytes`);
  return v;
}

function strInvalid(field: string, rule: StrRule, gotText: string): never {
  invalid(
    field,
    `${rule.nonEmpty ? 'a non-empty' : 'a'} string of at most ${rule.maxBytes} UTF-8 bytes${rule.nullable ? ' or null' : ''}`,
    gotText,
  );
}

function int(field: string, v: unknown, rule: IntRule): number | null {
  if (v === null && rule.nullable) return null;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || Object.is(v, -0) || v < rule.min || v > rule.max) {
    invalid(field, `an integer from ${rule.min} to ${rule.max}${rule.nullable ? ' or null' : ''}`, got(v));
  }
  return v;
}

function pattern(field: string, v: unknown, rule: PatternRule): string | null {
  if (v === null && rule.nullable) return null;
  if (typeof v !== 'string' || !rule.pattern.re.test(v))
    invalid(field, `${rule.expected}${rule.nullable ? ' or null' : ''}`, got(v));
  return v;
}

function oneOf<T extends string>(field: string, v: unknown, rule: OneOfRule): T {
  const values = rule.values;
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

/** Whether `v` is a record time: TIME_RE's shape, and a real instant that Date spells back the same. */
function isValidTime(v: string): boolean {
  if (v === lastTime) return true;
  if (!TIME_RE.test(v)) return false;
  const date = v.slice(0, 10);
  if (validDates.has(date) && CLOCK_RE.test(v.slice(10))) return ((lastTime = v), true);
  const d = new Date(v);
  if (Number.isNaN(d.getTime()) || d.toISOString() !== v) return false;
  if (validDates.size >= 4096) validDates.clear();
  validDates.add(date);
  return ((lastTime = v), true);
}

function time(v: unknown): string {
  if (v === lastTime) return v;
  const expected = 'an ISO-8601 UTC time with milliseconds (YYYY-MM-DDTHH:MM:SS.mmmZ)';
  if (typeof v !== 'string' || !TIME_RE.test(v))
    invalid('time', expected, typeof v === 'string' && v.length <= 32 ? JSON.stringify(v) : got(v));
  if (!isValidTime(v)) invalid('time', `${expected} that exists in the calendar`, JSON.stringify(v));
  return v;
}

/**
 * Checks `value` against record format 1 and returns a fresh plain copy of it (so that no getter,
 * prototype or `toJSON` of the input can reach the encoder).
 *
 * Any rule added or tightened here (a new field, a cross-field rule, a narrower `details` value) must
 * be added to `isCanonicalRecordLeaf` too: the verifier accepts what that scanner accepts without
 * asking this function, so a rule only this one checks is a rule the verifier does not enforce.
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
  const node = str('node', value.node, RULES.node)!;
  const requestId = str('requestId', value.requestId, RULES.requestId)!;
  const principal = str('principal', value.principal, RULES.principal);
  const operation = str('operation', value.operation, RULES.operation)!;
  const key = str('key', value.key, RULES.key);
  const keyVersion = int('keyVersion', value.keyVersion, RULES.keyVersion);
  const policies = policyResults(value.policies);
  const decision = oneOf<RecordDecision>('decision', value.decision, RULES.decision);
  const reason = str('reason', value.reason, RULES.reason);
  const approvalId = str('approvalId', value.approvalId, RULES.approvalId);
  const inputDigest = pattern('inputDigest', value.inputDigest, RULES.inputDigest);
  const status = int('status', value.status, RULES.status)!;
  const code = pattern('code', value.code, RULES.code);
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
      decision: oneOf<PolicyVerdict>(`${f}.decision`, p.decision, POLICY_RULES.decision),
      gas: int(`${f}.gas`, p.gas, POLICY_RULES.gas)!,
    });
  }
  return out;
}

/** Policy hashes found to match HEX64_PATTERN: the same few in every record (bounded: cleared when full). */
const validPolicyHashes = new Set<string>();

function policyHash(f: string, v: unknown): string {
  if (typeof v === 'string' && validPolicyHashes.has(v)) return v;
  const checked = pattern(`${f}.sha256`, v, POLICY_RULES.sha256)!;
  if (validPolicyHashes.size >= 256) validPolicyHashes.clear();
  validPolicyHashes.add(checked);
  return checked;
}

function payloadSizes(v: unknown): AuditRecord['sizes'] {
  if (!isPlainObject(v)) invalid('sizes', 'an object {in, out}', got(v));
  exactKeys('sizes', v, SIZE_FIELDS);
  return {
    in: int('sizes.in', v.in, SIZE_RULES.in)!,
    out: int('sizes.out', v.out, SIZE_RULES.out)!,
  };
}

function detailsOf(v: unknown): AuditRecord['details'] {
  if (v === null) return null;
  if (!isPlainObject(v)) invalid('details', 'an object or null', got(v));
  const keys = Object.keys(v);
  if (keys.length > MAX_DETAILS_ENTRIES) invalid('details', `at most ${MAX_DETAILS_ENTRIES} entries`, `${keys.length}`);
  const out: NonNullable<AuditRecord['details']> = {};
  for (const k of keys) {
    if (!DETAIL_KEY.re.test(k))
      invalid(
        'details',
        'keys of 1-64 characters [A-Za-z0-9_.-] starting with a letter',
        `a key of ${k.length} characters that is not`,
      );
    const x = v[k];
    const f = `details.${k}`;
    if (x === null || typeof x === 'boolean') out[k] = x;
    else if (typeof x === 'number') out[k] = int(f, x, DETAIL_INT)!;
    else if (typeof x === 'string') out[k] = str(f, x, DETAIL_STR)!;
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

/** Strings JSON.stringify writes as they are, between quotes: printable ASCII but `"` and `\`. */
const VERBATIM_RE = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/** JSON.stringify of a string or null, without its call for the usual plain ASCII string. */
function quoted(s: string | null): string {
  if (s === null) return 'null';
  return VERBATIM_RE.test(s) ? `"${s}"` : JSON.stringify(s);
}

/**
 * canonicalRecordJson of a validated record, with the top-level and policy keys written out in
 * their sorted order (the hot path of appending and verifying: no per-record key sort). Values that
 * validation confines to plain ASCII (times, hashes, codes, decisions) and integers are written as
 * they are; other strings go through `quoted`: JSON.stringify's call per field was most of the
 * record's encoding (issue 14: 1.7 → 0.8 µs per record with validation, measured on this machine).
 */
function recordJson(r: AuditRecord): string {
  let policies = '';
  for (let i = 0; i < r.policies.length; i++) {
    const p = r.policies[i]!;
    policies += `${i === 0 ? '' : ','}{"decision":"${p.decision}","gas":${p.gas},"sha256":"${p.sha256}"}`;
  }
  const code = r.code === null ? 'null' : `"${r.code}"`;
  const inputDigest = r.inputDigest === null ? 'null' : `"${r.inputDigest}"`;
  return (
    `{"approvalId":${quoted(r.approvalId)},"code":${code},"decision":"${r.decision}","details":${r.details === null ? 'null' : canonicalRecordJson(r.details)},` +
    `"inputDigest":${inputDigest},"key":${quoted(r.key)},"keyVersion":${r.keyVersion},"node":${quoted(r.node)},"operation":${quoted(r.operation)},` +
    `"policies":[${policies}],"principal":${quoted(r.principal)},"reason":${quoted(r.reason)},"requestId":${quoted(r.requestId)},` +
    `"sizes":{"in":${r.sizes.in},"out":${r.sizes.out}},"status":${r.status},"time":"${r.time}","v":${r.v}}`
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

// ---------------------------------------------------------------------------------------------
// The leaf scanner: a fast accept path for verifiers (issue 14). decodeLeafText parses a leaf,
// validates the record and serializes it again to prove the leaf canonical: ~6 µs and a dozen
// objects per record. isCanonicalRecordLeaf reads the bytes once and builds nothing.
//
// Why the two agree: decodeLeafText accepts exactly the strings recordJson(r) for records r that
// validateRecord accepts, so the scanner accepts a byte string only if it is that output:
// - the structure and key order are recordJson's (the top-level keys FIELDS sorted, as recordJson
//   writes them; policies' and sizes' keys likewise; `details` keys strictly increasing in UTF-16
//   order, which is canonicalRecordJson's sort, so no duplicate), with no whitespace;
// - strings are spelled as JSON.stringify spells them (raw bytes 0x20-0x7f but `"` and `\`, strict
//   UTF-8 for the rest, and only the escapes it writes: \" \\ \b \f \n \r \t and \u00xx, lowercase,
//   for the other control characters; never \u for a surrogate, so no lone surrogate gets through);
//   integers as it spells safe integers (no sign on 0, no leading zero, no fraction or exponent);
// - every value is checked against the rule validateRecord checks it against (RULES, POLICY_RULES,
//   SIZE_RULES, DETAIL_STR, DETAIL_INT, the same regular expressions on the same string, and
//   isValidTime), with the byte lengths of string values counted as str() counts them (UTF-8).
// Anything else is not accepted here, and the caller falls back to decodeLeafText, which decides and
// words the error: the scanner may refuse a valid leaf (that only costs time), never accept an
// invalid one. test/engine/audit/math/record-scan.test.ts and test/fuzz/leaf.fuzz.ts compare the two.
// ---------------------------------------------------------------------------------------------

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);
const NULL_BYTES = ascii('null');
const TRUE_BYTES = ascii('true');
const FALSE_BYTES = ascii('false');

/** Each field's rule and the bytes recordJson writes before its value (`{"key":` or `,"key":`), in its order. */
function scanPlan<K extends string>(rules: Record<K, Rule>): Array<{ prefix: Uint8Array; rule: Rule }> {
  return (Object.keys(rules) as K[])
    .sort()
    .map((k, i) => ({ prefix: ascii(`${i === 0 ? '{' : ','}${JSON.stringify(k)}:`), rule: rules[k] }));
}
const RECORD_PLAN = scanPlan(RULES);
const POLICY_PLAN = scanPlan(POLICY_RULES);
const SIZE_PLAN = scanPlan(SIZE_RULES);

// What scanString found, besides where the string ends (module state: no object per string).
/** UTF-8 length of the string's value. */
let strBytes = 0;
/** Whether the string's JSON is its value: ASCII, no escape. */
let strPlain = true;

/** `lit` at b[i]: the index after it, or -1. */
function literal(b: Uint8Array, i: number, end: number, lit: Uint8Array): number {
  if (i + lit.length > end) return -1;
  for (let k = 0; k < lit.length; k++) if (b[i + k] !== lit[k]) return -1;
  return i + lit.length;
}

/** The value of a lowercase hex digit (JSON.stringify's \u spelling), or -1. */
function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  return -1;
}

/** A continuation byte (10xxxxxx) at b[i] within [lo, hi]. */
const cont = (b: Uint8Array, i: number, end: number, lo = 0x80, hi = 0xbf): boolean =>
  i < end && b[i]! >= lo && b[i]! <= hi;

/**
 * A JSON string at b[i] in JSON.stringify's spelling, its contents well-formed UTF-8: the index after
 * its closing quote, or -1. Sets strBytes and strPlain.
 */
function scanString(b: Uint8Array, i: number, end: number): number {
  if (i >= end || b[i] !== QUOTE) return -1;
  i++;
  let n = 0;
  let plain = true;
  for (;;) {
    if (i >= end) return -1;
    const c = b[i]!;
    if (c === QUOTE) break;
    if (c < 0x20) return -1;
    if (c === BACKSLASH) {
      plain = false;
      if (i + 1 >= end) return -1;
      const e = b[i + 1]!;
      if (e === QUOTE || e === BACKSLASH || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74) {
        i += 2; // \" \\ \b \f \n \r \t
      } else if (e === 0x75) {
        // \u00xx: only for a control character without a short escape.
        if (i + 6 > end || b[i + 2] !== 0x30 || b[i + 3] !== 0x30) return -1;
        const hi = hexValue(b[i + 4]!);
        const lo = hexValue(b[i + 5]!);
        if (hi < 0 || hi > 1 || lo < 0) return -1;
        const u = hi * 16 + lo;
        if (u === 0x08 || u === 0x09 || u === 0x0a || u === 0x0c || u === 0x0d) return -1;
        i += 6;
      } else return -1;
      n++;
    } else if (c < 0x80) {
      i++;
      n++;
    } else {
      // Well-formed UTF-8 (the Unicode standard's table 3-7; what TextDecoder's fatal mode accepts).
      plain = false;
      let len: number;
      if (c >= 0xc2 && c <= 0xdf) len = cont(b, i + 1, end) ? 2 : 0;
      else if (c === 0xe0) len = cont(b, i + 1, end, 0xa0) && cont(b, i + 2, end) ? 3 : 0;
      else if ((c >= 0xe1 && c <= 0xec) || c === 0xee || c === 0xef)
        len = cont(b, i + 1, end) && cont(b, i + 2, end) ? 3 : 0;
      else if (c === 0xed) len = cont(b, i + 1, end, 0x80, 0x9f) && cont(b, i + 2, end) ? 3 : 0;
      else if (c === 0xf0) len = cont(b, i + 1, end, 0x90) && cont(b, i + 2, end) && cont(b, i + 3, end) ? 4 : 0;
      else if (c >= 0xf1 && c <= 0xf3) len = cont(b, i + 1, end) && cont(b, i + 2, end) && cont(b, i + 3, end) ? 4 : 0;
      else if (c === 0xf4) len = cont(b, i + 1, end, 0x80, 0x8f) && cont(b, i + 2, end) && cont(b, i + 3, end) ? 4 : 0;
      else len = 0;
      if (len === 0) return -1;
      i += len;
      n += len;
    }
  }
  strBytes = n;
  strPlain = plain;
  return i + 1;
}

/** Whether b[begin, end) matches the pattern (as its `re` would match the same characters). */
function matchesPattern(p: AsciiPattern, b: Uint8Array, begin: number, end: number): boolean {
  const n = end - begin;
  if (n < p.minLength || n > p.maxLength || p.first[b[begin]!] !== 1) return false;
  for (let i = begin + 1; i < end; i++) if (p.rest[b[i]!] !== 1) return false;
  return true;
}

/** Node's Buffer has latin1Slice: a string without the array fromCharCode.apply goes through (5x faster). */
type Latin1Slicer = Uint8Array & { latin1Slice?: (begin: number, end: number) => string };

/** The ASCII text of b[begin, end) (a plain string's contents: its JSON is its value). */
function asciiText(b: Latin1Slicer, begin: number, end: number): string {
  if (b.latin1Slice) return b.latin1Slice(begin, end);
  return String.fromCharCode.apply(null, b.subarray(begin, end) as unknown as number[]);
}

/** The bytes of the last time the scanner found valid (records come in runs with the same millisecond). */
const lastTimeBytes = new Uint8Array(32);
let lastTimeLength = -1;

function scanTime(b: Uint8Array, i: number, end: number): number {
  const j = scanString(b, i, end);
  if (j < 0 || !strPlain) return -1;
  const n = j - 2 - i;
  if (n === lastTimeLength) {
    let k = 0;
    while (k < n && b[i + 1 + k] === lastTimeBytes[k]) k++;
    if (k === n) return j;
  }
  if (n > lastTimeBytes.length || !isValidTime(asciiText(b, i + 1, j - 1))) return -1;
  lastTimeBytes.set(b.subarray(i + 1, j - 1));
  lastTimeLength = n;
  return j;
}

/** An integer at b[i] spelled as JSON.stringify spells it, within [min, max]: the index after it, or -1. */
function scanInt(b: Uint8Array, i: number, end: number, min: number, max: number): number {
  const neg = i < end && b[i] === 0x2d;
  if (neg) i++;
  const first = i;
  let v = 0;
  // At most 16 digits: every safe integer fits, and the sum stays exact up to 2^53, past which it
  // only rounds to values that are out of range too.
  while (i < end && b[i]! >= 0x30 && b[i]! <= 0x39 && i - first < 17) v = v * 10 + (b[i++]! - 0x30);
  const digits = i - first;
  if (digits === 0 || digits > 16 || (digits > 1 && b[first] === 0x30) || (neg && v === 0)) return -1;
  if (neg) v = -v;
  return v < min || v > max ? -1 : i;
}

/** A value by its rule at b[i]: the index after it, or -1. */
function scanValue(b: Uint8Array, i: number, end: number, rule: Rule): number {
  switch (rule.kind) {
    case 'str': {
      if (rule.nullable && i < end && b[i] === 0x6e) return literal(b, i, end, NULL_BYTES);
      const j = scanString(b, i, end);
      return j < 0 || strBytes > rule.maxBytes || (rule.nonEmpty && strBytes === 0) ? -1 : j;
    }
    case 'int':
      if (rule.nullable && i < end && b[i] === 0x6e) return literal(b, i, end, NULL_BYTES);
      return scanInt(b, i, end, rule.min, rule.max);
    case 'pattern': {
      if (rule.nullable && i < end && b[i] === 0x6e) return literal(b, i, end, NULL_BYTES);
      const j = scanString(b, i, end);
      return j >= 0 && strPlain && matchesPattern(rule.pattern, b, i + 1, j - 1) ? j : -1;
    }
    case 'oneOf':
      for (const v of rule.spelled) {
        const j = literal(b, i, end, v);
        if (j >= 0) return j;
      }
      return -1;
    case 'format':
      return scanInt(b, i, end, RECORD_FORMAT, RECORD_FORMAT);
    case 'time':
      return scanTime(b, i, end);
    case 'policies':
      return scanPolicies(b, i, end);
    case 'sizes':
      return scanObject(b, i, end, SIZE_PLAN);
    case 'details':
      return i < end && b[i] === 0x6e ? literal(b, i, end, NULL_BYTES) : scanDetails(b, i, end);
  }
}

/** An object with exactly the plan's keys, in its order: the index after it, or -1. */
function scanObject(
  b: Uint8Array,
  i: number,
  end: number,
  plan: ReadonlyArray<{ prefix: Uint8Array; rule: Rule }>,
): number {
  for (const { prefix, rule } of plan) {
    i = literal(b, i, end, prefix);
    if (i < 0) return -1;
    i = scanValue(b, i, end, rule);
    if (i < 0) return -1;
  }
  return i < end && b[i] === 0x7d ? i + 1 : -1;
}

function scanPolicies(b: Uint8Array, i: number, end: number): number {
  if (i >= end || b[i] !== 0x5b) return -1;
  i++;
  if (i < end && b[i] === 0x5d) return i + 1;
  for (let n = 1; ; n++) {
    if (n > MAX_RECORD_POLICIES) return -1;
    i = scanObject(b, i, end, POLICY_PLAN);
    if (i < 0 || i >= end) return -1;
    if (b[i] === 0x5d) return i + 1;
    if (b[i] !== 0x2c) return -1;
    i++;
  }
}

/**
 * Whether the plain key whose contents start at b[x] sorts strictly before the one at b[y] (both end
 * at their closing quote, which neither contains). For ASCII, byte order is UTF-16 code unit order,
 * Array.prototype.sort's; a key that is a prefix of the other sorts first.
 */
function asciiBefore(b: Uint8Array, x: number, y: number): boolean {
  for (;;) {
    const p = b[x++]!;
    const q = b[y++]!;
    if (p !== q) return p === QUOTE || (q !== QUOTE && p < q);
    if (p === QUOTE) return false; // equal keys
  }
}

function scanDetails(b: Uint8Array, i: number, end: number): number {
  if (i >= end || b[i] !== 0x7b) return -1;
  i++;
  if (i < end && b[i] === 0x7d) return i + 1;
  let last = -1; // where the previous key's contents start
  for (let n = 1; ; n++) {
    if (n > MAX_DETAILS_ENTRIES) return -1;
    const k = scanString(b, i, end);
    if (k < 0 || !strPlain || !matchesPattern(DETAIL_KEY, b, i + 1, k - 1)) return -1;
    // Strictly increasing: canonicalRecordJson's sort order, and no key twice.
    if (last >= 0 && !asciiBefore(b, last, i + 1)) return -1;
    last = i + 1;
    if (k >= end || b[k] !== 0x3a) return -1;
    i = k + 1;
    if (i >= end) return -1;
    const c = b[i];
    if (c === 0x6e) i = literal(b, i, end, NULL_BYTES);
    else if (c === 0x74) i = literal(b, i, end, TRUE_BYTES);
    else if (c === 0x66) i = literal(b, i, end, FALSE_BYTES);
    else if (c === QUOTE) i = scanValue(b, i, end, DETAIL_STR);
    else i = scanValue(b, i, end, DETAIL_INT);
    if (i < 0 || i >= end) return -1;
    if (b[i] === 0x7d) return i + 1;
    if (b[i] !== 0x2c) return -1;
    i++;
  }
}

/**
 * Whether bytes[begin, end) is a leaf decodeLeafText accepts, found in one pass without building the
 * record: well-formed UTF-8, exactly recordJson's serialization, a valid record. False means "not
 * shown here", not "invalid": decode the leaf with decodeRecord (or decodeLeafText) for the verdict.
 */
export function isCanonicalRecordLeaf(bytes: Uint8Array, begin = 0, end = bytes.length): boolean {
  if (end - begin > MAX_LEAF_BYTES) return false;
  return scanObject(bytes, begin, end, RECORD_PLAN) === end;
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
