/**
 * server/log.ts on pino: JSON lines with level names and ISO times, the level threshold, child
 * bindings (a request's id), redaction of field names that could only hold a secret, and the human
 * form for a terminal.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { LOG_FLUSH_MS, createLogger, fastLine, pinoOptions, prettyLine } from '../../server/log.js';

/**
 * A process that logs through createLogger's own stderr destination (lines gathered before each
 * write): runs `body` (with `log` in scope), and resolves with its stderr lines and the times
 * (ms after the first line was logged) at which they arrived.
 */
function childLog(body: string): Promise<{ lines: string[]; at: number[] }> {
  const url = import.meta.resolve('../../server/log.js');
  const src = `const { createLogger } = await import(${JSON.stringify(url)});\nconst log = createLogger({ level: 'info', pretty: false });\nprocess.stdout.write('go\\n');\n${body}`;
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, ['--input-type=module', '-e', src], { stdio: ['ignore', 'pipe', 'pipe'] });
    let start = 0;
    const lines: string[] = [];
    const at: number[] = [];
    let buf = '';
    c.stdout.on('data', () => (start ||= Date.now()));
    c.stderr.setEncoding('utf8');
    c.stderr.on('data', (d: string) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        lines.push(buf.slice(0, i));
        at.push(Date.now() - start);
        buf = buf.slice(i + 1);
      }
    });
    c.on('error', reject);
    c.on('close', () => resolve({ lines, at }));
  });
}

