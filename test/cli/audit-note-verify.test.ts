/**
 * The signature checks `keyward audit verify` hands verifyNote (cli/commands/audit/note-verify.ts).
 * Ed25519 on node:crypto: the same answers as @noble (strict RFC 8032) on the ACVP EdDSA SigVer and
 * RFC 8032 vectors and on signatures changed in R, S (S + L included) or the message.
 * ML-DSA-44 native:
 * the same answers as @noble on the published ACVP sigVer vectors it can take (ML-DSA-44, pure, empty
 * context) and on signatures by the ACVP keyGen keys with each part of the signature or the message
 * changed; a tampered checkpoint fails on both paths; the fallback to @noble (KEYWARD_PQ_BACKEND=noble,
 * no addon, an addon that fails the self-test).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ml_dsa44 } from '@noble/post-quantum/ml-dsa.js';
import { ed25519 } from '@noble/curves/ed25519.js';
import { nativeMlDsa44Verify, nodeEd25519Verify } from '../../cli/commands/audit/note-verify.js';
import {
  checkpointBody,
  ed25519Signer,
  mlDsa44CosignerSigner,
  parseVerifierKey,
  signNote,
  verifyNote,
} from '../../engine/audit/math/index.js';
import type { NoteSigner, NoteVerifyOptions } from '../../engine/audit/math/index.js';
import { isKeywardError } from '../../lib/errors.js';
import { acvp, hex, report, rfc8032 } from '../engine/crypto/vectors.js';

const native = (() => {
  try {
    return nativeMlDsa44Verify({ choice: 'pqclean' });
  } catch {
    return undefined;
  }
})();
const NO_ADDON = native ? false : 'the pqclean addon is not built on this machine (optional dependency)';
const noble = (pk: Uint8Array, m: Uint8Array, s: Uint8Array) => ml_dsa44.verify(s, m, pk);

const L = 2n ** 252n + 27742317777372353535851937790883648493n;
const nobleEd = (pk: Uint8Array, m: Uint8Array, s: Uint8Array) => {
  try {
    return ed25519.verify(s, m, pk, { zip215: false });
  } catch {
    return false; // a wrong length throws
  }
};

/**
 * Signs a checkpoint with `signer`, and checks on each path (verifyNote's options) that the note
 * verifies and that the same note with one bit flipped at `flipAt` of its signature line's bytes
 * does not.
 */
function verifiesOnEachPath(
  signer: NoteSigner,
  flipAt: number,
  time: number,
  paths: readonly (readonly [string, NoteVerifyOptions])[],
): void {
  const note = signNote(checkpointBody({ origin: 'keyward.test/audit', size: 3, root: new Uint8Array(32) }), [signer], {
    time,
  });
  const keys = [parseVerifierKey(signer.verifierKey)];
  const line = note.trimEnd().split('\n').at(-1)!;
  const raw = Buffer.from(line.split(' ')[2]!, 'base64');
  raw[flipAt]! ^= 1;
  const tampered = note.replace(line, `${line.split(' ').slice(0, 2).join(' ')} ${raw.toString('base64')}`);
  for (const [path, opts] of paths) {
    assert.equal(verifyNote(note, keys, opts).size, 3, path);
    assert.throws(
      () => verifyNote(tampered, keys, opts),
      (e: unknown) => isKeywardError(e, 'AUDIT_CHECKPOINT_INVALID') && /does not verify/.test(e.message),
      path,
    );
  }
}

