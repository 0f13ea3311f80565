/**
 * The console's session: the API token, entered once and kept in sessionStorage only (gone when the
 * tab closes; never localStorage, never a cookie), and the typed client built on it. The console
 * talks to the server only through the public API (@keyward/client), at the origin it was served from.
 * @module
 */
import { KeywardApiError, KeywardClient } from '@keyward/client';
import type { components } from '@keyward/client';

const TOKEN_KEY = 'keyward.token';

export type Whoami = components['schemas']['Whoami'];

export function storedToken(): string | null {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

export function storeToken(token: string | null): void {
  if (token === null) sessionStorage.removeItem(TOKEN_KEY);
  else sessionStorage.setItem(TOKEN_KEY, token);
}

/** A client for this origin, with the session's token when there is one. */
export function client(token: string | null = storedToken()): KeywardClient {
  return new KeywardClient({ baseUrl: location.origin, ...(token ? { token } : {}), timeoutMs: 30_000 });
}

/** What to show for a failed call: the server's code and message. */
export function describeError(err: unknown): string {
  if (err instanceof KeywardApiError) return `${err.code}: ${err.message}`;
  // The verifier's own errors (lib/errors KeywardError) carry a code too: AUDIT_PROOF_INVALID, …
  const code = (err as { code?: unknown } | null)?.code;
  if (err instanceof Error) return typeof code === 'string' ? `${code}: ${err.message}` : err.message;
  return String(err);
}
