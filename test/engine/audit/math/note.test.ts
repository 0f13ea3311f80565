import assert from 'node:assert/strict';
import { createHash, createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, it } from 'node:test';
// The oracle: sigstore-js's checkpoint verifier (Ed25519 signed notes), imported from its dist file.
import { verifyCheckpoint } from '@sigstore/verify/dist/tlog/checkpoint.js';
import { isKeywardError } from '../../../../lib/errors.js';
import {
  MAX_NOTE_SIGNATURES,
  SignatureType,
  checkpointBody,
  cosignedMessage,
  ed25519Signer,
  keyId,
  mlDsa44CosignerSigner,
  openNote,
  parseCheckpoint,
  parseNote,
  parseTrustedKeysFile,
  parseVerifierKey,
  signNote,
  verifierKeyString,
  verifyNote,
} from '../../../../engine/audit/math/note.js';
import { leafHash } from '../../../../engine/audit/math/merkle.js';
import { mlDsaSign, pqBackend, selectPqBackend } from '../../../../engine/crypto/pq.js';
import { ml_dsa44 } from '@noble/post-quantum/ml-dsa.js';
import { ORIGIN, VECTORS, b64, bytesLog, enc, hex, logSigners, signCheckpoint } from '../helpers.js';

/** The pqclean addon's signer, as engine/crypto/pq.ts uses it. */
interface NativeSign {
  sign(sk: Buffer, m: Buffer): Buffer;
  verify(pk: Buffer, m: Buffer, sig: Buffer): boolean;
}

const cpInvalid = (re?: RegExp) => (err: unknown) =>
  isKeywardError(err, 'AUDIT_CHECKPOINT_INVALID') && (re === undefined || re.test(err.message));

// golang.org/x/mod/sumdb/note, the package documentation's example (also note_test.go): the
// signer key is PRIVATE+KEY+<name>+<id>+base64(0x01 ‖ Ed25519 seed).
const GO = {
  skeyData: 'AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz',
  vkey: 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW',
  text: "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n",
  sigLine:
    '— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n',
};

/** torchwood's ML-DSA-44 log: seed, vkey and a cosigned checkpoint (see vectors/README.md). */
function torchwood(): { seed: Uint8Array; vkey: string; note: string; origin: string; root: string } {
  const fields = Object.fromEntries(
    readFileSync(join(VECTORS, 'torchwood-mldsa.txt'), 'utf8')
      .split('\n')
      .filter((l) => l !== '' && !l.startsWith('#'))
      .map((l) => [l.slice(0, l.indexOf(' ')), l.slice(l.indexOf(' ') + 1)]),
  ) as Record<'seed' | 'vkey' | 'origin' | 'size' | 'root' | 'sigline', string>;
  const note = `${fields.origin}\n${fields.size}\n${fields.root}\n\n${fields.sigline}\n`;
  return {
    seed: new Uint8Array(Buffer.from(fields.seed, 'hex')),
    vkey: fields.vkey,
    note,
    origin: fields.origin,
    root: fields.root,
  };
}

function u64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}

