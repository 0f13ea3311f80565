/** A backup file's header line, from the file's bytes (gzip or plain: docs/backup.md). */
import { gunzipSync } from 'node:zlib';

export async function readBackupHeadFromBuffer(file: Buffer): Promise<{ body: { bytes: number; sha256: string } }> {
  const text = (file[0] === 0x1f && file[1] === 0x8b ? gunzipSync(file) : file).toString('utf8');
  return JSON.parse(text.slice(0, text.indexOf('\n'))) as { body: { bytes: number; sha256: string } };
}
