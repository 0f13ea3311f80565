/**
 * The attestation bundle (docs/audit-bundle.md): one JSON document that lets anyone
 * holding the log's pinned verifier keys check, offline, that a run of audit records is exactly
 * leaves [from, to) of the log whose signed checkpoint it carries, and optionally re-run every
 * recorded policy decision.
 *
 *   {
 *     "format": "keyward.audit.attestation/v1",
 *     "origin": "keyward.example/audit",
 *     "range": {"from": 1037, "to": 1042},           half-open: leaves from … to−1
 *     "treeSize": 1042,                              = the checkpoint's size (≥ to)
 *     "records": ["{\"approvalId\":null,…}", …],     the exact leaf strings, in order
 *     "checkpoint": "keyward.example/audit\n1042\n…\n\n— …\n",   the signed note, verbatim
 *     "rangeProof": {"left": [b64, …], "right": [b64, …]},
 *     "consistency": {"fromSize": 900, "fromRoot": b64, "proof": [b64, …]},        optional
 *     "policies": {"<sha256 hex>": {"name": "default-rbac", "version": "1", "wasm": b64}},
 *     "inputs": {"<sha256 hex>": b64},                                            optional
 *     "keys": ["keyward.example/audit+1a2b3c4d+A…", …]                             optional
 *   }
 *
 * What is authenticated: records, range, tree size and origin (through the proof to the signed
 * root), consistency (to the signed root), wasm and inputs (through their hashes, which the records
 * hold). What is not: a policy's `name` and `version` are labels for people, and `keys` is a
 * convenience copy; neither is ever trusted. Verification takes the pinned keys from the caller.
 * @module
 */
import { z } from 'zod';
import { fromBase64, fromUtf8, toBase64, toHex, utf8 } from '../../../lib/bytes.js';
import type { KeywardError } from '../../../lib/errors.js';
import { isKeywardError } from '../../../lib/errors.js';
import { auditError } from './errors.js';
import type { AuditErrorCode } from './errors.js';
import { HASH_LEN, leafHash, rootFromRange, verifyConsistency } from './merkle.js';
import type { RangeProof } from './merkle.js';
import { MAX_NOTE_CHARS, parseCheckpoint, parseNote, parseVerifierKey, verifyNote } from './note.js';
import type { VerifiedSignature, VerifierKey } from './note.js';
import { decodeRecord, sha256Hex } from './record.js';
import type { AuditRecord, PolicyVerdict } from './record.js';
import { problemsOf, wordProblems } from '../../../lib/json.js';

/** The value of the bundle's `format` field. */
export const BUNDLE_FORMAT = 'keyward.audit.attestation/v1';
/** Most records one bundle may carry. */
export const MAX_BUNDLE_RECORDS = 1_000_000;
/** Most verifier keys in the convenience `keys` list. */
export const MAX_BUNDLE_KEYS = 32;

/** A policy as the bundle lists it. `name` and `version` are unauthenticated labels. */
export interface BundlePolicy {
  name: string;
  version?: string;
  /** base64 of the policy's .wasm; its SHA-256 must be the map key. */
  wasm?: string;
}

/** The JSON shape of an attestation bundle (see the module comment and docs/audit-bundle.md). */
export interface AttestationBundle {
  format: typeof BUNDLE_FORMAT;
  origin: string;
  range: { from: number; to: number };
  treeSize: number;
  records: string[];
  checkpoint: string;
  rangeProof: { left: string[]; right: string[] };
  consistency?: { fromSize: number; fromRoot: string; proof: string[] };
  policies: Record<string, BundlePolicy>;
  inputs?: Record<string, string>;
  keys?: string[];
}

// ---------------------------------------------------------------------------------------------
// Structure.
// ---------------------------------------------------------------------------------------------

const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const HEX64_RE = /^[0-9a-f]{64}$/;
const b64 = z.string().regex(BASE64_RE, { error: 'expected standard padded base64' });
const hash64 = z
  .string()
  .length(44, { error: 'expected the base64 of a 32-byte hash (44 characters)' })
  .regex(BASE64_RE, { error: 'expected standard padded base64' });
