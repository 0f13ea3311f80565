/**
 * The post-quantum backend (docs/architecture.md, the crypto core): where ML-DSA (FIPS 204) signs
 * and verifies and ML-KEM (FIPS 203) decapsulates. Two implementations of the same standards:
 *
 * - `noble`: @noble/post-quantum, pure JS, always there (the reference for everything else here);
 * - `pqclean`: the PQClean C implementations ("clean", portable C) in the native addon of the
 *   optional `pqclean` package (built by its install script; `npm ci` goes on without it when there
 *   is no compiler). About 10× faster: ML-DSA-65 sign ≈ 1,600/s against ≈ 100–180/s, ML-KEM-768
 *   decapsulation ≈ 13,000/s against ≈ 1,300/s, on one core of the development machine.
 *
 * Chosen once per thread, at first use or when the server starts (`selectPqBackend`): by
 * `keyward server --pq-backend` or KEYWARD_PQ_BACKEND = `auto` (the default: pqclean when its addon loads and passes the self-test,
 * else noble), `noble` (never load the addon) or `pqclean` (refuse to start without it). The worker
 * pool's threads take the main thread's choice (pool.ts passes it), so a call gives the same kind of
 * answer wherever it runs. The server logs the backend at start-up and `GET /v1/sys/health` shows it.
 *
 * Byte compatibility (tested in test/engine/crypto/pq.test.ts with the ACVP vectors and against
 * noble): keys are stored as seeds and always expanded by noble (expanded.ts); both backends take
 * the same FIPS 204 secret key / FIPS 203 decapsulation key bytes, so a key made by one signs and
 * decapsulates with the other, and signatures and shared secrets cross-verify. What runs natively:
 *
 * - ML-DSA sign and verify with an empty context string (the API's default). The addon exposes only
 *   FIPS 204's pure interface with ctx = "" (PQClean's `crypto_sign_signature`), so a non-empty
 *   context, and the composite's ML-DSA-65 part (ctx = its label, sign.ts), stay on noble.
 *   Both backends sign hedged (FIPS 204 §3.4: fresh 32-byte rnd from the OS per signature), so
 *   neither gives deterministic signatures and a signature made by one verifies with the other.
 * - ML-KEM-512/768/1024 decapsulation (deterministic: both give the same secret, implicit
 *   rejection included), also X-Wing's ML-KEM-768 part (expanded.ts). Encapsulation stays on noble:
 *   its FIPS 203 §7.2 modulus check of the (possibly foreign) public key is what importPublicKey and
 *   BYOK rely on, and PQClean does not make it.
 *
 * The self-test before the addon is used (`selfTest`): for each ML-KEM set a noble encapsulation
 * decapsulates natively to noble's secret, and an ML-DSA-44 native signature over a noble-expanded
 * key verifies in noble and in the addon. A failure falls back to noble.
 * @module
 */
import { createRequire } from 'node:module';
import { ML_DSA, ML_KEM, type MlDsaType, type MlKemType } from './algs.js';

export type PqBackendName = 'pqclean' | 'noble';
export type PqBackendChoice = 'auto' | PqBackendName;
export const PQ_BACKEND_CHOICES: readonly PqBackendChoice[] = ['auto', 'pqclean', 'noble'];
/** The environment variable that chooses the backend (`auto` when unset or empty). */
export const PQ_BACKEND_ENV = 'KEYWARD_PQ_BACKEND';

export interface PqBackendInfo {
  readonly name: PqBackendName;
  /** Why the native backend is not the one running (asked for noble, or the addon failed); absent when it is. */
  readonly reason?: string;
}

/** The part of the pqclean addon's synchronous API used here (native/node_pqclean.cc). */
interface AddonSign {
  sign(privateKey: Buffer, message: Buffer): Buffer;
  verify(publicKey: Buffer, message: Buffer, signature: Buffer): boolean;
}
interface AddonKem {
  decryptKey(privateKey: Buffer, ciphertext: Buffer): Buffer;
}
interface Addon {
  Sign: new (name: string) => AddonSign;
  KEM: new (name: string) => AddonKem;
}

interface Native {
  readonly sign: Readonly<Record<MlDsaType, AddonSign>>;
  readonly kem: Readonly<Record<MlKemType, AddonKem>>;
}

interface State {
  readonly info: PqBackendInfo;
  readonly native: Native | undefined;
}

let state: State | undefined;
/** The addon as bound and self-tested by the default loader: selecting it again costs nothing. */
let verified: Native | undefined;

/** Loads the compiled addon of the `pqclean` package (never its WebAssembly fallback, which is async). */
function loadAddon(): unknown {
  const require = createRequire(import.meta.url);
  const dir = require.resolve('pqclean/package.json').slice(0, -'package.json'.length);
  return require(`${dir}build/Release/node_pqclean.node`);
}

