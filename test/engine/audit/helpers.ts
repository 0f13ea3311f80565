// Test-local helpers for the audit math: an in-memory log stored the way the database stores it
// (perfect nodes only), sample records, fixed signing keys, and a bundle built end to end.
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EMPTY_ROOT, appendLeaves, consistencyProof, rangeProof } from '../../../engine/audit/math/merkle.js';
import type { GetNode } from '../../../engine/audit/math/merkle.js';
import { encodeRecord } from '../../../engine/audit/math/record.js';
import type { AuditRecord, PolicyVerdict } from '../../../engine/audit/math/record.js';
import {
  checkpointBody,
  ed25519Signer,
  mlDsa44CosignerSigner,
  parseVerifierKey,
  signNote,
  verifyNote,
} from '../../../engine/audit/math/note.js';
import type { NoteSigner, VerifierKey } from '../../../engine/audit/math/note.js';
import { buildBundle } from '../../../engine/audit/math/bundle.js';
import type { CheckpointSigner } from '../../../engine/audit/log/integrator.js';
import type { AttestationBundle } from '../../../engine/audit/math/bundle.js';

export const VECTORS = fileURLToPath(new URL('./vectors/', import.meta.url));

/** Every JSON file under vectors/transparency-dev/<kind>/, with its path relative to that folder. */
export function transparencyDevCases(
  kind: 'inclusion' | 'consistency',
): Array<{ file: string; json: Record<string, unknown> }> {
  const root = join(VECTORS, 'transparency-dev', kind);
  const walk = (dir: string): string[] =>
    readdirSync(dir)
      .sort()
      .flatMap((n) =>
        statSync(join(dir, n)).isDirectory() ? walk(join(dir, n)) : n.endsWith('.json') ? [join(dir, n)] : [],
      );
  return walk(root).map((file) => ({
    file: file.slice(root.length + 1),
    json: JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>,
  }));
}

// The hashes a test expects (digests, leaf hashes, roots) are computed here with node:crypto: its
// native SHA-256 is many times faster than @noble's pure-JS one, and it is independent of the
// product's hashing (engine/audit/math/merkle.ts), which that code's own tests call directly.
const LEAF_PREFIX = Uint8Array.of(0x00);
const NODE_PREFIX = Uint8Array.of(0x01);

/** SHA-256 of `bytes`, in lowercase hex (a policy hash, an input digest). */
const sha256Hex = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** RFC 9162's leaf hash: SHA-256(0x00 ‖ leaf). */
export function refLeafHash(leaf: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(LEAF_PREFIX).update(leaf).digest());
}

/** MTH straight from RFC 9162 §2.1.1's recursive definition, over leaf hashes (the reference root). */
export function mth(hashes: readonly Uint8Array[]): Uint8Array {
  if (hashes.length === 0) return new Uint8Array(createHash('sha256').digest());
  if (hashes.length === 1) return hashes[0]!;
  let k = 1;
  while (k * 2 < hashes.length) k *= 2;
  const [left, right] = [mth(hashes.slice(0, k)), mth(hashes.slice(k))];
  return new Uint8Array(createHash('sha256').update(NODE_PREFIX).update(left).update(right).digest());
}

/**
 * The chain values of records whose leaves are `leaves`, following the chain value `prev`,
 * concatenated: SHA-256(prev ‖ leaf hash) per record (as another node, or an edit of the database,
 * would write them).
 */
export function chainValues(prev: Uint8Array, leaves: readonly string[]): Buffer {
  const out = Buffer.alloc(32 * leaves.length);
  leaves.forEach((leaf, k) => {
    prev = createHash('sha256')
      .update(prev)
      .update(refLeafHash(Buffer.from(leaf, 'utf8')))
      .digest();
    out.set(prev, 32 * k);
  });
  return out;
}

export const b64 = (s: unknown): Uint8Array => new Uint8Array(Buffer.from(String(s), 'base64'));
export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
export const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

/**
 * A log kept like the database keeps it: every perfect node (level, index) in a map, plus the
 * frontier. `getNode` throws for a node that is not (yet) a stored perfect node, so a proof that
 * needed an imperfect node would fail loudly.
 */