const hex64 = z.string().regex(HEX64_RE, { error: 'expected a SHA-256 as 64 lowercase hex digits' });
const count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

/** The bundle's shape (also the documented response of POST /v1/audit/export, server/responses.ts). */
export const AttestationBundleSchema = z.strictObject({
  format: z.literal(BUNDLE_FORMAT),
  origin: z.string().min(1).max(255),
  range: z.strictObject({ from: count, to: count }),
  treeSize: count,
  records: z.array(z.string()).min(1).max(MAX_BUNDLE_RECORDS),
  checkpoint: z.string().min(1).max(MAX_NOTE_CHARS),
  rangeProof: z.strictObject({ left: z.array(hash64).max(64), right: z.array(hash64).max(128) }),
  consistency: z.strictObject({ fromSize: count, fromRoot: hash64, proof: z.array(hash64).max(128) }).optional(),
  policies: z.record(
    hex64,
    z.strictObject({
      name: z.string().regex(/^[A-Za-z][A-Za-z0-9_.-]{0,63}$/, {
        error: 'expected a policy name of 1-64 characters [A-Za-z0-9_.-] starting with a letter',
      }),
      version: z
        .string()
        .regex(/^[\x21-\x7e]{1,64}$/, { error: 'expected 1-64 printable ASCII characters' })
        .optional(),
      wasm: b64.optional(),
    }),
  ),
  inputs: z.record(hex64, b64).optional(),
  keys: z.array(z.string().max(4096)).max(MAX_BUNDLE_KEYS).optional(),
});

function bundleInvalid(message: string, details?: Record<string, unknown>): never {
  throw auditError('AUDIT_BUNDLE_INVALID', message, details ? { details } : undefined);
}

/** Re-throws a KeywardError from a step with `prefix` in front of its message, keeping its code. */
function within<T>(prefix: string, step: () => T): T {
  try {
    return step();
  } catch (err) {
    if (isKeywardError(err)) {
      const e = err as KeywardError<AuditErrorCode>;
      throw auditError(e.code, `${prefix}${e.message}`, { cause: err, details: { ...(e.details ?? {}) } });
    }
    throw err;
  }
}

/** Parses the input (JSON text, UTF-8 bytes or a parsed value) and checks the bundle's shape. */
function parseStructure(input: unknown): AttestationBundle {
  let value = input;
  if (input instanceof Uint8Array) {
    const text = fromUtf8(input);
    if (text === undefined) bundleInvalid('bundle: is not valid UTF-8');
    value = text;
  }
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value);
    } catch (cause) {
      throw auditError('AUDIT_BUNDLE_INVALID', `bundle: is not JSON (${(cause as Error).message})`, { cause });
    }
  }
  const res = AttestationBundleSchema.safeParse(value);
  if (!res.success) {
    const issues = problemsOf(res.error.issues, { schema: AttestationBundleSchema });
    bundleInvalid(`bundle: ${wordProblems(issues, 3)}`, { issues });
  }
  return res.data as AttestationBundle;
}

const LONE_SURROGATE_RE = /\p{Cs}/u;

// ---------------------------------------------------------------------------------------------
// Building.
// ---------------------------------------------------------------------------------------------

/** What {@link buildBundle} assembles a bundle from. */
export interface BundleParts {
  origin: string;
  /** First leaf index of the range. */
  from: number;
  /** One past the last leaf index of the range. */
  to: number;
  /** The checkpoint's tree size (≥ to). */
  treeSize: number;
  /** The exact leaf bytes of [from, to), in order. */
  leaves: readonly Uint8Array[];
  /** The signed checkpoint note at `treeSize`, verbatim. */
  checkpoint: string;
  /** `rangeProof(from, to, treeSize, getNode)`. */
  rangeProof: RangeProof;
  /** Optional proof that an earlier checkpoint (size, root) is a prefix of this one. */
  consistency?: { fromSize: number; fromRoot: Uint8Array; proof: readonly Uint8Array[] };
  /** Policies by SHA-256 hex; must cover every hash the records name (others are left out). */
  policies: Readonly<Record<string, { name: string; version?: string; wasm?: Uint8Array }>>;
  /** Policy input bytes by SHA-256 hex (only those the records name are kept). */
  inputs?: Readonly<Record<string, Uint8Array>>;
  /** The log's verifier key strings (a convenience copy; verifiers never trust them). */
  keys?: readonly string[];
}

