/**
 * The signature checks `keyward audit verify` hands verifyNote (engine/audit/math/note.ts
 * NoteVerifyOptions) in place of @noble's, whose first verify in a process is slow (tables built and
 * a cold JIT: Ed25519 ~30 ms and ML-DSA-44 ~35 ms on a quiet machine, 250-340 ms each on a loaded
 * one), all of it before the first records are folded:
 *
 * - Ed25519: node:crypto's (OpenSSL), under a millisecond;
 * - ML-DSA-44: PQClean's, from the native addon of the optional `pqclean` package the server signs
 *   with (engine/crypto/pq.ts), when it loads and passes a self-test; else @noble's.
 *
 * verifyNote takes their accept as final and confirms a reject with @noble, so the result is
 * @noble's whenever they accept only what @noble accepts: OpenSSL checks the cofactorless equation
 * (stricter than @noble's cofactored one) with S < L and R compared byte for byte, on keys
 * parseVerifierKey already found canonical and not of small order; PQClean and @noble agree on the
 * ACVP vectors (test/cli/audit-note-verify.test.ts).
 *
 * KEYWARD_PQ_BACKEND chooses, as for the server: `auto` (default) or `pqclean` (the addon, or an
 * error naming why not) or `noble` (never load it). Loading pq.ts itself would load every @noble
 * post-quantum scheme and run its self-test on @noble, the cost this avoids.
 * @module
 */
import { createPublicKey, verify } from 'node:crypto';
import { createRequire } from 'node:module';
import type { NoteVerifyOptions } from '../../../engine/audit/math/note.js';
import { KeywardError } from '../../../lib/errors.js';

/** ML-DSA-44 verify (FIPS 204 pure, empty context): whether `signature` over `message` verifies under `publicKey`. */
export type MlDsa44Verify = (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array) => boolean;

/** The environment variable that chooses the post-quantum backend (engine/crypto/pq.ts PQ_BACKEND_ENV). */
const PQ_BACKEND_ENV = 'KEYWARD_PQ_BACKEND';
const ML_DSA_44_SIGNATURE_LEN = 2420;

interface AddonSign {
  keypair(): { publicKey: Buffer; privateKey: Buffer };
  sign(privateKey: Buffer, message: Buffer): Buffer;
  verify(publicKey: Buffer, message: Buffer, signature: Buffer): boolean;
}

function buf(u: Uint8Array): Buffer {
  return Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

/** The addon's compiled ML-DSA-44 (never its WebAssembly fallback, which is async), self-tested. */
function loadNative(load: () => unknown): AddonSign {
  const addon = load() as { Sign?: new (name: string) => AddonSign } | null;
  if (typeof addon?.Sign !== 'function') throw new TypeError('the addon has no Sign class');
  const s = new addon.Sign('ml-dsa-44');
  // A verify that accepted everything would pass every checkpoint: its own signature must verify,
  // and the same with one bit flipped must not: in the commitment hash c̃ (the signature's first 32
  // bytes), in z, in the hint (its last bytes), in the message and in the public key.
  const { publicKey, privateKey } = s.keypair();
  const message = Buffer.from('keyward/audit-verify-ml-dsa-self-test/v1');
  const sig = s.sign(privateKey, message);
  const flipped = (b: Buffer, at: number) => {
    const c = Buffer.from(b);
    c[at]! ^= 1;
    return c;
  };
  if (s.verify(publicKey, message, sig) !== true) throw new Error('it rejects its own signature');
  const wrong: [Buffer, Buffer, Buffer][] = [
    [publicKey, message, flipped(sig, 0)],
    [publicKey, message, flipped(sig, 100)],
    [publicKey, message, flipped(sig, sig.length - 1)],
    [publicKey, flipped(message, 0), sig],
    [flipped(publicKey, 40), message, sig],
  ];
  if (wrong.some(([k, m, g]) => s.verify(k, m, g) !== false))
    throw new Error('it accepts a signature, message or key with a bit flipped');
  return s;
}

function defaultLoad(): unknown {
  const require = createRequire(import.meta.url);
  const dir = require.resolve('pqclean/package.json').slice(0, -'package.json'.length);
  return require(`${dir}build/Release/node_pqclean.node`);
}

/**
 * The native ML-DSA-44 verify, or undefined for @noble's (KEYWARD_PQ_BACKEND=noble, or the addon is
 * not there or fails its self-test). `load` replaces the addon loader (tests).
 * @throws {@link KeywardError} `USAGE` for an unknown KEYWARD_PQ_BACKEND, or `pqclean` without the addon.
 */
export function nativeMlDsa44Verify(
  opts: { choice?: string | undefined; load?: () => unknown } = {},
): MlDsa44Verify | undefined {
  const choice = opts.choice ?? (process.env[PQ_BACKEND_ENV] || 'auto');
  if (!['auto', 'pqclean', 'noble'].includes(choice))
    throw new KeywardError(
      'USAGE',
      `${PQ_BACKEND_ENV}: expected one of auto, pqclean, noble, got ${JSON.stringify(choice.slice(0, 40))}`,
    );
  if (choice === 'noble') return undefined;
  let s: AddonSign;
  try {
    s = loadNative(opts.load ?? defaultLoad);
  } catch (err) {
    if (choice === 'auto') return undefined;
    const why = (err instanceof Error ? err.message : String(err)).split('\n')[0]!.slice(0, 200);
    throw new KeywardError('USAGE', `${PQ_BACKEND_ENV}=pqclean, but the pqclean addon is not available: ${why}`);
  }
  return (publicKey, message, signature) => {
    // The addon throws on an over-long signature; PQClean rejects any other wrong length itself.
    // Only a plain true is an accept; anything else (a throw too) leaves the answer to @noble.
    if (signature.length !== ML_DSA_44_SIGNATURE_LEN) return false;
    try {
      return s.verify(buf(publicKey), buf(message), buf(signature)) === true;
    } catch {
      return false;
    }
  };
}

/** Ed25519 verify (RFC 8032) on node:crypto, of a raw 32-byte public key. */
export function nodeEd25519Verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  try {
    const key = createPublicKey({
      key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(publicKey).toString('base64url') },
      format: 'jwk',
    });
    return verify(null, message, key, signature) === true;
  } catch {
    return false; // @noble says why
  }
}

/** What verifyNote checks signatures with in `keyward audit verify` (the module comment). */
export function noteVerifyOptions(): NoteVerifyOptions {
  const mlDsa44Verify = nativeMlDsa44Verify();
  return { ed25519Verify: nodeEd25519Verify, ...(mlDsa44Verify ? { mlDsa44Verify } : {}) };
}