export class MemoryLog {
  readonly leaves: Uint8Array[] = [];
  readonly nodes = new Map<string, Uint8Array>();
  frontier: Uint8Array[] = [];
  size = 0;
  root: Uint8Array = EMPTY_ROOT;
  /** Node reads served, for tests that count them. */
  reads = 0;

  append(leaves: readonly Uint8Array[]): this {
    const r = appendLeaves(this.frontier, this.size, leaves.map(refLeafHash));
    for (const n of r.newNodes) {
      const key = `${n.level}:${n.index}`;
      if (this.nodes.has(key)) throw new Error(`node ${key} produced twice`);
      this.nodes.set(key, n.hash);
    }
    this.leaves.push(...leaves);
    this.frontier = r.frontier;
    this.size = r.size;
    this.root = r.root;
    return this;
  }

  readonly getNode: GetNode = (level, index) => {
    const h = this.nodes.get(`${level}:${index}`);
    if (!h) throw new Error(`node (${level}, ${index}) is not stored`);
    this.reads++;
    return h;
  };

  /** The same reads, answered asynchronously (as a database would). */
  readonly getNodeAsync: GetNode = async (level, index) => {
    await Promise.resolve();
    return this.getNode(level, index);
  };
}

/** A log of `n` distinct leaves (not records: just bytes). */
export function bytesLog(n: number): MemoryLog {
  return new MemoryLog().append(Array.from({ length: n }, (_, i) => enc(`leaf ${i}`)));
}

// ---------------------------------------------------------------------------------------------
// Records, policies and a fake deterministic policy engine for replay.
// ---------------------------------------------------------------------------------------------

/** Two fake policy modules (not real wasm: replay is injected, so any bytes do). */
export const POLICY_WASM = {
  alpha: enc('\0asm fake policy alpha'),
  beta: enc('\0asm fake policy beta: a longer module'),
} as const;
export const POLICY_HASH = { alpha: sha256Hex(POLICY_WASM.alpha), beta: sha256Hex(POLICY_WASM.beta) } as const;

/** The fake engine: the decision and gas are a pure function of (wasm, input), like the real one. */
export function fakeEvaluate(wasm: Uint8Array, input: Uint8Array): { decision: PolicyVerdict; gas: number } {
  const decision: PolicyVerdict = input[input.length - 1]! % 3 === 0 ? 'deny' : 'allow';
  return { decision, gas: 100 + wasm.length * 3 + input.length };
}

export function policyInputOf(i: number): Uint8Array {
  return enc(`KWPI input principal=alice operation=encrypt #${i}`);
}

/** A valid record for request `i`, deciding with both policies on input `policyInputOf(i)`. */
export function sampleRecord(i: number, over: Partial<AuditRecord> = {}): AuditRecord {
  const input = policyInputOf(i);
  const a = fakeEvaluate(POLICY_WASM.alpha, input);
  const b = fakeEvaluate(POLICY_WASM.beta, input);
  const denied = a.decision === 'deny' || b.decision === 'deny';
  return {
    v: 1,
    time: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
    node: 'node-1',
    requestId: `req-${String(i).padStart(6, '0')}`,
    principal: i % 4 === 0 ? 'zoë — ☃ 😀' : 'alice',
    operation: 'encrypt',
    key: 'payments',
    keyVersion: 3,
    policies: [
      { sha256: POLICY_HASH.alpha, decision: a.decision, gas: a.gas },
      { sha256: POLICY_HASH.beta, decision: b.decision, gas: b.gas },
    ],
    decision: denied ? 'deny' : 'allow',
    reason: denied ? 'denied by policy' : null,
    approvalId: null,
    inputDigest: sha256Hex(input),
    status: denied ? 403 : 200,
    code: denied ? 'POLICY_DENIED' : null,
    sizes: { in: 512 + i, out: denied ? 0 : 545 + i },
    details: i % 5 === 0 ? { attempt: i, retried: false, note: 'naïve' } : null,
    ...over,
  };
}

