/**
 * A small structured logger: one JSON object per line. Callers pass only non-secret fields; request
 * bodies, tokens and key material are never logged (a test checks a whole ceremony's log for them).
 * @module
 */
export type Level = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

/**
 * Writes lines to stderr in batches: one write per event-loop turn instead of one per line
 * (stderr to a pipe or file is a synchronous syscall per write on Linux; bench/api measured the
 * per-request write at ~9% of an encrypt). Whatever is pending is flushed at exit.
 */
function batchedStderr(): (line: string) => void {
  let pending: string[] = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (pending.length === 0) return;
    const text = pending.join('');
    pending = [];
    process.stderr.write(text);
  };
  process.once('exit', flush);
  return (line: string) => {
    pending.push(line);
    if (pending.length >= 256) flush();
    else if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };
}

export function createLogger(opts: { write?: (line: string) => void; level?: Level; now?: () => Date } = {}): Logger {
  const write = opts.write ?? batchedStderr();
  const min = ORDER[opts.level ?? 'info'];
  const now = opts.now ?? (() => new Date());
  const emit = (level: Level) => (msg: string, fields?: Record<string, unknown>) => {
    if (ORDER[level] < min) return;
    write(JSON.stringify({ time: now().toISOString(), level, msg, ...fields }) + '\n');
  };
  return { debug: emit('debug'), info: emit('info'), warn: emit('warn'), error: emit('error') };
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
