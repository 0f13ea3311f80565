/**
 * fast-check's "binary" string unit (any code point but a surrogate half), generating and shrinking
 * exactly as `fc.string({ unit: 'binary' })`'s own unit does: the same index over the same two
 * ranges (fast-check 4's stringUnit('binary', 'full'), a mapToConstant over nat), mapped to the same
 * characters. Only its unmapper differs: fast-check's looks a character up in a map of all 1,112,064
 * it builds first, the first time a string arbitrary of the unit is made (fast-check tokenizes its
 * dangerous strings, "__proto__" and the like, with it), which cost about 2 s of CPU in each test
 * process that made one; this one computes the index. `fc.string({ unit: binaryUnit, … })` is then
 * `fc.string({ unit: 'binary', … })`.
 */
import fc from 'fast-check';

/** Code points below the surrogates, then those above them (U+E000 to U+10FFFF). */
const LOW = 0xd800;
const GAP = 0x800;

export const binaryUnit: fc.Arbitrary<string> = fc.nat({ max: 0x10ffff - GAP }).map(
  (i) => String.fromCodePoint(i < LOW ? i : i + GAP),
  (value) => {
    if (typeof value === 'string') {
      const cp = value.codePointAt(0);
      if (cp !== undefined && (cp < LOW || cp >= LOW + GAP) && String.fromCodePoint(cp) === value)
        return cp < LOW ? cp : cp - GAP;
    }
    throw new Error('not a character of the "binary" unit');
  },
);