// ---------------------------------------------------------------------------------------------
// Keys and bundles.
// ---------------------------------------------------------------------------------------------

export const ORIGIN = 'keyward.test/audit';
export const ED25519_SEED = new Uint8Array(32).fill(0x11);
export const MLDSA_SEED = new Uint8Array(32).fill(0x22);

export function logSigners(): { ed: NoteSigner; pq: NoteSigner; trusted: VerifierKey[] } {
  const ed = ed25519Signer(ORIGIN, ED25519_SEED);
  const pq = mlDsa44CosignerSigner(`${ORIGIN}/mldsa`, MLDSA_SEED, { deterministic: true });
  return { ed, pq, trusted: [parseVerifierKey(ed.verifierKey), parseVerifierKey(pq.verifierKey)] };
}

/**
 * The integrator's checkpoint signer over `logSigners()` (both keys, the time given to `sign`), with
 * what tests check its notes with: the trusted keys, their verifier key texts, and `verify`.
 */
export function testCheckpointSigner(): CheckpointSigner & {
  trusted: VerifierKey[];
  keys: { ed25519: string; mlDsa44: string };
  verify(note: string): { size: number; root: Uint8Array };
} {
  const { ed, pq, trusted } = logSigners();
  return {
    origin: ORIGIN,
    trusted,
    keys: { ed25519: ed.verifierKey, mlDsa44: pq.verifierKey },
    sign: (size, root, now) =>
      signNote(checkpointBody({ origin: ORIGIN, size, root }), [ed, pq], { time: Math.floor(now.getTime() / 1000) }),
    verify: (note) => verifyNote(note, trusted),
  };
}

/** Signs the checkpoint of `log` with both keys at `time` (POSIX seconds). */
export function signCheckpoint(log: MemoryLog, signers: readonly NoteSigner[], time = 1_767_225_600): string {
  return signNote(checkpointBody({ origin: ORIGIN, size: log.size, root: log.root }), signers, { time });
}

export interface BuiltBundle {
  bundle: AttestationBundle;
  trusted: VerifierKey[];
  log: MemoryLog;
  /** Root of the log at `consistencyFrom`, the "earlier checkpoint". */
  earlierRoot: Uint8Array;
}

/**
 * A log of `size` records, and a bundle of [from, to) with a consistency proof from
 * `consistencyFrom`, both policies' wasm and every input.
 */
export async function makeBundle(
  opts: { size?: number; from?: number; to?: number; consistencyFrom?: number } = {},
): Promise<BuiltBundle> {
  const { size = 20, from = 7, to = 12, consistencyFrom = 5 } = opts;
  const records = Array.from({ length: size }, (_, i) => sampleRecord(i));
  const earlier = new MemoryLog().append(records.slice(0, consistencyFrom).map(encodeRecord));
  const log = new MemoryLog().append(records.map(encodeRecord));
  const { ed, pq, trusted } = logSigners();
  const inputs: Record<string, Uint8Array> = {};
  for (let i = from; i < to; i++) inputs[records[i]!.inputDigest!] = policyInputOf(i);
  const bundle = buildBundle({
    origin: ORIGIN,
    from,
    to,
    treeSize: log.size,
    leaves: log.leaves.slice(from, to),
    checkpoint: signCheckpoint(log, [ed, pq]),
    rangeProof: await rangeProof(from, to, log.size, log.getNodeAsync),
    consistency: {
      fromSize: consistencyFrom,
      fromRoot: earlier.root,
      proof: await consistencyProof(consistencyFrom, log.size, log.getNode),
    },
    policies: {
      [POLICY_HASH.alpha]: { name: 'pol-alpha', version: '1.0.0', wasm: POLICY_WASM.alpha },
      [POLICY_HASH.beta]: { name: 'pol-beta', wasm: POLICY_WASM.beta },
      ['f'.repeat(64)]: { name: 'unreferenced' },
    },
    inputs,
    keys: [ed.verifierKey, pq.verifierKey],
  });
  return { bundle, trusted, log, earlierRoot: earlier.root };
}
