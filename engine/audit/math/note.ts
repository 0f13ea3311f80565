/**
 * Checkpoints as C2SP signed notes (c2sp.org/signed-note, c2sp.org/tlog-checkpoint), signed with
 * Ed25519 (note signature type 0x01) and with ML-DSA-44 timestamped cosignatures (type 0x06,
 * c2sp.org/tlog-cosignature), and verified against pinned C2SP verifier keys.
 *
 * A checkpoint note (docs/architecture.md):
 *
 *   keyward.example/audit                          origin
 *   1042                                           tree size, decimal, no leading zeros
 *   4Zq…=                                          base64 (RFC 4648 §4) of the 32-byte root
 *                                                  blank line: end of the note text
 *   — keyward.example/audit Bx0k…                  one line per signature: em dash (U+2014),
 *   — keyward.example/audit-mldsa qfE3…            space, key name, space, base64(key ID ‖ sig)
 *
 * Keyward checkpoints have no extension lines (the ML-DSA-44 cosignature does not cover them).
 *
 * Signature types, exactly as the specifications define them:
 *
 *   0x01 Ed25519 (signed-note §"Ed25519 signatures")
 *        key ID    = SHA-256(name ‖ 0x0A ‖ 0x01 ‖ 32-byte public key)[:4]
 *        signature = Ed25519 (RFC 8032) over the note text (the body, final newline included)
 *
 *   0x06 ML-DSA-44 cosignature (tlog-cosignature §"Format", §"ML-DSA-44 signed message")
 *        key ID    = SHA-256(name ‖ 0x0A ‖ 0x06 ‖ 1312-byte public key)[:4]
 *        signature = timestamped_signature = u64be(timestamp) ‖ ML-DSA-44 signature (2420 bytes)
 *        signed message = cosigned_message, TLS presentation language (RFC 8446 §3):
 *          "subtree/v1\n\0"                          12-byte label
 *          u8 len ‖ cosigner name                    (the key name, 1-255 bytes)
 *          u64be timestamp                           (POSIX seconds, ≤ 2^63 − 1)
 *          u8 len ‖ log origin                       (the checkpoint's origin line, 1-255 bytes)
 *          u64be start = 0                           (a checkpoint is the subtree [0, size))
 *          u64be end = size
 *          32-byte root hash
 *        ML-DSA-44 is pure ML-DSA (FIPS 204 Algorithm 2) with the empty context string.
 *
 * The timestamp is always handed in by the caller: nothing here reads a clock.
 *
 * Verifier keys (signed-note "vkeys", as golang.org/x/mod/sumdb/note writes them):
 *   <name>+<key ID as 8 lowercase hex digits>+<base64(type byte ‖ public key)>
 *
 * Verification rule (docs/architecture.md): *every* pinned key must have a valid signature line. Lines from
 * unknown keys are ignored, as signed-note requires (that is how cosigners and key rotation work);
 * a line whose name and key ID both match a pinned key must verify.
 * @module
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { ml_dsa44 } from '@noble/post-quantum/ml-dsa.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { abytes, concatBytes, equalBytes, fromBase64, toBase64, toHex, utf8 } from '../../../lib/bytes.js';
import { auditError } from './errors.js';
import { HASH_LEN } from './merkle.js';

/** Note signature type bytes (signed-note §"Signature types", tlog-cosignature). */
export const SignatureType = {
  /** Ed25519 over the note text. */
  ed25519: 0x01,
  /** ML-DSA-44 timestamped cosignature over a cosigned_message. */
  mlDsa44Cosignature: 0x06,
} as const;
export type SignatureType = (typeof SignatureType)[keyof typeof SignatureType];

export const ED25519_PUBLIC_KEY_LEN = 32;
export const ED25519_SIGNATURE_LEN = 64;
export const ML_DSA_44_PUBLIC_KEY_LEN = 1312;
export const ML_DSA_44_SIGNATURE_LEN = 2420;
/** Length of a key ID: the first 4 bytes of a SHA-256. */
export const KEY_ID_LEN = 4;
/** Most signature lines accepted in a note (signed-note: verifiers must accept at least 16). */
export const MAX_NOTE_SIGNATURES = 32;
/** Largest note accepted, in characters (32 ML-DSA-44 lines are ~105 KB). */
export const MAX_NOTE_CHARS = 256 * 1024;
/** Largest timestamp accepted as POSIX seconds: 9999-12-31T23:59:59Z (catches milliseconds passed by mistake). */
export const MAX_TIMESTAMP_SECONDS = 253_402_300_799;

