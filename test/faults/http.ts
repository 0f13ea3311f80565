/**
 * One JSON request to a server under test, bounded by a timeout (a hang fails the fault test instead
 * of stalling it), with the time it took.
 */
export async function jsonCall(
  base: string,
  method: string,
  path: string,
  body: unknown,
  token: string,
  timeoutMs: number,
): Promise<{ status: number; headers: Headers; text: string; ms: number; json(): any }> {
  const t0 = performance.now();
  const res = await fetch(base + path, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, ms: performance.now() - t0, json: () => JSON.parse(text) };
}
