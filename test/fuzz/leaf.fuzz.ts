/**
 * The leaf scanner against the reference decoder, long (issue 14): isCanonicalRecordLeaf
 * (engine/audit/math/record.ts), which lets the log verifier skip decodeLeafText, must give
 * decodeRecord's accept/refuse answer on every leaf: generated records of every field variant, and
 * mutations of them (byte flips, insertions, deletions, key order, whitespace, non-canonical escapes
 * and numbers, duplicate keys, BOM, lone surrogates; test/engine/audit/leaf-cases.ts).
 * test/engine/audit/math/record-scan.test.ts runs the same property briefly in `npm test`.
 *
 * `npm run test:fuzz` runs it with a fixed seed; FUZZ_SEED and FUZZ_RUNS choose another seed or a
 * longer run. No database: the driver does not matter.
 */
import { describe, it } from 'node:test';
import { scannerAgrees } from '../engine/audit/leaf-cases.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 20_000);
const SEED = Number(process.env.FUZZ_SEED ?? 20261405);

describe('leaf scanner fuzz', () => {
  it(`gives decodeRecord's answer on ${RUNS} leaves`, () => {
    const accepted = scannerAgrees(RUNS, SEED);
    console.log(`leaf fuzz: ${RUNS} leaves, ${accepted} accepted by both, seed ${SEED}`);
  });
});