const PUBLIC_KEY_LEN: Record<SignatureType, number> = { 0x01: ED25519_PUBLIC_KEY_LEN, 0x06: ML_DSA_44_PUBLIC_KEY_LEN };
const COSIGNATURE_LABEL = utf8('subtree/v1\n\0');
const EM_DASH = '\u2014';
// Key names: non-empty, no Unicode spaces, no '+', no control characters (signed-note §"Format").
const KEY_NAME_RE = /^[^\s+\p{Cc}]+$/u;
const CONTROL_RE = /[\u0000-\u0009\u000b-\u001f]/;
const LONE_SURROGATE_RE = /\p{Cs}/u;
const SIGNATURE_LINE_RE = /^\u2014 ([^\s+\p{Cc}]+) ([A-Za-z0-9+/]+={0,2})$/u;
const VERIFIER_KEY_RE = /^([^\s+\p{Cc}]+)\+([0-9a-f]{8})\+([A-Za-z0-9+/]+={0,2})$/u;
const SIZE_RE = /^(0|[1-9][0-9]*)$/;

// ---------------------------------------------------------------------------------------------
// Checkpoint bodies (c2sp.org/tlog-checkpoint §"Note text").
// ---------------------------------------------------------------------------------------------

/** The three lines of a checkpoint. */
export interface Checkpoint {
  origin: string;
  size: number;
  root: Uint8Array;
}

function checkpointInvalid(message: string, details?: Record<string, unknown>): never {
  throw auditError('AUDIT_CHECKPOINT_INVALID', message, details ? { details } : undefined);
}

/** Asserts a key name (or origin): 1-255 UTF-8 bytes, no spaces, '+' or control characters. */
function assertName(name: unknown, what: string): asserts name is string {
  if (typeof name !== 'string') throw new TypeError(`"${what}" expected string, got ${typeof name}`);
  const n = LONE_SURROGATE_RE.test(name) ? -1 : utf8(name).length;
  if (n < 1 || n > 255 || !KEY_NAME_RE.test(name)) {
    throw new RangeError(
      `"${what}" expected 1-255 UTF-8 bytes without spaces, '+' or control characters, got ${n < 0 ? 'a lone surrogate' : `${name.length} characters that are not`}`,
    );
  }
}

/** `origin\nsize\nbase64(root)\n`: the note text of a checkpoint, without extension lines. */
export function checkpointBody(c: Checkpoint): string {
  if (typeof c !== 'object' || c === null)
    throw new TypeError(`"checkpoint" expected {origin, size, root}, got ${c === null ? 'null' : typeof c}`);
  assertName(c.origin, 'origin');
  if (!Number.isSafeInteger(c.size) || c.size < 0)
    throw new RangeError(`"size" expected a non-negative safe integer, got ${c.size}`);
  abytes(c.root, 'root', HASH_LEN);
  return `${c.origin}\n${c.size}\n${toBase64(c.root)}\n`;
}

/**
 * Parses checkpoint note text (attacker input): exactly three newline-terminated lines, a
 * non-empty origin of at most 255 bytes, a decimal size with no leading zeros, and the base64 of a
 * 32-byte root. Extension lines are refused: Keyward never writes them.
 * @throws {@link KeywardError} `AUDIT_CHECKPOINT_INVALID`.
 */