describe('interoperability', () => {
  it('Ed25519: reproduces the Go sumdb/note example byte for byte and verifies it', () => {
    const signer = ed25519Signer('PeterNeumann', b64(GO.skeyData).subarray(1));
    assert.equal(signer.verifierKey, GO.vkey);
    const note = signNote(GO.text, [signer], { time: 0 });
    assert.equal(note, `${GO.text}\n${GO.sigLine}`);
    const opened = openNote(note, [parseVerifierKey(GO.vkey)]);
    assert.equal(opened.text, GO.text);
    assert.throws(
      () => openNote(note.replace('cryptography', 'cryptographY'), [parseVerifierKey(GO.vkey)]),
      cpInvalid(/PeterNeumann\+c74f20a3 does not verify/),
    );
  });

  it("ML-DSA-44 (0x06): our key from torchwood's seed has its verifier key, and its cosigned checkpoint verifies", () => {
    const tw = torchwood();
    const signer = mlDsa44CosignerSigner(tw.origin, tw.seed);
    assert.equal(signer.verifierKey, tw.vkey);
    const cp = verifyNote(tw.note, [parseVerifierKey(tw.vkey)]);
    assert.equal(cp.origin, 'example.com/mldsa-log');
    assert.equal(cp.size, 1);
    assert.equal(Buffer.from(cp.root).toString('base64'), tw.root);
    assert.equal(hex(cp.root), hex(leafHash(enc('testonly'))));
    assert.deepEqual(cp.signatures, [{ key: 'example.com/mldsa-log+b5df45c5', type: 0x06, timestamp: 0 }]);
    // Ours over the same checkpoint verifies under their key, deterministic or hedged.
    const ours = signNote(checkpointBody(cp), [signer], { time: 1_700_000_000 });
    assert.equal(verifyNote(ours, [parseVerifierKey(tw.vkey)]).signatures[0]!.timestamp, 1_700_000_000);
    // Any change to their note fails (below); first, ours as the server's integrator signs (next test).
    // Any change to their note fails: the root, or the timestamp inside the signature.
    assert.throws(
      () => verifyNote(tw.note.replace('\n1\n', '\n2\n'), [parseVerifierKey(tw.vkey)]),
      cpInvalid(/does not verify/),
    );
    const sigline = tw.note.split('\n')[4]!;
    const raw = b64(sigline.split(' ')[2]);
    raw[4 + 7]! ^= 1; // the last byte of the u64 timestamp
    const tampered = tw.note.replace(sigline, `— ${tw.origin} ${Buffer.from(raw).toString('base64')}`);
    assert.throws(() => verifyNote(tampered, [parseVerifierKey(tw.vkey)]), cpInvalid(/does not verify/));
  });

  it("the integrator's ML-DSA-44 cosignature is signed natively by pqclean (counted), and @noble verifies it", (t) => {
    // The addon as engine/crypto/pq.ts loads it, each Sign counting its signatures: a cosignature
    // that the @noble fallback made instead would leave the count at zero.
    let addon: { Sign: new (name: string) => NativeSign; KEM: unknown };
    try {
      const require = createRequire(import.meta.url);
      const dir = require.resolve('pqclean/package.json').slice(0, -'package.json'.length);
      addon = require(`${dir}build/Release/node_pqclean.node`);
    } catch (e) {
      t.skip(`the pqclean addon is not built here (${(e as Error).message.split('\n')[0]}): nothing native to assert`);
      return;
    }
    let nativeSigns = 0;
    const counting = {
      KEM: addon.KEM,
      Sign: function Sign(name: string): NativeSign {
        const s = new addon.Sign(name);
        return { sign: (sk, m) => (nativeSigns++, s.sign(sk, m)), verify: (pk, m, sig) => s.verify(pk, m, sig) };
      },
    };
    const initial = pqBackend();
    try {
      assert.equal(selectPqBackend({ choice: 'pqclean', load: () => counting }).name, 'pqclean');
      assert.equal(pqBackend().name, 'pqclean');
      const tw = torchwood();
      const cp = verifyNote(tw.note, [parseVerifierKey(tw.vkey)]);
      // As engine/audit/log/signing.ts builds the integrator's cosigner: the crypto core's ML-DSA-44.
      let calls = 0;
      const core = mlDsa44CosignerSigner(tw.origin, tw.seed, {
        sign: (m, sk) => (calls++, mlDsaSign('ml-dsa-44', sk, m, new Uint8Array(0))),
      });
      assert.equal(core.verifierKey, tw.vkey);
      const before = nativeSigns; // the self-test signed too
      const coreNote = signNote(checkpointBody(cp), [core], { time: 1_700_000_001 });
      assert.equal(calls, 1);
      assert.equal(nativeSigns - before, 1, 'pqclean made the cosignature');
      assert.equal(verifyNote(coreNote, [parseVerifierKey(tw.vkey)]).signatures[0]!.timestamp, 1_700_000_001);
      // And @noble on its own: the signature line over tlog-cosignature's signed message, under their key.
      const raw = b64(coreNote.trimEnd().split('\n').at(-1)!.split(' ')[2]!);
      const time = Number(Buffer.from(raw.subarray(4, 12)).readBigUInt64BE());
      const pub = b64(tw.vkey.slice(tw.vkey.indexOf('+', tw.vkey.indexOf('+') + 1) + 1)).subarray(1); // name+id+base64(0x06 ‖ key)
      const msg = cosignedMessage(tw.origin, time, cp.origin, cp.size, cp.root);
      assert.equal(ml_dsa44.verify(raw.subarray(12), msg, pub), true);
    } finally {
      selectPqBackend({ choice: initial.name === 'pqclean' ? 'pqclean' : 'noble' });
    }
  });

  it("sigstore's checkpoint verifier accepts our Ed25519 line (and ignores the ML-DSA one)", () => {
    const log = bytesLog(11);
    const { ed, pq } = logSigners();
    const note = signCheckpoint(log, [ed, pq]);
    const jwk = { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(ed.publicKey).toString('base64url') };
    const cp = verifyCheckpoint({ inclusionProof: { checkpoint: { envelope: note } } } as never, [
      {
        logID: Buffer.concat([Buffer.from(ed.keyId), Buffer.alloc(28)]),
        baseURL: ORIGIN,
        publicKey: createPublicKey({ key: jwk, format: 'jwk' }),
        validFor: { start: new Date(0), end: new Date(8.64e15) },
      },
    ]);
    assert.equal(cp.origin, ORIGIN);
    assert.equal(cp.logSize, 11n);
    assert.equal(hex(cp.logHash), hex(log.root));
  });

  it('verifier key strings whose base64 contains "+" parse (transparency-dev/formats), other types are refused', () => {
    assert.equal(parseVerifierKey('TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6').name, 'TEST');
    // A type 0x04 (timestamped Ed25519 cosignature) key: well-formed, but not a type Keyward pins.
    assert.throws(
      () => parseVerifierKey('remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2'),
      cpInvalid(/got 0x04/),
    );
  });

  it('cosigned_message is the tlog-cosignature layout, byte for byte', () => {
    const root = enc('0123456789abcdef0123456789abcdef');
    const want = Buffer.concat([
      Buffer.from('subtree/v1\n\0'),
      Buffer.from([14]),
      Buffer.from('mirror.test/m1'),
      u64(1679315147),
      Buffer.from([15]),
      Buffer.from('example.com/log'),
      Buffer.alloc(8),
      u64(20852163),
      root,
    ]);
    assert.equal(
      hex(cosignedMessage('mirror.test/m1', 1679315147, 'example.com/log', 20852163, root)),
      want.toString('hex'),
    );
    // key ID = SHA-256(name ‖ 0x0A ‖ type ‖ public key)[:4]
    const pk = new Uint8Array(1312).fill(3);
    const h = createHash('sha256')
      .update(Buffer.concat([Buffer.from('n'), Buffer.from([0x0a, 0x06]), pk]))
      .digest();
    assert.equal(hex(keyId('n', SignatureType.mlDsa44Cosignature, pk)), h.subarray(0, 4).toString('hex'));
  });
});

