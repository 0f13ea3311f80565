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
 * @module
 */
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import type { ConnectionOptions } from 'node:tls';

/** The driver's `ssl` option: off, TLS when offered (unverified), or node:tls options. */
export type PostgresSsl = false | 'prefer' | ConnectionOptions;

export const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;

/**
 * The URL without `sslmode`/`sslrootcert`, and the driver's `ssl` option for them (undefined: the
 * URL names neither, the driver's default applies; `socket`: always off). Throws on an unknown mode
 * or an unreadable CA.
 */
export async function postgresTls(
  url: string,
  { socket = false }: { socket?: boolean } = {},
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
  if (!(SSL_MODES as readonly string[]).includes(m))
    throw new RangeError(`expected sslmode ${SSL_MODES.join(', ')} in the database URL, got "${m}"`);
  if (socket) return { url: stripped, ssl: false };
  let ca: Buffer | undefined;
  if (rootcert !== null && rootcert !== 'system') {
    try {
      ca = await readFile(rootcert);
    } catch (err) {
      throw new Error(
        `cannot read sslrootcert ${rootcert} from the database URL: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
      );
    }
  }
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
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
    default:
      // verify-full: the chain and the name; `host` is what the certificate must name (an IP too).
      return {
        url: stripped,
        ssl: { rejectUnauthorized: true, host, ...(isIP(host) ? {} : { servername: host }), ...(ca ? { ca } : {}) },
      };
  }
}

/** The chain must reach `ca` (or the system's CAs); the name is not checked. */
function verifyCa(ca: Buffer | undefined): ConnectionOptions {
  return { rejectUnauthorized: true, checkServerIdentity: () => undefined, ...(ca ? { ca } : {}) };
}
