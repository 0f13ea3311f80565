// Leaves for the differential test of the leaf scanner (engine/audit/math/record.ts
// isCanonicalRecordLeaf) against the reference decoder (decodeRecord): records of every field
// variant, encoded by the encoder, and mutations of them aimed at what the scanner must refuse.
// Shared by test/engine/audit/math/record-scan.test.ts (a small count) and test/fuzz/leaf.fuzz.ts.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { binaryUnit } from '../../helpers/fast-check.js';
import canonicalize from 'canonicalize';
import { isKeywardError } from '../../../lib/errors.js';
import { decodeRecord, encodeRecord, isCanonicalRecordLeaf } from '../../../engine/audit/math/record.js';
import type { AuditRecord } from '../../../engine/audit/math/record.js';

const te = new TextEncoder();

/** Characters that stress the string spelling: escapes, controls, DEL, U+2028, BOM, multi-byte. */
const tricky = fc.constantFrom(
  ...['"', '\\', '/', '\b', '\f', '\n', '\r', '\t', '\u0000', '\u0001', '\u001f', '\u007f', '\u0080'],
  ...['\u2028', '\ufeff', '\uffff', 'é', '☃', '😀', '\u{10ffff}', 'a', 'Z', '0', ' ', '-', '_', '.'],
);
const chars = fc.oneof(
  { weight: 3, arbitrary: tricky },
  { weight: 3, arbitrary: fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 1 }) },
  { weight: 1, arbitrary: fc.string({ unit: binaryUnit, minLength: 1, maxLength: 1 }) },
);
/** A string of at most `maxBytes` UTF-8 bytes, lone surrogates removed (a record refuses them; mutations add them). */
const text = (maxBytes: number, min = 0) =>
  fc
    .oneof(
      { weight: 6, arbitrary: fc.string({ unit: chars, minLength: min, maxLength: 24 }) },
      // At the UTF-8 byte bound: 2-byte characters, and one ASCII character more for an odd bound.
      { weight: 1, arbitrary: fc.constant('é'.repeat(Math.floor(maxBytes / 2)) + (maxBytes % 2 ? 'a' : '')) },
      { weight: 1, arbitrary: fc.constant('x'.repeat(maxBytes)) },
    )
    .map((s) => s.replace(/\p{Cs}/gu, ''))
    .filter((s) => s.length >= min && Buffer.byteLength(s) <= maxBytes);
const nullable = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: null, freq: 3 });
const hex64 = fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 64, maxLength: 64 });
const int = (min: number, max: number) => fc.oneof(fc.integer({ min, max }), fc.constantFrom(min, max));
const safe = (min: number) =>
  fc.oneof(
    fc.integer({ min: Math.max(min, -(2 ** 31)) }),
    fc.maxSafeInteger().filter((n) => n >= min),
    fc.constantFrom(min, Number.MAX_SAFE_INTEGER),
  );
const time = fc
  .date({ min: new Date('1970-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59.999Z'), noInvalidDate: true })
  .map((d) => d.toISOString());
const code = fc.oneof(
  fc.string({ unit: fc.constantFrom(...'ABCZ019_'), minLength: 0, maxLength: 63 }).map((s) => `E${s}`),
  fc.constantFrom('A', 'A'.repeat(64), 'POLICY_DENIED'),
);
const detailKey = fc.oneof(
  fc
    .tuple(fc.constantFrom(...'aAzZm'), fc.string({ unit: fc.constantFrom(...'aZ09_.-'), maxLength: 63 }))
    .map(([a, b]) => a + b),
  fc.constantFrom('a', 'A', 'B', 'aa', 'a.b', 'x'.repeat(64), 'constructor', 'toString'),
);
const detailValue = fc.oneof(fc.constant(null), fc.boolean(), safe(Number.MIN_SAFE_INTEGER), text(1024));
const details = nullable(fc.dictionary(detailKey, detailValue, { maxKeys: 32, size: 'small' }));
const policy = fc.record({
  sha256: hex64,
  decision: fc.constantFrom('allow', 'deny', 'require_approval', 'fault'),
  gas: safe(0),
});
const policies = fc.oneof(
  { weight: 8, arbitrary: fc.array(policy, { maxLength: 4 }) },
  { weight: 1, arbitrary: fc.array(policy, { minLength: 64, maxLength: 64 }) },
);