describe('checkpoint notes: sign and verify', () => {
  const log = bytesLog(1042);
  const { ed, pq, trusted } = logSigners();
  const note = signCheckpoint(log, [ed, pq], 1_767_225_600);

  it('a checkpoint signed by both keys verifies against both, with the cosignature timestamp', () => {
    const lines = note.split('\n');
    assert.deepEqual(lines.slice(0, 4), [ORIGIN, '1042', Buffer.from(log.root).toString('base64'), '']);
    assert.ok(lines[4]!.startsWith(`— ${ORIGIN} `));
    assert.ok(lines[5]!.startsWith(`— ${ORIGIN}/mldsa `));
    assert.equal(lines[6], '');
    const cp = verifyNote(note, trusted);
    assert.equal(cp.size, 1042);
    assert.equal(hex(cp.root), hex(log.root));
    assert.deepEqual(
      cp.signatures.map((s) => [s.type, s.timestamp]),
      [
        [0x01, null],
        [0x06, 1_767_225_600],
      ],
    );
    // Deterministic ML-DSA signing: the same inputs give the same note.
    assert.equal(signCheckpoint(log, [ed, pq], 1_767_225_600), note);
  });

  it('a wrong key fails, naming the key', () => {
    const other = ed25519Signer(ORIGIN, new Uint8Array(32).fill(0x33));
    const otherKey = parseVerifierKey(other.verifierKey);
    assert.throws(
      () => verifyNote(note, [otherKey]),
      cpInvalid(new RegExp(`no signature line from trusted key ${ORIGIN.replace('.', '\\.')}\\+${hex(other.keyId)}`)),
    );
    // Same name and key ID as the pinned key but another public key: the signature fails.
    const forged = { ...trusted[0]!, publicKey: other.publicKey };
    assert.throws(() => verifyNote(note, [forged]), cpInvalid(/does not verify/));
  });

  it('an edited body fails: each pinned key is named', () => {
    const edited = note.replace('\n1042\n', '\n1043\n');
    assert.throws(
      () => verifyNote(edited, trusted),
      cpInvalid(new RegExp(`trusted key ${ORIGIN.replace('.', '\\.')}\\+${hex(ed.keyId)} does not verify`)),
    );
    assert.throws(
      () => verifyNote(edited, [trusted[1]!]),
      cpInvalid(/cosignature of trusted key .*\/mldsa\+[0-9a-f]{8} does not verify/),
    );
  });

  it('a missing signature line fails: every pinned key must have signed', () => {
    const lines = note.split('\n');
    const noPq = [...lines.slice(0, 5), ''].join('\n');
    assert.equal(verifyNote(noPq, [trusted[0]!]).size, 1042);
    assert.throws(
      () => verifyNote(noPq, trusted),
      cpInvalid(/no signature line from trusted key keyward\.test\/audit\/mldsa\+/),
    );
  });

  it('extra lines from unknown keys are ignored, as signed-note requires', () => {
    const witness = ed25519Signer('witness.example/w1', new Uint8Array(32).fill(0x44));
    const witnessLine = signNote(checkpointBody(parseCheckpoint(parseNote(note).text)), [witness], { time: 1 }).split(
      '\n\n',
    )[1]!;
    // Also a line with a pinned key's name but another key ID, and one with a pinned key ID but another name.
    const sameName = `— ${ORIGIN} ${Buffer.concat([Buffer.from([1, 2, 3, 4]), Buffer.alloc(64)]).toString('base64')}\n`;
    const sameId = `— someone.else ${Buffer.concat([Buffer.from(ed.keyId), Buffer.alloc(64)]).toString('base64')}\n`;
    const extended = note + witnessLine + sameName + sameId;
    assert.equal(verifyNote(extended, trusted).size, 1042);
    // A second line from a pinned key is refused rather than guessed at.
    const doubled = note + note.split('\n')[4] + '\n';
    assert.throws(() => verifyNote(doubled, trusted), cpInvalid(/2 signature lines from trusted key/));
  });

  it('malformed notes are refused with what is wrong', () => {
    const cases: Array<[string, string, RegExp]> = [
      ['no blank line', note.replace('\n\n', '\n'), /blank line/],
      ['no final newline', note.slice(0, -1), /final newline/],
      ['control character', note.replace(ORIGIN, `${ORIGIN}\u0007`), /control character/],
      ['bad signature line', note.replace('— ', '- '), /signature line 1 is not/],
      [
        'bad base64',
        note.replace(note.split('\n')[4]!, `${note.split('\n')[4]!}=`),
        /signature line 1: expected standard padded base64/,
      ],
      [
        'non-canonical base64',
        note.replace(
          note.split('\n')[4]!,
          note.split('\n')[4]!.replace(/(.)=$/, (_m, c: string) => `${String.fromCharCode(c.charCodeAt(0) ^ 1)}=`),
        ),
        /expected canonical base64/,
      ],
      ['short signature', `${parseNote(note).text}\n— ${ORIGIN} AAAA\n`, /expected at least 5 bytes/],
      [
        'too many lines',
        parseNote(note).text + '\n' + `— x AAAAAAA=\n`.repeat(MAX_NOTE_SIGNATURES + 1),
        /at most 32 signature lines/,
      ],
    ];
    for (const [what, text, re] of cases) assert.throws(() => verifyNote(text, trusted), cpInvalid(re), what);
  });

  it('checkpoint bodies: exactly origin, size and root; no extension lines', () => {
    const root = Buffer.from(log.root).toString('base64');
    assert.deepEqual(parseCheckpoint(`o\n0\n${root}\n`).size, 0);
    const bad: Array<[string, RegExp]> = [
      [`o\n1\n${root}\nextension\n`, /expected 3 lines .*extension lines/],
      [`o\n01\n${root}\n`, /without leading zeros/],
      [`o\n9007199254740992\n${root}\n`, /below 2\^53/],
      [`o\n1\n${root.slice(4)}\n`, /root hash/],
      [`\n1\n${root}\n`, /origin line/],
      [`o\n1\n${root}`, /ending in a newline/],
    ];
    for (const [body, re] of bad) assert.throws(() => parseCheckpoint(body), cpInvalid(re), body);
    assert.throws(() => checkpointBody({ origin: 'has space', size: 1, root: log.root }), RangeError);
    assert.throws(() => checkpointBody({ origin: 'a+b', size: 1, root: log.root }), RangeError);
    assert.throws(() => checkpointBody({ origin: 'o', size: 1, root: log.root.subarray(1) }), RangeError);
  });

  it('signing refuses milliseconds, duplicate signers, bad text, and a destroyed signer', () => {
    const body = checkpointBody({ origin: ORIGIN, size: 1, root: log.root });
    assert.throws(() => signNote(body, [ed], { time: Date.UTC(2026, 0, 1) }), /not milliseconds/);
    assert.throws(() => signNote(body, [ed, ed], { time: 1 }), /distinct keys/);
    assert.throws(() => signNote(body.slice(0, -1), [ed], { time: 1 }), /ending in a newline/);
    assert.throws(() => signNote(body, [], { time: 1 }), /at least one signer/);
    assert.throws(() => signNote('not a checkpoint\n', [pq], { time: 1 }), cpInvalid(/expected 3 lines/));
    const throwaway = ed25519Signer('x.example/k', new Uint8Array(32).fill(5));
    throwaway.destroy();
    assert.throws(() => signNote(body, [throwaway], { time: 1 }), /destroyed/);
  });
});

