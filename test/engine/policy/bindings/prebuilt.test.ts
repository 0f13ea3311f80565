import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  builtPoliciesDir,
  defaultPolicyWasm,
  prebuiltLookup,
  sandboxFingerprint,
} from '../../../../engine/policy/bindings/index.js';
import type { PrebuiltManifest } from '../../../../engine/policy/bindings/index.js';
import { loadPolicy, meterPolicy } from '../../../../engine/policy/sandbox/index.js';
import type { MeteredPolicy, PolicyInput } from '../../../../engine/policy/sandbox/index.js';
import { distIsFresh } from '../../../../scripts/dist-fresh.mjs';

const SANDBOX = fileURLToPath(new URL('../../../../engine/policy/sandbox', import.meta.url));
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const input: PolicyInput = {
  operation: 'encrypt',
  principal: 't1',
  roles: ['app'],
  key: { name: 'k', type: 'aes256-gcm', version: 1, labels: {} },
  attributes: {},
  payloadBytes: 5,
  time: 0,
  approvals: 0,
};

describe('prebuilt metering (build/policies/metered.json)', () => {
  let wasm: Uint8Array;
  let fresh: MeteredPolicy;
  let dir: string;
  const manifestFor = (entry: Partial<PrebuiltManifest['entries'][string]> = {}, fingerprint?: string) => {
    const m: PrebuiltManifest = {
      version: 1,
      fingerprints: [fingerprint ?? sandboxFingerprint(SANDBOX, '.ts')!],
      entries: {
        [fresh.info.sha256]: { file: 'p.metered.wasm', sha256: sha256(fresh.metered), info: fresh.info, ...entry },
      },
    };
    writeFileSync(join(dir, 'metered.json'), JSON.stringify(m));
  };

  before(async () => {
    wasm = await defaultPolicyWasm();
    fresh = await meterPolicy(wasm);
    dir = mkdtempSync(join(tmpdir(), 'keyward-prebuilt-'));
    writeFileSync(join(dir, 'p.metered.wasm'), fresh.metered);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it(
    "the build's entries are this sandbox's metering of the built modules, byte for byte",
    { skip: !distIsFresh() && 'needs a fresh build (npm run build)' },
    async () => {
      const manifest = JSON.parse(readFileSync(join(builtPoliciesDir(), 'metered.json'), 'utf8')) as PrebuiltManifest;
      assert.ok(manifest.fingerprints.includes(sandboxFingerprint(SANDBOX, '.ts')!), 'the source fingerprint');
      const entries = Object.entries(manifest.entries);
      assert.ok(entries.length >= 2, 'the default policy and the example');
      assert.ok(Object.hasOwn(manifest.entries, sha256(wasm)), 'the default policy is prebuilt');
      const lookup = prebuiltLookup();
      for (const [hash, entry] of entries) {
        const built = new Uint8Array(readFileSync(join(builtPoliciesDir(), entry.file.replace('.metered', ''))));
        assert.equal(sha256(built), hash);
        const again = await meterPolicy(built);
        const found = await lookup(hash);
        assert.ok(found, `${entry.file} is found`);
        assert.deepEqual(found.info, again.info);
        assert.equal(Buffer.compare(found.metered, again.metered), 0, `${entry.file} is what metering gives today`);
      }
    },
  );

  it('finds an entry only with a matching fingerprint, file hash and file name', async () => {
    manifestFor();
    assert.ok(await prebuiltLookup(dir)(fresh.info.sha256), 'the good entry');
    assert.equal(await prebuiltLookup(dir)('00'.repeat(32)), undefined, 'another module');
    manifestFor({}, 'ff'.repeat(32));
    assert.equal(await prebuiltLookup(dir)(fresh.info.sha256), undefined, 'another sandbox made it');
    manifestFor({ sha256: '00'.repeat(32) });
    assert.equal(await prebuiltLookup(dir)(fresh.info.sha256), undefined, 'the metered file is not the one recorded');
    manifestFor({ file: '../p.metered.wasm' });
    assert.equal(await prebuiltLookup(dir)(fresh.info.sha256), undefined, 'a file outside the directory');
    writeFileSync(join(dir, 'metered.json'), '{"version":1,');
    assert.equal(await prebuiltLookup(dir)(fresh.info.sha256), undefined, 'a torn manifest');
    rmSync(join(dir, 'metered.json'));
    assert.equal(await prebuiltLookup(dir)(fresh.info.sha256), undefined, 'no manifest');
  });

  it('a fingerprint changes with any sandbox file', () => {
    const copy = mkdtempSync(join(tmpdir(), 'keyward-sandbox-'));
    try {
      for (const n of ['gas.ts', 'host.ts']) writeFileSync(join(copy, n), readFileSync(join(SANDBOX, n)));
      const a = sandboxFingerprint(copy, '.ts');
      writeFileSync(join(copy, 'gas.ts'), readFileSync(join(SANDBOX, 'gas.ts'), 'utf8') + '\n');
      assert.notEqual(sandboxFingerprint(copy, '.ts'), a);
      assert.equal(sandboxFingerprint(copy, '.js'), undefined, 'no files of that form');
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  });

  it('loadPolicy uses prebuilt metering only for the bytes it names', async () => {
    const fromPrebuilt = await loadPolicy(wasm, fresh);
    assert.equal(fromPrebuilt.evaluate(input).decision, 'allow');
    // Metering that claims another module is ignored: the module is metered afresh, not run as the claim.
    const other = await meterPolicy(readFileSync(join(builtPoliciesDir(), 'critical-decrypt.wasm')));
    const notUsed = await loadPolicy(wasm, {
      info: { ...other.info, sha256: '00'.repeat(32) },
      metered: other.metered,
    });
    assert.equal(notUsed.evaluate(input).decision, 'allow');
    assert.equal(notUsed.sha256, sha256(wasm));
  });
});