/**
 * Assembles a bundle and checks it against itself as it goes: the leaves must be canonical records,
 * the checkpoint must be a well-formed note for `origin` at `treeSize` (its signatures are not
 * checked here: the builder holds no pinned keys), and the range proof must lead to its root.
 * Only the policies and inputs the records reference are included.
 * @throws {@link KeywardError} `AUDIT_BUNDLE_INVALID` (or the code of the failing part).
 */
export function buildBundle(parts: BundleParts): AttestationBundle {
  const { origin, from, to, treeSize, leaves } = parts;
  if (!Array.isArray(leaves)) throw new TypeError(`"leaves" expected an array of Uint8Array, got ${typeof leaves}`);
  if (leaves.length === 0) throw new RangeError('"leaves" expected at least one leaf');
  if (
    !Number.isSafeInteger(from) ||
    !Number.isSafeInteger(to) ||
    !Number.isSafeInteger(treeSize) ||
    from < 0 ||
    to !== from + leaves.length ||
    to > treeSize
  ) {
    throw new RangeError(
      `expected 0 ≤ from < to = from + leaves.length ≤ treeSize, got from=${from} to=${to} leaves=${leaves.length} treeSize=${treeSize}`,
    );
  }
  const records = leaves.map((leaf, i) => within(`record ${i} (index ${from + i}): `, () => decodeRecord(leaf)));
  const cp = within('checkpoint: ', () => parseCheckpoint(parseNote(parts.checkpoint).text));
  if (cp.origin !== origin) bundleInvalid(`checkpoint: origin "${cp.origin}" is not the bundle origin "${origin}"`);
  if (cp.size !== treeSize) bundleInvalid(`checkpoint: size ${cp.size} is not the bundle tree size ${treeSize}`);
  const root = rootFromRange(from, to, treeSize, leaves.map(leafHash), parts.rangeProof);
  if (toHex(root) !== toHex(cp.root))
    bundleInvalid(`range proof: leads to root ${toHex(root)}, the checkpoint says ${toHex(cp.root)}`);

  const policies: Record<string, BundlePolicy> = {};
  const inputs: Record<string, string> = {};
  for (const [i, r] of records.entries()) {
    for (const p of r.policies) {
      if (Object.hasOwn(policies, p.sha256)) continue;
      const src = Object.hasOwn(parts.policies, p.sha256) ? parts.policies[p.sha256] : undefined;
      if (!src) bundleInvalid(`record ${i} (index ${from + i}): policy ${p.sha256} is not among the policies given`);
      const entry: BundlePolicy = { name: src.name };
      if (src.version !== undefined) entry.version = src.version;
      if (src.wasm !== undefined) {
        if (sha256Hex(src.wasm) !== p.sha256)
          bundleInvalid(`policy ${p.sha256}: the wasm given hashes to ${sha256Hex(src.wasm)}`);
        entry.wasm = toBase64(src.wasm);
      }
      policies[p.sha256] = entry;
    }
    const d = r.inputDigest;
    if (d !== null && parts.inputs && Object.hasOwn(parts.inputs, d) && !Object.hasOwn(inputs, d)) {
      const bytes = parts.inputs[d]!;
      if (sha256Hex(bytes) !== d) bundleInvalid(`input ${d}: the bytes given hash to ${sha256Hex(bytes)}`);
      inputs[d] = toBase64(bytes);
    }
  }

  let consistency: AttestationBundle['consistency'];
  if (parts.consistency) {
    const c = parts.consistency;
    within('consistency: ', () => verifyConsistency(c.fromSize, treeSize, c.proof, c.fromRoot, cp.root));
    consistency = { fromSize: c.fromSize, fromRoot: toBase64(c.fromRoot), proof: c.proof.map(toBase64) };
  }
  const keys = parts.keys ? [...parts.keys] : [];
  keys.forEach((k, i) => within(`keys[${i}]: `, () => parseVerifierKey(k)));

  // Fields in documented order (JSON keeps insertion order); optional ones only when present.
  const bundle: AttestationBundle = {
    format: BUNDLE_FORMAT,
    origin,
    range: { from, to },
    treeSize,
    records: leaves.map((l) => fromUtf8(l)!),
    checkpoint: parts.checkpoint,
    rangeProof: { left: parts.rangeProof.left.map(toBase64), right: parts.rangeProof.right.map(toBase64) },
    ...(consistency ? { consistency } : {}),
    policies,
    ...(Object.keys(inputs).length > 0 ? { inputs } : {}),
    ...(keys.length > 0 ? { keys } : {}),
  };
  return bundle;
}

