/**
 * The hidden passphrase prompt (cli/passphrase.ts), typed into through a fake terminal (a stream
 * with isTTY and setRawMode, as a TTY in raw mode delivers keys): control keys edit the line or end
 * it and never land in the passphrase (issue 13: Ctrl-D and arrow keys were appended, so a holder
 * could set a passphrase they could not type again).
 */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { readPassphrase } from '../../cli/passphrase.js';

class FakeTty extends PassThrough {
  readonly isTTY = true;
  isRaw = false;
  readonly modes: boolean[] = [];
  setRawMode(on: boolean): this {
    this.isRaw = on;
    this.modes.push(on);
    return this;
  }
}

/** Types `keys` (each entry one chunk, as a terminal sends a key or a paste) into the prompt. */
async function type(
  keys: string[],
  confirm = false,
): Promise<{ value?: string; error?: any; tty: FakeTty; out: string }> {
  const tty = new FakeTty();
  const err = new PassThrough();
  let out = '';
  err.on('data', (d) => (out += d));
  const settled = readPassphrase({ prompt: 'Passphrase: ', confirm, stdin: tty, stderr: err }).then(
    (value) => ({ value }),
    (error) => ({ error }),
  );
  for (const k of keys) {
    tty.write(k);
    await new Promise((r) => setImmediate(r));
  }
  return { ...(await settled), tty, out };
}

const UP = '\u001b[A';
const LEFT = '\u001b[D';
const F5 = '\u001b[15~';
const HOME_SS3 = '\u001bOH';

describe('hidden passphrase prompt', () => {
  it('plain typing and Enter', async () => {
    const r = await type(['s', 'e', 'c', 'r', 'e', 't', '\r']);
    assert.equal(r.value, 'secret');
    assert.deepEqual(r.tty.modes, [true, false], 'raw mode on, then restored');
    assert.ok(!r.out.includes('secret'), 'nothing echoed');
  });

  it('arrow, function and Alt keys are ignored, also split across chunks', async () => {
    const r = await type(['ab', UP, LEFT, 'c', F5, HOME_SS3, '\u001bx', '\u001b', '[', '1', ';', '5', 'C', 'd', '\r']);
    assert.equal(r.value, 'abcd');
  });

  it('Backspace (DEL and Ctrl-H) deletes whole characters, Ctrl-U clears, Ctrl-W deletes a word', async () => {
    assert.equal((await type(['abc\u007f\u007fX\r'])).value, 'aX');
    assert.equal((await type(['ab\bc\r'])).value, 'ac');
    assert.equal((await type(['p\u{1f600}\u007f\r'])).value, 'p', 'an emoji is one character');
    assert.equal((await type(['wrong\u0015right\r'])).value, 'right');
    assert.equal((await type(['one two\u0017three\r'])).value, 'one three');
    assert.equal((await type(['\u007f\u007fok\r'])).value, 'ok', 'Backspace on an empty line does nothing');
  });

  it('Ctrl-D ends a non-empty line and cancels an empty one; Ctrl-C cancels', async () => {
    assert.equal((await type(['secret\u0004'])).value, 'secret');
    assert.equal((await type(['\u0004'])).error?.code, 'CANCELLED');
    const c = await type(['sec', '\u0003']);
    assert.equal(c.error?.code, 'CANCELLED');
    assert.deepEqual(c.tty.modes, [true, false], 'raw mode restored on cancel');
  });

  it('other control characters (Tab, NUL, Ctrl-letters, C1) are not typed text', async () => {
    assert.equal((await type(['a\tb\u0000c\u0001\u0002d\u009be\r'])).value, 'abcde');
  });

  it('a bracketed paste keeps the pasted text and drops the markers', async () => {
    assert.equal((await type(['\u001b[200~pasted pass\u001b[201~', '\r'])).value, 'pasted pass');
  });

  it('the confirmation compares what was typed, typed ahead in one paste too', async () => {
    assert.equal((await type(['pw', LEFT, '1\r', 'pw1', UP, '\r'], true)).value, 'pw1');
    assert.equal((await type(['pw1\rpw1\r'], true)).value, 'pw1');
    assert.equal((await type(['pw1\r', 'pw2\r'], true)).error?.code, 'PASSPHRASE_MISMATCH');
  });

  it('an empty passphrase is refused, and a stdin that ends cancels instead of hanging', async () => {
    assert.equal((await type(['\u007f\r'])).error?.code, 'PASSPHRASE_EMPTY');
    const tty = new FakeTty();
    const p = readPassphrase({ prompt: 'P: ', stdin: tty, stderr: new PassThrough() });
    tty.end('abc');
    await assert.rejects(p, (e: any) => e.code === 'CANCELLED');
  });
});
