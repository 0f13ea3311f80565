/**
 * A real Keyward server on an ephemeral loopback port over a test store, with its log captured.
 * `restart()` drops the process state (seal keys, sessions) and keeps the store, as a real restart.
 */
import { Hsm } from '../../engine/hsm.js';
import { statusFor } from '../../server/errors.js';
import { createLogger } from '../../server/log.js';
import { listen } from '../../server/main.js';
import type { RunningServer } from '../../server/main.js';
import type { RateLimitOptions } from '../../server/rate-limit.js';
import { checkResponse } from './openapi.js';
import { openTestStore } from './store.js';

export interface TestServer {
  url: string;
  hsm: Hsm;
  logs: string[];
  restart(): Promise<void>;
  close(): Promise<void>;
  /** Ends the refusals' fold interval now: the folded records are written when it resolves. */
  flushRefusals(): Promise<void>;
  /** The running server's refusals folder (server/refusals.ts), to watch its interval's flushes. */
  readonly refusals: RunningServer['refusals'];
  /**
   * fetch + JSON, returning status, headers and parsed body. Every response is checked against the
   * OpenAPI document (its route's documented statuses and schemas; test/helpers/openapi.ts): a
   * mismatch throws, so the document stays true to what the server sends.
   */
  call(
    method: string,
    path: string,
    opts?: { body?: unknown; raw?: string | Buffer; token?: string; headers?: Record<string, string> },
  ): Promise<{ status: number; headers: Headers; body: any }>;
}

export async function startTestServer(
  opts: {
    ceremonyRate?: RateLimitOptions;
    bodyLimit?: number;
    authFailureRate?: RateLimitOptions;
    refusalFoldMs?: number;
  } = {},
): Promise<TestServer> {
  const store = await openTestStore();
  const logs: string[] = [];
  const log = createLogger({ write: (l) => logs.push(l), level: 'debug' });
  let hsm = await Hsm.open({ store, statusOf: statusFor });
  const rate = opts.ceremonyRate ?? { burst: 10_000, perMinute: 60_000 };
  // As the ceremony limit: generous unless a test asks (tests send many failed authentications from
  // one address); test/server/refusals.test.ts passes the server's defaults.
  const refusalOpts = {
    authFailureRate: opts.authFailureRate ?? { burst: 10_000, perMinute: 600_000 },
    ...(opts.refusalFoldMs !== undefined ? { refusalFoldMs: opts.refusalFoldMs } : {}),
  };
  let running: RunningServer = await listen({
    hsm,
    log,
    listen: '127.0.0.1:0',
    ceremonyRate: rate,
    ...(opts.bodyLimit ? { bodyLimit: opts.bodyLimit } : {}),
    ...refusalOpts,
  });
  const ts: TestServer = {
    get url() {
      return running.url;
    },
    get hsm() {
      return hsm;
    },
    logs,
    async restart() {
      await running.close();
      await hsm.audit?.close();
      hsm.seal.close();
      hsm = await Hsm.open({ store, statusOf: statusFor });
      running = await listen({
        hsm,
        log,
        listen: running.url.replace('http://', ''),
        ceremonyRate: rate,
        ...refusalOpts,
      });
    },
    async close() {
      await running.close();
      await hsm.close();
    },
    async flushRefusals() {
      await running.refusals?.flush();
    },
    get refusals() {
      return running.refusals;
    },
    async call(method, path, o = {}) {
      const headers: Record<string, string> = { ...o.headers };
      let body: string | Buffer | undefined;
      if (o.raw !== undefined) body = o.raw;
      else if (o.body !== undefined) {
        body = JSON.stringify(o.body);
        headers['content-type'] ??= 'application/json';
      }
      if (o.token) headers.authorization = `Bearer ${o.token}`;
      const init = { method, headers, ...(body !== undefined ? { body } : {}) };
      // After restart() the pooled keep-alive socket points at the closed server: retry once.
      const res = await fetch(running.url + path, init).catch(() => fetch(running.url + path, init));
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        /* leave as text */
      }
      checkResponse(method, path, res.status, parsed);
      return { status: res.status, headers: res.headers, body: parsed };
    },
  };
  return ts;
}
