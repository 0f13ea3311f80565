import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isKeywardError, type KeywardCode } from '../../../../lib/errors.js';
import { buildBundle, verifyBundle } from '../../../../engine/audit/math/bundle.js';
import type { AttestationBundle, ReplayFn } from '../../../../engine/audit/math/bundle.js';
import { consistencyProof, rangeProof } from '../../../../engine/audit/math/merkle.js';
import { ed25519Signer, parseNote, parseVerifierKey } from '../../../../engine/audit/math/note.js';
import type { VerifierKey } from '../../../../engine/audit/math/note.js';
import { encodeRecord } from '../../../../engine/audit/math/record.js';
import {
  MemoryLog,
  ORIGIN,
  POLICY_HASH,
  POLICY_WASM,
  enc,
  fakeEvaluate,
  logSigners,
  makeBundle,
  policyInputOf,
  sampleRecord,
  signCheckpoint,
} from '../helpers.js';

const fakeReplay: ReplayFn = async (wasm, input) => fakeEvaluate(wasm, input);
const clone = (b: AttestationBundle): AttestationBundle => JSON.parse(JSON.stringify(b)) as AttestationBundle;
const code = (c: KeywardCode, re?: RegExp) => (err: unknown) =>
  isKeywardError(err, c) && (re === undefined || re.test(err.message));

