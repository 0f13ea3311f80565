/**
 * Inputs of the data-plane commands: `--in FILE` (`-` for stdin) or `--text STRING`, as bytes.
 * @module
 */
import { readFile } from 'node:fs/promises';
import { UsageError } from 'clipanion';
import { KeywardError } from '../lib/errors.js';
import { MAX_INPUT_FILE } from './files.js';

export async function readStdin(stdin: NodeJS.ReadableStream): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of stdin as AsyncIterable<Buffer | string>) {
    const b = typeof c === 'string' ? Buffer.from(c) : c;
    n += b.length;
    if (n > MAX_INPUT_FILE) throw new KeywardError('FILE_TOO_LARGE', `stdin is over ${MAX_INPUT_FILE} bytes`);
    chunks.push(b);
  }
  return new Uint8Array(Buffer.concat(chunks));
}

/** Exactly one of `--in` or `--text`; returns the bytes. */
export async function readInput(opts: {
  in?: string | undefined;
  text?: string | undefined;
  what: string;
  stdin: NodeJS.ReadableStream;
}): Promise<Uint8Array> {
  if ((opts.in === undefined) === (opts.text === undefined))
    throw new UsageError(`give the ${opts.what} with exactly one of --in FILE (- for stdin) or --text STRING`);
  if (opts.text !== undefined) return new TextEncoder().encode(opts.text);
  if (opts.in === '-') return readStdin(opts.stdin);
  try {
    return new Uint8Array(await readFile(opts.in!));
  } catch (err) {
    throw new KeywardError(
      'FILE_UNREADABLE',
      `cannot read ${opts.what} ${opts.in}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
}