describe('keyward audit verify: Ed25519 on node:crypto', () => {
  it('agrees with the ACVP EdDSA SigVer and RFC 8032 vectors, and with @noble', () => {
    let ran = 0;
    const skipped = { 'ED-448': 0, 'pre-hash (Ed25519ph)': 0 };
    for (const g of acvp('EDDSA-SigVer-1.0')) {
      if (g.curve !== 'ED-25519') skipped['ED-448'] += g.tests.length;
      else if (g.preHash) skipped['pre-hash (Ed25519ph)'] += g.tests.length;
      else
        for (const t of g.tests) {
          const args = [hex(t.q), hex(t.message), hex(t.signature)] as const;
          assert.equal(nodeEd25519Verify(...args), t.testPassed, `tcId ${String(t.tcId)} ${String(t.reason)}`);
          assert.equal(nobleEd(...args), t.testPassed);
          ran++;
        }
    }
    for (const v of rfc8032('ed25519')) {
      const args = [hex(v.publicKey), hex(v.message), hex(v.signature)] as const;
      assert.equal(nodeEd25519Verify(...args), true);
      assert.equal(nobleEd(...args), true);
      ran++;
    }
    report('ACVP EdDSA SigVer and RFC 8032 Ed25519, node:crypto and @noble', ran, skipped);
  });

  it('rejects what @noble rejects: R, S or the message changed, S + L, a wrong length', () => {
    let ran = 0;
    for (let k = 0; k < 8; k++) {
      const seed = new Uint8Array(32).fill(k + 1);
      const pk = ed25519.getPublicKey(seed);
      const m = new TextEncoder().encode(`checkpoint ${k}`);
      const sig = ed25519.sign(m, seed);
      const cases: Array<[string, Uint8Array, Uint8Array, boolean]> = [['valid', m, sig, true]];
      for (const at of [0, 17, 31, 32, 50, 63]) {
        const bad = sig.slice();
        bad[at]! ^= 1;
        cases.push([`bit flipped at ${at}`, m, bad, false]);
      }
      // S + L: the same scalar, not canonical (RFC 8032 §5.1.7 requires S < L).
      const s = BigInt(`0x${Buffer.from(sig.subarray(32)).reverse().toString('hex')}`) + L;
      const big = sig.slice();
      big.set(Buffer.from(s.toString(16).padStart(64, '0'), 'hex').reverse(), 32);
      cases.push(['S + L', m, big, false]);
      cases.push(['message changed', m.map((b, i) => (i === 0 ? b ^ 1 : b)), sig, false]);
      cases.push(['short', m, sig.subarray(1), false]);
      for (const [what, msg, sg, expected] of cases) {
        assert.equal(nobleEd(pk, msg, sg), expected, `noble: ${what}`);
        assert.equal(nodeEd25519Verify(pk, msg, sg), expected, `node: ${what}`);
        ran++;
      }
    }
    report('Ed25519 node:crypto against @noble', ran, {});
  });

  it('verifies a checkpoint on both paths, and a tampered signature fails on both', () => {
    let calls = 0;
    const counted = (pk: Uint8Array, m: Uint8Array, s: Uint8Array) => (calls++, nodeEd25519Verify(pk, m, s));
    // The byte flipped: in the Ed25519 signature, past the key ID.
    verifiesOnEachPath(ed25519Signer('keyward.test/audit', new Uint8Array(32).fill(5)), 4 + 40, 1, [
      ['noble', {}],
      ['node:crypto', { ed25519Verify: counted }],
    ]);
    assert.equal(calls, 2);
  });
});

