/**
 * The server's structured log (docs/operations.md, "Logs"): pino, one JSON object per line on
 * stderr (`level` by name, ISO `time`, `pid`, `hostname`, `msg`, then the fields), or a short
 * human line per event when stderr is a terminal. Callers pass only non-secret fields: request
 * bodies, tokens and key material are never logged (test/server/secrets-in-logs.test.ts searches a
 * whole ceremony's log for them), and a few field names that could only hold a secret are redacted
 * all the same. Every line of a request carries its `reqId` (the X-Request-Id the server assigns).
 *
 * Off the hot path: lines are gathered ({@link gathered}) and written together, synchronously, once
 * {@link LOG_BATCH_BYTES} are held, every {@link LOG_FLUSH_MS} ms whatever the amount (so a line
 * reaches stderr within a tenth of a second), and at exit; a SIGKILL loses at most the last tenth
 * of a second of lines. A write per line cost ~9% of an encrypt (bench/api); a write carries ~40
 * request lines. A stderr that does not keep up (a full pipe) holds the server on that write, as
 * pino's default synchronous destination would, rather than queueing lines without bound.
 *
 * A line of flat fields (strings, numbers, booleans, null: the request line and nearly every other)
 * is written by hand ({@link fastLine}), byte for byte what pino writes for it (test/server/log.test.ts
 * compares them), and anything else through pino: pino's general serializer took ~10 µs of the
 * request line's CPU (bench/api's audit-off encrypt, same-run A/B: 139 → 126 µs per request).
 * @module
 */
import { pino } from 'pino';
import type { DestinationStream, LoggerOptions as LoggerOptionsOfPino, Logger as Pino } from 'pino';

export type Level = 'debug' | 'info' | 'warn' | 'error';

/** Bytes of lines gathered before a write to stderr (below sonic-boom's 16 KiB largest write). */
export const LOG_BATCH_BYTES = 8192;
/** The longest a line waits for its write, ms. */
export const LOG_FLUSH_MS = 100;
export const LEVELS: readonly Level[] = ['debug', 'info', 'warn', 'error'];

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  /** A logger whose every line also carries `bindings` (e.g. `{ reqId }`). */
  child(bindings: Record<string, unknown>): Logger;
}

/** Field names that could only hold a secret: censored if a caller ever passes one. */
const REDACT = [
  'token',
  'rootToken',
  'bearer',
  'authorization',
  'plaintext',
  'password',
  'passphrase',
  'share',
  'shards',
];

export interface LoggerOptions {
  /** Where lines go, one call per line (tests capture them); default: stderr. */
  write?: (line: string) => void;
  level?: Level;
  /** Human-readable lines instead of JSON; default: when stderr is a terminal (and no `write`). */
  pretty?: boolean;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const pretty = opts.pretty ?? (opts.write === undefined && process.stderr.isTTY === true);
  const write = opts.write ?? (pretty ? (line: string) => process.stderr.write(line) : undefined);
  // A terminal is written to synchronously: it is read by a person, not under load.
  const sink: DestinationStream = write
    ? { write: pretty ? (line) => write(prettyLine(line)) : write }
    : gathered(pino.destination({ dest: 2, sync: true }));
  return wrap(pino(pinoOptions(opts.level ?? 'info'), sink));
}

/**
 * Lines gathered in an array and written joined, synchronously, once {@link LOG_BATCH_BYTES}
 * characters are held or every {@link LOG_FLUSH_MS} ms, and at exit: one write(2) per ~40 request
 * lines. sonic-boom's own gathering (`minLength`) appended each line to one growing string and
 * measured that string's UTF-8 length on every line, which copies it (~4 KiB a line on average, and
 * as much garbage); and its asynchronous writes raced the synchronous flush at exit (a write still in
 * the thread pool when the process exits interleaved with the rest or was lost: 1 run in 30 of
 * test/server/log.test.ts's 500-line burst). `dest` is a synchronous sonic-boom, which retries a
 * partial write and EAGAIN.
 */
function gathered(dest: ReturnType<typeof pino.destination>): DestinationStream {
  let lines: string[] = [];
  let size = 0;
  const flush = () => {
    if (size === 0) return;
    const text = lines.join('');
    lines = [];
    size = 0;
    try {
      dest.write(text);
    } catch {
      // stderr failed (a full disk, a closed descriptor): these lines are lost, and the request whose
      // line triggered the flush still gets its answer, the timer's flush does not crash the process.
      droppedWrites++;
    }
  };
  flushers.add(flush);
  if (flushers.size === 1) {
    // One timer and one exit hook for every gathered destination of the process.
    setInterval(flushAll, LOG_FLUSH_MS).unref();
    process.once('exit', flushAll);
  }
  return {
    write(line: string) {
      lines.push(line);
      size += line.length;
      if (size >= LOG_BATCH_BYTES) flush();
    },
  };
}

const flushers = new Set<() => void>();
/** Gathered writes stderr refused, whose lines were dropped (process-wide). */
let droppedWrites = 0;
export const logWritesDropped = (): number => droppedWrites;
function flushAll(): void {
  for (const flush of flushers) flush();
}