const valid = fc.record({
  v: fc.constant(1),
  time,
  node: text(128, 1),
  requestId: text(128, 1),
  principal: nullable(text(256, 1)),
  operation: text(128, 1),
  key: nullable(text(256, 1)),
  keyVersion: nullable(int(0, 2 ** 31 - 1)),
  policies,
  decision: fc.constantFrom('allow', 'deny', 'require_approval', 'none'),
  reason: nullable(text(1024)),
  approvalId: nullable(text(128, 1)),
  inputDigest: nullable(hex64),
  status: int(100, 599),
  code: nullable(code),
  sizes: fc.record({ in: safe(0), out: safe(0) }),
  details,
});

/** One field made invalid (a value validateRecord refuses), for the records that are not valid. */
const broken: Array<[string, fc.Arbitrary<unknown>]> = [
  ['v', fc.constantFrom(0, 2, '1', null)],
  ['time', fc.constantFrom('2026-02-29T00:00:00.000Z', '2026-01-01T24:00:00.000Z', '2026-01-01T00:00:00Z', '')],
  ['node', fc.constantFrom('', 'x'.repeat(129), 'é'.repeat(65), null)],
  ['principal', fc.constantFrom('', 'é'.repeat(129))],
  ['key', fc.constantFrom('', 'x'.repeat(257))],
  ['keyVersion', fc.constantFrom(-1, 2 ** 31, 1.5, '3')],
  ['policies', fc.array(policy, { minLength: 65, maxLength: 65 })],
  [
    'policies',
    fc.constantFrom(
      [{ sha256: 'A'.repeat(64), decision: 'allow', gas: 1 }],
      [{ sha256: 'a'.repeat(64), decision: 'none', gas: 1 }],
      [{ sha256: 'a'.repeat(64), decision: 'deny', gas: -1 }],
      [null],
    ),
  ],
  ['decision', fc.constantFrom('fault', 'Allow', '')],
  ['reason', fc.constantFrom('x'.repeat(1025), 'é'.repeat(513))],
  ['inputDigest', fc.constantFrom('a'.repeat(63), 'A'.repeat(64), '')],
  ['status', fc.constantFrom(99, 600, 0)],
  ['code', fc.constantFrom('', 'a', '_A', 'A'.repeat(65), 'A-B')],
  ['sizes', fc.constantFrom({ in: -1, out: 0 }, { in: 0, out: 2 ** 53 }, { in: 0 }, { in: 0, out: 0, x: 1 })],
  [
    'details',
    fc.constantFrom(
      { '0a': 1 },
      { a: 2 ** 53 },
      { a: 'é'.repeat(513) },
      { ['x'.repeat(65)]: 1 },
      { a: [] },
      { a: 0.5 },
    ),
  ],
  ['details', fc.constant(Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, i])))],
];

/** Records, about four in five valid; the rest break one field (the encoder refuses those: `canonicalize` spells them). */
export const records = fc
  .tuple(
    valid,
    fc.oneof({ weight: 3, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.constantFrom(...broken.keys()) }),
  )
  .chain(([r, b]) =>
    b === null ? fc.constant(r) : broken[b]![1].map((bad) => ({ ...r, [broken[b]![0]]: bad })),
  ) as unknown as fc.Arbitrary<AuditRecord>;

/** A record's leaf: the encoder's, or RFC 8785 of the value when it is not a valid record. */
export function leafOf(r: AuditRecord): Uint8Array {
  try {
    return encodeRecord(r);
  } catch {
    return te.encode(canonicalize(r) ?? 'null');
  }
}

const at = (n: number) => fc.nat({ max: 1 << 16 }).map((x) => x % Math.max(1, n));

/** Byte strings to insert: JSON punctuation, whitespace, ill-formed UTF-8, a BOM, escapes that are not canonical. */
export const INSERTS: readonly Uint8Array[] = [
  ...[' ', '\n', '\t', ',', '"', '\\', '{', '}', '[', ']', ':', '0', '-', '.', 'e', 'null,'].map((x) => te.encode(x)),
  Uint8Array.of(0xed, 0xa0, 0x80), // a surrogate in UTF-8 (ill-formed)
  Uint8Array.of(0xc0, 0x80), // overlong NUL
  Uint8Array.of(0xe0, 0x80, 0x80),
  Uint8Array.of(0xf4, 0x90, 0x80, 0x80), // past U+10FFFF
  Uint8Array.of(0xc3), // truncated
  Uint8Array.of(0xef, 0xbb, 0xbf), // BOM
  te.encode('\\ud800'),
  te.encode('\\udfff'),
  te.encode('\\u0041'),
  te.encode('\\u000A'),
  te.encode('\\u000a'),
  te.encode('\\u001F'),
  te.encode('\\/'),
];

