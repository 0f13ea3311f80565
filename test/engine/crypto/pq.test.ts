/**
 * The post-quantum backends (engine/crypto/pq.ts): the same ACVP vectors through our API on @noble
 * and on the native pqclean addon (when it is installed here: `npm ci` built it), byte
 * compatibility between the two (a key expanded by noble signs natively and the signature verifies
 * in noble, and the other way; decapsulations agree, implicit rejection included), hedged signing
 * on both, the fallback to noble when the addon cannot load or fails its self-test, and the worker
 * pool following the main thread's choice.
 */
// keyward-test: own-process (sets KEYWARD_PQ_BACKEND and the process's PQ backend)
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { ml_dsa44, ml_dsa65, ml_dsa87 } from '@noble/post-quantum/ml-dsa.js';
import { ml_kem512, ml_kem768, ml_kem1024 } from '@noble/post-quantum/ml-kem.js';
import {
  CryptoPool,
  PQ_BACKEND_ENV,
  decapsulate,
  encapsulate,
  expandPrivateKey,
  generateKey,
  pqBackend,
  selectPqBackend,
  sign,
  verify,
  type ExpandedKey,
  type KeyType,
  type PqBackendName,
} from '../../../engine/crypto/index.js';
import { acvp, hex, report, toHex } from './vectors.js';

const MLDSA = {
  'ML-DSA-44': ['ml-dsa-44', ml_dsa44],
  'ML-DSA-65': ['ml-dsa-65', ml_dsa65],
  'ML-DSA-87': ['ml-dsa-87', ml_dsa87],
} as const;
const MLKEM = {
  'ML-KEM-512': ['ml-kem-512', ml_kem512],
  'ML-KEM-768': ['ml-kem-768', ml_kem768],
  'ML-KEM-1024': ['ml-kem-1024', ml_kem1024],
} as const;
const msg = new TextEncoder().encode('pq backends');
const expanded = (type: KeyType, part: Uint8Array): ExpandedKey => ({ kind: 'expanded', type, parts: [part] });

const native = (() => {
  try {
    return selectPqBackend({ choice: 'pqclean' }).name === 'pqclean';
  } catch {
    return false;
  }
})();
const NO_ADDON = native ? false : 'the pqclean addon is not built on this machine (optional dependency)';
const initial = selectPqBackend();
after(() => void selectPqBackend({ choice: initial.name === 'pqclean' ? 'pqclean' : 'noble' }));

function on<T>(name: PqBackendName, f: () => T): T {
  selectPqBackend({ choice: name });
  return f();
}

for (const name of ['noble', 'pqclean'] as const) {
  describe(
    `post-quantum backend ${name}: ACVP vectors through our API`,
    { skip: name === 'pqclean' && NO_ADDON },
    () => {
      it('ML-KEM encapDecap: decapsulate(expanded dk, c) = k (implicit-rejection cases included)', () => {
        on(name, () => {
          let ran = 0;
          for (const g of acvp('ML-KEM-encapDecap-FIPS203')) {
            if (g.function !== 'encapsulation' && g.function !== 'decapsulation') continue;
            const [type] = MLKEM[g.parameterSet as keyof typeof MLKEM];
            for (const t of g.tests) {
              assert.equal(toHex(decapsulate(type, expanded(type, hex(t.dk)), hex(t.c))), String(t.k).toLowerCase());
              ran++;
            }
          }
          report(`ACVP ML-KEM decapsulation on ${name}`, ran, {});
          assert.equal(pqBackend().name, name);
        });
      });

      it('ML-DSA sigVer (external, pure; the addon takes the empty-context ones, noble the rest)', () => {
        on(name, () => {
          let ran = 0;
          for (const g of acvp('ML-DSA-sigVer-FIPS204')) {
            if (g.signatureInterface !== 'external' || g.externalMu || g.preHash !== 'pure') continue;
            const [type] = MLDSA[g.parameterSet as keyof typeof MLDSA];
            for (const t of g.tests) {
              const ok = verify(type, hex(t.pk), hex(t.message), hex(t.signature), { context: hex(t.context ?? '') });
              assert.equal(ok, t.testPassed, `tcId ${String(t.tcId)} ${String(t.reason)}`);
              ran++;
            }
          }
          report(`ACVP ML-DSA sigVer on ${name}`, ran, {});
        });
      });

      it('ML-DSA keyGen keys: the vector sk (= noble expansion of the seed) signs, hedged, and the vector pk verifies in noble', () => {
        on(name, () => {
          let ran = 0;
          const perSet = new Map<string, number>();
          for (const g of acvp('ML-DSA-keyGen-FIPS204')) {
            const [type, noble] = MLDSA[g.parameterSet as keyof typeof MLDSA];
            for (const t of g.tests) {
              if ((perSet.get(type) ?? 0) >= 3) break;
              perSet.set(type, (perSet.get(type) ?? 0) + 1);
              const sk = hex(t.sk);
              assert.deepEqual(noble.keygen(hex(t.seed)).secretKey, sk);
              const a = sign(type, expanded(type, sk), msg);
              const b = sign(type, hex(t.seed), msg);
              assert.notDeepEqual(a, b, 'hedged: fresh randomness per signature');
              for (const s of [a, b]) {
                assert.equal(noble.verify(s, msg, hex(t.pk)), true);
                assert.equal(verify(type, hex(t.pk), msg, s), true);
              }
              ran++;
            }
          }
          report(`ACVP ML-DSA keyGen keys signing on ${name}`, ran, {});
        });
      });
    },
  );
}

