/**
 * One HTTP/1.1 request written byte for byte on a fresh TCP connection, for the fuzzer
 * (test/fuzz/http.fuzz.ts): no client library in the way, so the request line, the headers
 * (duplicated, enormous, odd bytes) and the body (invalid UTF-8, any length, chunked) arrive as
 * generated. The answer is read up to its declared end (Content-Length, the last chunk, or the
 * connection closing); `status` 0 means no answer within the time limit, -1 a connection reset or
 * closed before any status line.
 */
import { connect } from 'node:net';

export interface RawAnswer {
  status: number;
  /** Header lines, lower-cased names, duplicates kept in order. */
  headers: Array<[string, string]>;
  body: string;
  ms: number;
  /** How the exchange ended when it did not end with a complete answer. */
  error?: string;
}

export interface RawRequest {
  method: string;
  /** The request target as written on the request line (already encoded, or deliberately not). */
  target: string;
  headers: Array<[string, string | Buffer]>;
  body?: Buffer | undefined;
  /** Send the body as chunked transfer coding instead of with Content-Length. */
  chunked?: boolean;
}

const CRLF = '\r\n';

/** The request's bytes: request line, Host and Connection: close, the given headers, the body. */
export function encodeRequest(host: string, r: RawRequest): Buffer {
  const parts: Buffer[] = [
    Buffer.from(`${r.method} ${r.target} HTTP/1.1${CRLF}Host: ${host}${CRLF}Connection: close${CRLF}`, 'latin1'),
  ];
  for (const [name, value] of r.headers) {
    parts.push(
      Buffer.from(`${name}: `, 'latin1'),
      typeof value === 'string' ? Buffer.from(value, 'latin1') : value,
      Buffer.from(CRLF),
    );
  }
  if (r.body !== undefined) {
    if (r.chunked) {
      parts.push(Buffer.from(`Transfer-Encoding: chunked${CRLF}${CRLF}`));
      for (let i = 0; i < r.body.length; i += 4096) {
        const piece = r.body.subarray(i, i + 4096);
        parts.push(Buffer.from(`${piece.length.toString(16)}${CRLF}`), piece, Buffer.from(CRLF));
      }
      parts.push(Buffer.from(`0${CRLF}${CRLF}`));
    } else {
      parts.push(Buffer.from(`Content-Length: ${r.body.length}${CRLF}${CRLF}`), r.body);
    }
  } else parts.push(Buffer.from(CRLF));
  return Buffer.concat(parts);
}

export function sendRaw(port: number, r: RawRequest, timeoutMs = 15_000): Promise<RawAnswer> {
  const start = performance.now();
  const bytes = encodeRequest(`127.0.0.1:${port}`, r);
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let settled = false;
    const sock = connect({ host: '127.0.0.1', port });
    const finish = (error?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      const parsed = parse(Buffer.concat(chunks), r.method === 'HEAD');
      const ms = performance.now() - start;
      if (parsed && parsed.complete) resolve({ status: parsed.status, headers: parsed.headers, body: parsed.body, ms });
      else if (parsed)
        resolve({ status: parsed.status, headers: parsed.headers, body: parsed.body, ms, ...(error ? { error } : {}) });
      else resolve({ status: error === 'timeout' ? 0 : -1, headers: [], body: '', ms, error: error ?? 'closed' });
    };
    const timer = setTimeout(() => finish('timeout'), timeoutMs);
    sock.on('data', (d: Buffer) => {
      chunks.push(d);
      if (parse(Buffer.concat(chunks), r.method === 'HEAD')?.complete) finish();
    });
    sock.on('end', () => finish());
    sock.on('close', () => finish());
    // A server that answers early (413, 431) and closes may reset the connection while the rest of
    // the request is still being written: what was read so far is the answer.
    sock.on('error', (e: NodeJS.ErrnoException) => finish(e.code ?? e.message));
    sock.write(bytes);
  });
}

function parse(
  buf: Buffer,
  head: boolean,
): { status: number; headers: Array<[string, string]>; body: string; complete: boolean } | undefined {
  let end = buf.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  // Interim answers (100 Continue to Expect: 100-continue) come before the real one.
  while (/^HTTP\/1\.[01] 1\d\d/.test(buf.subarray(0, 12).toString('latin1'))) {
    buf = buf.subarray(end + 4);
    end = buf.indexOf('\r\n\r\n');
    if (end < 0) return undefined;
  }
  const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]!);
  if (!m) return undefined;
  const headers = lines.slice(1).map((l): [string, string] => {
    const i = l.indexOf(':');
    return [l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim()];
  });
  const status = Number(m[1]);
  const rest = buf.subarray(end + 4);
  const get = (n: string) => headers.find(([k]) => k === n)?.[1];
  if (head || status === 204 || status === 304) return { status, headers, body: '', complete: true };
  const length = get('content-length');
  if (length !== undefined) {
    const n = Number(length);
    return { status, headers, body: rest.subarray(0, n).toString('utf8'), complete: rest.length >= n };
  }
  if (/chunked/i.test(get('transfer-encoding') ?? '')) {
    const body: Buffer[] = [];
    let i = 0;
    for (;;) {
      const eol = rest.indexOf('\r\n', i);
      if (eol < 0) return { status, headers, body: Buffer.concat(body).toString('utf8'), complete: false };
      const size = parseInt(rest.subarray(i, eol).toString('latin1'), 16);
      if (size === 0) return { status, headers, body: Buffer.concat(body).toString('utf8'), complete: true };
      if (rest.length < eol + 2 + size + 2)
        return { status, headers, body: Buffer.concat(body).toString('utf8'), complete: false };
      body.push(rest.subarray(eol + 2, eol + 2 + size));
      i = eol + 2 + size + 2;
    }
  }
  return { status, headers, body: rest.toString('utf8'), complete: false };
}
