#!/usr/bin/env node
// Regenerates policies/sdk/abi.ts (the AssemblyScript decoder of the canonical PolicyInput) from
// engine/policy/sandbox/schema.ts. Run after changing the schema; commit the output.
// `node scripts/gen-policy-abi.mjs --check` exits 1 if the committed file is stale.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tsImport } from 'tsx/esm/api';

const { generateSdkAbi } = await tsImport('../engine/policy/toolchain/abi-gen.ts', import.meta.url);
const target = fileURLToPath(new URL('../policies/sdk/abi.ts', import.meta.url));
const text = generateSdkAbi();
if (process.argv.includes('--check')) {
  let current = '';
  try {
    current = readFileSync(target, 'utf8');
  } catch {}
  if (current !== text) {
    console.error('policies/sdk/abi.ts is stale: run node scripts/gen-policy-abi.mjs');
    process.exit(1);
  }
} else {
  writeFileSync(target, text);
  console.log('wrote policies/sdk/abi.ts');
}
