/**
 * The CLI's HTTP client: JSON in, JSON out; error bodies become KeywardErrors with the server's code.
 * @module
 */
import { KeywardError } from '../ceremony/errors.js';

export const DEFAULT_ADDR = 'http://127.0.0.1:8420';

export class KeywardClient {
  readonly addr: string;
  readonly #token: string | undefined;

  constructor(addr: string, token?: string) {
    let u: URL;
    try {
      u = new URL(addr);
    } catch {
      throw new KeywardError('ADDR_INVALID', `expected --addr as a URL like ${DEFAULT_ADDR}, got "${addr}"`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new KeywardError('ADDR_INVALID', `expected an http(s) URL for --addr, got "${addr}"`);
    this.addr = u.origin + u.pathname.replace(/\/+$/, '');
    this.#token = token || undefined;
  }

  async request<T = unknown>(method: string, path: string, body?: unknown, opts: { okStatuses?: number[] } = {}): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.#token) headers.authorization = `Bearer ${this.#token}`;
    let res: Response;
    try {
      res = await fetch(this.addr + path, { method, headers, body: body === undefined ? null : JSON.stringify(body) });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
      throw new KeywardError('SERVER_UNREACHABLE', `cannot reach keyward at ${this.addr} (${cause}); is the server running? set --addr or KEYWARD_ADDR`, { cause: err });
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      throw new KeywardError('BAD_RESPONSE', `server answered ${res.status} with a body that is not JSON`);
    }
    // Parked for approval (docs/approvals.md): the operation did not run, so this is not a result;
    // BaseCommand reports it as parked (exit 3), not as an error.
    const parked = json as { approvalId?: string; required?: number; group?: string; expiresAt?: string } | undefined;
    if (res.status === 202 && typeof parked?.approvalId === 'string') {
      throw new KeywardError(
        'APPROVAL_PENDING',
        `parked for approval ${parked.approvalId}: needs ${parked.required} approvals from "${parked.group}" before ${parked.expiresAt}; ` +
          `then run \`keyward approval execute ${parked.approvalId}\` (it runs with the parked body)`,
        { details: { ...parked } },
      );
    }
    if (res.ok || opts.okStatuses?.includes(res.status)) return json as T;
    const e = (json as { error?: { code?: string; message?: string } } | undefined)?.error;
    throw new KeywardError(e?.code ?? `HTTP_${res.status}`, e?.message ?? `server answered ${res.status}`);
  }

  get<T = unknown>(path: string, opts?: { okStatuses?: number[] }): Promise<T> {
    return this.request<T>('GET', path, undefined, opts);
  }

  post<T = unknown>(path: string, body: unknown = {}): Promise<T> {
    return this.request<T>('POST', path, body);
  }
}