describe('attestation bundle', () => {
  it('a built bundle verifies from the object, its JSON text and its UTF-8 bytes, and replays', async () => {
    const { bundle, trusted, log } = await makeBundle();
    for (const input of [bundle, JSON.stringify(bundle), enc(JSON.stringify(bundle, null, 2))]) {
      const r = await verifyBundle(input, trusted, { replay: fakeReplay });
      assert.equal(r.ok, true);
      assert.equal(r.size, 20);
      assert.equal(Buffer.from(r.root).toString('hex'), Buffer.from(log.root).toString('hex'));
      assert.deepEqual([r.from, r.to], [7, 12]);
      assert.deepEqual(
        r.records,
        [7, 8, 9, 10, 11].map((i) => sampleRecord(i)),
      );
      assert.equal(r.replayed, 10);
      assert.equal(r.notReplayable, 0);
      assert.deepEqual(
        r.signatures.map((s) => s.type),
        [0x01, 0x06],
      );
      assert.deepEqual(r.policyLabels[POLICY_HASH.alpha], { name: 'pol-alpha', version: '1.0.0' });
    }
    // Only the referenced policies made it in; the unreferenced one given to buildBundle did not.
    assert.deepEqual(Object.keys(bundle.policies).sort(), [POLICY_HASH.alpha, POLICY_HASH.beta].sort());
    // Without replay, nothing is re-evaluated.
    assert.equal((await verifyBundle(bundle, trusted)).replayed, 0);
  });

  it('ranges at the edges: the whole tree, a single first or last record, a range ending below the size', async () => {
    for (const [size, from, to] of [
      [1, 0, 1],
      [13, 0, 13],
      [13, 12, 13],
      [13, 0, 1],
      [64, 31, 33],
    ] as const) {
      const { bundle, trusted } = await makeBundle({ size, from, to, consistencyFrom: 1 });
      const r = await verifyBundle(bundle, trusted);
      assert.equal(r.records.length, to - from, `${size} [${from}, ${to})`);
    }
  });

  it('changing any single byte of the serialized bundle makes verification fail (sampled), except unauthenticated labels', async (t) => {
    const { bundle, trusted } = await makeBundle();
    const text = JSON.stringify(bundle);
    const bytes = enc(text);
    // The policy labels (name, version) are display text that nothing signs (docs/audit-bundle.md
    // says so); their bytes are the only ones allowed to change without failing.
    const labelSpans: Array<[number, number]> = [];
    for (const m of text.matchAll(/"(?:name|version)":"([^"]*)"/g)) {
      const start = Buffer.byteLength(text.slice(0, m.index + m[0].length - m[1]!.length - 1));
      labelSpans.push([start, start + Buffer.byteLength(m[1]!)]);
    }
    assert.equal(labelSpans.length, 3);
    const isLabel = (p: number) => labelSpans.some(([a, b]) => p >= a && p < b);

    // Every 23rd byte plus a pseudo-random sample: ~700 of the ~10,500 positions.
    const positions = new Set<number>();
    for (let p = 0; p < bytes.length; p += 23) positions.add(p);
    let x = 12345;
    for (let i = 0; i < 250; i++) {
      x = (x * 1103515245 + 12345) % 2 ** 31;
      positions.add(x % bytes.length);
    }
    const masks = [0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40];
    // The checkpoint's signatures are most of a verification's CPU (a pure-JS Ed25519 verify and an
    // ML-DSA-44 one, about 1.3 ms each). Whether a pinned key's signature verifies depends only on
    // what its check reads: the note's signed text and the signature lines of that key. A key whose
    // text and lines a change leaves as they are (most of the sampled bytes are outside the
    // checkpoint; a change in one signature leaves the other key's line) would pass its check again,
    // as for the unchanged bundle, so it is left out: the keys left give the same verdict, from the
    // same step. Bytes with no note to read are refused before any signature, whatever is pinned.
    assert.equal((await verifyBundle(bytes, trusted)).ok, true);
    const decoder = new TextDecoder('utf-8', { fatal: true });
    const linesOf = (note: ReturnType<typeof parseNote>, key: VerifierKey) =>
      JSON.stringify(
        note.signatures
          .filter((s) => s.name === key.name && Buffer.from(s.keyId).equals(key.keyId))
          .map((s) => Buffer.from(s.signature).toString('base64')),
      );
    const original = parseNote(bundle.checkpoint);
    const pinned = new Map<string, number>();
    const pinnedFor = (mutated: Uint8Array): VerifierKey[] => {
      let keys = trusted.slice(0, 1);
      try {
        const { checkpoint } = JSON.parse(decoder.decode(mutated)) as { checkpoint?: unknown };
        const note = parseNote(checkpoint as string);
        const changed = trusted.filter((k) => note.text !== original.text || linesOf(note, k) !== linesOf(original, k));
        if (changed.length > 0) keys = changed;
      } catch {
        // Not UTF-8 JSON, or no note in it: refused before any signature.
      }
      const which = keys.map((k) => k.name).join(' and ');
      pinned.set(which, (pinned.get(which) ?? 0) + 1);
      return keys;
    };
    let failed = 0;
    let labels = 0;
    const codes = new Map<string, number>();
    for (const p of positions) {
      const mutated = bytes.slice();
      mutated[p]! ^= masks[p % masks.length]!;
      let err: unknown;
      try {
        await verifyBundle(mutated, pinnedFor(mutated));
      } catch (e) {
        err = e;
      }
      if (isLabel(p)) {
        labels++;
        continue;
      }
      assert.ok(
        isKeywardError(err),
        `byte ${p} (${JSON.stringify(text.slice(Math.max(0, p - 20), p + 20))}) changed and the bundle still verified`,
      );
      codes.set(err.code, (codes.get(err.code) ?? 0) + 1);
      failed++;
    }
    t.diagnostic(
      `${failed} of ${positions.size} sampled byte changes rejected (${[...codes].map(([c, n]) => `${c} ${n}`).join(', ')}); ${labels} fell on unauthenticated labels; pinned: ${[...pinned].map(([k, n]) => `${k} ${n}`).join(', ')}`,
    );
    assert.ok(failed > 600);

    // The labels: a change either breaks the label's format or shows up, as such, in policyLabels.
    let shown = 0;
    for (const [a, b] of labelSpans) {
      for (let p = a; p < b; p++) {
        const mutated = bytes.slice();
        mutated[p]! ^= 0x01;
        try {
          const r = await verifyBundle(mutated, pinnedFor(mutated));
          const labels = JSON.stringify(r.policyLabels);
          assert.ok(
            !labels.includes('"pol-alpha"') || !labels.includes('"pol-beta"') || !labels.includes('"1.0.0"'),
            'the changed label is what verifyBundle reports',
          );
          shown++;
        } catch (err) {
          assert.ok(isKeywardError(err, 'AUDIT_BUNDLE_INVALID'), String(err));
        }
      }
    }
    t.diagnostic(`${shown} label byte changes verified and were reported as the (unauthenticated) labels`);
  });

  it('names the first thing that fails', async () => {
    const { bundle, trusted, log } = await makeBundle();

    const spaced = clone(bundle);
    spaced.records[2] = spaced.records[2]!.replace('"v":1', '"v": 1');
    await assert.rejects(
      verifyBundle(spaced, trusted),
      code('AUDIT_LEAF_NOT_CANONICAL', /^record 2 \(index 9\): leaf is not canonical JSON \(RFC 8785\)$/),
    );

    const edited = clone(bundle);
    edited.records[4] = new TextDecoder().decode(encodeRecord({ ...sampleRecord(11), status: 500 }));
    await assert.rejects(
      verifyBundle(edited, trusted),
      code(
        'AUDIT_PROOF_INVALID',
        /^range proof: records \[7, 12\) lead to root [0-9a-f]{64}, the signed checkpoint says [0-9a-f]{64}$/,
      ),
    );

    const invalid = clone(bundle);
    invalid.records[1] = invalid.records[1]!.replace('"v":1', '"v":2');
    await assert.rejects(
      verifyBundle(invalid, trusted),
      code('AUDIT_RECORD_INVALID', /^record 1 \(index 8\): audit record: field "v" expected 1, got number 2$/),
    );

    const shifted = clone(bundle);
    shifted.range = { from: 8, to: 13 };
    await assert.rejects(verifyBundle(shifted, trusted), code('AUDIT_PROOF_INVALID'));

    const short = clone(bundle);
    short.records.pop();
    await assert.rejects(
      verifyBundle(short, trusted),
      code('AUDIT_BUNDLE_INVALID', /expected 5 records for \[7, 12\), got 4/),
    );

    const origin = clone(bundle);
    origin.origin = 'other.example/log';
    await assert.rejects(
      verifyBundle(origin, trusted),
      code('AUDIT_BUNDLE_INVALID', /origin "other.example\/log" is not the checkpoint origin/),
    );

    const size = clone(bundle);
    size.treeSize = 21;
    await assert.rejects(
      verifyBundle(size, trusted),
      code('AUDIT_BUNDLE_INVALID', /treeSize 21 is not the checkpoint size 20/),
    );

    const unknownField = { ...clone(bundle), extra: 1 };
    await assert.rejects(
      verifyBundle(unknownField, trusted),
      code('AUDIT_BUNDLE_INVALID', /^bundle: \(root\): unknown field "extra"; expected only /),
    );

    const badFormat = { ...clone(bundle), format: 'keyward.audit.attestation/v2' };
    await assert.rejects(verifyBundle(badFormat, trusted), code('AUDIT_BUNDLE_INVALID', /^bundle: format: /));

    await assert.rejects(verifyBundle('{', trusted), code('AUDIT_BUNDLE_INVALID', /not JSON/));
    await assert.rejects(verifyBundle(Uint8Array.of(0xc3), trusted), code('AUDIT_BUNDLE_INVALID', /not valid UTF-8/));

    // Policies and inputs.
    const missing = clone(bundle);
    delete missing.policies[POLICY_HASH.beta];
    await assert.rejects(
      verifyBundle(missing, trusted),
      code(
        'AUDIT_BUNDLE_INVALID',
        new RegExp(`^record 0 \\(index 7\\): policy ${POLICY_HASH.beta} is not listed in "policies"$`),
      ),
    );
    const extra = clone(bundle);
    extra.policies['e'.repeat(64)] = { name: 'stray' };
    await assert.rejects(
      verifyBundle(extra, trusted),
      code('AUDIT_BUNDLE_INVALID', /policies: e{64} is named by no record/),
    );
    const wrongWasm = clone(bundle);
    wrongWasm.policies[POLICY_HASH.alpha]!.wasm = Buffer.from(POLICY_WASM.beta).toString('base64');
    await assert.rejects(
      verifyBundle(wrongWasm, trusted),
      code(
        'AUDIT_BUNDLE_INVALID',
        new RegExp(`the wasm listed under ${POLICY_HASH.alpha} hashes to ${POLICY_HASH.beta}`),
      ),
    );
    const wrongInput = clone(bundle);
    const digest = sampleRecord(9).inputDigest!;
    wrongInput.inputs![digest] = Buffer.from(policyInputOf(10)).toString('base64');
    await assert.rejects(
      verifyBundle(wrongInput, trusted),
      code('AUDIT_BUNDLE_INVALID', new RegExp(`the input listed under ${digest} hashes to`)),
    );

    // Consistency with an earlier checkpoint.
    const badConsistency = clone(bundle);
    badConsistency.consistency!.fromRoot = Buffer.from(log.root).toString('base64');
    await assert.rejects(
      verifyBundle(badConsistency, trusted),
      code('AUDIT_PROOF_INVALID', /^consistency: consistency proof \(first tree\): computed root/),
    );

    // The convenience keys must at least be well-formed verifier keys.
    const badKeys = clone(bundle);
    badKeys.keys = [bundle.keys![0]!.replace(/\+[0-9a-f]{8}\+/, '+00000000+')];
    await assert.rejects(
      verifyBundle(badKeys, trusted),
      code('AUDIT_CHECKPOINT_INVALID', /^keys\[0\]: verifier key .* does not match/),
    );
  });

  it('trusts only the pinned keys, never the keys the bundle carries', async () => {
    const { bundle, trusted, log } = await makeBundle();
    // An attacker re-signs the checkpoint with their own key and lists that key in the bundle.
    const attacker = ed25519Signer(ORIGIN, new Uint8Array(32).fill(0x66));
    const forged = clone(bundle);
    forged.checkpoint = signCheckpoint(log, [attacker]);
    forged.keys = [attacker.verifierKey];
    await assert.rejects(
      verifyBundle(forged, trusted),
      code('AUDIT_CHECKPOINT_INVALID', /no signature line from trusted key keyward\.test\/audit\+/),
    );
    // Pinning only the Ed25519 key still demands that key's line, and it verifies.
    assert.equal((await verifyBundle(bundle, [trusted[0]!])).ok, true);
    await assert.rejects(
      verifyBundle(bundle, [parseVerifierKey(attacker.verifierKey)]),
      code('AUDIT_CHECKPOINT_INVALID'),
    );
    await assert.rejects(verifyBundle(bundle, []), RangeError);
  });

  it('replay: a decision or gas that does not reproduce is named; missing wasm is reported', async () => {
    const { bundle, trusted } = await makeBundle();
    const off: ReplayFn = async (wasm, input) => {
      const r = fakeEvaluate(wasm, input);
      return input.length === policyInputOf(10).length && Buffer.from(input).equals(Buffer.from(policyInputOf(10)))
        ? { ...r, gas: r.gas + 1 }
        : r;
    };
    await assert.rejects(
      verifyBundle(bundle, trusted, { replay: off }),
      code(
        'AUDIT_REPLAY_MISMATCH',
        new RegExp(
          `^record 3 \\(index 10\\): policy ${POLICY_HASH.alpha}: replay decided (allow|deny) with gas \\d+, the record says (allow|deny) with gas \\d+$`,
        ),
      ),
    );
    const noWasm = clone(bundle);
    delete noWasm.policies[POLICY_HASH.beta]!.wasm;
    await assert.rejects(
      verifyBundle(noWasm, trusted, { replay: fakeReplay }),
      code('AUDIT_BUNDLE_INVALID', /has no wasm in the bundle/),
    );
    assert.equal((await verifyBundle(noWasm, trusted)).ok, true);
    // Records whose input is not in the bundle are counted, not replayed.
    const fewer = clone(bundle);
    delete fewer.inputs![sampleRecord(8).inputDigest!];
    const r = await verifyBundle(fewer, trusted, { replay: fakeReplay });
    assert.deepEqual([r.replayed, r.notReplayable], [8, 1]);
  });

  it('previous checkpoint: a prefix is proven; a rollback, a fork or a missing proof is caught', async () => {
    const { bundle, trusted, log, earlierRoot } = await makeBundle();
    assert.equal((await verifyBundle(bundle, trusted, { previous: { size: 5, root: earlierRoot } })).ok, true);
    assert.equal((await verifyBundle(bundle, trusted, { previous: { size: 20, root: log.root } })).ok, true);
    await assert.rejects(
      verifyBundle(bundle, trusted, { previous: { size: 25, root: log.root } }),
      code('AUDIT_BUNDLE_INVALID', /older than the trusted checkpoint of size 25: the log was rolled back/),
    );
    await assert.rejects(
      verifyBundle(bundle, trusted, { previous: { size: 20, root: earlierRoot } }),
      code('AUDIT_BUNDLE_INVALID', /forked/),
    );
    await assert.rejects(
      verifyBundle(bundle, trusted, { previous: { size: 6, root: earlierRoot } }),
      code('AUDIT_BUNDLE_INVALID', /starts at size 5, not at the trusted checkpoint \(size 6\)/),
    );
    const none = clone(bundle);
    delete none.consistency;
    await assert.rejects(
      verifyBundle(none, trusted, { previous: { size: 5, root: earlierRoot } }),
      code('AUDIT_BUNDLE_INVALID', /expected a consistency proof from the trusted checkpoint of size 5/),
    );
  });

  it('buildBundle checks what it is given', async () => {
    const log = new MemoryLog().append([0, 1, 2, 3].map((i) => encodeRecord(sampleRecord(i))));
    const { ed } = logSigners();
    const parts = {
      origin: ORIGIN,
      from: 1,
      to: 3,
      treeSize: 4,
      leaves: log.leaves.slice(1, 3),
      checkpoint: signCheckpoint(log, [ed]),
      rangeProof: await rangeProof(1, 3, 4, log.getNode),
      policies: { [POLICY_HASH.alpha]: { name: 'a' }, [POLICY_HASH.beta]: { name: 'b' } },
    };
    assert.equal(buildBundle(parts).records.length, 2);
    assert.throws(
      () => buildBundle({ ...parts, policies: { [POLICY_HASH.alpha]: { name: 'a' } } }),
      code('AUDIT_BUNDLE_INVALID', /policy [0-9a-f]{64} is not among the policies given/),
    );
    assert.throws(
      () =>
        buildBundle({
          ...parts,
          policies: { ...parts.policies, [POLICY_HASH.beta]: { name: 'b', wasm: POLICY_WASM.alpha } },
        }),
      code('AUDIT_BUNDLE_INVALID', /the wasm given hashes to/),
    );
    assert.throws(
      () => buildBundle({ ...parts, treeSize: 5 }),
      code('AUDIT_BUNDLE_INVALID', /size 4 is not the bundle tree size 5/),
    );
    assert.throws(
      () => buildBundle({ ...parts, from: 0, to: 2 }),
      code('AUDIT_PROOF_INVALID', /expected 0 left hashes/),
    );
    assert.throws(
      () => buildBundle({ ...parts, leaves: [parts.leaves[1]!, parts.leaves[0]!] }),
      code('AUDIT_BUNDLE_INVALID', /range proof: leads to root/),
    );
    assert.throws(
      () => buildBundle({ ...parts, leaves: [enc('{}'), parts.leaves[1]!] }),
      code('AUDIT_RECORD_INVALID', /^record 0 \(index 1\): /),
    );
    const proof = await consistencyProof(2, 4, log.getNode);
    assert.throws(
      () => buildBundle({ ...parts, consistency: { fromSize: 2, fromRoot: log.root, proof } }),
      code('AUDIT_PROOF_INVALID', /^consistency: /),
    );
    assert.throws(() => buildBundle({ ...parts, to: 4 }), RangeError);
  });
});
