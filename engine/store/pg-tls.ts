/**
 * PostgreSQL over TLS (docs/operations.md, "TLS"; docs/architecture.md, "Storage"), spelled in the
 * database URL as libpq spells it: `sslmode` (disable, allow, prefer, require, verify-ca,
 * verify-full) and `sslrootcert` (a PEM CA file, or `system` for the system's CAs). The postgres
 * driver (3.4.10) reads `sslmode` but not a CA file, and would send `sslrootcert=/path` to the server
 * as a startup parameter, so both are taken out of the URL here and turned into the driver's `ssl`
 * option (node:tls options).
 *
 * Stricter than libpq in one place: a `sslrootcert` without `sslmode` is verify-full (libpq would
 * stay at prefer, which verifies nothing). `require` with a CA file is verify-ca, as in libpq.
 * Over a Unix socket both are ignored, as libpq ignores them (PostgreSQL offers no TLS there, and
 * the socket file's permissions, not a certificate, say who listens): the mode is still checked.
 *
 * The name verify-full checks is libpq's host (the name even when `hostaddr` is the address
 * connected to), which is also the SNI sent in every mode that may encrypt, unless it is an address,
 * as libpq sends it (fe-secure-openssl.c; serverName, and engine/store/pg-socket.ts for hostaddr).
 * @module
 */
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import type { ConnectionOptions } from 'node:tls';

/** The driver's `ssl` option: off, TLS when offered (unverified), or node:tls options. */
export type PostgresSsl = false | 'prefer' | ConnectionOptions;

export const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;

/**
 * What libpq sends as SNI for `host`: the host itself when it is a name, none for an address (RFC
 * 6066; libpq's test: all digits and dots, or holding a ":", which an IPv6 address, zone id and
 * all, does).
 */
export function serverName(host: string): string | undefined {
  return host === '' || /^[\d.]*$/.test(host) || host.includes(':') ? undefined : host;
}

/**
 * The URL without `sslmode`/`sslrootcert`, and the driver's `ssl` option for them (undefined: the
 * URL names neither, the driver's default applies; `socket`: always off). `host` is libpq's host,
 * the name verify-full checks the certificate against (an IPv6 zone id kept), by default the URL's.
 * Throws on an unknown mode, an unreadable CA, or verify-full of an address with a zone id or of
 * no host (`host` "": hostaddr alone).
 */
export async function postgresTls(
  url: string,
  { socket = false, host: name }: { socket?: boolean; host?: string } = {},
): Promise<{ url: string; ssl: PostgresSsl | undefined }> {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return { url, ssl: undefined }; // not a WHATWG URL: the driver reads it as it is, and words its error
  }
  const mode = u.searchParams.get('sslmode');
  const rootcert = u.searchParams.get('sslrootcert');
  if (mode === null && rootcert === null) return { url, ssl: socket ? false : undefined };
  u.searchParams.delete('sslmode');
  u.searchParams.delete('sslrootcert');
  const stripped = u.toString();
  const m = mode ?? 'verify-full';
  // The value is never quoted: it may be a secret pasted in the wrong place.
  if (!(SSL_MODES as readonly string[]).includes(m))
    throw new RangeError(
      `expected sslmode ${SSL_MODES.slice(0, -1).join(', ')} or ${SSL_MODES.at(-1)} in the database URL`,
    );
  if (socket) return { url: stripped, ssl: false };
  const host = name ?? u.hostname.replace(/^\[(.*)\]$/, '$1');
  // libpq compares the host, zone id and all, with the certificate's names, and its inet_pton takes
  // no zone id: no certificate's address matches it (Node's check would drop the zone and match).
  // Refused before connecting, naming the way that verifies: the zone on hostaddr.
  if (m === 'verify-full' && isIP(host) === 6 && host.includes('%'))
    throw new RangeError(
      'expected a host name, or an address without an IPv6 zone id, for sslmode=verify-full in the database URL ' +
        "(a certificate names no zone id): put the address in hostaddr (hostaddr=fe80::1%25eth0) and the certificate's " +
        'name in the host',
    );
  // libpq: "host name must be specified for a verified SSL connection" (hostaddr with no host).
  if (m === 'verify-full' && host === '')
    throw new RangeError(
      "expected a host with hostaddr for sslmode=verify-full in the database URL: the certificate is checked against the host's " +
        'name (postgres://user@db.internal/db?hostaddr=10.0.0.5&sslmode=verify-full)',
    );
  let ca: Buffer | undefined;
  if (rootcert !== null && rootcert !== 'system') {
    try {
      ca = await readFile(rootcert);
    } catch (err) {
      // Named by its parameter, not its value (which the redacted URL shows beside it).
      throw new Error(
        `cannot read the CA file the database URL's sslrootcert names: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
      );
    }
  }
  switch (m) {
    case 'disable':
      return { url: stripped, ssl: false };
    case 'allow':
    case 'prefer':
      return { url: stripped, ssl: 'prefer' };
    case 'require':
      return { url: stripped, ssl: ca ? verifyCa(ca) : { rejectUnauthorized: false } };
    case 'verify-ca':
      return { url: stripped, ssl: verifyCa(ca) };
    default: {
      // verify-full: the chain and the name; `host` is what the certificate must name (an IP too).
      const servername = serverName(host);
      return {
        url: stripped,
        ssl: { rejectUnauthorized: true, host, ...(servername ? { servername } : {}), ...(ca ? { ca } : {}) },
      };
    }
  }
}

/** The chain must reach `ca` (or the system's CAs); the name is not checked. */
function verifyCa(ca: Buffer | undefined): ConnectionOptions {
  return { rejectUnauthorized: true, checkServerIdentity: () => undefined, ...(ca ? { ca } : {}) };
}
