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

/**
 * The line editor of the hidden prompt, fed the terminal's raw-mode input a character at a time
 * (state carries across chunks: an escape sequence may arrive split). Enter ends the line; Ctrl-C
 * cancels; Ctrl-D ends the line, or cancels on an empty one (end of input); Backspace (DEL or
 * Ctrl-H) deletes the last character (a whole code point, never half a surrogate pair); Ctrl-U
 * clears the line, Ctrl-W its last word. Escape sequences (arrow and function keys: CSI `ESC [ …
 * final`, SS3 `ESC O x`, Alt+key `ESC x`) and every other control character are ignored, so what
 * lands in the passphrase is only what a holder can type again. A bracketed paste's markers are
 * escape sequences too: the pasted text is kept, the markers dropped.
 */
export class HiddenLineEditor {
  private chars: string[] = [];
  private esc: 'none' | 'start' | 'csi' | 'ss3' = 'none';

  /** Feeds one character; returns what it finished: the line, a cancellation, or nothing yet. */
  feed(ch: string): { done: 'line'; value: string } | { done: 'cancel' } | undefined {
    const code = ch.codePointAt(0)!;
    if (this.esc === 'start') {
      this.esc = ch === '[' ? 'csi' : ch === 'O' ? 'ss3' : 'none';
      return undefined;
    }
    if (this.esc === 'ss3') {
      this.esc = 'none';
      return undefined;
    }
    if (this.esc === 'csi') {
      // Parameter and intermediate bytes (0x20-0x3f) continue the sequence; a final byte ends it.
      if (code < 0x20 || code > 0x3f) this.esc = 'none';
      return undefined;
    }
    switch (ch) {
      case '\r':
      case '\n':
        return { done: 'line', value: this.chars.join('') };
      case '\u0003':
        return { done: 'cancel' };
      case '\u0004':
        return this.chars.length ? { done: 'line', value: this.chars.join('') } : { done: 'cancel' };
      case '\u007f':
      case '\b':
        this.chars.pop();
        return undefined;
      case '\u0015':
        this.chars = [];
        return undefined;
      case '\u0017':
        while (this.chars.length && /\s/.test(this.chars[this.chars.length - 1]!)) this.chars.pop();
        while (this.chars.length && !/\s/.test(this.chars[this.chars.length - 1]!)) this.chars.pop();
        return undefined;
      case '\u001b':
        this.esc = 'start';
        return undefined;
    }
    // Other C0 and C1 controls (Tab, Ctrl-letters, 0x80-0x9f) are not typed text.
    if (code < 0x20 || (code >= 0x7f && code <= 0x9f)) return undefined;
    this.chars.push(ch);
    return undefined;
  }
}

function promptHidden(stdin: NodeJS.ReadStream, out: NodeJS.WritableStream, prompt: string): Promise<string> {
  return new Promise((resolve, reject) => {
    out.write(prompt);
    const editor = new HiddenLineEditor();
    const wasRaw = stdin.isRaw === true;
    stdin.setRawMode(true);
    stdin.setEncoding('utf8');
    const done = (err?: Error, value = '') => {
      stdin.setRawMode(wasRaw);
      stdin.pause();
      stdin.off('data', onData);
      stdin.off('end', onEnd);
      stdin.off('error', onError);
      out.write('\n');
      if (err) reject(err);
      else resolve(value);
    };
    const cancelled = () => new KeywardError('CANCELLED', 'cancelled');
    const onData = (chunk: string) => {
      // Code points: a character outside the BMP is one entry, as Backspace deletes it.
      const chars = Array.from(chunk);
      for (let i = 0; i < chars.length; i++) {
        const r = editor.feed(chars[i]!);
        if (!r) continue;
        if (r.done === 'line') done(undefined, r.value);
        else done(cancelled());
        // Typed ahead (the confirmation after Enter, in one paste): left for the next prompt. After
        // done(), which paused the stream and let go of it, or it would come straight back here.
        if (i + 1 < chars.length) stdin.unshift(chars.slice(i + 1).join(''));
        return;
      }
    };
    // The terminal went away (or stdin closed) before Enter: cancel, never hang.
    const onEnd = () => done(cancelled());
    const onError = (err: Error) => done(err);
    stdin.on('data', onData);
    stdin.on('end', onEnd);
    stdin.on('error', onError);
    stdin.resume();
  });
}
