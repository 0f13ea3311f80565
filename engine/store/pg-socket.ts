/**
 * Where and as whom a database URL connects (docs/operations.md, "PostgreSQL database URLs"), read
 * as libpq reads it. A `host` or `port` query parameter overrides the URL's host or port, a host
 * starting with `/` is the directory holding the server's socket `.s.PGSQL.<port>`, an IPv6 host is
 * bracketed in the URL (`[::1]:5432`) and bare in `?host=`, and `hostaddr`, `dbname`, `user`,
 * `password` and `connect_timeout` are connection parameters:
 *
 *   postgres://keyward@/keyward?host=/var/run/postgresql
 *   postgresql://keyward@%2Fvar%2Frun%2Fpostgresql/keyward
 *   postgres://keyward@[::1]:5432/keyward
 *   postgres:///keyward?host=::1&user=keyward
 *
 * The postgres driver (3.4.10) reads none of these: its URL parser refuses `user@/db` (no host),
 * resolves a percent-encoded directory as a DNS name, cuts a host at its first `:` (so `[::1]`
 * becomes the host `[`), does not decode the database name, and sends every query parameter it has
 * no option of its own for to the server as a run-time setting, which the server refuses for
 * `host`, `dbname`, `password` and the like (and `user` would replace the login name in the startup
 * packet only). So they are read here and handed to the driver as its options (`host`/`port`, or
 * `path` for a socket; `database`, `user`, `pass`, `connect_timeout`), which take precedence over
 * its URL; the URL handed on keeps only a host the driver can parse (`localhost` for a socket, an
 * IPv6 address without its zone id) and the parameters it reads or sends on. libpq's
 * other parameters are refused by name, never sent as settings. Any other parameter is passed on as
 * before: a server setting (`lock_timeout=5000`) or one of the driver's own options. TLS
 * settings are read in engine/store/pg-tls.ts, and ignored for a socket as libpq ignores them. With
 * `hostaddr` and TLS, the driver is handed a TCP connection to the address named by the host (its
 * `socket` option): it sends the name it connects to as SNI, and libpq sends the host's.
 * @module
 */
import { Socket, isIP } from 'node:net';
import type postgres from 'postgres';
import { SSL_MODES, postgresTls, serverName } from './pg-tls.js';
import type { PostgresSsl } from './pg-tls.js';

/**
 * Where and as whom a database URL connects, before TLS. Every field but `url` and `target` is the
 * postgres driver's option of the same name (they override what the driver reads from `url`).
 */
export interface PostgresTarget {
  /** The URL for the driver: a host it parses and the parameters not read here (no user, password or path). */
  url: string;
  /** The socket's path (no host and port then). */
  path?: string;
  /** The TCP host, one: as an array, which the driver does not cut at a ":" (an IPv6 address). */
  host?: [string];
  port?: [number];
  database?: string;
  user?: string;
  pass?: string;
  /** Seconds, from the URL's `connect_timeout`. */
  connect_timeout?: number;
  /** Where it connects, for people: `Unix socket /dir/.s.PGSQL.5432`, `host:port` or `[::1]:port`. */
  target: string;
}

/** What the postgres driver is given for a database URL. */
export interface PostgresConnection extends PostgresTarget {
  /** The driver's `ssl` option, when the URL sets one. */
  ssl?: PostgresSsl;
  /**
   * Opens the TCP connection to `hostaddr`, named by the host (the driver's `socket` option): the
   * driver sends the name of the host it connects to as SNI, which would be the address.
   */
  socket?: () => Socket;
}

/**
 * The longest socket path the kernel takes (sun_path less its NUL): a longer one is cut short by
 * the connect call, which then fails as a missing file, or reaches another socket.
 */
const MAX_SOCKET_PATH = process.platform === 'linux' ? 107 : 103;

