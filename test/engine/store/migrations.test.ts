import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { generateDrizzleJson, generateMigration } from 'drizzle-kit/api';
import { migrationsFolder } from '../../../engine/store/index.js';
import * as schema from '../../../engine/store/schema.js';

describe('store migrations', () => {
  it('are in step with schema.ts (run `npm run db:generate -- --name <what>` after changing it)', async () => {
    const folder = migrationsFolder();
    const journal = JSON.parse(await readFile(join(folder, 'meta', '_journal.json'), 'utf8')) as {
      entries: { idx: number; tag: string }[];
    };
    const last = journal.entries.at(-1);
    assert.ok(last, 'the migration journal is empty');
    const snapshotFile = join(folder, 'meta', `${String(last.idx).padStart(4, '0')}_snapshot.json`);
    const previous = JSON.parse(await readFile(snapshotFile, 'utf8')) as Parameters<typeof generateMigration>[0];
    const current = generateDrizzleJson(schema as unknown as Record<string, unknown>, previous.id);
    assert.deepEqual(await generateMigration(previous, current), []);
  });
});
