/**
 * Generates the AssemblyScript half of the ABI (`policies/sdk/abi.ts`) from the schema and the
 * host's constants, so the decoder inside every policy is written from the same field list as the
 * TypeScript encoder. `scripts/gen-policy-abi.mjs` writes the file; a test fails when the committed
 * file differs from `generateSdkAbi()`.
 *
 * The generated decoder validates the whole input once per evaluation (header, every length and
 * count against the schema's bounds, tags, ranges, no trailing bytes) and records where each field
 * is — pointer and length for strings, pointer to the first entry and count for sets and maps — in
 * module globals that the SDK's `Request` reads. Nothing is copied or allocated.
 * @module
 */
import {
  ABI_VERSION,
  DecisionCode,
  EvaluateError,
  MAX_GROUP_CHARS,
  MAX_REASON_CHARS,
  MAX_REQUIRED_APPROVALS,
  OUTPUT_CAPACITY,
  OUTPUT_HEADER_BYTES,
} from '../sandbox/abi.js';
import {
  INPUT_FORMAT_VERSION,
  INPUT_HEADER_BYTES,
  INPUT_MAGIC,
  MAX_INPUT_BYTES,
  POLICY_INPUT_FIELDS,
} from '../sandbox/schema.js';
import type { Field } from '../sandbox/schema.js';

/** The names the generated globals of a field get, e.g. key.name → keyNamePtr / keyNameLen. */
export function globalBase(path: readonly string[]): string {
  return path.map((p, i) => (i === 0 ? p : p[0]!.toUpperCase() + p.slice(1))).join('');
}

function hex(n: number): string {
  return '0x' + n.toString(16).padStart(8, '0');
}

class Out {
  lines: string[] = [];
  depth = 0;
  line(s = ''): void {
    this.lines.push(s === '' ? '' : '  '.repeat(this.depth) + s);
  }
}

function declareGlobals(o: Out, fields: readonly Field[], path: string[]): void {
  for (const f of fields) {
    const g = globalBase([...path, f.name]);
    switch (f.kind) {
      case 'string':
        o.line(`/** ${f.doc}: UTF-8 bytes at ${g}Ptr, ${g}Len of them (≤ ${f.maxBytes}). */`);
        o.line(`export let ${g}Ptr: usize = 0;`);
        o.line(`export let ${g}Len: i32 = 0;`);
        break;
      case 'set':
        o.line(
          `/** ${f.doc}: ${g}Count strings (≤ ${f.maxEntries}, each ≤ ${f.maxBytes} bytes) from ${g}Ptr, sorted by bytes. */`,
        );
        o.line(`export let ${g}Ptr: usize = 0;`);
        o.line(`export let ${g}Count: i32 = 0;`);
        break;
      case 'map':
        o.line(
          `/** ${f.doc}: ${g}Count key/value string pairs (≤ ${f.maxEntries}) from ${g}Ptr, sorted by key bytes. */`,
        );
        o.line(`export let ${g}Ptr: usize = 0;`);
        o.line(`export let ${g}Count: i32 = 0;`);
        break;
      case 'i32':
        o.line(`/** ${f.doc} (${f.min}..${f.max}). */`);
        o.line(`export let ${g}Value: i32 = 0;`);
        break;
      case 'i64':
        o.line(`/** ${f.doc} (≥ ${f.min}). */`);
        o.line(`export let ${g}Value: i64 = 0;`);
        break;
      case 'optional':
        o.line(`/** ${f.doc}: whether present. */`);
        o.line(`export let ${g}Present: bool = false;`);
        declareGlobals(o, f.fields, [...path, f.name]);
        break;
    }
  }
}