function buf(u: Uint8Array): Buffer {
  return Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

function u8(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

function bindAddon(addon: unknown): Native {
  const a = addon as Partial<Addon> | null;
  if (typeof a?.Sign !== 'function' || typeof a.KEM !== 'function')
    throw new TypeError('the addon has no Sign and KEM classes');
  const { Sign, KEM } = a as Addon;
  return {
    sign: {
      'ml-dsa-44': new Sign('ml-dsa-44'),
      'ml-dsa-65': new Sign('ml-dsa-65'),
      'ml-dsa-87': new Sign('ml-dsa-87'),
    },
    kem: {
      'ml-kem-512': new KEM('ml-kem-512'),
      'ml-kem-768': new KEM('ml-kem-768'),
      'ml-kem-1024': new KEM('ml-kem-1024'),
    },
  };
}

const SELF_TEST_MESSAGE = new TextEncoder().encode('keyward/pq-backend-self-test/v1');

/**
 * Byte compatibility with noble on fixed seeds (module header): for each ML-KEM set a noble
 * encapsulation decapsulates natively to noble's secret; an ML-DSA-44 native signature with a
 * noble-expanded key verifies in noble and in the addon. Throws with what differed. Tens of ms of CPU, mostly
 * noble's first calls; once per process (the pool's workers load the same file and skip it).
 */
function selfTest(n: Native): void {
  for (const type of ['ml-kem-512', 'ml-kem-768', 'ml-kem-1024'] as const) {
    const alg = ML_KEM[type];
    const { publicKey, secretKey } = alg.keygen(new Uint8Array(64).fill(0x4b));
    const { cipherText, sharedSecret } = alg.encapsulate(publicKey, new Uint8Array(32).fill(0x6d));
    const ss = n.kem[type].decryptKey(buf(secretKey), buf(cipherText));
    if (!ss.equals(buf(sharedSecret))) throw new Error(`${type}: decapsulation differs from noble's`);
  }
  // ML-DSA-44 only: the other sets share the code and the formats (the ACVP tests check each), and
  // noble's first ML-DSA-65/87 calls would triple the cost.
  for (const type of ['ml-dsa-44'] as const) {
    const alg = ML_DSA[type];
    const { publicKey, secretKey } = alg.keygen(new Uint8Array(32).fill(0x44));
    const sig = n.sign[type].sign(buf(secretKey), buf(SELF_TEST_MESSAGE));
    if (!alg.verify(u8(sig), SELF_TEST_MESSAGE, publicKey)) throw new Error(`${type}: noble rejects its signature`);
    if (!n.sign[type].verify(buf(publicKey), buf(SELF_TEST_MESSAGE), sig))
      throw new Error(`${type}: it rejects its own signature`);
  }
}

function parseChoice(v: string | undefined): PqBackendChoice {
  if (v === undefined || v === '') return 'auto';
  if ((PQ_BACKEND_CHOICES as readonly string[]).includes(v)) return v as PqBackendChoice;
  throw new RangeError(`${PQ_BACKEND_ENV}: expected one of ${PQ_BACKEND_CHOICES.join(', ')}, got ${JSON.stringify(v)}`);
}

function message(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0]!.slice(0, 200);
}

/**
 * Chooses this thread's backend now (module header) and returns it. `choice` defaults to
 * KEYWARD_PQ_BACKEND; `load` replaces the addon loader (tests force a load failure with it);
 * `selfTested` skips the self-test of the default loader's addon (a pool worker, whose main thread
 * ran it on the same file).
 * Throws for an unknown choice, and for `pqclean` when the addon cannot be used.
 */
export function selectPqBackend(
  opts: { choice?: PqBackendChoice | undefined; load?: () => unknown; selfTested?: boolean } = {},
): PqBackendInfo {
  const choice = opts.choice ?? parseChoice(process.env[PQ_BACKEND_ENV]);
  if (!PQ_BACKEND_CHOICES.includes(choice))
    throw new RangeError(`"choice" expected one of ${PQ_BACKEND_CHOICES.join(', ')}`);
  if (choice === 'noble') {
    state = {
      info: { name: 'noble', reason: `noble was chosen (${PQ_BACKEND_ENV} or keyward server --pq-backend)` },
      native: undefined,
    };
    return state.info;
  }
  let native: Native;
  try {
    if (opts.load === undefined && verified) native = verified;
    else {
      native = bindAddon((opts.load ?? loadAddon)());
      if (!(opts.selfTested && opts.load === undefined)) selfTest(native);
      if (opts.load === undefined) verified = native;
    }
  } catch (e) {
    const reason = `the pqclean addon is not available: ${message(e)}`;
    if (choice === 'pqclean') throw new Error(`the pqclean backend was asked for, but ${reason}`, { cause: e });
    state = { info: { name: 'noble', reason }, native: undefined };
    return state.info;
  }
  state = { info: { name: 'pqclean' }, native };
  return state.info;
}

/** This thread's backend (chosen now if it was not yet). */
export function pqBackend(): PqBackendInfo {
  return (state ?? pqState()).info;
}

function pqState(): State {
  if (!state) selectPqBackend();
  return state!;
}

/** FIPS 204 ML-DSA.Sign (pure, hedged) with the expanded secret key `sk`. */
export function mlDsaSign(type: MlDsaType, sk: Uint8Array, message: Uint8Array, context: Uint8Array): Uint8Array {
  const n = pqState().native;
  if (n && context.length === 0) return u8(n.sign[type].sign(buf(sk), buf(message)));
  return ML_DSA[type].sign(message, sk, { context });
}

/** FIPS 204 ML-DSA.Verify (pure). `pk` must have the right length (the caller checks). */
export function mlDsaVerify(
  type: MlDsaType,
  pk: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
  context: Uint8Array,
): boolean {
  const n = pqState().native;
  if (n && context.length === 0) {
    // The addon throws on an over-long signature; PQClean rejects any other length itself.
    if (signature.length !== ML_DSA[type].lengths.signature) return false;
    return n.sign[type].verify(buf(pk), buf(message), buf(signature));
  }
  return ML_DSA[type].verify(signature, message, pk, { context });
}

/** FIPS 203 ML-KEM.Decaps with the expanded decapsulation key `dk`; `ct` has the right length (the caller checks). */
export function mlKemDecapsulate(type: MlKemType, dk: Uint8Array, ct: Uint8Array): Uint8Array {
  const n = pqState().native;
  if (n) return u8(n.kem[type].decryptKey(buf(dk), buf(ct)));
  return ML_KEM[type].decapsulate(ct, dk);
}
