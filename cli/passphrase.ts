/**
 * Passphrases come from --passphrase-file (scripts) or a hidden TTY prompt; never from a flag value
 * (it would land in shell history and `ps`). No TTY and no file ⇒ a clear error, never a hang.
 * @module
 */
import { KeywardError } from '../lib/errors.js';
import { readText } from './files.js';

export async function readPassphrase(opts: {
  file?: string | undefined;
  prompt: string;
  confirm?: boolean;
  stdin: NodeJS.ReadableStream;
  stderr: NodeJS.WritableStream;
}): Promise<string> {
  if (opts.file) {
    const text = (await readText(opts.file, 'passphrase file')).replace(/\r?\n$/, '');
    if (!text) throw new KeywardError('PASSPHRASE_EMPTY', `passphrase file ${opts.file} is empty`);
    return text;
  }
  const stdin = opts.stdin as NodeJS.ReadStream;
  if (!stdin.isTTY)
    throw new KeywardError(
      'PASSPHRASE_REQUIRED',
      'no terminal to prompt for the passphrase: pass --passphrase-file FILE (or set KEYWARD_PASSPHRASE_FILE)',
    );
  const first = await promptHidden(stdin, opts.stderr, opts.prompt);
  if (!first) throw new KeywardError('PASSPHRASE_EMPTY', 'the passphrase must not be empty');
  if (opts.confirm) {
    const again = await promptHidden(stdin, opts.stderr, 'Repeat passphrase: ');
    if (again !== first) throw new KeywardError('PASSPHRASE_MISMATCH', 'the two passphrases differ');
  }
  return first;
}

function promptHidden(stdin: NodeJS.ReadStream, out: NodeJS.WritableStream, prompt: string): Promise<string> {
  return new Promise((resolve, reject) => {
    out.write(prompt);
    let value = '';
    stdin.setRawMode(true);
    stdin.resume();
    stdin.setEncoding('utf8');
    const done = (err?: Error) => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off('data', onData);
      out.write('\n');
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003') return done(new KeywardError('CANCELLED', 'cancelled'));
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else value += ch;
      }
    };
    stdin.on('data', onData);
  });
}
