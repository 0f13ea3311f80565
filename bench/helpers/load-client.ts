/**
 * The benches' load generator: HTTP/1.1 keep-alive over node:net, one request at a time on each
 * connection, each request's bytes built once (per method, path, token and body) and written in one
 * call, each answer read by its Content-Length (or chunked encoding) and handed back as {@link Res}.
 * It does what autocannon does, and what the benches' node:http client did not.
 *
 * Why the benches do not load servers with node:http's client: it costs 55–85 µs of CPU per request
 * on this machine, and in a closed loop a client's turn-around lies on the server's critical path
 * whenever the server answers in bursts. An audit-on server answers a whole group commit at once
 * (8–15 requests at 16 in flight), and its next records then reach the log one client turn-around
 * apart: with node:http 0.101 ms between arrivals at the median, with autocannon 0.049 ms (issue 14's
 * trace). So the audit's ratio measured node:http's cost as much as the server's: in one same-run
 * A/B (6 rounds of 2 s, 16 in flight, PostgreSQL) audit on ÷ off was 0.699 with node:http and 0.816
 * with this client, against autocannon's 0.882 and 0.825 on the same servers. The audit-off server
 * ran as fast under either client there (8,280 and 8,439 req/s); in whole runs of bench/audit it
 * got more from node:http's (10,769 req/s at 94 µs of its CPU per request, against 8,248–9,467 at
 * 112–125 with this client and 8,336–9,320 under autocannon), as the bare endpoint does. Not
 * because a slow client's requests arrive in clumps: under either client the server makes one read
 * and one writev per request, and fewer epoll waits under this one (0.07 a request against 0.13).
 * On loopback the server's writev of an answer runs the client's receive path and wakes the client,
 * and a fast client is asleep in epoll_wait when its answer comes, so nearly every answer costs the
 * server an inter-processor interrupt (0.95 a request, against 0.34 with node:http's busier client:
 * `perf stat -e ipi:ipi_send_cpu`): 9 µs more of its CPU a request under sock_def_readable. With a
 * client that never sleeps (setImmediate spinning) both clients cost the audit-off server about
 * the same (84 and 85 µs a request, against 102 with node:http's and 114 with this one, in one
 * same-run A/B; 95 and 100 against 113 and 134 in another), and the bare endpoint too (62–67 µs,
 * against 69–76 and 89). Over a real network the client's host does that work, not the server's.
 *
 * That interrupt is not paid alike by the two servers of bench/audit, and it favours the audit-on
 * one under either client: it answers a group commit's requests together, to a client that is still
 * awake from the first answer. In two same-run A/Bs (4 servers, 6–8 rounds of 2 s, 16 in flight)
 * the audit-off server took 0.89–0.91 interrupts a request under this client and the audit-on one
 * 0.29–0.32; under node:http's 0.37–0.43 and 0.22–0.23. At the ~16 µs of main-thread time an
 * interrupt costs here, the audit-off server's main thread spends ~10 µs a request more than the
 * audit-on one's on them under this client, ~3 µs under node:http's. So bench/audit's on ÷ off
 * reads somewhat high under this client (autocannon's interrupts were not counted) and low under
 * node:http's (its turn-around). Without the interrupts, the main threads' time per request
 * (busy ÷ req/s, less 16 µs an interrupt) gave on ÷ off 0.84 and 0.92 under this client and 0.85 and 0.78 under
 * node:http's in those A/Bs. The node:http client stays available ({@link Client}; `--node-http` in
 * the benches that load with this one).
 *
 * Not a general client: no pipelining, no redirects, no 1xx answers. A connection the server closes
 * (`Connection: close`, its keep-alive timeout, an error) is dropped and a new one opened on the next
 * request; an idle one is not used within a second of the server's Keep-Alive timeout (it is closed
 * instead, as node:http's Agent does), so a request is not written into the server's close.
 */
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { Client } from './http.js';
import type { Res } from './http.js';

/** The most header bytes an answer may have before the client gives up on it. */
const MAX_HEAD = 64 * 1024;

/** An answer as {@link parseAnswer} reads it. */
export interface Answer {
  status: number;
  body: Buffer;
  /** Bytes of `buf` the answer took. */
  used: number;
  /** The server will close the connection (`Connection: close`, or the body ended with it). */
  close: boolean;
  /** The server's `Keep-Alive: timeout=N`, in ms: how long it keeps the connection open when idle. */
  keepAliveMs?: number;
}