const URL_PARTS = /^(postgres(?:ql)?:\/\/)([^/?#]*)([^?#]*)(?:\?([^#]*))?(#.*)?$/i;

/** libpq's connection parameters read here (and taken out of the URL handed on). */
const READ_HERE = new Set([
  'host',
  'hostaddr',
  'port',
  'dbname',
  'user',
  'password',
  'connect_timeout',
  'client_encoding',
  // Used by libpq only when there is no application_name, and Keyward always sets one.
  'fallback_application_name',
]);

/**
 * libpq's other connection parameters (PostgreSQL 17 and 18's "Parameter Key Words") but those the
 * driver reads as libpq does: application_name and options (sent in the startup packet, as libpq
 * sends them), sslmode and sslrootcert (engine/store/pg-tls.ts), sslnegotiation and
 * target_session_attrs. Sent on, each would be a server setting the server refuses: refused here,
 * by name.
 */
const REFUSED = new Set([
  'passfile',
  'service',
  'require_auth',
  'channel_binding',
  'keepalives',
  'keepalives_idle',
  'keepalives_interval',
  'keepalives_count',
  'tcp_user_timeout',
  'replication',
  'gssencmode',
  'krbsrvname',
  'gsslib',
  'gssdelegation',
  'requiressl',
  'sslcompression',
  'sslcert',
  'sslkey',
  'sslpassword',
  'sslcertmode',
  'sslcrl',
  'sslcrldir',
  'sslsni',
  'sslkeylogfile',
  'ssl_min_protocol_version',
  'ssl_max_protocol_version',
  'min_protocol_version',
  'max_protocol_version',
  'requirepeer',
  'load_balance_hosts',
  'scram_client_key',
  'scram_server_key',
  'oauth_issuer',
  'oauth_client_id',
  'oauth_client_secret',
  'oauth_scope',
]);

/** libpq's parameters the driver reads itself, or pg-tls.ts does (see REFUSED). */
const LIBPQ_OTHER = new Set([
  'application_name',
  'options',
  'sslmode',
  'sslrootcert',
  'sslnegotiation',
  'target_session_attrs',
]);

/** target_session_attrs's values, libpq's: the driver takes all but "any", its default. */
const TARGET_SESSION_ATTRS = ['any', 'read-write', 'read-only', 'primary', 'standby', 'prefer-standby'];

/** client_encoding's values the driver can work with: it reads and writes UTF-8 only. */
const UTF8 = /^(utf-?8|unicode)$/i;

/**
 * Of libpq's parameters Keyward reads, the values it takes as they stand, by name as written
 * (`Sslmode` is refused): what reports of a database URL may show (redactDatabaseUrl, in
 * engine/store/driver.ts). Any other value, one refused or of a parameter Keyward does not know, may
 * be a secret pasted in the wrong place.
 */
const TAKEN = new Map<string, (value: string) => boolean>([
  ['host', () => true],
  ['hostaddr', (v) => isIP(v) !== 0],
  ['port', (v) => /^\d{0,5}$/.test(v)],
  ['dbname', () => true],
  ['user', () => true],
  ['connect_timeout', (v) => /^\d+$/.test(v.trim())],
  ['client_encoding', (v) => UTF8.test(v)],
  ['application_name', () => true],
  ['fallback_application_name', () => true],
  ['sslmode', (v) => (SSL_MODES as readonly string[]).includes(v)],
  ['sslrootcert', () => true],
  ['sslnegotiation', (v) => v === 'postgres' || v === 'direct'],
  ['target_session_attrs', (v) => TARGET_SESSION_ATTRS.includes(v)],
]);

/** Whether Keyward reads the URL parameter `name` and takes its (decoded) `value` as it stands. */
export function takesParameterValue(name: string, value: string): boolean {
  return TAKEN.get(name)?.(value) ?? false;
}

const SUPPORTED =
  'host, hostaddr, port, dbname, user, password, connect_timeout, application_name, options, sslmode, ' +
  'sslrootcert, sslnegotiation, target_session_attrs, client_encoding=UTF8';

/**
 * The driver's URL and options for `url`. Throws (a RangeError naming what was expected) as
 * postgresTarget does, or on a bad sslmode or CA file, or verify-full of a host with a zone id.
 */
export async function postgresConnection(url: string): Promise<PostgresConnection> {
  const { to, name } = readTarget(url);
  const tls = await postgresTls(to.url, { socket: to.path !== undefined, host: name });
  // libpq sends the host's name as SNI when it connects to hostaddr (poolers and proxies that route
  // on SNI, e.g. Neon's, need it); the driver sends the name it connects to, the address then.
  const sni = tls.ssl ? serverName(name) : undefined;
  const [address, port] = [to.host?.[0], to.port?.[0]];
  const socket =
    sni !== undefined && address !== undefined && address !== sni && port !== undefined
      ? () => namedSocket(address, port, sni)
      : undefined;
  return { ...to, url: tls.url, ...(tls.ssl !== undefined ? { ssl: tls.ssl } : {}), ...(socket ? { socket } : {}) };
}

/**
 * A TCP socket to `address`:`port` that the driver reads as `host`'s (its SNI, and the name in its
 * errors). It connects only once the driver listens for its errors: the driver awaits between
 * calling its `socket` option and adding its listeners, and a connect that fails at once (EINVAL,
 * ENETUNREACH, EMFILE) would emit an `error` nobody hears, which ends the process. Waiting for the
 * listener, rather than for a tick or on a patch of the driver's timing, holds whenever the driver
 * adds it, as the driver's own socket is connected only after it has.
 */
function namedSocket(address: string, port: number, host: string): Socket {
  const socket = Object.assign(new Socket(), { host, port });
  const onListener = (event: string | symbol) => {
    if (event !== 'error') return;
    socket.off('newListener', onListener);
    // Emitted before the listener is added: the connect's outcome comes on a later tick.
    socket.connect(port, address);
  };
  socket.on('newListener', onListener);
  return socket;
}

/** The postgres driver's options of a connection: where and as whom (all but `url` and `target`), and `ssl`. */
export type PostgresConnectOptions = Omit<PostgresConnection, 'url' | 'target' | 'host' | 'port'> &
  Pick<postgres.Options<Record<string, never>>, 'host' | 'port'>;

/**
 * `c`'s fields the postgres driver takes as options, which it reads before its URL. The driver's
 * typings say a host is a string; its code (parseOptions) takes an array too, as it is: a string is
 * cut at its first ":", which no IPv6 address survives.
 */
export function postgresConnectOptions(c: PostgresConnection): PostgresConnectOptions {
  const { url: _url, target: _target, ...options } = c;
  return options as unknown as PostgresConnectOptions;
}

/**
 * Where and as whom `url` connects (`target`, for people: the server's start-up line), and the URL
 * and options the driver is given for it, before TLS. Throws a RangeError naming what was expected
 * on a bad port, hostaddr or connect_timeout, an unclosed IPv6 bracket, a list of hosts, an abstract
 * socket, a socket path too long, a libpq parameter not supported, or an unencoded `#`, or `@` after
 * the host (a password with an unencoded `/`, `?`, `#` or `@` cut short); never quoting what may be
 * part of a password.
 */
export function postgresTarget(url: string): PostgresTarget {
  return readTarget(url).to;
}

/**
 * postgresTarget's answer, and libpq's host: the name TLS checks and sends (an IPv6 zone id kept;
 * "" for hostaddr with no host).
 */
function readTarget(url: string): { to: PostgresTarget; name: string } {
  const m = URL_PARTS.exec(url);
  if (!m) return { to: { url, target: 'the URL' }, name: '' };
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
  // A password holding an unencoded "/", "?" or "#" ends the host part early: what follows its ":"
  // would be read as a port (digits pass as one), the rest as the database, a parameter or a
  // fragment. Refused without quoting any of it. (libpq has no fragments.)
  const cut = 'a password holding "/", "?", "#" or "@" must be percent-encoded';
  if (fragment !== undefined)
    throw new RangeError(`expected no "#" in the database URL (percent-encode it as %23: ${cut})`);
  // The password's own "@" then lies past the host part, in the path or a parameter: an "@" after
  // the host is refused (written %40 in a database name or a parameter), whatever the host part holds.
  if (`${path}${query ?? ''}`.includes('@'))
    throw new RangeError(
      `expected an "@" only before the host in the database URL (${cut}; an "@" after the host as %40)`,
    );
  const params = new Map<string, string>();
  const rest: string[] = [];
  for (const p of (query ?? '').split('&')) {
    if (p === '') continue;
    const eq = p.indexOf('=');
    if (eq < 0) throw new RangeError(`expected name=value parameters after "?" in the database URL (${cut})`);
    const name = decode(p.slice(0, eq), 'parameter name', false);
    // libpq's names are lower case; the server takes its settings' names in any case, so `Password=`
    // would be sent to it as a setting, the password with it.
    const lower = name.toLowerCase();
    if (lower !== name && (READ_HERE.has(lower) || REFUSED.has(lower) || LIBPQ_OTHER.has(lower)))
      throw new RangeError(`expected libpq's parameter names in lower case in the database URL, got "${name}"`);
    if (REFUSED.has(name))
      throw new RangeError(
        `expected connection parameters Keyward reads (${SUPPORTED}) or server settings (e.g. lock_timeout=5000) ` +
          `in the database URL, got libpq's "${name}", which is not supported`,
      );
    // A value is never quoted: it may be part of a password (percent-encoded, say).
    if (READ_HERE.has(name)) params.set(name, decode(p.slice(eq + 1), `${name} parameter`, false));
    else if (name === 'target_session_attrs') {
      const value = decode(p.slice(eq + 1), 'target_session_attrs parameter', false);
      // Refused here, as the driver would refuse it, but without quoting it.
      if (!TARGET_SESSION_ATTRS.includes(value))
        throw new RangeError(
          `expected target_session_attrs ${TARGET_SESSION_ATTRS.slice(0, -1).join(', ')} or ` +
            `${TARGET_SESSION_ATTRS.at(-1)} in the database URL`,
        );
      // The driver knows no "any", libpq's default: the same as leaving it out.
      if (value !== 'any') rest.push(p);
    } else rest.push(p);
  }
  if (hostport.startsWith('[') && !/^\[[^\]]*\](:|$)/.test(hostport))
    throw new RangeError(
      hostport.includes(']')
        ? 'expected ":port" or nothing after the IPv6 address\'s "]" in the database URL (postgres://user@[::1]:5432/db)'
        : 'expected a "]" closing the IPv6 address in the database URL (postgres://user@[::1]:5432/db)',
    );
  const hp = /^(\[[^\]]*\]|[^:]*)(?::(.*))?$/.exec(hostport)!;
  // No host at all is PGHOST's (libpq's and the driver's default), so a socket directory there is one too.
  let host = params.get('host') ?? decode(hp[1]!, 'host');
  if (host === '') host = process.env.PGHOST ?? '';
  const hostaddr = params.get('hostaddr');
  // Several hosts: the driver tries them in turn and, when none answers, again, for ever (no error,
  // ever): refused, like a list of socket directories.
  if (host.includes(',') || hostport.includes(',') || hostaddr?.includes(','))
    throw new RangeError(
      'expected one host in the database URL, got a list (several hosts are not supported: name one server, or a proxy in front of them)',
    );
  const queryPort = params.get('port');
  // An empty ?port= is the default port, as in libpq (PGPORT's here, as with no port at all).
  const port = queryPort !== undefined ? queryPort || undefined : hp[2] || undefined;
  if (port !== undefined && !isPort(port))
    // Neither is quoted but digits: the URL's own port may be the start of a password (above).
    throw new RangeError(
      queryPort !== undefined
        ? `expected a port 1-65535 in the database URL's port parameter${digits(queryPort)}`
        : `expected a port 1-65535 after the host in the database URL (${cut})`,
    );
  const p = port ?? process.env.PGPORT ?? '5432';
  if (!isPort(p)) throw new RangeError(`expected a port 1-65535 in PGPORT, got "${p}"`);
  if (host.startsWith('@') && hostaddr === undefined)
    throw new RangeError(
      `expected a socket directory (/dir) or a TCP host in the database URL, got the abstract socket "${host}": ` +
        "Node.js pads an abstract name to its full length, so it never reaches PostgreSQL's",
    );
  const who = connectionParameters(userinfo, path, params);
  // Without the user, password and database, which the driver takes as options: an empty ?user=,
  // ?password= or ?dbname= then wins over the URL's own as in libpq (the driver's default applies).
  const rebuild = (hostPart: string) => `${scheme}${hostPart}${rest.length ? `?${rest.join('&')}` : ''}`;
  if (host.startsWith('/') && hostaddr === undefined) {
    const socket = `${host.replace(/(.)\/+$/, '$1')}/.s.PGSQL.${p}`.replace(/^\/\//, '/');
    if (Buffer.byteLength(socket) > MAX_SOCKET_PATH)
      throw new RangeError(
        `expected a socket path of at most ${MAX_SOCKET_PATH} bytes, got ${socket} (${Buffer.byteLength(socket)} bytes)`,
      );
    // The driver does not connect to a host when it has a path: `localhost` only keeps its URL parser quiet.
    return { to: { url: rebuild('localhost'), path: socket, ...who, target: `Unix socket ${socket}` }, name: host };
  }
  if (hostaddr !== undefined && isIP(hostaddr) === 0)
    throw new RangeError("expected a numeric IP address in the database URL's hostaddr parameter");
  // libpq connects to hostaddr when there is one, and checks the server's certificate against the
  // host's name; with hostaddr and no host it has no name to check (verify-full is refused: the
  // name given to TLS is then ""), and none to send as SNI.
  const given = host.startsWith('/') ? '' : host.replace(/^\[(.*)\]$/, '$1');
  const name = given || hostaddr || 'localhost';
  const to = hostaddr ?? name;
  // An IPv6 zone id (fe80::1%eth0) goes to the driver in `host` only: no URL parser takes one (the
  // driver's decodes "%eth0" and fails). TLS is given `name`, zone and all, as libpq checks it.
  return {
    to: {
      url: rebuild(
        `${bracket(name.includes(':') ? name.replace(/%.*$/, '') : name)}${port !== undefined ? `:${port}` : ''}`,
      ),
      host: [to],
      port: [Number(p)],
      ...who,
      target: `${bracket(to)}:${p}${to !== name ? ` (${name})` : ''}`,
    },
    name: given || (hostaddr !== undefined ? '' : name),
  };
}

/** The database, user, password and connect timeout: a parameter wins over the URL's own, as in libpq. */
function connectionParameters(
  userinfo: string,
  path: string,
  params: Map<string, string>,
): Pick<PostgresTarget, 'database' | 'user' | 'pass' | 'connect_timeout'> {
  const colon = userinfo.indexOf(':');
  const user = params.get('user') ?? decode(userinfo.slice(0, colon < 0 ? -1 : colon), 'user name');
  // Never quoted: it is the password.
  const pass = params.get('password') ?? (colon < 0 ? '' : decode(userinfo.slice(colon + 1, -1), 'password', false));
  // The driver takes the path as it is; libpq decodes it (a database name holding "@" is written %40).
  const database = params.get('dbname') ?? decode(path.slice(1), 'database name');
  const who: ReturnType<typeof connectionParameters> = {
    ...(database !== '' ? { database } : {}),
    ...(user !== '' ? { user } : {}),
    ...(pass !== '' ? { pass } : {}),
  };
  const encoding = params.get('client_encoding');
  // The driver reads and writes UTF-8 only: another encoding would corrupt every non-ASCII text.
  if (encoding !== undefined && !UTF8.test(encoding))
    throw new RangeError('expected client_encoding UTF8 in the database URL');
  const timeout = params.get('connect_timeout');
  if (timeout === undefined) return who;
  // libpq waits for ever on 0 or less: never taken (nothing in Keyward waits for ever). Its least is 2 s.
  if (!/^\d+$/.test(timeout.trim()) || +timeout < 1)
    throw new RangeError(`expected connect_timeout in whole seconds, 1 or more, in the database URL${digits(timeout)}`);
  return { ...who, connect_timeout: Math.max(2, +timeout) };
}

function isPort(s: string): boolean {
  return /^\d{1,5}$/.test(s) && +s >= 1 && +s <= 65535;
}

/** `, got "<s>"` for digits only: any other value may be part of a password (a percent-encoded one, say). */
function digits(s: string): string {
  return /^-?\d+$/.test(s) ? `, got "${s}"` : '';
}

/** A host as it goes before ":port": an IPv6 address in brackets. */
function bracket(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

function decode(s: string, what: string, quote = true): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new RangeError(`expected a percent-encoded ${what} in the database URL${quote ? `, got "${s}"` : ''}`);
  }
}
