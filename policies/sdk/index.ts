/**
 * Keyward policy SDK (AssemblyScript) — what policy authors import:
 *
 * ```ts
 * import { Request, Decision } from "keyward";
 *
 * export function decide(req: Request): Decision {
 *   if (req.hasRole("admin")) return Decision.allow("role admin");
 *   return Decision.deny("admins only");
 * }
 * ```
 *
 * `keyward policy build` compiles that file with a generated entry that implements ABI v1 around
 * `decide` (engine/policy/sandbox/abi.ts documents the layout); authors never touch the ABI.
 *
 * The request is a view over the input region: the decoder (./abi, generated from the schema)
 * records where each field is, accessors compare bytes in place (`hasRole`, `operationIs`,
 * `labelIs`, ...) and only the string getters (`operation`, `label(...)`, ...) allocate, once each.
 * Every evaluation starts from the same memory and globals (the host restores them), so nothing a
 * policy stores survives to the next request.
 *
 * Strings: the input carries UTF-8; comparisons here are exact code point comparisons with the
 * AssemblyScript (UTF-16) string you pass.
 */
import {
  ABI_VERSION,
  DECISION_ALLOW,
  DECISION_DENY,
  DECISION_REQUIRE_APPROVAL,
  ERR_GROUP_TOO_LONG,
  MAX_GROUP_CHARS,
  MAX_INPUT_BYTES,
  MAX_REASON_CHARS,
  OUTPUT_CAPACITY,
  OUTPUT_HEADER_BYTES,
  approvalsValue,
  attributesCount,
  attributesPtr,
  decodeInput,
  keyLabelsCount,
  keyLabelsPtr,
  keyNameLen,
  keyNamePtr,
  keyPresent,
  keyTypeLen,
  keyTypePtr,
  keyVersionValue,
  operationLen,
  operationPtr,
  payloadBytesValue,
  principalLen,
  principalPtr,
  rolesCount,
  rolesPtr,
  timeValue,
} from "./abi";

// ---------------------------------------------------------------------------------------------
// Regions of ABI v1 (static, so their addresses are constants the validator can read).

const INPUT_REGION: usize = memory.data(MAX_INPUT_BYTES, 16);
const OUTPUT_REGION: usize = memory.data(OUTPUT_CAPACITY, 16);

export const KEYWARD_ABI_VERSION: i32 = ABI_VERSION;
export const KEYWARD_INPUT_PTR: usize = INPUT_REGION;
export const KEYWARD_INPUT_CAPACITY: i32 = MAX_INPUT_BYTES;
export const KEYWARD_OUTPUT_PTR: usize = OUTPUT_REGION;
export const KEYWARD_OUTPUT_CAPACITY: i32 = OUTPUT_CAPACITY;

// ---------------------------------------------------------------------------------------------
// UTF-8 in place

/** Whether the UTF-8 bytes at `ptr` (`len` of them) start with (or, if `!prefix`, equal) `s`. */
function utf8Matches(ptr: usize, len: i32, s: string, prefix: bool): bool {
  const sp = changetype<usize>(s);
  const units = s.length;
  let i: i32 = 0; // byte index
  let j: i32 = 0; // code unit index
  while (j < units) {
    const c = <u32>load<u16>(sp + (<usize>j << 1));
    j++;
    if (c < 0x80) {
      if (i >= len || <u32>load<u8>(ptr + <usize>i) != c) return false;
      i++;
      continue;
    }
    let cp = c;
    if (c >= 0xd800 && c < 0xdc00 && j < units) {
      const d = <u32>load<u16>(sp + (<usize>j << 1));
      if (d >= 0xdc00 && d < 0xe000) {
        cp = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        j++;
      }
    }
    if (cp >= 0xd800 && cp < 0xe000) return false; // a lone surrogate never matches valid UTF-8
    if (cp < 0x800) {
      if (i + 2 > len) return false;
      if (<u32>load<u8>(ptr + <usize>i) != (0xc0 | (cp >> 6))) return false;
      if (<u32>load<u8>(ptr + <usize>i + 1) != (0x80 | (cp & 0x3f))) return false;
      i += 2;
    } else if (cp < 0x10000) {
      if (i + 3 > len) return false;
      if (<u32>load<u8>(ptr + <usize>i) != (0xe0 | (cp >> 12))) return false;
      if (<u32>load<u8>(ptr + <usize>i + 1) != (0x80 | ((cp >> 6) & 0x3f))) return false;
      if (<u32>load<u8>(ptr + <usize>i + 2) != (0x80 | (cp & 0x3f))) return false;
      i += 3;
    } else {
      if (i + 4 > len) return false;
      if (<u32>load<u8>(ptr + <usize>i) != (0xf0 | (cp >> 18))) return false;
      if (<u32>load<u8>(ptr + <usize>i + 1) != (0x80 | ((cp >> 12) & 0x3f))) return false;
      if (<u32>load<u8>(ptr + <usize>i + 2) != (0x80 | ((cp >> 6) & 0x3f))) return false;
      if (<u32>load<u8>(ptr + <usize>i + 3) != (0x80 | (cp & 0x3f))) return false;
      i += 4;
    }
  }
  return prefix || i == len;
}