/**
 * One complete answer at the start of `buf`; while more bytes are needed, `{ need }` when it is
 * known how many (the head is read and says Content-Length), else `undefined`. An answer with neither
 * Content-Length nor chunked encoding ends when the server closes the connection: it is complete
 * only with `ended` (the server has closed its side). Throws on what this client does not read
 * (see the module's comment), with what it expected.
 */
export function parseAnswer(buf: Buffer, ended = false): Answer | { need: number } | undefined {
  const headEnd = buf.indexOf('\r\n\r\n');
  if (headEnd < 0) {
    if (buf.length > MAX_HEAD) throw new Error(`an answer's head exceeded ${MAX_HEAD} bytes without its blank line`);
    return undefined;
  }
  const head = buf.toString('latin1', 0, headEnd);
  const line = /^HTTP\/1\.[01] (\d{3})/.exec(head);
  if (!line) throw new Error(`expected an HTTP/1.x status line, got ${JSON.stringify(head.slice(0, 40))}`);
  const status = Number(line[1]);
  if (status < 200) throw new Error(`an informational answer (${status}) is not read by this client`);
  const close = /\r\nconnection:[ \t]*close[ \t]*(\r|$)/i.test(head);
  const hint = /\r\nkeep-alive:[ \t]*timeout=(\d+)/i.exec(head);
  const answer = (body: Buffer, used: number, closing = close): Answer =>
    hint
      ? { status, body, used, close: closing, keepAliveMs: Number(hint[1]) * 1000 }
      : { status, body, used, close: closing };
  const start = headEnd + 4;
  if (status === 204 || status === 304) return answer(buf.subarray(start, start), start);
  const length = /\r\ncontent-length:[ \t]*(\d+)[ \t]*(\r|$)/i.exec(head);
  if (length) {
    const end = start + Number(length[1]);
    return buf.length < end ? { need: end } : answer(buf.subarray(start, end), end);
  }
  if (/\r\ntransfer-encoding:[ \t]*chunked[ \t]*(\r|$)/i.test(head)) {
    const chunks = dechunk(buf, start);
    return chunks && answer(chunks.body, chunks.used);
  }
  return ended ? answer(buf.subarray(start), buf.length, true) : undefined;
}

/** A chunked body from `at` (RFC 9112 §7.1) and where it ends; `undefined` while incomplete. */
function dechunk(buf: Buffer, at: number): { body: Buffer; used: number } | undefined {
  const parts: Buffer[] = [];
  for (;;) {
    const eol = buf.indexOf('\r\n', at);
    if (eol < 0) return undefined;
    const size = parseInt(buf.toString('latin1', at, eol).split(';', 1)[0]!.trim(), 16);
    if (!Number.isSafeInteger(size) || size < 0)
      throw new Error(`expected a chunk size in hex, got ${JSON.stringify(buf.toString('latin1', at, eol))}`);
    at = eol + 2;
    if (size === 0) {
      // Trailer fields, if any, then the blank line that ends the message.
      for (;;) {
        const end = buf.indexOf('\r\n', at);
        if (end < 0) return undefined;
        if (end === at) return { body: Buffer.concat(parts), used: end + 2 };
        at = end + 2;
      }
    }
    if (buf.length < at + size + 2) return undefined;
    parts.push(buf.subarray(at, at + size));
    at += size + 2;
  }
}

class Connection {
  readonly socket: Socket;
  /** Not to be handed out again: closed, failed, closing, or the server has closed its side. */
  closed = false;
  /** Until when the server keeps it open while idle (its Keep-Alive hint less a second, as node:http's Agent). */
  freshUntil = Infinity;
  /** Bytes received and not yet part of a complete answer, and how many the answer needs (0: unknown). */
  private parts: Buffer[] = [];
  private size = 0;
  private need = 0;
  private waiting: { resolve(r: Res): void; reject(e: Error): void } | undefined;

  constructor(host: string, port: number, timeoutMs: number, onClose: (c: Connection) => void) {
    this.socket = connect({ host, port, noDelay: true });
    // Inactivity: a request waiting that long fails; an idle connection is only closed.
    this.socket.setTimeout(timeoutMs, () =>
      this.socket.destroy(this.waiting ? new Error(`no answer within ${timeoutMs} ms`) : undefined),
    );
    this.socket.on('data', (chunk: Buffer) => this.data(chunk));
    // An error comes a tick or more before 'close': the connection must not be reused meanwhile.
    this.socket.on('error', (err) => {
      this.closed = true;
      this.fail(err);
    });
    this.socket.on('end', () => {
      this.closed = true;
      if (this.waiting && this.size) this.answer(true);
    });
    this.socket.on('close', () => {
      this.closed = true;
      this.fail(new Error('the connection closed before its answer came'));
      onClose(this);
    });
  }

