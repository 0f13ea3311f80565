/**
 * The server's structured log (docs/operations.md, "Logs"): pino, one JSON object per line on
 * stderr (`level` by name, ISO `time`, `pid`, `hostname`, `msg`, then the fields), or a short
 * human line per event when stderr is a terminal. Callers pass only non-secret fields: request
 * bodies, tokens and key material are never logged (test/server/secrets-in-logs.test.ts searches a
 * whole ceremony's log for them), and a few field names that could only hold a secret are redacted
 * all the same. Every line of a request carries its `reqId` (the X-Request-Id the server assigns).
 *
 * Off the hot path: lines go to an asynchronous pino destination (sonic-boom) that gathers at least
 * {@link LOG_BATCH_BYTES} before it writes, and writes what it holds every {@link LOG_FLUSH_MS} ms
 * whatever the amount, so a line reaches stderr within a tenth of a second. Each write is a trip
 * through libuv's thread pool: written as soon as the previous write finished, the request line cost
 * ~30 µs of process CPU per 1 KiB encrypt (150 against 121 µs with the level at warn, dev server
 * under autocannon -c 16), against ~9% of an encrypt for a synchronous write per line (bench/api);
 * gathered, a write carries ~35 request lines. What is pending is flushed at exit (pino's exit
 * hook); a SIGKILL loses at most the last tenth of a second of lines.
 * @module
 */
import { pino } from 'pino';
import type { DestinationStream, Logger as Pino } from 'pino';

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
    : pino.destination({ dest: 2, sync: false, minLength: LOG_BATCH_BYTES, periodicFlush: LOG_FLUSH_MS });
  const p = pino(
    {
      level: opts.level ?? 'info',
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACT, censor: '[redacted]' },
    },
    sink,
  );
  return wrap(p);
}

function wrap(p: Pino): Logger {
  return {
    debug: (msg, fields) => (fields ? p.debug(fields, msg) : p.debug(msg)),
    info: (msg, fields) => (fields ? p.info(fields, msg) : p.info(msg)),
    warn: (msg, fields) => (fields ? p.warn(fields, msg) : p.warn(msg)),
    error: (msg, fields) => (fields ? p.error(fields, msg) : p.error(msg)),
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
