import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { before, describe, it } from 'node:test';
import fc from 'fast-check';
import { binaryUnit } from '../../../helpers/fast-check.js';
import { compileFixture, ROOT, SAMPLE_INPUT } from '../helpers.js';
import { generateSdkAbi } from '../../../../engine/policy/toolchain/abi-gen.js';
import { decodePolicyInput, encodePolicyInput } from '../../../../engine/policy/sandbox/abi.js';
import { loadPolicy } from '../../../../engine/policy/sandbox/host.js';
import type { LoadedPolicy } from '../../../../engine/policy/sandbox/host.js';
import { parsePolicyInput } from '../../../../engine/policy/sandbox/input.js';
import type { PolicyInput } from '../../../../engine/policy/sandbox/input.js';
import { MAX_INPUT_BYTES } from '../../../../engine/policy/sandbox/schema.js';
import { compareUtf8, utf8Length } from '../../../../engine/policy/sandbox/utf8.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('canonical PolicyInput encoding', () => {
  it('starts with the magic, the version and the total length', () => {
    const bytes = encodePolicyInput(SAMPLE_INPUT);
    assert.equal(Buffer.from(bytes.subarray(0, 4)).toString('latin1'), 'KWPI');
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    assert.equal(view.getUint16(4, true), 1);
    assert.equal(view.getUint32(8, true), bytes.length);
  });

  it('is canonical: role order, duplicate roles and map insertion order do not change the bytes', () => {
    const a = encodePolicyInput({ ...SAMPLE_INPUT, roles: ['b', 'a', 'b'], attributes: { z: '1', a: '2' } });
    const b = encodePolicyInput({ ...SAMPLE_INPUT, roles: ['a', 'b'], attributes: { a: '2', z: '1' } });
    assert.equal(hex(a), hex(b));
  });

  it('sorts by UTF-8 bytes, not by UTF-16 code units', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: binaryUnit, maxLength: 6 }),
        fc.string({ unit: binaryUnit, maxLength: 6 }),
        (x, y) => {
          const byBytes = Buffer.compare(Buffer.from(x, 'utf8'), Buffer.from(y, 'utf8'));
          assert.equal(Math.sign(compareUtf8(x, y)), byBytes);
        },
      ),
      { numRuns: 500 },
    );
    assert.ok(compareUtf8('\uffff', '\u{1f600}') < 0, 'U+FFFF < U+1F600 although 0xFFFF > 0xD83D');
  });

  it('round-trips through the TypeScript decoder (fast-check)', () => {
    fc.assert(
      fc.property(policyInputArb(), (input) => {
        const bytes = encodePolicyInput(input);
        const back = decodePolicyInput(bytes);
        assert.deepEqual(back, normalise(input));
        assert.equal(hex(encodePolicyInput(back)), hex(bytes));
      }),
      { numRuns: 300 },
    );
  });

  it('names the offending field when a bound is exceeded', () => {
    const cases: Array<[Partial<PolicyInput>, RegExp]> = [
      [{ operation: 'x'.repeat(129) }, /"operation" expected at most 128 UTF-8 bytes, got 129/],
      [{ roles: Array.from({ length: 33 }, (_, i) => `r${i}`) }, /"roles" expected at most 32 entries, got 33/],
      [
        { key: { name: 'k', type: 't', version: 1, labels: { ['l'.repeat(129)]: 'v' } } },
        /"key\.labels key" expected at most 128 UTF-8 bytes/,
      ],
      [{ attributes: { a: 'é'.repeat(513) } }, /"attributes\.a" expected at most 1024 UTF-8 bytes, got 1026/],
      [{ principal: 'a\ud800b' }, /"principal" expected well-formed Unicode/],
      [{ approvals: 1.5 }, /"approvals" expected an integer/],
      [{ payloadBytes: -1 }, /"payloadBytes" expected a safe integer ≥ 0/],
      [{ time: 2 ** 60 }, /"time" expected a safe integer/],
      [{ roles: 'admin' as unknown as string[] }, /"roles" expected an array of strings, got string/],
      [
        { attributes: Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${i}`, 'v'.repeat(1000)])) },
        new RegExp(`encoded input exceeds ${MAX_INPUT_BYTES} bytes`),
      ],
    ];
    for (const [patch, re] of cases) {
      assert.throws(
        () => encodePolicyInput({ ...SAMPLE_INPUT, ...patch }),
        (err: Error & { code?: string }) => err.code === 'POLICY_INPUT_INVALID' && re.test(err.message),
        String(re),
      );
    }
  });

  it('the decoder accepts only canonical encodings', () => {
    const good = encodePolicyInput(SAMPLE_INPUT);
    const mutate = (f: (b: Uint8Array, v: DataView) => Uint8Array | void) => {
      const b = good.slice();
      return f(b, new DataView(b.buffer)) ?? b;
    };
    const bad: Array<[Uint8Array, RegExp]> = [
      [mutate((b) => void (b[0] = 0)), /magic/],
      [mutate((_, v) => v.setUint16(4, 2, true)), /format version/],
      [mutate((_, v) => v.setUint32(8, 1, true)), /total length/],
      [mutate((b) => b.subarray(0, b.length - 1)), /total length|more bytes/],
      [encodeUnsorted(), /sorted/],
    ];
    for (const [bytes, re] of bad)
      assert.throws(
        () => decodePolicyInput(bytes),
        (err: Error & { code?: string }) => err.code === 'POLICY_INPUT_INVALID' && re.test(err.message),
        String(re),
      );
  });
});

describe('parsePolicyInput', () => {
  it('fills in defaults and accepts JSON text', () => {
    assert.deepEqual(parsePolicyInput('{"operation":"auth.whoami","principal":"p"}'), {
      operation: 'auth.whoami',
      principal: 'p',
      roles: [],
      attributes: {},
      payloadBytes: 0,
      time: 0,
      approvals: 0,
    });
    assert.equal(parsePolicyInput({ operation: 'o', principal: 'p', key: null }).key, null);
  });

  it('lists every offending field', () => {
    assert.throws(
      () =>
        parsePolicyInput({
          operation: 'o'.repeat(200),
          roles: ['a', 3],
          key: { name: 'k', type: 't', labels: { a: 1 } },
          extra: true,
        }),
      (err: Error & { code?: string; details?: { issues: { path: string }[] } }) => {
        const paths = err.details!.issues.map((i) => i.path).sort();
        assert.equal(err.code, 'POLICY_INPUT_INVALID');
        assert.deepEqual(paths, ['(root)', 'key.labels.a', 'operation', 'principal', 'roles.1']);
        assert.match(err.message, /operation: expected at most 128 UTF-8 bytes, got 200/);
        assert.match(err.message, /principal: is missing/);
        return true;
      },
    );
    assert.throws(() => parsePolicyInput('{nope'), { code: 'POLICY_INPUT_INVALID' } as object);
  });
});

describe('the AssemblyScript side of the ABI', () => {
  it('policies/sdk/abi.ts is what the schema generates (run scripts/gen-policy-abi.mjs)', () => {
    assert.equal(readFileSync(`${ROOT}policies/sdk/abi.ts`, 'utf8'), generateSdkAbi());
  });

  let echo: LoadedPolicy;
  before(async () => {
    echo = await loadPolicy(await compileFixture('echo'));
  });

  it('decodes every field exactly as the host encoded it (echo policy, fast-check)', () => {
    // fast-check's counterexample from a CI run: an integer-like label key beside one that sorts before it.
    const intKeys: PolicyInput = { ...SAMPLE_INPUT, key: { ...SAMPLE_INPUT.key!, labels: { '0': '', '': '' } } };
    assert.equal(echo.evaluate(intKeys).reason, expectedEcho(decodePolicyInput(encodePolicyInput(intKeys))));
    fc.assert(
      fc.property(policyInputArb(), (input) => {
        const r = echo.evaluate(input);
        assert.equal(r.fault, null, r.reason);
        assert.equal(r.reason, expectedEcho(decodePolicyInput(encodePolicyInput(input))));
        assert.match(r.reason, /\|ok=1$|^#/);
      }),
      { numRuns: Number(process.env.ECHO_RUNS ?? 200) },
    );
  });

  it('handles inputs at the size bounds', () => {
    const big: PolicyInput = {
      operation: 'o'.repeat(128),
      principal: '😀'.repeat(64),
      roles: Array.from({ length: 32 }, (_, i) => `${String(i).padStart(2, '0')}${'r'.repeat(62)}`),
      key: { name: 'n'.repeat(256), type: 't'.repeat(64), version: 2147483647, labels: { a: 'é'.repeat(256), b: '' } },
      attributes: Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`attr${i}`, 'v'.repeat(1024)])),
      payloadBytes: Number.MAX_SAFE_INTEGER,
      time: Number.MAX_SAFE_INTEGER,
      approvals: 2147483647,
    };
    const bytes = encodePolicyInput(big);
    assert.ok(bytes.length > 10000 && bytes.length <= MAX_INPUT_BYTES);
    // Echoing ~12 KiB character by character, with string concatenation, needs more than the default gas.
    const r = echo.evaluate(bytes, { gasBudget: 50_000_000 });
    assert.equal(r.fault, null, r.reason);
    assert.equal(r.reason, expectedEcho(decodePolicyInput(bytes)));
  });

  it('the policy-side decoder rejects malformed bytes (deny, input_rejected)', () => {
    const good = encodePolicyInput(SAMPLE_INPUT);
    const cases: Array<[(b: Uint8Array, v: DataView) => Uint8Array | void, RegExp]> = [
      [(b) => void (b[0] = 0), /magic/],
      [(_, v) => v.setUint16(4, 9, true), /format version/],
      [(_, v) => v.setUint32(8, 5, true), /length/],
      [(_, v) => v.setUint32(12, 0xffff, true), /string out of bounds/],
      [
        (b) => {
          const c = new Uint8Array(b.length + 1);
          c.set(b);
          new DataView(c.buffer).setUint32(8, c.length, true);
          return c;
        },
        /trailing/,
      ],
      [() => new Uint8Array(3), /length/],
    ];
    for (const [f, re] of cases) {
      const b = good.slice();
      const bytes = f(b, new DataView(b.buffer)) ?? b;
      const r = echo.evaluate(bytes);
      assert.equal(r.decision, 'deny');
      assert.equal(r.fault, 'input_rejected');
      assert.match(r.reason, re);
    }
  });
});

// ------------------------------------------------------------------------------------------------

function boundedString(maxBytes: number, maxLength = 12) {
  return fc
    .string({
      unit: fc.oneof(
        fc.constantFrom('a', 'b', 'z', '.', ':', '|', ';', '=', ',', '\u0000', 'é', '😀', '\uffff'),
        fc.string({ unit: binaryUnit, minLength: 1, maxLength: 1 }),
      ),
      maxLength,
    })
    .filter((s) => utf8Length(s) <= maxBytes);
}

function policyInputArb(): fc.Arbitrary<PolicyInput> {
  const map = (n: number) => fc.dictionary(boundedString(128), boundedString(512), { maxKeys: n });
  return fc.record({
    operation: boundedString(128),
    principal: boundedString(256),
    roles: fc.array(boundedString(64), { maxLength: 6 }),
    key: fc.option(
      fc.record({
        name: boundedString(256),
        type: boundedString(64),
        version: fc.integer({ min: 0, max: 2147483647 }),
        labels: map(4),
      }),
      { nil: null },
    ),
    attributes: map(4),
    payloadBytes: fc.maxSafeNat(),
    time: fc.maxSafeNat(),
    approvals: fc.integer({ min: 0, max: 2147483647 }),
  });
}

/** What the decoder returns for `input`: roles sorted and unique, maps sorted, key null if absent. */
function normalise(input: PolicyInput): PolicyInput {
  const sortMap = (m: Record<string, string>) =>
    Object.fromEntries(
      Object.keys(m)
        .sort(compareUtf8)
        .map((k) => [k, m[k]!]),
    );
  return {
    operation: input.operation,
    principal: input.principal,
    roles: [...new Set(input.roles)].sort(compareUtf8),
    key: input.key
      ? { name: input.key.name, type: input.key.type, version: input.key.version, labels: sortMap(input.key.labels) }
      : null,
    attributes: sortMap(input.attributes),
    payloadBytes: input.payloadBytes,
    time: input.time,
    approvals: input.approvals,
  };
}

/** The echo fixture's reason for a canonical input (see test/fixtures/policies/echo.ts). */
function expectedEcho(i: PolicyInput): string {
  const s = (x: string) => `${x.length}:${x}`;
  // In the encoding's order (by bytes): JavaScript lists integer-like keys ("0") first whatever their order.
  const entries = (m: Record<string, string>) =>
    Object.keys(m)
      .sort(compareUtf8)
      .map((k) => `${s(k)}=${s(m[k]!)};`)
      .join('');
  let out = `op=${s(i.operation)}|pr=${s(i.principal)}|roles=${i.roles.map((r) => s(r) + ',').join('')}`;
  out += `|hk=${i.key ? 1 : 0}|kn=${s(i.key?.name ?? '')}|kt=${s(i.key?.type ?? '')}|kv=${i.key?.version ?? 0}`;
  out += `|labels=${entries(i.key?.labels ?? {})}|attrs=${entries(i.attributes)}`;
  out += `|pb=${i.payloadBytes}|t=${i.time}|ap=${i.approvals}|ok=1`;
  if (out.length > 1000) {
    let h = 0x811c9dc5;
    for (let k = 0; k < out.length; k++) h = Math.imul(h ^ out.charCodeAt(k), 0x01000193) >>> 0;
    out = '#' + h.toString(16);
  }
  return out;
}

/** A valid encoding except that its attributes are out of order. */
function encodeUnsorted(): Uint8Array {
  const bytes = encodePolicyInput({ ...SAMPLE_INPUT, attributes: { a: '1', b: '2' } });
  const i = Buffer.from(bytes).indexOf(Buffer.from([1, 0, 0, 0, 0x61, 1, 0, 0, 0, 0x31, 1, 0, 0, 0, 0x62]));
  assert.ok(i > 0);
  bytes[i + 4] = 0x62; // key "a" → "b"
  bytes[i + 14] = 0x61; // key "b" → "a"
  return bytes;
}