export function parseCheckpoint(body: string): Checkpoint {
  if (typeof body !== 'string') checkpointInvalid(`checkpoint: expected note text, got ${typeof body}`);
  if (!body.endsWith('\n')) checkpointInvalid('checkpoint: expected text ending in a newline');
  const lines = body.slice(0, -1).split('\n');
  if (lines.length !== 3) {
    checkpointInvalid(
      `checkpoint: expected 3 lines (origin, size, root hash), got ${lines.length}${lines.length > 3 ? ' (extension lines are not used by Keyward)' : ''}`,
    );
  }
  const [origin, sizeText, rootText] = lines as [string, string, string];
  if (origin.length === 0 || CONTROL_RE.test(origin) || LONE_SURROGATE_RE.test(origin) || utf8(origin).length > 255) {
    checkpointInvalid('checkpoint: expected an origin line of 1-255 bytes without control characters');
  }
  if (!SIZE_RE.test(sizeText) || !Number.isSafeInteger(Number(sizeText))) {
    checkpointInvalid(
      `checkpoint: expected the tree size as a decimal integer without leading zeros below 2^53, got ${sizeText.length <= 24 ? JSON.stringify(sizeText) : `${sizeText.length} characters`}`,
    );
  }
  const root = fromBase64(rootText, 'checkpoint: root hash', HASH_LEN, 'AUDIT_CHECKPOINT_INVALID');
  return { origin, size: Number(sizeText), root };
}

// ---------------------------------------------------------------------------------------------
// Key IDs and verifier keys.
// ---------------------------------------------------------------------------------------------

/** The recommended key ID: SHA-256(name ‖ 0x0A ‖ type ‖ public key)[:4] (signed-note §"Signatures"). */
export function keyId(name: string, type: SignatureType, publicKey: Uint8Array): Uint8Array {
  assertName(name, 'name');
  assertType(type);
  abytes(publicKey, 'publicKey', PUBLIC_KEY_LEN[type]);
  return sha256(concatBytes(utf8(name), Uint8Array.of(0x0a, type), publicKey)).slice(0, KEY_ID_LEN);
}

function assertType(type: unknown): asserts type is SignatureType {
  if (type !== SignatureType.ed25519 && type !== SignatureType.mlDsa44Cosignature) {
    throw new RangeError(
      `"type" expected 0x01 (Ed25519) or 0x06 (ML-DSA-44 cosignature), got ${typeof type === 'number' ? `0x${type.toString(16)}` : typeof type}`,
    );
  }
}

/** A trusted public key, parsed from its verifier key string. */
export interface VerifierKey {
  name: string;
  type: SignatureType;
  keyId: Uint8Array;
  publicKey: Uint8Array;
  /** The verifier key string: `<name>+<hex key ID>+<base64(type ‖ public key)>`. */
  text: string;
}

/** `<name>+<8 hex digits of the key ID>+<base64(type ‖ public key)>`. */
export function verifierKeyString(name: string, type: SignatureType, publicKey: Uint8Array): string {
  const id = keyId(name, type, publicKey);
  return `${name}+${toHex(id)}+${toBase64(concatBytes(Uint8Array.of(type), publicKey))}`;
}

/**
 * Parses a verifier key string (attacker input when it comes from a file or a bundle). The key ID
 * must be the one its name, type and public key give; Ed25519 keys must be canonical points not of
 * small order.
 * @throws {@link KeywardError} `AUDIT_CHECKPOINT_INVALID` naming what is wrong.
 */
export function parseVerifierKey(text: string): VerifierKey {
  if (typeof text !== 'string') checkpointInvalid(`verifier key: expected a string, got ${typeof text}`);
  const m = VERIFIER_KEY_RE.exec(text);
  if (!m) checkpointInvalid('verifier key: expected <name>+<8 lowercase hex digits>+<base64(type ‖ public key)>');
  const [, name, idHex, b64] = m as unknown as [string, string, string, string];
  if (utf8(name).length > 255) checkpointInvalid('verifier key: expected a name of at most 255 bytes');
  const raw = fromBase64(b64, `verifier key ${name}`, { min: 1 }, 'AUDIT_CHECKPOINT_INVALID');
  const type = raw[0]!;
  if (type !== SignatureType.ed25519 && type !== SignatureType.mlDsa44Cosignature) {
    checkpointInvalid(
      `verifier key ${name}: expected signature type 0x01 (Ed25519) or 0x06 (ML-DSA-44 cosignature), got 0x${type.toString(16).padStart(2, '0')}`,
    );
  }
  const publicKey = raw.slice(1);
  if (publicKey.length !== PUBLIC_KEY_LEN[type]) {
    checkpointInvalid(
      `verifier key ${name}: expected a ${PUBLIC_KEY_LEN[type]}-byte public key for type 0x0${type}, got ${publicKey.length} bytes`,
    );
  }
  if (type === SignatureType.ed25519 && !isSafeEd25519Key(publicKey)) {
    checkpointInvalid(`verifier key ${name}: the Ed25519 public key is not a canonical point, or is of small order`);
  }
  const id = keyId(name, type, publicKey);
  if (toHex(id) !== idHex)
    checkpointInvalid(
      `verifier key ${name}: key ID ${idHex} does not match its name, type and public key (expected ${toHex(id)})`,
    );
  return { name, type, keyId: id, publicKey, text };
}

