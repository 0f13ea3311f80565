/**
 * TLS on the listener (docs/operations.md, "TLS"; docs/architecture.md, "The server"): the
 * certificate and key files, TLS 1.2 as the floor, optional client-certificate authentication, the
 * reload of the pair on SIGHUP without closing the listener, and the verified client certificate's
 * subject as request attributes policies read (`tls.client.subject`, `tls.client.cn`,
 * `tls.client.fingerprint`).
 *
 * A reload reads and checks the new pair (the key must match the certificate) before it replaces
 * anything: a pair that fails keeps the old one serving, and the log says why. Connections already
 * open keep the context they were made with; new connections get the new one.
 * @module
 */
import { X509Certificate, createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Server as HttpsServer, ServerOptions } from 'node:https';
import { createSecureContext } from 'node:tls';
import type { TLSSocket } from 'node:tls';
import type { Logger } from './log.js';

/** The files the TLS listener is made of (PEM). */
export interface TlsFiles {
  cert: string;
  key: string;
  /** CA bundle that signs client certificates: when given, every client must present one it signed. */
  clientCa?: string;
}

/** The lowest protocol version the listener speaks. */
export const TLS_MIN_VERSION = 'TLSv1.2';

/** What a loaded pair is, for the log: never the key. */
export interface TlsSummary {
  subject: string;
  fingerprint256: string;
  validTo: string;
}

/** The secure-context options of `files`, read and checked (the key matches the certificate, the CA parses). */
export async function loadTls(files: TlsFiles): Promise<{ options: ServerOptions; summary: TlsSummary }> {
  const read = async (path: string, what: string): Promise<Buffer> => {
    try {
      return await readFile(path);
    } catch (err) {
      throw new Error(`cannot read the ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
  };
  const [cert, key, ca] = await Promise.all([
    read(files.cert, 'TLS certificate (--tls-cert)'),
    read(files.key, 'TLS key (--tls-key)'),
    files.clientCa ? read(files.clientCa, 'client CA (--tls-client-ca)') : undefined,
  ]);
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(cert);
  } catch {
    throw new Error(`expected a PEM certificate in ${files.cert} (--tls-cert)`);
  }
  const options: ServerOptions = {
    cert,
    key,
    minVersion: TLS_MIN_VERSION,
    ...(ca ? { ca, requestCert: true, rejectUnauthorized: true } : {}),
  };
  try {
    // Throws on a key that is not PEM, a key that does not match the certificate, a CA that doesn't parse.
    createSecureContext(options);
  } catch (err) {
    throw new Error(`the TLS files do not make a usable pair (${files.cert}, ${files.key}): ${(err as Error).message}`);
  }
  return {
    options,
    summary: { subject: leaf.subject.replace(/\n/g, ', '), fingerprint256: leaf.fingerprint256, validTo: leaf.validTo },
  };
}

/**
 * Reloads the pair (and client CA) from `files` into `server` on each SIGHUP; returns the removal.
 * `onReload` (tests) hears each outcome.
 */
export function reloadOnSighup(
  server: HttpsServer,
  files: TlsFiles,
  log: Logger,
  onReload?: (err: Error | undefined) => void,
): () => void {
  let running = Promise.resolve();
  const reload = (): void => {
    running = running.then(async () => {
      try {
        const { options, summary } = await loadTls(files);
        server.setSecureContext(options);
        log.info('TLS certificate reloaded', { ...summary });
        onReload?.(undefined);
      } catch (err) {
        log.error('TLS reload failed; the previous certificate stays in use', { error: (err as Error).message });
        onReload?.(err as Error);
      }
    });
  };
  process.on('SIGHUP', reload);
  return () => process.off('SIGHUP', reload);
}

/** Attribute values longer than the policy input allows (1024 bytes) are left out rather than cut. */
const MAX_ATTRIBUTE_BYTES = 1024;

/** No verified client certificate: shared, like each connection's attributes (read-only). */
const NO_ATTRIBUTES: Readonly<Record<string, string>> = Object.freeze({});

/**
 * Each verified TLS connection's attributes, worked out at its first request: a kept-alive connection
 * carries many requests, and parsing the certificate and hashing its DER again for each cost every
 * one of them. Keyed by the socket, so a closed connection's entry goes with it.
 */
const bySocket = new WeakMap<object, Readonly<Record<string, string>>>();

/**
 * The request attributes of a verified client certificate: `tls.client.subject` (the subject's
 * attributes in certificate order, `CN=alice, O=Example`), `tls.client.cn` (the last CN) and
 * `tls.client.fingerprint` (SHA-256 of the DER, lowercase hex). Empty without TLS or without a
 * verified certificate. Worked out once per connection and shared (frozen) by its requests; from then
 * on the connection refuses a renegotiation, which could present another certificate behind them
 * (TLS 1.2 only: 1.3 has none), and the server closes it.
 */
export function clientCertAttributes(socket: unknown): Readonly<Record<string, string>> {
  const tls = socket as Partial<TLSSocket> | undefined;
  if (!tls || typeof tls.getPeerX509Certificate !== 'function' || tls.authorized !== true) return NO_ATTRIBUTES;
  const known = bySocket.get(tls);
  if (known) return known;
  const cert = tls.getPeerX509Certificate();
  if (!cert) return NO_ATTRIBUTES;
  const lines = cert.subject.split('\n').filter((l) => l !== '');
  const cn = lines
    .filter((l) => l.startsWith('CN='))
    .map((l) => l.slice(3))
    .at(-1);
  const out: Record<string, string> = {
    'tls.client.subject': lines.join(', '),
    'tls.client.fingerprint': createHash('sha256').update(cert.raw).digest('hex'),
    ...(cn !== undefined ? { 'tls.client.cn': cn } : {}),
  };
  for (const [k, v] of Object.entries(out)) if (Buffer.byteLength(v) > MAX_ATTRIBUTE_BYTES) delete out[k];
  tls.disableRenegotiation?.();
  const attrs = Object.freeze(out);
  bySocket.set(tls, attrs);
  return attrs;
}