function clearGlobals(o: Out, fields: readonly Field[], path: string[]): void {
  for (const f of fields) {
    const g = globalBase([...path, f.name]);
    switch (f.kind) {
      case 'string':
        o.line(`${g}Ptr = 0;`);
        o.line(`${g}Len = 0;`);
        break;
      case 'set':
      case 'map':
        o.line(`${g}Ptr = 0;`);
        o.line(`${g}Count = 0;`);
        break;
      case 'i32':
      case 'i64':
        o.line(`${g}Value = 0;`);
        break;
      case 'optional':
        o.line(`${g}Present = false;`);
        clearGlobals(o, f.fields, [...path, f.name]);
        break;
    }
  }
}

function decodeFields(o: Out, fields: readonly Field[], path: string[]): void {
  for (const f of fields) {
    const g = globalBase([...path, f.name]);
    const where = [...path, f.name].join('.');
    switch (f.kind) {
      case 'string':
        o.line(`// ${where}: string ≤ ${f.maxBytes} bytes`);
        o.line(`q = strEnd(p, end, ${f.maxBytes});`);
        o.line('if (q == 0) return ERR_STRING;');
        o.line(`${g}Ptr = p + 4;`);
        o.line(`${g}Len = <i32>(q - p - 4);`);
        o.line('p = q;');
        break;
      case 'set':
      case 'map': {
        const maxKey = f.kind === 'set' ? f.maxBytes : f.maxKeyBytes;
        o.line(
          `// ${where}: ${f.kind === 'set' ? `set of strings ≤ ${f.maxBytes} bytes` : `map, keys ≤ ${f.maxKeyBytes} bytes, values ≤ ${f.maxValueBytes} bytes`}, ≤ ${f.maxEntries} entries`,
        );
        o.line('if (p + 4 > end) return ERR_TRUNCATED;');
        o.line('n = load<u32>(p);');
        o.line(`if (n > ${f.maxEntries}) return ERR_COUNT;`);
        o.line('p += 4;');
        o.line(`${g}Ptr = p;`);
        o.line(`${g}Count = <i32>n;`);
        o.line('for (let i: u32 = 0; i < n; i++) {');
        o.depth++;
        o.line(`p = strEnd(p, end, ${maxKey});`);
        o.line('if (p == 0) return ERR_STRING;');
        if (f.kind === 'map') {
          o.line(`p = strEnd(p, end, ${f.maxValueBytes});`);
          o.line('if (p == 0) return ERR_STRING;');
        }
        o.depth--;
        o.line('}');
        break;
      }
      case 'i32':
        o.line(`// ${where}: i32 in ${f.min}..${f.max}`);
        o.line('if (p + 4 > end) return ERR_TRUNCATED;');
        o.line(`${g}Value = load<i32>(p);`);
        o.line('p += 4;');
        o.line(`if (${g}Value < ${f.min}${f.max < 0x7fffffff ? ` || ${g}Value > ${f.max}` : ''}) return ERR_RANGE;`);
        break;
      case 'i64':
        o.line(`// ${where}: i64 ≥ ${f.min}`);
        o.line('if (p + 8 > end) return ERR_TRUNCATED;');
        o.line(`${g}Value = load<i64>(p);`);
        o.line('p += 8;');
        o.line(`if (${g}Value < ${f.min}) return ERR_RANGE;`);
        break;
      case 'optional':
        o.line(`// ${where}: optional record (u8 tag)`);
        o.line('if (p + 1 > end) return ERR_TRUNCATED;');
        o.line('n = <u32>load<u8>(p);');
        o.line('p += 1;');
        o.line('if (n > 1) return ERR_TAG;');
        o.line(`${g}Present = n == 1;`);
        o.line(`if (${g}Present) {`);
        o.depth++;
        decodeFields(o, f.fields, [...path, f.name]);
        o.depth--;
        o.line('} else {');
        o.depth++;
        clearGlobals(o, f.fields, [...path, f.name]);
        o.depth--;
        o.line('}');
        break;
    }
  }
}