/**
 * The leaf spelled otherwise, every way a canonical-form or validity rule is about: key order,
 * whitespace, BOM, duplicate keys, numbers and escapes JSON.stringify would not write, bounds
 * (the entries that do not apply to a leaf leave it as it is).
 */
export function respellings(leaf: Uint8Array): Uint8Array[] {
  const s = new TextDecoder().decode(leaf);
  const textual = (from: string | RegExp, to: string) => te.encode(s.replace(from, to));
  let value: object;
  try {
    value = JSON.parse(s) as object;
  } catch {
    value = {};
  }
  return [
    te.encode(`\ufeff${s}`),
    te.encode(`${s}\n`),
    te.encode(` ${s}`),
    te.encode(JSON.stringify(JSON.parse(s), null, 1)),
    te.encode(JSON.stringify({ v: 1, ...value })),
    te.encode(JSON.stringify(Object.fromEntries(Object.entries(value).reverse()))),
    textual('{', '{"approvalId":null,'),
    textual('"v":1}', '"v":1,"v":1}'),
    textual('"sizes":{', '"sizes":{"in":0,'),
    textual(/"details":\{"/, '"details":{"a":1,"'),
    textual(/"details":\{("[^"]*":[^,}]*),("[^"]*":[^,}]*)/, '"details":{$2,$1'),
    textual(/"details":\{("[^"]*":[^,}]*)/, '"details":{$1,$1'),
    textual('"policies":[{', '"policies":[{"decision":"allow","gas":1,"sha256":"' + 'a'.repeat(64) + '"},{'),
    textual('"policies":[', '"policies":[null,'),
    textual('"v":1', '"v":1.0'),
    textual('"v":1', '"v":1e0'),
    textual('"v":1', '"v":01'),
    textual('"v":1', '"v":-1'),
    textual(/"status":(\d+)/, '"status":$1.0'),
    textual(/"status":(\d+)/, '"status":0$1'),
    textual(/"status":(\d+)/, '"status":-0'),
    textual(/"in":(\d+)/, '"in":-0'),
    textual(/"in":(\d+)/, '"in":9007199254740992'),
    textual(/"in":(\d+)/, '"in":9007199254740991'),
    textual(/"in":(\d+)/, '"in":99999999999999999'),
    textual(/"keyVersion":(\d+)/, '"keyVersion":2147483648'),
    textual(/"keyVersion":(\d+)/, '"keyVersion":2147483647'),
    textual(/"keyVersion":(\d+)/, '"keyVersion":null'),
    textual(/"details":null/, '"details":{}'),
    textual(/"details":null/, '"details":{"n":-0}'),
    textual(/"details":null/, '"details":{"n":-9007199254740991,"s":""}'),
    textual(/"details":null/, '"details":{"n":-9007199254740992}'),
    textual(/"details":null/, '"details":{"b":true,"f":false,"n":null}'),
    textual(/"details":null/, '"details":{"a":1,"a":1}'),
    textual(/"details":null/, '"details":{"b":1,"a":1}'),
    textual(/"details":null/, '"details":{"a":1,"ab":1}'),
    textual(/"details":null/, '"details":{"ab":1,"a":1}'),
    textual(/"details":null/, '"details":{"Z":1,"a":1}'),
    textual(/"details":null/, '"details":{"\\u0061":1}'),
    textual(/"details":null/, '"details":{"é":1}'),
    textual(/"node":"/, '"node":"\\u0061'),
    textual(/"node":"/, '"node":"\\u00e9'),
    textual(/"node":"/, '"node":"\\u001f'),
    textual(/"node":"/, '"node":"\\u001F'),
    textual(/"node":"/, '"node":"\\u0008'),
    textual(/"node":"/, '"node":"\\b'),
    textual(/"node":"/, '"node":"\\ud83d\\ude00'),
    textual(/"node":"/, '"node":"\\/'),
    textual(/"node":"[^"]*"/, '"node":""'),
    textual(/"reason":null/, '"reason":""'),
    textual(/"principal":null/, '"principal":""'),
    textual(/"code":null/, '"code":"A"'),
    textual(/"inputDigest":null/, `"inputDigest":"${'0'.repeat(64)}"`),
    textual(/"time":"[^"]*"/, '"time":"2026-02-30T00:00:00.000Z"'),
    textual(/"time":"[^"]*"/, '"time":"2026-02-28T00:00:00.000Z"'),
    textual(/"time":"[^"]*"/, '"time":"2026-02-28T00:00:00Z"'),
    textual(/"time":"2/, '"time":"\\u0032'),
    textual(/"decision":"(\w+)"/, '"decision":"fault"'),
    textual(/"decision":"(\w+)"/, '"decision":"none"'),
  ];
}

/** `leaf` with `del` bytes at `i` replaced by `ins`. */
export const splice = (leaf: Uint8Array, i: number, del: number, ins: Uint8Array): Uint8Array =>
  Uint8Array.from([...leaf.subarray(0, i), ...ins, ...leaf.subarray(i + del)]);

/** One mutation of a leaf's bytes. */
export function mutated(leaf: Uint8Array): fc.Arbitrary<Uint8Array> {
  const n = leaf.length;
  const insertable = fc.oneof(fc.uint8Array({ minLength: 1, maxLength: 3 }), fc.constantFrom(...INSERTS));
  return fc.oneof(
    // Byte flips, insertions, deletions, duplicated ranges, overwrites.
    fc.tuple(at(n), fc.integer({ min: 1, max: 255 })).map(([i, x]) => splice(leaf, i, 1, Uint8Array.of(leaf[i]! ^ x))),
    fc.tuple(at(n + 1), insertable).map(([i, ins]) => splice(leaf, i, 0, ins)),
    fc.tuple(at(n), fc.integer({ min: 1, max: 8 })).map(([i, d]) => splice(leaf, i, d, new Uint8Array(0))),
    fc
      .tuple(at(n), at(n), fc.integer({ min: 1, max: 40 }))
      .map(([i, j, d]) => splice(leaf, i, 0, leaf.subarray(j, j + d))),
    fc.tuple(at(n), insertable).map(([i, ins]) => splice(leaf, i, ins.length, ins)),
    fc.constantFrom(...respellings(leaf)),
  );
}

/** Valid-looking leaves and mutations of them, about half and half. */
export const leaves = records.chain((r) => {
  const leaf = leafOf(r);
  return fc.oneof(fc.constant(leaf), mutated(leaf));
});

/** The reference's answer: decodeRecord accepts the leaf. */
export function referenceAccepts(leaf: Uint8Array): boolean {
  try {
    decodeRecord(leaf);
    return true;
  } catch (err) {
    if (!isKeywardError(err)) throw err;
    return false;
  }
}

/**
 * The scanner's answer on the leaf in three placements, which must agree: a Uint8Array of its own,
 * and a Buffer (latin1Slice) holding it after one byte and before stale bytes, as the verifier's
 * scratch buffer does.
 */
export function scannerAccepts(leaf: Uint8Array, junk: Uint8Array): boolean {
  const own = isCanonicalRecordLeaf(leaf);
  const buf = Buffer.concat([Uint8Array.of(0), leaf, junk]);
  const inScratch = isCanonicalRecordLeaf(buf, 1, 1 + leaf.length);
  if (own !== inScratch) throw new Error(`scanner: ${own} alone, ${inScratch} in a buffer with junk after it`);
  return own;
}

/**
 * The differential property: on `numRuns` generated leaves (seeded), the scanner and the reference
 * give the same answer. Returns how many both accepted (a caller checks the mix).
 */
export function scannerAgrees(numRuns: number, seed: number): number {
  let accepted = 0;
  fc.assert(
    fc.property(leaves, fc.uint8Array({ maxLength: 8 }), (leaf, junk) => {
      const ref = referenceAccepts(leaf);
      if (ref) accepted++;
      assert.equal(scannerAccepts(leaf, junk), ref, Buffer.from(leaf).toString('latin1'));
    }),
    { numRuns, seed },
  );
  return accepted;
}
