#!/usr/bin/env node
// Writes the operations table of docs/architecture.md from engine/operations.ts (between the
// `operations:begin` and `operations:end` markers). Run: node --import tsx scripts/gen-operations-table.mjs
import { readFileSync, writeFileSync } from 'node:fs';
import { operationsTable } from '../engine/operations.ts';

const path = new URL('../docs/architecture.md', import.meta.url);
const doc = readFileSync(path, 'utf8');
const out = doc.replace(
  /(<!-- operations:begin[^\n]*-->\n)[\s\S]*?(<!-- operations:end -->)/,
  (_, begin, end) => `${begin}${operationsTable()}\n${end}`,
);
if (out === doc && !doc.includes(operationsTable()))
  throw new Error('docs/architecture.md: operations markers not found');
writeFileSync(path, out);
