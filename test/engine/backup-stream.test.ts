/**
 * engine/backup.ts `backupStream`: a download the client stops early releases the spool file on
 * both formats (the plain format gunzips the spool as it reads it: a reader that stops must not
 * leave the file open, which would hold the deleted spool's disk space until the process exits).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { backupStream } from '../../engine/backup.js';
import type { BackupSpool } from '../../engine/backup.js';

const dir = mkdtempSync(join(tmpdir(), 'keyward-backup-stream-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Descriptors of this process open on `file` (Linux /proc). */
const openOn = (file: string) =>
  readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`).startsWith(file);
    } catch {
      return false;
    }
  }).length;

describe('backupStream', { skip: !existsSync('/proc/self/fd') && 'needs /proc/self/fd' }, () => {
  for (const gzip of [true, false]) {
    it(`closes the spool file when the reader stops early (${gzip ? 'gzip' : 'plain'})`, async () => {
      const body = join(dir, `body-${gzip}.ndjson.gz`);
      const lines = Array.from({ length: 20_000 }, () => JSON.stringify({ x: randomBytes(48).toString('hex') }));
      writeFileSync(body, gzipSync(lines.join('\n')));
      const spool = {
        header: {},
        head: gzipSync('h\n'),
        headLines: Buffer.from('h\n'),
        body,
      } as unknown as BackupSpool;
      const stream = backupStream(spool, { gzip });
      let chunks = 0;
      await new Promise<void>((resolve) => {
        stream.on('data', () => {
          if (++chunks === 3) stream.destroy();
        });
        stream.on('close', () => resolve());
      });
      for (let i = 0; i < 20 && openOn(body) > 0; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(openOn(body), 0, 'no descriptor left on the spool');
    });
  }
});