function isSafeEd25519Key(raw: Uint8Array): boolean {
  try {
    return !ed25519.Point.fromBytes(raw, false).isSmallOrder();
  } catch {
    return false;
  }
}

/**
 * Parses a trusted keys file: one verifier key per line; blank lines and lines starting with '#'
 * are skipped; surrounding spaces are ignored. At least one key, no key twice.
 * @throws {@link KeywardError} `AUDIT_CHECKPOINT_INVALID` naming the line.
 */
export function parseTrustedKeysFile(text: string): VerifierKey[] {
  if (typeof text !== 'string') throw new TypeError(`"text" expected string, got ${typeof text}`);
  const keys: VerifierKey[] = [];
  const seen = new Map<string, number>();
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    let key: VerifierKey;
    try {
      key = parseVerifierKey(line);
    } catch (err) {
      checkpointInvalid(`trusted keys file, line ${i + 1}: ${(err as Error).message}`, { line: i + 1 });
    }
    const first = seen.get(key.text);
    if (first !== undefined)
      checkpointInvalid(`trusted keys file, line ${i + 1}: repeats the key of line ${first}`, { line: i + 1 });
    seen.set(key.text, i + 1);
    keys.push(key);
  });
  if (keys.length === 0) checkpointInvalid('trusted keys file: expected at least one verifier key, got none');
  return keys;
}

// ---------------------------------------------------------------------------------------------
// Signing.
// ---------------------------------------------------------------------------------------------

/** Signs note text as one key. Holds a copy of the secret key until {@link NoteSigner.destroy}. */
export interface NoteSigner {
  readonly name: string;
  readonly type: SignatureType;
  readonly keyId: Uint8Array;
  readonly publicKey: Uint8Array;
  /** This key's verifier key string, to publish and pin. */
  readonly verifierKey: string;
  /** The signature bytes (without the key ID) over note text; `time` in POSIX seconds. */
  sign(text: string, opts: { time: number }): Uint8Array;
  /** Overwrites the signer's copy of the secret key (best effort in JavaScript); signing then throws. */
  destroy(): void;
}

/**
 * An Ed25519 note signer (type 0x01) from a 32-byte RFC 8032 secret key (seed). Its signature is
 * over the note text alone, so `time` is ignored; existing signed-note verifiers can read it.
 */
export function ed25519Signer(name: string, secretKey: Uint8Array): NoteSigner {
  assertName(name, 'name');
  abytes(secretKey, 'secretKey', 32);
  const sk = secretKey.slice();
  const publicKey = ed25519.getPublicKey(sk);
  let destroyed = false;
  return Object.freeze({
    name,
    type: SignatureType.ed25519,
    keyId: keyId(name, SignatureType.ed25519, publicKey),
    publicKey,
    verifierKey: verifierKeyString(name, SignatureType.ed25519, publicKey),
    sign(text: string): Uint8Array {
      if (destroyed) throw new Error('signer was destroyed');
      return ed25519.sign(utf8(text), sk);
    },
    destroy(): void {
      sk.fill(0);
      destroyed = true;
    },
  });
}

/**
 * An ML-DSA-44 cosigner (type 0x06, c2sp.org/tlog-cosignature) from a 32-byte FIPS 204 key
 * generation seed ξ. It can only sign checkpoints: the signed message is the cosigned_message
 * built from the note's origin, size and root, the signer's name and `time` (see the module
 * comment). Signing is hedged (FIPS 204 default, fresh randomness) unless `deterministic` is set
 * (reproducible test vectors and documentation examples). `sign`, when given, replaces @noble's
 * hedged ML-DSA-44 sign (pure interface, empty context) with another implementation of the same
 * (the server passes the crypto core's, engine/crypto/pq.ts, native when the pqclean addon loads:
 * the integrator signs a checkpoint every round, and @noble's ML-DSA-44 sign was ~90% of its CPU);
 * it is not used with `deterministic`.
 */
