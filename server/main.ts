/**
 * Listens: the only part of the server that touches a socket.
 * @module
 */
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp } from './app.js';
import type { AppOptions } from './app.js';

export const DEFAULT_LISTEN = '127.0.0.1:8420';

/** Parses HOST:PORT (IPv6 as [::1]:PORT). */
export function parseListen(s: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(s);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new RangeError(`expected HOST:PORT (e.g. 127.0.0.1:8420), got "${s}"`);
  return { host: (m[1] ?? m[2])!, port };
}

export interface RunningServer {
  server: Server;
  url: string;
  close(): Promise<void>;
}

export async function listen(opts: AppOptions & { listen: string }): Promise<RunningServer> {
  const { host, port } = parseListen(opts.listen);
  const app = createApp(opts);
  const server = createServer(app.callback());
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
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
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