// ---------------------------------------------------------------------------------------------
// Verification.
// ---------------------------------------------------------------------------------------------

/** Re-evaluates one policy on one recorded input; wired by the caller to the policy engine. */
export type ReplayFn = (
  policyWasm: Uint8Array,
  inputBytes: Uint8Array,
) => Promise<{ decision: PolicyVerdict | string; gas: number }>;

export interface VerifyBundleOptions {
  /** Re-run every recorded decision whose input the bundle carries, and require identical results. */
  replay?: ReplayFn;
  /**
   * A checkpoint the verifier already trusts (e.g. from an earlier export, or the checkpoint header
   * of a response). The bundle must then prove it is a prefix of its own checkpoint.
   */
  previous?: { size: number; root: Uint8Array };
}

/** What a bundle proved. */
export interface BundleVerification {
  ok: true;
  origin: string;
  from: number;
  to: number;
  /** The decoded records of [from, to), in order. */
  records: AuditRecord[];
  /** The signed checkpoint's size and root. */
  size: number;
  root: Uint8Array;
  /** The pinned keys whose signatures verified (with cosignature timestamps). */
  signatures: VerifiedSignature[];
  /** Policy labels by hash, as the bundle states them: NOT authenticated, for display only. */
  policyLabels: Record<string, { name: string; version?: string }>;
  /** Number of per-policy decisions re-evaluated (0 without `replay`). */
  replayed: number;
  /** Records with an `inputDigest` whose input the bundle does not carry (not replayable). */
  notReplayable: number;
}

/**
 * Verifies an attestation bundle against pinned verifier keys, in this order, and names the first
 * thing that fails:
 *
 *   1. structure: JSON (text, UTF-8 bytes or a parsed value) of the documented shape;
 *   2. the checkpoint note: a valid signature line from every pinned key (never the bundle's `keys`);
 *   3. the checkpoint's origin and size are the bundle's `origin` and `treeSize`; from < to ≤ size;
 *      one record per leaf of the range;
 *   4. every record: valid UTF-8, canonical RFC 8785 JSON, a valid record;
 *   5. the range proof from the records' leaf hashes to the checkpoint root;
 *   6. the consistency proof, if present (and required when `previous` is given);
 *   7. policies: every hash the records name is listed, none is listed that no record names, and
 *      any wasm hashes to its key; inputs: each is named by a record and hashes to its key;
 *   8. the convenience `keys` are well-formed verifier keys;
 *   9. with `replay`, every recorded policy decision whose input is in the bundle re-evaluates to
 *      the recorded decision and gas.
 *
 * @throws {@link KeywardError} `AUDIT_BUNDLE_INVALID`, `AUDIT_CHECKPOINT_INVALID`,
 *   `AUDIT_LEAF_NOT_CANONICAL`, `AUDIT_RECORD_INVALID`, `AUDIT_PROOF_INVALID` or
 *   `AUDIT_REPLAY_MISMATCH`; record errors read "record 17 (index 1041): …".
 */
