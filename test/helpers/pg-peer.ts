/**
 * Peers that are not (or no longer) PostgreSQL, for the tests of a database that accepts a
 * connection and closes it before the login finishes (docs/operations.md, "When the database
 * goes away"): a TCP balancer with no healthy backend, a pooler whose server died, an HTTP endpoint on
 * the database's port.
 */
import { connect, createServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';

export interface Peer {
  port: number;
  /** Connections accepted so far. */
  accepted: number;
  /** Stops listening and waits until every connection it accepted is closed. */
  close(): Promise<void>;
}

function listening(server: ReturnType<typeof createServer>, sockets: Set<Socket>): Promise<number> {
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

function closing(server: ReturnType<typeof createServer>, sockets: Set<Socket>): Promise<void> {
  for (const s of sockets) s.destroy();
  return new Promise((resolve) => server.close(() => resolve()));
}

/**
 * A peer that accepts and closes at once, or, given `answer`, closes after answering it to the
 * first thing it is sent (an HTTP server's `400 Bad Request` to PostgreSQL's start-up message).
 */
export async function closingPeer(answer?: string): Promise<Peer> {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    peer.accepted++;
    s.on('error', () => {});
    if (answer === undefined) s.end();
    else s.once('data', () => s.end(answer));
  });
  const peer: Peer = { port: 0, accepted: 0, close: () => closing(server, sockets) };
  peer.port = await listening(server, sockets);
  return peer;
}

/**
 * A TCP proxy to `target` (host:port) that can turn into a closing peer: `fail()` drops the
 * connections it carries and closes every new one at once, as a balancer whose backend died.
 */
export async function failingProxy(target: { host: string; port: number }): Promise<Peer & { fail(): void }> {
  const sockets = new Set<Socket>();
  let failed = false;
  const server = createServer((s) => {
    peer.accepted++;
    s.on('error', () => {});
    if (failed) return void s.destroy();
    const up = connect(target.port, target.host);
    up.on('error', () => s.destroy());
    up.on('close', () => s.destroy());
    s.on('close', () => up.destroy());
    s.pipe(up).pipe(s);
  });
  const peer = {
    port: 0,
    accepted: 0,
    close: () => closing(server, sockets),
    fail() {
      failed = true;
      for (const s of sockets) s.destroy();
    },
  };
  peer.port = await listening(server, sockets);
  return peer;
}