describe('keyward audit verify: native ML-DSA-44 verify', () => {
  it(
    'agrees with the ACVP sigVer vectors and with @noble (every ML-DSA-44 pure empty-context case)',
    { skip: NO_ADDON },
    () => {
      let ran = 0;
      let context = 0;
      for (const g of acvp('ML-DSA-sigVer-FIPS204')) {
        if (g.parameterSet !== 'ML-DSA-44' || g.signatureInterface !== 'external' || g.preHash !== 'pure') continue;
        for (const t of g.tests) {
          if (String(t.context ?? '') !== '') {
            context++; // the addon has FIPS 204's pure interface with an empty context only
            continue;
          }
          const args = [hex(t.pk), hex(t.message), hex(t.signature)] as const;
          assert.equal(native!(...args), t.testPassed, `tcId ${String(t.tcId)} ${String(t.reason)}`);
          assert.equal(noble(...args), t.testPassed);
          ran++;
        }
      }
      report('ACVP ML-DSA-44 sigVer, native and @noble', ran, { 'a context string': context });
      assert.ok(ran > 0);
    },
  );

  it('agrees with @noble on signatures by the ACVP keyGen keys, and on each part changed', { skip: NO_ADDON }, () => {
    let ran = 0;
    const message = new TextEncoder().encode('keyward checkpoint');
    for (const g of acvp('ML-DSA-keyGen-FIPS204')) {
      if (g.parameterSet !== 'ML-DSA-44') continue;
      for (const t of g.tests.slice(0, 4)) {
        const pk = hex(t.pk);
        const sig = ml_dsa44.sign(message, hex(t.sk));
        const cases: Array<[string, Uint8Array, Uint8Array, boolean]> = [['valid', message, sig, true]];
        // c~ (32 bytes), z (2,304), the hint (84: positions, then the count per row).
        for (const at of [0, 31, 32, 1000, 2335, 2336, 2400, 2415, 2419]) {
          const bad = sig.slice();
          bad[at]! ^= 1;
          cases.push([`bit flipped at ${at}`, message, bad, false]);
        }
        const overfull = sig.slice();
        overfull[2419] = 0xff; // more hints than ω
        cases.push(['hint count past ω', message, overfull, false]);
        cases.push(['message changed', message.map((b, i) => (i === 0 ? b ^ 1 : b)), sig, false]);
        cases.push(['short', message, sig.subarray(1), false]);
        cases.push(['long', message, new Uint8Array([...sig, 0]), false]);
        for (const [what, m, s, expected] of cases) {
          assert.equal(noble(pk, m, s), expected, `noble: ${what}`);
          assert.equal(native!(pk, m, s), expected, `native: ${what}`);
          ran++;
        }
      }
    }
    report('ML-DSA-44 native against @noble, ACVP keyGen keys', ran, {});
  });

  it('verifies a checkpoint on both paths, and a tampered cosignature fails on both', () => {
    // The byte flipped: in the ML-DSA signature, past the key ID and the timestamp.
    verifiesOnEachPath(
      mlDsa44CosignerSigner('keyward.test/audit/ml-dsa-44', new Uint8Array(32).fill(7)),
      4 + 8 + 500,
      1_700_000_000,
      [['noble', {}], ...(native ? [['native', { mlDsa44Verify: native }] as const] : [])],
    );
  });

  it('falls back to @noble: KEYWARD_PQ_BACKEND=noble, no addon, or an addon failing its self-test', () => {
    assert.equal(nativeMlDsa44Verify({ choice: 'noble' }), undefined);
    const missing = () => {
      throw new Error('Cannot find module node_pqclean.node');
    };
    assert.equal(nativeMlDsa44Verify({ choice: 'auto', load: missing }), undefined);
    assert.throws(
      () => nativeMlDsa44Verify({ choice: 'pqclean', load: missing }),
      (e: unknown) =>
        isKeywardError(e, 'USAGE') && /pqclean addon is not available: Cannot find module/.test(e.message),
    );
    assert.throws(
      () => nativeMlDsa44Verify({ choice: 'fast' }),
      (e: unknown) => isKeywardError(e, 'USAGE') && /expected one of auto, pqclean, noble/.test(e.message),
    );
    // An addon whose verify accepts everything never gets used.
    class Yes {
      keypair() {
        return { publicKey: Buffer.alloc(1312), privateKey: Buffer.alloc(2560) };
      }
      sign() {
        return Buffer.alloc(2420);
      }
      verify() {
        return true;
      }
    }
    assert.equal(nativeMlDsa44Verify({ choice: 'auto', load: () => ({ Sign: Yes }) }), undefined);
    assert.throws(
      () => nativeMlDsa44Verify({ choice: 'pqclean', load: () => ({ Sign: Yes }) }),
      /accepts a signature, message or key with a bit flipped/,
    );
    // Nor one whose answer is merely truthy: only a plain true is an accept.
    class One extends Yes {
      override verify(): boolean {
        return 1 as unknown as boolean;
      }
    }
    assert.throws(
      () => nativeMlDsa44Verify({ choice: 'pqclean', load: () => ({ Sign: One }) }),
      /rejects its own signature/,
    );
  });

  it('a backend that rejects cannot fail a valid checkpoint: @noble confirms every reject', () => {
    const signer = mlDsa44CosignerSigner('keyward.test/audit/ml-dsa-44', new Uint8Array(32).fill(9));
    const note = signNote(
      checkpointBody({ origin: 'keyward.test/audit', size: 1, root: new Uint8Array(32) }),
      [signer],
      {
        time: 1,
      },
    );
    let calls = 0;
    const cp = verifyNote(note, [parseVerifierKey(signer.verifierKey)], {
      mlDsa44Verify: () => (calls++, false),
    });
    assert.equal(cp.size, 1);
    assert.equal(calls, 1);
  });
});