export function mlDsa44CosignerSigner(
  name: string,
  seed: Uint8Array,
  opts: { deterministic?: boolean; sign?: (message: Uint8Array, secretKey: Uint8Array) => Uint8Array } = {},
): NoteSigner {
  assertName(name, 'name');
  abytes(seed, 'seed', 32);
  const { publicKey, secretKey } = ml_dsa44.keygen(seed);
  const deterministic = opts.deterministic === true;
  let destroyed = false;
  return Object.freeze({
    name,
    type: SignatureType.mlDsa44Cosignature,
    keyId: keyId(name, SignatureType.mlDsa44Cosignature, publicKey),
    publicKey,
    verifierKey: verifierKeyString(name, SignatureType.mlDsa44Cosignature, publicKey),
    sign(text: string, o: { time: number }): Uint8Array {
      if (destroyed) throw new Error('signer was destroyed');
      assertTime(o?.time);
      const cp = parseCheckpoint(text);
      const message = cosignedMessage(name, o.time, cp.origin, cp.size, cp.root);
      const sig = deterministic
        ? ml_dsa44.sign(message, secretKey, { extraEntropy: false })
        : opts.sign
          ? opts.sign(message, secretKey)
          : ml_dsa44.sign(message, secretKey, {});
      return concatBytes(u64be(o.time), sig);
    },
    destroy(): void {
      secretKey.fill(0);
      destroyed = true;
    },
  });
}

function assertTime(time: unknown): asserts time is number {
  if (typeof time !== 'number' || !Number.isSafeInteger(time) || time < 0 || time > MAX_TIMESTAMP_SECONDS) {
    throw new RangeError(
      `"time" expected POSIX seconds from 0 to ${MAX_TIMESTAMP_SECONDS} (not milliseconds), got ${typeof time === 'number' ? time : typeof time}`,
    );
  }
}

function u64be(n: number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(n), false);
  return out;
}

/** tlog-cosignature's cosigned_message for the checkpoint [0, size) (see the module comment). */
export function cosignedMessage(
  cosignerName: string,
  timestamp: number,
  origin: string,
  size: number,
  root: Uint8Array,
): Uint8Array {
  const name = utf8(cosignerName);
  const org = utf8(origin);
  if (name.length < 1 || name.length > 255)
    throw new RangeError(`"cosignerName" expected 1-255 UTF-8 bytes, got ${name.length}`);
  if (org.length < 1 || org.length > 255)
    throw new RangeError(`"origin" expected 1-255 UTF-8 bytes, got ${org.length}`);
  abytes(root, 'root', HASH_LEN);
  return concatBytes(
    COSIGNATURE_LABEL,
    Uint8Array.of(name.length),
    name,
    u64be(timestamp),
    Uint8Array.of(org.length),
    org,
    u64be(0),
    u64be(size),
    root,
  );
}

/**
 * Signs note text with every signer and returns the whole note:
 * `text ‖ "\n" ‖ ("— " ‖ name ‖ " " ‖ base64(key ID ‖ signature) ‖ "\n")*`.
 * `time` (POSIX seconds) is the cosignature timestamp; Ed25519 ignores it.
 */
export function signNote(text: string, signers: readonly NoteSigner[], opts: { time: number }): string {
  assertNoteText(text);
  if (!Array.isArray(signers) || signers.length === 0) throw new RangeError('"signers" expected at least one signer');
  if (signers.length > MAX_NOTE_SIGNATURES)
    throw new RangeError(`"signers" expected at most ${MAX_NOTE_SIGNATURES}, got ${signers.length}`);
  assertTime(opts?.time);
  const ids = new Set<string>();
  let lines = '';
  for (const s of signers) {
    const id = `${s.name}+${toHex(s.keyId)}`;
    if (ids.has(id)) throw new RangeError(`"signers" expected distinct keys, got ${id} twice`);
    ids.add(id);
    lines += `${EM_DASH} ${s.name} ${toBase64(concatBytes(s.keyId, s.sign(text, { time: opts.time })))}\n`;
  }
  return `${text}\n${lines}`;
}