function capture(level?: 'debug' | 'info' | 'warn' | 'error') {
  const lines: string[] = [];
  const log = createLogger({ write: (l) => lines.push(l), ...(level ? { level } : {}) });
  return { log, lines, parsed: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('the server log (pino)', () => {
  it('writes one JSON object per line: level by name, ISO time, msg, the fields', () => {
    const { log, lines, parsed } = capture();
    log.info('request', { reqId: 'abc', status: 200, ms: 1.5 });
    log.error('unhandled error', { code: 'INTERNAL' });
    assert.equal(lines.length, 2);
    for (const l of lines) assert.ok(l.endsWith('\n') && !l.slice(0, -1).includes('\n'));
    const [a, b] = parsed();
    assert.equal(a!.level, 'info');
    assert.equal(a!.msg, 'request');
    assert.equal(a!.reqId, 'abc');
    assert.equal(a!.status, 200);
    assert.match(String(a!.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.ok(Math.abs(Date.parse(String(a!.time)) - Date.now()) < 60_000);
    assert.equal(a!.pid, process.pid);
    assert.equal(b!.level, 'error');
  });

  it('drops lines below its level (default info)', () => {
    const d = capture();
    d.log.debug('hidden');
    d.log.warn('shown');
    assert.deepEqual(
      d.parsed().map((l) => l.msg),
      ['shown'],
    );
    const e = capture('error');
    e.log.warn('hidden');
    e.log.info('hidden');
    assert.equal(e.lines.length, 0);
    const all = capture('debug');
    all.log.debug('shown');
    assert.equal(all.parsed()[0]!.level, 'debug');
  });

  it("a child's bindings are on every one of its lines", () => {
    const { log, parsed } = capture();
    const req = log.child({ reqId: 'r-1' });
    req.info('token created', { tokenId: 'tok_1' });
    req.child({ step: 2 }).warn('again');
    log.info('background');
    const [a, b, c] = parsed();
    assert.equal(a!.reqId, 'r-1');
    assert.equal(a!.tokenId, 'tok_1');
    assert.equal(b!.reqId, 'r-1');
    assert.equal(b!.step, 2);
    assert.equal(c!.reqId, undefined);
  });

  it('censors fields that could only hold a secret', () => {
    const { log, lines } = capture();
    const secret = 'kwt_' + 'S'.repeat(43);
    log.info('oops', { token: secret, plaintext: 'aGk=', passphrase: 'hunter2', tokenId: 'tok_2' });
    assert.ok(!lines[0]!.includes(secret) && !lines[0]!.includes('hunter2') && !lines[0]!.includes('aGk='));
    const l = JSON.parse(lines[0]!);
    assert.equal(l.token, '[redacted]');
    assert.equal(l.tokenId, 'tok_2');
  });

  it('on a terminal: one short human line per event', () => {
    const lines: string[] = [];
    const log = createLogger({ write: (l) => lines.push(l), pretty: true });
    log.warn('the TLS certificate has expired: clients will refuse it', { validTo: '2020-01-01', n: 3 });
    const plain = lines[0]!.replace(/\x1b\[[0-9;]*m/g, '');
    assert.match(
      plain,
      /^\d\d:\d\d:\d\d\.\d{3} WARN  the TLS certificate has expired: clients will refuse it validTo=2020-01-01 n=3\n$/,
    );
    assert.equal(prettyLine('not json\n'), 'not json\n');
  });

  it('on stderr, gathered: a lone line is written within the flush interval, and every line by exit', async () => {
    // One line, then the process stays up: the periodic flush writes it, not the exit.
    const lone = await childLog(`log.info('request', { reqId: 'r-1' });\nsetTimeout(() => {}, ${LOG_FLUSH_MS * 8});`);
    assert.equal(lone.lines.length, 1);
    assert.equal(JSON.parse(lone.lines[0]!).reqId, 'r-1');
    assert.ok(lone.at[0]! < LOG_FLUSH_MS * 6, `the line came ${lone.at[0]} ms after it was logged`);
    // 500 lines (more than one gathered write) and an immediate exit: none is lost.
    const burst = await childLog(
      `for (let i = 0; i < 500; i++) log.info('request', { reqId: 'r-' + i });\nprocess.exit(0);`,
    );
    assert.deepEqual(
      burst.lines.map((l) => JSON.parse(l).reqId),
      Array.from({ length: 500 }, (_, i) => `r-${i}`),
    );
  });

  it('drops what stderr refuses: the caller of log.info and the periodic flush go on', async () => {
    // fd 2 closed (EBADF on every write): 500 lines force gathered writes from log.info itself, then
    // one line waits for the timer's flush; the child reports on stdout and exits by itself.
    const url = import.meta.resolve('../../server/log.js');
    const src = `const { createLogger, logWritesDropped } = await import(${JSON.stringify(url)});
const log = createLogger({ level: 'info', pretty: false });
(await import('node:fs')).closeSync(2);
let threw = 0;
for (let i = 0; i < 500; i++) try { log.info('request', { reqId: 'r-' + i }); } catch { threw++; }
log.info('request', { reqId: 'last' });
setTimeout(() => process.stdout.write(JSON.stringify({ threw, dropped: logWritesDropped() })), ${LOG_FLUSH_MS * 4});`;
    const out = await new Promise<{ code: number | null; stdout: string }>((resolve, reject) => {
      const c = spawn(process.execPath, ['--input-type=module', '-e', src], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      c.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      c.on('error', reject);
      c.on('close', (code) => resolve({ code, stdout }));
    });
    assert.equal(out.code, 0, `the child exited with ${out.code}: ${out.stdout}`);
    const r = JSON.parse(out.stdout) as { threw: number; dropped: number };
    assert.equal(r.threw, 0, 'no log.info call threw');
    assert.ok(r.dropped >= 2, `${r.dropped} dropped writes (the gathered ones and the timer's)`);
  });
});

describe('the hand-written line (fastLine) against pino', () => {
  const samples: [string, Record<string, unknown> | undefined][] = [
    ['request', { reqId: 'abcdef0100000001', method: 'POST', path: '/v1/keys/a/encrypt', status: 200, ms: 0.123456 }],
    ['request', { reqId: 'r', method: 'GET', path: '/x', status: 404, code: 'NOT_FOUND', ms: 12 }],
    ['request', { reqId: 'r', code: undefined, status: 200 }],
    ['quotes "and" \\ back\tslash', { path: '/a"b\\c\n\u0001\u007f é ☃ 𝄞', n: -0, big: 1e21, small: 5e-7 }],
    ['odd numbers', { nan: NaN, inf: Infinity, ninf: -Infinity, t: true, f: false, nul: null }],
    ['secrets', { token: 'kwt_x', plaintext: 'aGk=', passphrase: 'p', share: 3, shards: null, tokenId: 'tok_1' }],
    ['no fields', undefined],
    ['empty', {}],
    ['x'.repeat(150), { long: 'y"'.repeat(80) }],
  ];

  it('writes exactly the line pino writes (time aside), children included', () => {
    for (const bindings of [undefined, { reqId: 'r-1' }, { reqId: 'r"2', step: 2 }]) {
      const ref: string[] = [];
      let root = pino(pinoOptions('debug'), { write: (l: string) => ref.push(l) });
      if (bindings) root = root.child(bindings);
      const ours: string[] = [];
      let log = createLogger({ write: (l) => ours.push(l), level: 'debug' });
      if (bindings) log = log.child(bindings);
      const chindings = (root as unknown as Record<symbol, string>)[pino.symbols.chindingsSym]!;
      for (const [msg, fields] of samples) {
        if (fields) root.info(fields, msg);
        else root.info(msg);
        // The fast path took it (it does for every flat sample) and wrote pino's line.
        const line = fastLine('info', chindings, msg, fields);
        assert.ok(line !== undefined, msg);
        log.info(msg, fields);
      }
      const noTime = (l: string) => l.replace(/,"time":"[^"]+"/, ',"time":"T"');
      assert.deepEqual(ours.map(noTime), ref.map(noTime));
      for (const l of ours) JSON.parse(l);
    }
  });

  it('leaves to pino what it does not write by hand: nested values, pino-formatted messages, pino keys', () => {
    const ours: string[] = [];
    const log = createLogger({ write: (l) => ours.push(l) });
    for (const [msg, fields] of [
      ['nested', { detail: { token: 'kwt_secret', a: [1, 2] } }],
      ['an error', { err: new Error('boom') }],
      ['50% done', { n: 1 }],
      ['a msg field', { msg: 'other' }],
      ['a bigint', { n: 10n }],
    ] as const) {
      assert.equal(fastLine('info', '', msg, fields as Record<string, unknown>), undefined, msg);
      log.info(msg, fields as Record<string, unknown>);
    }
    assert.equal(ours.length, 5);
    assert.equal(JSON.parse(ours[0]!).detail.a[1], 2);
    assert.equal(JSON.parse(ours[1]!).err.message, 'boom');
  });
});