export async function verifyBundle(
  bundle: unknown,
  trusted: readonly VerifierKey[],
  opts: VerifyBundleOptions = {},
): Promise<BundleVerification> {
  if (!Array.isArray(trusted) || trusted.length === 0)
    throw new RangeError('"trusted" expected at least one pinned verifier key');
  // 1. Structure.
  const b = parseStructure(bundle);
  // 2. Checkpoint signatures, against the pinned keys only.
  const cp = verifyNote(b.checkpoint, trusted);
  // 3. Header consistency.
  const { from, to } = b.range;
  if (cp.origin !== b.origin) bundleInvalid(`bundle: origin "${b.origin}" is not the checkpoint origin "${cp.origin}"`);
  if (cp.size !== b.treeSize) bundleInvalid(`bundle: treeSize ${b.treeSize} is not the checkpoint size ${cp.size}`);
  if (!(from < to && to <= cp.size))
    bundleInvalid(`bundle: expected range 0 ≤ from < to ≤ ${cp.size}, got from=${from} to=${to}`);
  if (b.records.length !== to - from)
    bundleInvalid(`bundle: expected ${to - from} records for [${from}, ${to}), got ${b.records.length}`);
  // 4. Records.
  const leafHashes: Uint8Array[] = [];
  const records = b.records.map((text, i) => {
    const where = `record ${i} (index ${from + i}): `;
    if (LONE_SURROGATE_RE.test(text)) bundleInvalid(`${where}leaf is not valid Unicode (lone surrogate)`);
    const leaf = utf8(text);
    const r = within(where, () => decodeRecord(leaf));
    leafHashes.push(leafHash(leaf));
    return r;
  });
  // 5. Range proof to the signed root.
  const proof = {
    left: b.rangeProof.left.map((h, i) => fromBase64(h, `rangeProof.left.${i}`, HASH_LEN, 'AUDIT_BUNDLE_INVALID')),
    right: b.rangeProof.right.map((h, i) => fromBase64(h, `rangeProof.right.${i}`, HASH_LEN, 'AUDIT_BUNDLE_INVALID')),
  };
  const root = rootFromRange(from, to, cp.size, leafHashes, proof);
  if (toHex(root) !== toHex(cp.root)) {
    throw auditError(
      'AUDIT_PROOF_INVALID',
      `range proof: records [${from}, ${to}) lead to root ${toHex(root)}, the signed checkpoint says ${toHex(cp.root)}`,
    );
  }
  // 6. Consistency with an earlier checkpoint.
  if (b.consistency) {
    const c = b.consistency;
    const fromRoot = fromBase64(c.fromRoot, 'consistency.fromRoot', HASH_LEN, 'AUDIT_BUNDLE_INVALID');
    const hashes = c.proof.map((h, i) => fromBase64(h, `consistency.proof.${i}`, HASH_LEN, 'AUDIT_BUNDLE_INVALID'));
    if (c.fromSize === 0) bundleInvalid('consistency: fromSize 0 proves nothing');
    within('consistency: ', () => verifyConsistency(c.fromSize, cp.size, hashes, fromRoot, cp.root));
  }
  if (opts.previous) checkPrevious(opts.previous, b, cp);
  // 7. Policies and inputs.
  const named = new Set<string>();
  const digests = new Set<string>();
  records.forEach((r, i) => {
    for (const p of r.policies) {
      named.add(p.sha256);
      if (!Object.hasOwn(b.policies, p.sha256))
        bundleInvalid(`record ${i} (index ${from + i}): policy ${p.sha256} is not listed in "policies"`);
    }
    if (r.inputDigest !== null) digests.add(r.inputDigest);
  });
  const wasm = new Map<string, Uint8Array>();
  for (const [hash, p] of Object.entries(b.policies)) {
    if (!named.has(hash)) bundleInvalid(`policies: ${hash} is named by no record of the bundle`);
    if (p.wasm !== undefined) {
      const bytes = fromBase64(p.wasm, `policies.${hash}.wasm`, undefined, 'AUDIT_BUNDLE_INVALID');
      const got = sha256Hex(bytes);
      if (got !== hash) bundleInvalid(`policies: the wasm listed under ${hash} hashes to ${got}`);
      wasm.set(hash, bytes);
    }
  }
  const inputs = new Map<string, Uint8Array>();
  for (const [digest, text] of Object.entries(b.inputs ?? {})) {
    if (!digests.has(digest)) bundleInvalid(`inputs: ${digest} is the input digest of no record of the bundle`);
    const bytes = fromBase64(text, `inputs.${digest}`, undefined, 'AUDIT_BUNDLE_INVALID');
    const got = sha256Hex(bytes);
    if (got !== digest) bundleInvalid(`inputs: the input listed under ${digest} hashes to ${got}`);
    inputs.set(digest, bytes);
  }
  // 8. Convenience keys: well-formed, never trusted.
  (b.keys ?? []).forEach((k, i) => within(`keys[${i}]: `, () => parseVerifierKey(k)));
  // 9. Replay.
  let replayed = 0;
  let notReplayable = 0;
  for (const [i, r] of records.entries()) {
    if (r.inputDigest === null) continue;
    const input = inputs.get(r.inputDigest);
    if (!input) {
      notReplayable++;
      continue;
    }
    if (!opts.replay) continue;
    for (const p of r.policies) {
      const where = `record ${i} (index ${from + i}): policy ${p.sha256}`;
      const module = wasm.get(p.sha256);
      if (!module) bundleInvalid(`${where} has no wasm in the bundle, so its decision cannot be replayed`);
      const got = await opts.replay(module, input);
      if (got.decision !== p.decision || got.gas !== p.gas) {
        throw auditError(
          'AUDIT_REPLAY_MISMATCH',
          `${where}: replay decided ${String(got.decision)} with gas ${got.gas}, the record says ${p.decision} with gas ${p.gas}`,
          {
            details: { index: from + i, policy: p.sha256 },
          },
        );
      }
      replayed++;
    }
  }

  const policyLabels: BundleVerification['policyLabels'] = {};
  for (const [hash, p] of Object.entries(b.policies))
    policyLabels[hash] = p.version === undefined ? { name: p.name } : { name: p.name, version: p.version };
  return {
    ok: true,
    origin: cp.origin,
    from,
    to,
    records,
    size: cp.size,
    root: cp.root,
    signatures: cp.signatures,
    policyLabels,
    replayed,
    notReplayable,
  };
}