function assertNoteText(text: unknown): asserts text is string {
  if (typeof text !== 'string') throw new TypeError(`"text" expected string, got ${typeof text}`);
  if (text.length === 0 || !text.endsWith('\n'))
    throw new RangeError('"text" expected non-empty note text ending in a newline');
  if (CONTROL_RE.test(text) || LONE_SURROGATE_RE.test(text))
    throw new RangeError('"text" expected valid UTF-8 without control characters other than newline');
}

// ---------------------------------------------------------------------------------------------
// Parsing and verification (attacker input).
// ---------------------------------------------------------------------------------------------

/** One signature line of a note. */
export interface NoteSignature {
  name: string;
  keyId: Uint8Array;
  /** The signature bytes after the key ID. */
  signature: Uint8Array;
}

/**
 * Splits a signed note into its text and signature lines, checking the signed-note format: valid
 * UTF-8 without control characters other than newline, the text separated from the signature lines
 * by the note's last blank line, 1 to MAX_NOTE_SIGNATURES well-formed lines. Verifies nothing.
 * @throws {@link KeywardError} `AUDIT_CHECKPOINT_INVALID`.
 */
export function parseNote(note: string): { text: string; signatures: NoteSignature[] } {
  const what = 'signed note';
  if (typeof note !== 'string') checkpointInvalid(`${what}: expected text, got ${typeof note}`);
  if (note.length > MAX_NOTE_CHARS)
    checkpointInvalid(`${what}: expected at most ${MAX_NOTE_CHARS} characters, got ${note.length}`);
  if (CONTROL_RE.test(note)) checkpointInvalid(`${what}: contains a control character other than newline`);
  if (LONE_SURROGATE_RE.test(note)) checkpointInvalid(`${what}: is not valid UTF-8 (lone surrogate)`);
  if (!note.endsWith('\n')) checkpointInvalid(`${what}: expected a final newline`);
  const split = note.lastIndexOf('\n\n');
  if (split < 0) checkpointInvalid(`${what}: expected a blank line between the text and the signatures`);
  const text = note.slice(0, split + 1);
  const lines = note.slice(split + 2, -1).split('\n');
  if (lines.length > MAX_NOTE_SIGNATURES)
    checkpointInvalid(`${what}: expected at most ${MAX_NOTE_SIGNATURES} signature lines, got ${lines.length}`);
  const signatures = lines.map((line, i): NoteSignature => {
    const m = SIGNATURE_LINE_RE.exec(line);
    if (!m) checkpointInvalid(`${what}: signature line ${i + 1} is not "— <key name> <base64>"`);
    const [, name, b64] = m as unknown as [string, string, string];
    const raw = fromBase64(
      b64,
      `${what}: signature line ${i + 1}`,
      { min: KEY_ID_LEN + 1 },
      'AUDIT_CHECKPOINT_INVALID',
    );
    return { name, keyId: raw.slice(0, KEY_ID_LEN), signature: raw.slice(KEY_ID_LEN) };
  });
  return { text, signatures };
}

/** A signature that verified: whose key, and for a cosignature its timestamp (POSIX seconds). */
export interface VerifiedSignature {
  /** `<name>+<hex key ID>` of the trusted key. */
  key: string;
  type: SignatureType;
  timestamp: number | null;
}

/** How {@link openNote} and {@link verifyNote} check signatures. */
export interface NoteVerifyOptions {
  /**
   * Other implementations of Ed25519 (RFC 8032) and ML-DSA-44 verify (FIPS 204 pure, empty context)
   * to try before @noble's (`keyward audit verify` passes node:crypto's and PQClean's native one:
   * @noble's first verify in a process costs tens to hundreds of ms). An accept is final; a reject
   * is confirmed by @noble, so they can save time but never fail a signature @noble accepts. Each
   * must accept only what @noble accepts (for Ed25519: with its strict RFC 8032 rules, zip215 off).
   */
  ed25519Verify?: (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array) => boolean;
  mlDsa44Verify?: (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array) => boolean;
}