  request(bytes: Buffer): Promise<Res> {
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.socket.write(bytes);
    });
  }

  private data(chunk: Buffer): void {
    this.parts.push(chunk);
    this.size += chunk.length;
    if (this.size >= this.need) this.answer(false);
  }

  /** Reads the answer from what has arrived, if it is complete; `ended`: the server closed its side. */
  private answer(ended: boolean): void {
    const buf = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.size);
    this.parts = [buf];
    let answer;
    try {
      answer = parseAnswer(buf, ended);
    } catch (err) {
      this.socket.destroy(err as Error);
      return;
    }
    if (!answer) return;
    if (!('status' in answer)) return void (this.need = answer.need);
    if (!this.waiting || answer.used !== buf.length) {
      this.socket.destroy(new Error('the server sent bytes beyond the answer to the one request in flight'));
      return;
    }
    this.parts = [];
    this.size = this.need = 0;
    if (answer.keepAliveMs !== undefined) this.freshUntil = Date.now() + answer.keepAliveMs - 1000;
    if (answer.close) {
      // Not handed out again; the pool drops it when it closes.
      this.closed = true;
      this.socket.end();
    }
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting.resolve({ status: answer.status, body: answer.body });
  }

  private fail(err: Error): void {
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.reject(err);
  }
}

/** Up to `sockets` keep-alive connections to `base`; the same `send` as {@link Client}'s. */
export class LoadClient {
  private readonly idle: Connection[] = [];
  private readonly queue: Array<(c: Connection | undefined) => void> = [];
  private readonly open = new Set<Connection>();
  /** The last request's bytes: a bench sends the same few requests over and over. */
  private last:
    { method: string; path: string; token: string | undefined; body: Buffer | undefined; bytes: Buffer } | undefined;

  constructor(
    readonly base: URL,
    private readonly sockets: number,
    readonly token?: string,
    private readonly timeoutMs = 60_000,
  ) {}

  async send(method: string, path: string, body?: Buffer, token = this.token): Promise<Res> {
    const bytes = this.bytes(method, path, body, token);
    const conn = await this.acquire();
    try {
      return await conn.request(bytes);
    } finally {
      this.release(conn);
    }
  }

  close(): void {
    for (const c of this.open) c.socket.destroy();
    for (const next of this.queue.splice(0)) next(undefined);
  }

  private bytes(method: string, path: string, body: Buffer | undefined, token: string | undefined): Buffer {
    const l = this.last;
    if (l && l.body === body && l.path === path && l.method === method && l.token === token) return l.bytes;
    let head = `${method} ${path} HTTP/1.1\r\nHost: ${this.base.host}\r\n`;
    if (token) head += `Authorization: Bearer ${token}\r\n`;
    if (body) head += `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n`;
    head += '\r\n';
    const bytes = body ? Buffer.concat([Buffer.from(head, 'latin1'), body]) : Buffer.from(head, 'latin1');
    this.last = { method, path, token, body, bytes };
    return bytes;
  }

  private acquire(): Promise<Connection> {
    for (let idle = this.idle.pop(); idle; idle = this.idle.pop()) {
      if (idle.freshUntil > Date.now()) return Promise.resolve(idle);
      // The server may be closing it now: a request written into its close would fail.
      idle.closed = true;
      idle.socket.destroy();
    }
    if (this.open.size < this.sockets) return Promise.resolve(this.connect());
    return new Promise((resolve, reject) =>
      this.queue.push((c) => (c ? resolve(c) : reject(new Error('the load client was closed')))),
    );
  }

  private connect(): Connection {
    const conn = new Connection(this.base.hostname, Number(this.base.port || 80), this.timeoutMs, (c) => {
      this.open.delete(c);
      const i = this.idle.indexOf(c);
      if (i >= 0) this.idle.splice(i, 1);
      // A request waiting for a connection gets a new one in its place.
      if (this.queue.length && this.open.size < this.sockets) this.queue.shift()!(this.connect());
    });
    this.open.add(conn);
    return conn;
  }

  private release(conn: Connection): void {
    if (conn.closed) return;
    const next = this.queue.shift();
    if (next) next(conn);
    else this.idle.push(conn);
  }
}

/**
 * The client a bench's load loops use: {@link LoadClient}, or with `--node-http` node:http's
 * {@link Client} (what the benches loaded servers with until 2026-12-06, for comparison).
 */
export function loadClient(args: readonly string[], base: URL, sockets: number, token?: string): LoadClient | Client {
  return args.includes('--node-http') ? new Client(base, sockets, token) : new LoadClient(base, sockets, token);
}
