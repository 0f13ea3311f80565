/**
 * File helpers for the CLI: read a file or stdin with a clear error; write secrets with mode 0600.
 * @module
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile, mkdir, chmod } from 'node:fs/promises';
import { dirname } from 'node:path';
import { KeywardError } from '../lib/errors.js';

export const MAX_INPUT_FILE = 16 * 1024 * 1024;

export async function readText(path: string, what: string): Promise<string> {
  try {
    const buf = await readFile(path);
    if (buf.length > MAX_INPUT_FILE)
      throw new KeywardError(
        'FILE_TOO_LARGE',
        `${what} ${path} is ${buf.length} bytes; expected at most ${MAX_INPUT_FILE}`,
      );
    return buf.toString('utf8');
  } catch (err) {
    if (err instanceof KeywardError) throw err;
    throw new KeywardError(
      'FILE_UNREADABLE',
      `cannot read ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
}

export async function readJsonFile(path: string, what: string): Promise<unknown> {
  const text = await readText(path, what);
  try {
    return JSON.parse(text);
  } catch {
    throw new KeywardError('FILE_INVALID', `${what} ${path} is not valid JSON`);
  }
}

export async function writeFileSafe(
  path: string,
  data: string,
  opts: { mode?: number; overwrite?: boolean } = {},
): Promise<void> {
  if (!opts.overwrite && existsSync(path))
    throw new KeywardError('FILE_EXISTS', `${path} already exists; refusing to overwrite it (use --force)`);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, data, { mode: opts.mode ?? 0o644 });
  if (opts.mode !== undefined) await chmod(path, opts.mode);
}