/**
 * Verifies a signed note against pinned keys and returns its text: every key in `trustedKeys` must
 * have exactly one signature line (same name and key ID) and it must verify. Lines of other keys
 * are ignored. ML-DSA-44 cosignatures need the text to be a checkpoint.
 * @throws {@link KeywardError} `AUDIT_CHECKPOINT_INVALID` naming the first key that failed.
 */
export function openNote(
  note: string,
  trustedKeys: readonly VerifierKey[],
  opts: NoteVerifyOptions = {},
): { text: string; signatures: VerifiedSignature[] } {
  if (!Array.isArray(trustedKeys) || trustedKeys.length === 0)
    throw new RangeError('"trustedKeys" expected at least one verifier key');
  const { text, signatures } = parseNote(note);
  const message = utf8(text);
  let checkpoint: Checkpoint | undefined;
  const verified: VerifiedSignature[] = [];
  for (const key of trustedKeys) {
    if (
      typeof key !== 'object' ||
      key === null ||
      !(key.keyId instanceof Uint8Array) ||
      !(key.publicKey instanceof Uint8Array)
    ) {
      throw new TypeError('"trustedKeys" expected VerifierKey objects (see parseVerifierKey)');
    }
    const id = `${key.name}+${toHex(key.keyId)}`;
    const fail = (why: string): never => checkpointInvalid(`checkpoint: ${why}`, { key: id });
    const lines = signatures.filter((s) => s.name === key.name && equalBytes(s.keyId, key.keyId));
    if (lines.length === 0) fail(`no signature line from trusted key ${id}`);
    if (lines.length > 1) fail(`${lines.length} signature lines from trusted key ${id}, expected one`);
    const sig = lines[0]!.signature;
    if (key.type === SignatureType.ed25519) {
      if (
        sig.length !== ED25519_SIGNATURE_LEN ||
        (!opts.ed25519Verify?.(key.publicKey, message, sig) &&
          !ed25519.verify(sig, message, key.publicKey, { zip215: false }))
      ) {
        fail(`the signature of trusted key ${id} does not verify`);
      }
      verified.push({ key: id, type: key.type, timestamp: null });
    } else if (key.type === SignatureType.mlDsa44Cosignature) {
      if (sig.length !== 8 + ML_DSA_44_SIGNATURE_LEN)
        fail(`the cosignature of trusted key ${id} has ${sig.length} bytes, expected ${8 + ML_DSA_44_SIGNATURE_LEN}`);
      const ts = new DataView(sig.buffer, sig.byteOffset, 8).getBigUint64(0, false);
      // tlog-cosignature: the timestamp MUST NOT exceed 2^63 − 1; JavaScript numbers hold 2^53 − 1.
      if (ts > BigInt(Number.MAX_SAFE_INTEGER))
        fail(`the cosignature of trusted key ${id} has a timestamp beyond 2^53 − 1`);
      checkpoint ??= parseCheckpoint(text);
      const msg = cosignedMessage(key.name, Number(ts), checkpoint.origin, checkpoint.size, checkpoint.root);
      const mlSig = sig.subarray(8);
      if (!opts.mlDsa44Verify?.(key.publicKey, msg, mlSig) && !ml_dsa44.verify(mlSig, msg, key.publicKey))
        fail(`the cosignature of trusted key ${id} does not verify`);
      verified.push({ key: id, type: key.type, timestamp: Number(ts) });
    } else {
      fail(`trusted key ${id} has an unsupported signature type`);
    }
  }
  return { text, signatures: verified };
}

/** A checkpoint whose note verified against every pinned key. */
export interface VerifiedCheckpoint extends Checkpoint {
  signatures: VerifiedSignature[];
}

/**
 * Verifies a checkpoint note against pinned keys (see {@link openNote}) and returns the
 * checkpoint it carries.
 * @throws {@link KeywardError} `AUDIT_CHECKPOINT_INVALID` naming the key or line that failed.
 */
export function verifyNote(
  note: string,
  trustedKeys: readonly VerifierKey[],
  opts: NoteVerifyOptions = {},
): VerifiedCheckpoint {
  const { text, signatures } = openNote(note, trustedKeys, opts);
  return { ...parseCheckpoint(text), signatures };
}
