/**
 * Certificates for the TLS tests, made by the `openssl` CLI (an outside implementation) in a
 * temporary directory: CAs, server and client certificates (P-256, so each takes milliseconds), and
 * an expired one (`openssl ca` with explicit dates). One `TestPki` per test file.
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Pair {
  /** PEM certificate file. */
  cert: string;
  /** PEM private key file. */
  key: string;
}

export interface IssueOptions {
  /** subjectAltName, e.g. `IP:127.0.0.1,DNS:localhost` (server certificates). */
  san?: string;
  /** A client certificate (extendedKeyUsage clientAuth) instead of a server one. */
  client?: boolean;
  /** Valid only in January 2020. */
  expired?: boolean;
  /** The subject, `/O=Example/CN=alice` (default `/CN=<name>`). */
  subject?: string;
}

export class TestPki {
  readonly dir = mkdtempSync(join(tmpdir(), 'keyward-tls-'));

  #openssl(args: string[]): void {
    execFileSync('openssl', args, { cwd: this.dir, stdio: ['ignore', 'ignore', 'pipe'] });
  }

  #key(name: string): string {
    const key = join(this.dir, `${name}.key`);
    this.#openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-out', key]);
    return key;
  }

  /** A self-signed CA. */
  ca(name: string): Pair {
    const key = this.#key(name);
    const cert = join(this.dir, `${name}.pem`);
    this.#openssl(['req', '-x509', '-new', '-key', key, '-out', cert, '-days', '30', '-subj', `/CN=${name}`]);
    return { cert, key };
  }

  /** A certificate for `name` signed by `ca`. */
  issue(ca: Pair, name: string, o: IssueOptions = {}): Pair {
    const key = this.#key(name);
    const csr = join(this.dir, `${name}.csr`);
    const cert = join(this.dir, `${name}.pem`);
    const ext = join(this.dir, `${name}.ext`);
    writeFileSync(
      ext,
      [
        'basicConstraints=CA:FALSE',
        `extendedKeyUsage=${o.client ? 'clientAuth' : 'serverAuth'}`,
        ...(o.san ? [`subjectAltName=${o.san}`] : []),
      ].join('\n') + '\n',
    );
    this.#openssl(['req', '-new', '-key', key, '-out', csr, '-subj', o.subject ?? `/CN=${name}`]);
    if (!o.expired) {
      this.#openssl([
        'x509',
        '-req',
        '-in',
        csr,
        '-CA',
        ca.cert,
        '-CAkey',
        ca.key,
        '-set_serial',
        serial(),
        '-days',
        '30',
        '-extfile',
        ext,
        '-out',
        cert,
      ]);
      return { cert, key };
    }
    // `openssl x509` cannot backdate; `openssl ca` takes explicit dates.
    const conf = join(this.dir, `${name}.cnf`);
    writeFileSync(join(this.dir, `${name}.index`), '');
    writeFileSync(join(this.dir, `${name}.serial`), serial() + '\n');
    writeFileSync(
      conf,
      `[ca]\ndefault_ca = d\n[d]\ndatabase = ${name}.index\nnew_certs_dir = .\nserial = ${name}.serial\n` +
        `default_md = sha256\npolicy = p\nunique_subject = no\n[p]\ncommonName = supplied\n`,
    );
    this.#openssl([
      'ca',
      '-batch',
      '-config',
      conf,
      '-cert',
      ca.cert,
      '-keyfile',
      ca.key,
      '-in',
      csr,
      '-out',
      cert,
      '-extfile',
      ext,
      '-startdate',
      '20200101000000Z',
      '-enddate',
      '20200201000000Z',
      '-notext',
    ]);
    return { cert, key };
  }

  destroy(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

let serials = 0;
function serial(): string {
  return String(Date.now() * 1000 + ++serials);
}

/** The SHA-256 fingerprint of a PEM certificate file, as `X509Certificate.fingerprint256` spells it. */
export function fingerprintOf(certFile: string): string {
  return new X509Certificate(readFileSync(certFile)).fingerprint256;
}
