/**
 * Listens: the only part of the server that touches a socket. Plain HTTP on a loopback address, or
 * HTTPS (server/tls.ts) with `tls`; a non-loopback address without TLS is refused unless the
 * caller says `insecureNoTls` (docs/operations.md, "TLS").
 * @module
 */
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Server as HttpsServer } from 'node:https';
import { isIP } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { createApp, directPartsOf } from './app.js';
import { requestListener } from './direct.js';
import type { AppOptions } from './app.js';
import { refusalsOf } from './refusals.js';
import type { Refusals } from './refusals.js';
import { createLogger } from './log.js';
import { appMetrics } from './metrics.js';
import { loadTls, reloadOnSighup } from './tls.js';
import type { TlsFiles } from './tls.js';

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

/** A loopback host: 127.0.0.0/8, ::1 (also as ::ffff:127.x.y.z) or `localhost`. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase();
  if (h === 'localhost' || h === '::1') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice(7) : h;
  return isIP(v4) === 4 && v4.startsWith('127.');
}

/** Why `host` may not be listened on as asked, or undefined: plain HTTP leaves loopback only when told to. */
export function listenRefusal(host: string, tls: boolean, insecureNoTls: boolean): string | undefined {
  if (tls || insecureNoTls || isLoopback(host)) return undefined;
  return `refusing to listen on ${host} without TLS: bearer tokens, plaintexts and keys would cross the network in the clear; give --tls-cert FILE --tls-key FILE, or --insecure-no-tls if a proxy in front terminates TLS`;
}

export interface RunningServer {
  server: Server | HttpsServer;
  url: string;
  /** The app's refusals (server/refusals.ts): `flush()` ends the fold interval now. */
  refusals: Refusals | undefined;
  close(): Promise<void>;
}

export interface ListenOptions extends AppOptions {
  listen: string;
  /** HTTPS with these files (reloaded on SIGHUP); without it, plain HTTP. */
  tls?: TlsFiles;
  /** Allow plain HTTP on a non-loopback address (behind a TLS-terminating proxy). */
  insecureNoTls?: boolean;
  /** Hears each SIGHUP reload's outcome (tests). */
  onTlsReload?: (err: Error | undefined) => void;
}

export async function listen(opts: ListenOptions): Promise<RunningServer> {
  const { host, port } = parseListen(opts.listen);
  const refused = listenRefusal(host, opts.tls !== undefined, opts.insecureNoTls === true);
  if (refused) throw new RangeError(refused);
  const tls = opts.tls ? await loadTls(opts.tls) : undefined;
  const app = createApp({ ...opts, secure: tls !== undefined });
  // Hot routes go the direct way (server/direct.ts), everything else through Koa.
  const onRequest = requestListener(app, directPartsOf(app));
  const server = tls ? createHttpsServer(tls.options, onRequest) : createServer(onRequest);
  const log = opts.log ?? createLogger();
  if (tls) {
    log.info('TLS certificate loaded', { ...tls.summary, clientCertificates: opts.tls!.clientCa !== undefined });
    if (Date.parse(tls.summary.validTo) < Date.now())
      log.warn('the TLS certificate has expired: clients will refuse it', { validTo: tls.summary.validTo });
  }
  const stopReload = tls ? reloadOnSighup(server as HttpsServer, opts.tls!, log, opts.onTlsReload) : () => {};
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
    url: `${tls ? 'https' : 'http'}://${h}:${addr.port}`,
    refusals: refusalsOf(app),
    close: async () => {
      await new Promise<void>((resolve) => {
        stopReload();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      // The refusals counted since the last interval are written before the HSM closes.
      await refusalsOf(app)?.close();
      appMetrics.get(app)?.close();
    },
  };
}