function utf8String(ptr: usize, len: i32): string {
  if (len == 0) return "";
  return String.UTF8.decodeUnsafe(ptr, <usize>len, false);
}

// A string of the input is `u32 length ‖ bytes`; entries of sets and maps follow each other.
// @ts-ignore: decorator
@inline
function strLen(p: usize): i32 {
  return <i32>load<u32>(p);
}
// @ts-ignore: decorator
@inline
function strNext(p: usize): usize {
  return p + 4 + <usize>load<u32>(p);
}

/** The `index`-th string of a set, or of a map's entries with `stride` 2 (`which` 0 key, 1 value). */
function entryAt(base: usize, count: i32, index: i32, stride: i32, which: i32): usize {
  if (index < 0 || index >= count) return 0;
  let p = base;
  const skip = index * stride + which;
  for (let k = 0; k < skip; k++) p = strNext(p);
  return p;
}

/** The value string of the map entry whose key equals `name`, or 0. */
function mapFind(base: usize, count: i32, name: string): usize {
  let p = base;
  for (let k = 0; k < count; k++) {
    const v = strNext(p);
    if (utf8Matches(p + 4, strLen(p), name, false)) return v;
    p = strNext(v);
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Request

// Decoded once per evaluation, on first use.
let cachedOperation: string | null = null;
let cachedPrincipal: string | null = null;
let cachedKeyName: string | null = null;
let cachedKeyType: string | null = null;

/** The request a policy decides on (read-only). */
export class Request {
  /** The operation, e.g. "encrypt", "key.create", "audit.export". */
  get operation(): string {
    let s = cachedOperation;
    if (s === null) cachedOperation = s = utf8String(operationPtr, operationLen);
    return s;
  }
  /** `operation == op`, without allocating. */
  operationIs(op: string): bool {
    return utf8Matches(operationPtr, operationLen, op, false);
  }
  /** Whether the operation starts with `prefix` (e.g. "audit."), without allocating. */
  operationStartsWith(prefix: string): bool {
    return utf8Matches(operationPtr, operationLen, prefix, true);
  }

  /** The authenticated principal id. */
  get principal(): string {
    let s = cachedPrincipal;
    if (s === null) cachedPrincipal = s = utf8String(principalPtr, principalLen);
    return s;
  }
  /** `principal == id`, without allocating. */
  principalIs(id: string): bool {
    return utf8Matches(principalPtr, principalLen, id, false);
  }

  /** Whether the principal holds `role`. */
  hasRole(role: string): bool {
    let p = rolesPtr;
    for (let k = 0; k < rolesCount; k++) {
      if (utf8Matches(p + 4, strLen(p), role, false)) return true;
      p = strNext(p);
    }
    return false;
  }
  /** Number of roles (sorted by UTF-8 bytes). */
  get roleCount(): i32 {
    return rolesCount;
  }
  /** The `index`-th role, or "" out of range. */
  role(index: i32): string {
    const p = entryAt(rolesPtr, rolesCount, index, 1, 0);
    return p == 0 ? "" : utf8String(p + 4, strLen(p));
  }

  /** Whether the request targets a key (the key fields are empty/zero when not). */
  get hasKey(): bool {
    return keyPresent;
  }
  /** The target key's name, or "". */
  get keyName(): string {
    let s = cachedKeyName;
    if (s === null) cachedKeyName = s = utf8String(keyNamePtr, keyNameLen);
    return s;
  }
  /** `keyName == name`, without allocating. */
  keyNameIs(name: string): bool {
    return keyPresent && utf8Matches(keyNamePtr, keyNameLen, name, false);
  }
  /** The target key's type, e.g. "aes256-gcm", or "". */
  get keyType(): string {
    let s = cachedKeyType;
    if (s === null) cachedKeyType = s = utf8String(keyTypePtr, keyTypeLen);
    return s;
  }
  /** `keyType == type`, without allocating. */
  keyTypeIs(type: string): bool {
    return keyPresent && utf8Matches(keyTypePtr, keyTypeLen, type, false);
  }
  /** The key version the operation uses, or 0. */
  get keyVersion(): i32 {
    return keyVersionValue;
  }

  /** The value of the key's label `name`, or null. */
  label(name: string): string | null {
    const v = mapFind(keyLabelsPtr, keyLabelsCount, name);
    return v == 0 ? null : utf8String(v + 4, strLen(v));
  }
  /** Whether the key has label `name` equal to `value`, without allocating. */
  labelIs(name: string, value: string): bool {
    const v = mapFind(keyLabelsPtr, keyLabelsCount, name);
    return v != 0 && utf8Matches(v + 4, strLen(v), value, false);
  }
  /** Number of key labels (sorted by name bytes). */
  get labelCount(): i32 {
    return keyLabelsCount;
  }
  /** The `index`-th label's name, or "". */
  labelName(index: i32): string {
    const p = entryAt(keyLabelsPtr, keyLabelsCount, index, 2, 0);
    return p == 0 ? "" : utf8String(p + 4, strLen(p));
  }
  /** The `index`-th label's value, or "". */
  labelValue(index: i32): string {
    const p = entryAt(keyLabelsPtr, keyLabelsCount, index, 2, 1);
    return p == 0 ? "" : utf8String(p + 4, strLen(p));
  }

  /** The request attribute `name` (encryption context, AAD length, ...), or null. */
  attribute(name: string): string | null {
    const v = mapFind(attributesPtr, attributesCount, name);
    return v == 0 ? null : utf8String(v + 4, strLen(v));
  }
  /** Whether attribute `name` equals `value`, without allocating. */
  attributeIs(name: string, value: string): bool {
    const v = mapFind(attributesPtr, attributesCount, name);
    return v != 0 && utf8Matches(v + 4, strLen(v), value, false);
  }
  /** Number of attributes (sorted by name bytes). */
  get attributeCount(): i32 {
    return attributesCount;
  }
  /** The `index`-th attribute's name, or "". */
  attributeName(index: i32): string {
    const p = entryAt(attributesPtr, attributesCount, index, 2, 0);
    return p == 0 ? "" : utf8String(p + 4, strLen(p));
  }
  /** The `index`-th attribute's value, or "". */
  attributeValue(index: i32): string {
    const p = entryAt(attributesPtr, attributesCount, index, 2, 1);
    return p == 0 ? "" : utf8String(p + 4, strLen(p));
  }

  /** Size of the request payload in bytes. */
  get payloadBytes(): i64 {
    return payloadBytesValue;
  }
  /** Request time in unix milliseconds, supplied by the host as data. */
  get time(): i64 {
    return timeValue;
  }
  /** Distinct approvals already gathered for this request. */
  get approvals(): i32 {
    return approvalsValue;
  }
}

// ---------------------------------------------------------------------------------------------
// Decision

/** What a policy decides. Build one with `allow`, `deny` or `requireApproval`. */
export class Decision {
  constructor(
    public readonly code: i32,
    public readonly count: i32,
    public readonly group: string,
    public readonly reason: string,
  ) {}

  /** Allow the request; `reason` (optional) is recorded in the audit log. */
  static allow(reason: string = ""): Decision {
    return new Decision(DECISION_ALLOW, 0, "", reason);
  }
  /** Deny the request, saying why. */
  static deny(reason: string): Decision {
    return new Decision(DECISION_DENY, 0, "", reason);
  }
  /**
   * Allow once `count` (1..32) distinct members of `group` have approved; `req.approvals` tells
   * how many already have, so a policy usually returns `allow` when that is enough.
   */
  static requireApproval(count: i32, group: string, reason: string): Decision {
    return new Decision(DECISION_REQUIRE_APPROVAL, count, group, reason);
  }
}

// ---------------------------------------------------------------------------------------------
// Entry helpers, called by the generated ABI entry. Not for policy authors.

const REQUEST = new Request();

/** Starts an evaluation over `len` input bytes: 0, or a negative ERR_ code for a malformed input. */
export function __keyward_begin(len: i32): i32 {
  cachedOperation = null;
  cachedPrincipal = null;
  cachedKeyName = null;
  cachedKeyType = null;
  return decodeInput(INPUT_REGION, len);
}

/** The request of the current evaluation. */
export function __keyward_request(): Request {
  return REQUEST;
}

/** Writes `d` to the output region; returns the record's length, or a negative ERR_ code. */
export function __keyward_end(d: Decision): i32 {
  const group = d.group;
  const groupUnits = group.length;
  if (groupUnits > MAX_GROUP_CHARS) return ERR_GROUP_TOO_LONG;
  let reasonUnits = d.reason.length;
  if (reasonUnits > MAX_REASON_CHARS) reasonUnits = MAX_REASON_CHARS; // reasons are prose: truncate
  const groupBytes = <usize>groupUnits << 1;
  const reasonBytes = <usize>reasonUnits << 1;
  store<u32>(OUTPUT_REGION, <u32>d.code);
  store<i32>(OUTPUT_REGION, d.count, 4);
  store<u32>(OUTPUT_REGION, <u32>groupBytes, 8);
  store<u32>(OUTPUT_REGION, <u32>reasonBytes, 12);
  const body = OUTPUT_REGION + <usize>OUTPUT_HEADER_BYTES;
  memory.copy(body, changetype<usize>(group), groupBytes);
  memory.copy(body + groupBytes, changetype<usize>(d.reason), reasonBytes);
  return OUTPUT_HEADER_BYTES + <i32>(groupBytes + reasonBytes);
}