/** Checks the bundle against a checkpoint the verifier already trusts (see VerifyBundleOptions). */
function checkPrevious(
  prev: { size: number; root: Uint8Array },
  b: AttestationBundle,
  cp: { size: number; root: Uint8Array },
): void {
  if (!Number.isSafeInteger(prev.size) || prev.size < 1 || !(prev.root instanceof Uint8Array)) {
    throw new RangeError('"previous" expected {size ≥ 1, root: Uint8Array}');
  }
  if (prev.size > cp.size) {
    bundleInvalid(
      `bundle: its checkpoint (size ${cp.size}) is older than the trusted checkpoint of size ${prev.size}: the log was rolled back or this is a stale export`,
    );
  }
  if (prev.size === cp.size) {
    if (toHex(prev.root) !== toHex(cp.root))
      bundleInvalid(`bundle: its checkpoint has the trusted size ${prev.size} but another root: the log forked`);
    return;
  }
  const c = b.consistency;
  if (!c)
    bundleInvalid(`bundle: expected a consistency proof from the trusted checkpoint of size ${prev.size}, got none`);
  if (c.fromSize !== prev.size || c.fromRoot !== toBase64(prev.root)) {
    bundleInvalid(
      `bundle: its consistency proof starts at size ${c.fromSize}, not at the trusted checkpoint (size ${prev.size}) with its root`,
    );
  }
}