describe('verifier keys and trusted key files', () => {
  const { ed, pq } = logSigners();

  it('verifier key strings round-trip; a wrong key ID, type or length is refused', () => {
    for (const s of [ed, pq]) {
      const k = parseVerifierKey(s.verifierKey);
      assert.equal(k.text, s.verifierKey);
      assert.equal(verifierKeyString(k.name, k.type, k.publicKey), s.verifierKey);
      assert.equal(hex(k.keyId), hex(s.keyId));
    }
    const [name, id, data] = [ORIGIN, hex(ed.keyId), ed.verifierKey.split('+').slice(2).join('+')];
    const wrongId = `${name}+${id === '00000000' ? '00000001' : '00000000'}+${data}`;
    assert.throws(() => parseVerifierKey(wrongId), cpInvalid(/does not match its name, type and public key/));
    assert.throws(() => parseVerifierKey(`${name}+${id.toUpperCase()}+${data}`), cpInvalid(/8 lowercase hex digits/));
    assert.throws(
      () =>
        parseVerifierKey(
          `${name}+${id}+${Buffer.concat([Buffer.from([1]), Buffer.from(ed.publicKey).subarray(1)]).toString('base64')}`,
        ),
      cpInvalid(/32-byte public key/),
    );
    // The identity point is a valid encoding but of small order: never a key.
    const identity = new Uint8Array(32);
    identity[0] = 1;
    assert.throws(
      () => parseVerifierKey(verifierKeyString('weak', SignatureType.ed25519, identity)),
      cpInvalid(/small order/),
    );
  });

  it('trusted keys files: comments and blank lines skipped, errors name the line', () => {
    const file = `# Keyward audit keys\n\n  ${ed.verifierKey}  \n# post-quantum\n${pq.verifierKey}\n`;
    assert.deepEqual(
      parseTrustedKeysFile(file).map((k) => k.text),
      [ed.verifierKey, pq.verifierKey],
    );
    assert.throws(() => parseTrustedKeysFile(`${ed.verifierKey}\nnot a key\n`), cpInvalid(/line 2: verifier key/));
    assert.throws(
      () => parseTrustedKeysFile(`${ed.verifierKey}\n\n${ed.verifierKey}\n`),
      cpInvalid(/line 3: repeats the key of line 1/),
    );
    assert.throws(() => parseTrustedKeysFile('# nothing\n'), cpInvalid(/at least one verifier key/));
  });
});
