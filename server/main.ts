/**
 * Listens: the only part of the server that touches a socket.
 * @module
 */
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createApp } from './app.js';
import type { AppOptions } from './app.js';
import { refusalsOf } from './refusals.js';
import type { Refusals } from './refusals.js';

export const DEFAULT_LISTEN = '127.0.0.1:8420';

/** Parses HOST:PORT (IPv6 as [::1]:PORT). */
export function parseListen(s: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(s);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new RangeError(`expected HOST:PORT (e.g. 127.0.0.1:8420), got "${s}"`);
  return { host: (m[1] ?? m[2])!, port };
}

/** The body of the answer to Vault's LIST verb, which Node's HTTP parser rejects before any route runs. */
export const LIST_REFUSED = JSON.stringify({
  errors: [
    'the LIST method cannot reach this server (the Node.js HTTP parser rejects unknown methods): send GET with ?list=true instead (node-vault: noCustomHTTPVerbs: true)',
  ],
});

/**
 * Answers requests the HTTP parser rejected, as Node does by default (400, 408, 413, 431), except
 * Vault's LIST verb, which gets a 405 that says what to send instead (docs/vault-transit.md).
 */
function onClientError(err: Error & { code?: string; rawPacket?: Buffer }, socket: Socket): void {
  // As Node's own handler: answer unless a response on this (keep-alive) socket is half sent.
  const pending = (socket as Socket & { _httpMessage?: { _headerSent?: boolean } })._httpMessage;
  if (socket.writable && !pending?._headerSent) {
    if (err.code === 'HPE_INVALID_METHOD' && err.rawPacket?.subarray(0, 5).toString('latin1') === 'LIST ') {
      socket.end(
        `HTTP/1.1 405 Method Not Allowed\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(LIST_REFUSED)}\r\nConnection: close\r\n\r\n${LIST_REFUSED}`,
      );
      return;
    }
    const status =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? '431 Request Header Fields Too Large'
        : err.code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW'
          ? '413 Payload Too Large'
          : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
            ? '408 Request Timeout'
            : '400 Bad Request';
    socket.write(`HTTP/1.1 ${status}\r\nConnection: close\r\n\r\n`);
  }
  socket.destroy(err);
}

export interface RunningServer {
  server: Server;
  url: string;
  /** The app's refusals (server/refusals.ts): `flush()` ends the fold interval now. */
  refusals: Refusals | undefined;
  close(): Promise<void>;
}

export async function listen(opts: AppOptions & { listen: string }): Promise<RunningServer> {
  const { host, port } = parseListen(opts.listen);
  const app = createApp(opts);
  const server = createServer(app.callback());
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  server.on('clientError', onClientError);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const h = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    server,
    url: `http://${h}:${addr.port}`,
    refusals: refusalsOf(app),
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      // The refusals counted since the last interval are written before the HSM closes.
      await refusalsOf(app)?.close();
    },
  };
}