/** pino's options for the server log (the hand-written lines of {@link fastLine} match what they give). */
export function pinoOptions(level: Level): LoggerOptionsOfPino {
  return {
    level,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    redact: { paths: REDACT, censor: '[redacted]' },
  };
}

const { chindingsSym, streamSym } = pino.symbols;
const LEVEL_VALUES: Record<Level, number> = { debug: 20, info: 30, warn: 40, error: 50 };
const REDACTED = new Set(REDACT);
/** The keys of pino's own prefix: a field of the same name goes through pino, whatever it does with it. */
const OWN_KEYS = new Set(['level', 'time', 'pid', 'hostname', 'msg']);

let isoMs = -1;
let isoText = '';
/** `,"time":"<ISO>"` as pino's isoTime writes it, made once per millisecond. */
function timeField(): string {
  const now = Date.now();
  if (now !== isoMs) {
    isoMs = now;
    isoText = `,"time":"${new Date(now).toISOString()}"`;
  }
  return isoText;
}

/** `,"key":` per field name, kept for the first {@link KEY_TEXTS_MAX} names (the code's own literals). */
const keyTexts = new Map<string, string>();
const KEY_TEXTS_MAX = 512;
function keyText(key: string): string {
  let text = keyTexts.get(key);
  if (text === undefined) {
    text = `,${JSON.stringify(key)}:`;
    if (keyTexts.size < KEY_TEXTS_MAX) keyTexts.set(key, text);
  }
  return text;
}

/**
 * The line pino would write for a message and flat fields — `{"level":…,"time":…` then the
 * logger's bindings (`pid`, `hostname`, a child's), each field with a defined value in order (a
 * redacted name as `"[redacted]"`, a number that is not finite as null), `"msg"`, `}` — written by
 * hand: pino's general serializer (its redaction pass, its per-key stringifier lookup) was most of a
 * request line's cost. Anything else (a nested object, an array, an error, a bigint, a field named as
 * one of pino's own keys, a `%` in the message that pino would format) returns undefined and goes
 * through pino itself, so the two can only differ in how a string with a lone surrogate is escaped
 * (here as JSON.stringify does, `\udxxx`).
 */
export function fastLine(
  label: Level,
  chindings: string,
  msg: string,
  fields?: Record<string, unknown>,
): string | undefined {
  if (msg.includes('%')) return undefined;
  let props = '';
  if (fields)
    for (const key in fields) {
      const v = fields[key];
      if (v === undefined || !Object.prototype.hasOwnProperty.call(fields, key)) continue;
      if (OWN_KEYS.has(key)) return undefined;
      let text: string;
      if (REDACTED.has(key)) text = '"[redacted]"';
      else if (typeof v === 'string') text = JSON.stringify(v);
      else if (typeof v === 'number') text = Number.isFinite(v) ? String(v) : 'null';
      else if (typeof v === 'boolean') text = v ? 'true' : 'false';
      else if (v === null) text = 'null';
      else return undefined;
      props += keyText(key) + text;
    }
  return `{"level":"${label}"${timeField()}${chindings}${props},"msg":${JSON.stringify(msg)}}\n`;
}

function wrap(p: Pino): Logger {
  const stream = (p as unknown as Record<symbol, DestinationStream>)[streamSym]!;
  const chindings = (p as unknown as Record<symbol, string>)[chindingsSym]!;
  const at = (label: Level) => {
    const value = LEVEL_VALUES[label];
    return (msg: string, fields?: Record<string, unknown>) => {
      if (p.levelVal > value) return;
      const line = fastLine(label, chindings, msg, fields);
      if (line !== undefined) stream.write(line);
      else if (fields) p[label](fields, msg);
      else p[label](msg);
    };
  };
  return {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: (bindings) => wrap(p.child(bindings)),
  };
}

const COLORS: Record<string, string> = { debug: '\x1b[90m', info: '\x1b[32m', warn: '\x1b[33m', error: '\x1b[31m' };
const OMIT = new Set(['level', 'time', 'pid', 'hostname', 'msg']);

/** `12:00:00.000 INFO  msg key=value …` for a terminal (a line that is not JSON passes as it is). */
export function prettyLine(line: string): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const level = String(o.level);
  const time = typeof o.time === 'string' ? o.time.slice(11, 23) : '';
  const fields = Object.entries(o)
    .filter(([k]) => !OMIT.has(k))
    .map(([k, v]) => `${k}=${typeof v === 'string' && !/[\s"=]/.test(v) ? v : JSON.stringify(v)}`)
    .join(' ');
  const color = COLORS[level] ?? '';
  return `${time} ${color}${level.toUpperCase().padEnd(5)}\x1b[0m ${String(o.msg ?? '')}${fields ? ' ' + fields : ''}\n`;
}

const noop = () => {};
export const silentLogger: Logger = { debug: noop, info: noop, warn: noop, error: noop, child: () => silentLogger };
