/**
 * Where a database URL connects (docs/operations.md, "PostgreSQL over a Unix socket"), read as libpq
 * reads it: a `host` or `port` query parameter overrides the URL's host or port, and a host starting
 * with `/` is the directory holding the server's socket `.s.PGSQL.<port>`:
 *
 *   postgres://keyward@/keyward?host=/var/run/postgresql
 *   postgresql://keyward@%2Fvar%2Frun%2Fpostgresql/keyward
 *   postgres://keyward@/keyward?host=/var/run/postgresql&port=5433
 *
 * The postgres driver (3.4.10) reads none of these: its URL parser refuses `user@/db` (no host), it
 * resolves a percent-encoded directory as a DNS name, and it sends `host` and `port` query
 * parameters to the server as run-time settings, which the server refuses. So they are read here:
 * a socket becomes the driver's `path` option, and the URL handed on names `localhost`, which the
 * driver does not connect to when it has a path. TLS settings are validated and then ignored for a
 * socket, as libpq ignores them (engine/store/pg-tls.ts).
 * @module
 */
import { postgresTls } from './pg-tls.js';
import type { PostgresSsl } from './pg-tls.js';

/** What the postgres driver is given for a database URL. */
export interface PostgresConnection {
  /** The URL for the driver: without sslmode/sslrootcert, host and port parameters. */
  url: string;
  /** The socket's path, for the driver's `path` option. */
  path?: string;
  /** The driver's `ssl` option, when the URL sets one. */
  ssl?: PostgresSsl;
  /** Where it connects, for people: `Unix socket /dir/.s.PGSQL.5432` or `host:port`. */
  target: string;
}

/**
 * The longest socket path the kernel takes (sun_path less its NUL): a longer one is cut short by
 * the connect call, which then fails as a missing file, or reaches another socket.
 */
const MAX_SOCKET_PATH = process.platform === 'linux' ? 107 : 103;

const URL_PARTS = /^(postgres(?:ql)?:\/\/)([^/?#]*)([^?#]*)(?:\?([^#]*))?(#.*)?$/i;

/**
 * The driver's URL and options for `url`. Throws (a RangeError naming what was expected) on a bad
 * port, a list of socket directories, an abstract socket, a socket path too long, or a bad sslmode
 * or CA file.
 */
export async function postgresConnection(url: string): Promise<PostgresConnection> {
  const to = postgresTarget(url);
  const tls = await postgresTls(to.url, { socket: to.path !== undefined });
  return { ...to, url: tls.url, ...(tls.ssl !== undefined ? { ssl: tls.ssl } : {}) };
}

/**
 * Where `url` connects (`target`, for people: the server's start-up line), and the URL and socket
 * path the driver is given for it, before TLS settings. Throws as postgresConnection does.
 */
export function postgresTarget(url: string): { url: string; path?: string; target: string } {
  const m = URL_PARTS.exec(url);
  if (!m) return { url, target: 'the URL' };
  const [, scheme, authority, path, query, fragment] = m as unknown as [
    string,
    string,
    string,
    string,
    string?,
    string?,
  ];
  const at = authority.lastIndexOf('@');
  const userinfo = at < 0 ? '' : authority.slice(0, at + 1);
  const hostport = authority.slice(at + 1);
  const params = new URLSearchParams(query ?? '');
  const hp = /^(\[[^\]]*\]|[^:]*)(?::(.*))?$/.exec(hostport)!;
  // Query values are decoded by URLSearchParams; the URL's own host is decoded here. No host at
  // all is PGHOST's (libpq's and the driver's default), so a socket directory there is one too.
  let host = params.getAll('host').at(-1) ?? decode(hp[1]!, 'host');
  if (host === '') host = process.env.PGHOST ?? '';
  // Several hosts: the driver tries them in turn and, when none answers, again, for ever (no error,
  // ever): refused, like a list of socket directories.
  if (host.includes(',') || hostport.includes(','))
    throw new RangeError(
      'expected one host in the database URL, got a list (several hosts are not supported: name one server, or a proxy in front of them)',
    );
  const queryPort = params.getAll('port').at(-1);
  const port = queryPort ?? (hp[2] || undefined);
  if (port !== undefined && !(/^\d{1,5}$/.test(port) && +port >= 1 && +port <= 65535))
    // The URL's own port is not quoted: a password holding an unencoded "/", "?" or "#" ends the
    // host part early, and its first characters would be read (and shown) as the port.
    throw new RangeError(
      queryPort !== undefined
        ? `expected a port 1-65535 in the database URL's port parameter, got "${queryPort}"`
        : 'expected a port 1-65535 after the host in the database URL (a password holding "/", "?", "#" or "@" must be percent-encoded)',
    );
  const rest = (query ?? '')
    .split('&')
    .filter((p) => p !== '' && !['host', 'port'].includes(decode(p.split('=')[0]!.replaceAll('+', ' '), 'parameter')));
  const rebuild = (hostPart: string) =>
    `${scheme}${userinfo}${hostPart}${path}${rest.length ? `?${rest.join('&')}` : ''}${fragment ?? ''}`;
  if (host.startsWith('@'))
    throw new RangeError(
      `expected a socket directory (/dir) or a TCP host in the database URL, got the abstract socket "${host}": ` +
        "Node.js pads an abstract name to its full length, so it never reaches PostgreSQL's",
    );
  if (host.startsWith('/')) {
    // libpq's default port, and the PGPORT it reads, as the driver reads them for TCP.
    const p = port ?? process.env.PGPORT ?? '5432';
    const socket = `${host.replace(/(.)\/+$/, '$1')}/.s.PGSQL.${p}`.replace(/^\/\//, '/');
    if (Buffer.byteLength(socket) > MAX_SOCKET_PATH)
      throw new RangeError(
        `expected a socket path of at most ${MAX_SOCKET_PATH} bytes, got ${socket} (${Buffer.byteLength(socket)} bytes)`,
      );
    return { url: rebuild('localhost'), path: socket, target: `Unix socket ${socket}` };
  }
  if (!params.has('host') && !params.has('port')) return { url, target: tcpTarget(host, port) };
  if (host === '') host = 'localhost';
  if (host.includes(':') && !host.startsWith('[')) host = `[${host}]`;
  return { url: rebuild(`${host}${port !== undefined ? `:${port}` : ''}`), target: tcpTarget(host, port) };
}

/** host:port as the driver fills them in: PGHOST/localhost, PGPORT/5432. */
function tcpTarget(host: string, port: string | undefined): string {
  const h = host || process.env.PGHOST || 'localhost';
  const p = port ?? process.env.PGPORT ?? 5432;
  return h.startsWith('/') ? `Unix socket ${h}/.s.PGSQL.${p}` : `${h}:${p}`;
}

function decode(s: string, what: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new RangeError(`expected a percent-encoded ${what} in the database URL, got "${s}"`);
  }
}