describe('pqclean ↔ noble byte compatibility', { skip: NO_ADDON }, () => {
  for (const type of ['ml-dsa-44', 'ml-dsa-65', 'ml-dsa-87'] as const) {
    it(`${type}: a signature made on either backend verifies on both; a context string goes to noble on both`, () => {
      const pair = generateKey(type);
      const k = expandPrivateKey(type, pair.private);
      const byNative = on('pqclean', () => sign(type, k, msg));
      const byNoble = on('noble', () => sign(type, k, msg));
      for (const b of ['pqclean', 'noble'] as const)
        on(b, () => {
          assert.equal(verify(type, pair.public!, msg, byNative), true, `native signature on ${b}`);
          assert.equal(verify(type, pair.public!, msg, byNoble), true, `noble signature on ${b}`);
          const bad = byNative.slice();
          bad[100]! ^= 1;
          assert.equal(verify(type, pair.public!, msg, bad), false);
          assert.equal(verify(type, pair.public!, msg, byNative.subarray(1)), false, 'short');
          assert.equal(verify(type, pair.public!, msg, new Uint8Array([...byNative, 0])), false, 'long');
          const context = new TextEncoder().encode('ctx');
          const withCtx = sign(type, k, msg, { context });
          assert.equal(verify(type, pair.public!, msg, withCtx, { context }), true);
          assert.equal(verify(type, pair.public!, msg, withCtx), false, 'context bound');
        });
    });
  }

  for (const type of ['ml-kem-512', 'ml-kem-768', 'ml-kem-1024', 'x-wing'] as const) {
    it(`${type}: both backends decapsulate to the same secret, modified ciphertexts included`, () => {
      const pair = generateKey(type);
      const k = expandPrivateKey(type, pair.private);
      const { ciphertext, sharedSecret } = encapsulate(type, pair.public!);
      const modified = ciphertext.slice();
      modified[5]! ^= 0x40;
      for (const ct of [ciphertext, modified]) {
        const a = on('pqclean', () => [decapsulate(type, k, ct), decapsulate(type, pair.private, ct)]);
        const b = on('noble', () => [decapsulate(type, k, ct), decapsulate(type, pair.private, ct)]);
        assert.deepEqual(a, b);
        assert.deepEqual(a[0], a[1]);
      }
      assert.deepEqual(
        on('pqclean', () => decapsulate(type, k, ciphertext)),
        sharedSecret,
      );
    });
  }
});

describe('backend choice and fallback', () => {
  it('an addon that cannot load: auto falls back to noble and says why; pqclean refuses', () => {
    const fail = () => {
      throw new Error('simulated: libpqclean.so: cannot open shared object file');
    };
    const info = selectPqBackend({ choice: 'auto', load: fail });
    assert.equal(info.name, 'noble');
    assert.match(info.reason ?? '', /not available: simulated: libpqclean\.so/);
    assert.equal(pqBackend().name, 'noble');
    // Operations run, on noble.
    const pair = generateKey('ml-dsa-44');
    assert.equal(verify('ml-dsa-44', pair.public!, msg, sign('ml-dsa-44', pair.private, msg)), true);
    assert.throws(() => selectPqBackend({ choice: 'pqclean', load: fail }), /the pqclean backend was asked for, but/);
  });

  it('an addon that loads but answers wrongly fails the self-test: noble', () => {
    const liar = {
      Sign: class {
        sign(): Buffer {
          return Buffer.alloc(4627);
        }
        verify(): boolean {
          return true;
        }
      },
      KEM: class {
        decryptKey(): Buffer {
          return Buffer.alloc(32);
        }
      },
    };
    const info = selectPqBackend({ choice: 'auto', load: () => liar });
    assert.equal(info.name, 'noble');
    assert.match(info.reason ?? '', /decapsulation differs from noble's/);
    const noClasses = selectPqBackend({ choice: 'auto', load: () => ({}) });
    assert.match(noClasses.reason ?? '', /no Sign and KEM classes/);
  });

  it(`${PQ_BACKEND_ENV}: noble never loads the addon; an unknown value is refused`, () => {
    const saved = process.env[PQ_BACKEND_ENV];
    try {
      process.env[PQ_BACKEND_ENV] = 'noble';
      let loaded = false;
      const info = selectPqBackend({
        load: () => {
          loaded = true;
          return {};
        },
      });
      assert.equal(info.name, 'noble');
      assert.match(info.reason ?? '', /noble was chosen \(KEYWARD_PQ_BACKEND or keyward server --pq-backend\)/);
      assert.equal(loaded, false);
      process.env[PQ_BACKEND_ENV] = 'openssl';
      assert.throws(() => selectPqBackend(), /KEYWARD_PQ_BACKEND: expected one of auto, pqclean, noble, got "openssl"/);
    } finally {
      if (saved === undefined) delete process.env[PQ_BACKEND_ENV];
      else process.env[PQ_BACKEND_ENV] = saved;
    }
  });

  it("the worker pool's threads run the main thread's backend", async () => {
    for (const choice of native ? (['pqclean', 'noble'] as const) : (['noble'] as const)) {
      selectPqBackend({ choice });
      const pool = new CryptoPool({ size: 1 });
      try {
        assert.equal((await pool.pqBackend()).name, choice);
        const pair = generateKey('ml-dsa-65');
        const sig = await pool.sign('ml-dsa-65', expandPrivateKey('ml-dsa-65', pair.private), msg);
        assert.equal(ml_dsa65.verify(sig, msg, pair.public!), true);
      } finally {
        await pool.close();
      }
    }
  });
});