/** The source text of `policies/sdk/abi.ts`. */
export function generateSdkAbi(): string {
  const o = new Out();
  o.line(
    '// @generated by scripts/gen-policy-abi.mjs from engine/policy/sandbox/schema.ts and engine/policy/sandbox/abi.ts.',
  );
  o.line('// Do not edit: change the schema and regenerate (a test compares this file with the generator).');
  o.line('//');
  o.line('// Policy ABI v1, module side: constants shared with the host and the decoder of the canonical');
  o.line('// PolicyInput encoding (layout documented in engine/policy/sandbox/abi.ts).');
  o.line();
  o.line(`export const ABI_VERSION: i32 = ${ABI_VERSION};`);
  o.line(`export const INPUT_MAGIC: u32 = ${hex(INPUT_MAGIC)}; // "KWPI"`);
  o.line(`export const INPUT_FORMAT_VERSION: i32 = ${INPUT_FORMAT_VERSION};`);
  o.line(`export const INPUT_HEADER_BYTES: i32 = ${INPUT_HEADER_BYTES};`);
  o.line(`export const MAX_INPUT_BYTES: i32 = ${MAX_INPUT_BYTES};`);
  o.line(`export const OUTPUT_HEADER_BYTES: i32 = ${OUTPUT_HEADER_BYTES};`);
  o.line(`export const OUTPUT_CAPACITY: i32 = ${OUTPUT_CAPACITY};`);
  o.line(`export const MAX_GROUP_CHARS: i32 = ${MAX_GROUP_CHARS};`);
  o.line(`export const MAX_REASON_CHARS: i32 = ${MAX_REASON_CHARS};`);
  o.line(`export const MAX_REQUIRED_APPROVALS: i32 = ${MAX_REQUIRED_APPROVALS};`);
  o.line();
  o.line(`export const DECISION_ALLOW: i32 = ${DecisionCode.allow};`);
  o.line(`export const DECISION_DENY: i32 = ${DecisionCode.deny};`);
  o.line(`export const DECISION_REQUIRE_APPROVAL: i32 = ${DecisionCode.require_approval};`);
  o.line();
  for (const [name, code] of Object.entries(EvaluateError)) o.line(`export const ERR_${name}: i32 = ${code};`);
  o.line();
  declareGlobals(o, POLICY_INPUT_FIELDS, []);
  o.line();
  o.line('/** The end of the string at `p` (u32 length ‖ bytes), or 0 if it passes `end` or `maxBytes`. */');
  o.line('// @ts-ignore: decorator');
  o.line('@inline');
  o.line('export function strEnd(p: usize, end: usize, maxBytes: u32): usize {');
  o.depth++;
  o.line('if (p + 4 > end) return 0;');
  o.line('const n = load<u32>(p);');
  o.line('if (n > maxBytes || <usize>n > end - p - 4) return 0;');
  o.line('return p + 4 + <usize>n;');
  o.depth--;
  o.line('}');
  o.line();
  o.line(
    '/** Validates the input at `base` (`len` bytes) and records where every field is. Returns 0 or an ERR_ code. */',
  );
  o.line('export function decodeInput(base: usize, len: i32): i32 {');
  o.depth++;
  o.line('if (len < INPUT_HEADER_BYTES || len > MAX_INPUT_BYTES) return ERR_LENGTH;');
  o.line('if (load<u32>(base) != INPUT_MAGIC) return ERR_MAGIC;');
  o.line('if (<i32>load<u16>(base, 4) != INPUT_FORMAT_VERSION || load<u16>(base, 6) != 0) return ERR_VERSION;');
  o.line('if (load<u32>(base, 8) != <u32>len) return ERR_LENGTH;');
  o.line('const end = base + <usize>len;');
  o.line('let p = base + <usize>INPUT_HEADER_BYTES;');
  o.line('let q: usize = 0;');
  o.line('let n: u32 = 0;');
  decodeFields(o, POLICY_INPUT_FIELDS, []);
  o.line('if (p != end) return ERR_TRAILING;');
  o.line('return 0;');
  o.depth--;
  o.line('}');
  return o.lines.join('\n') + '\n';
}
