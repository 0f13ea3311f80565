/**
 * Standard base64 (RFC 4648 §4, padded), the encoding of every byte field in the Keyward API. Built
 * on atob/btoa so the client runs unchanged in browsers and Node.js (no Buffer).
 * @module
 */

const CHUNK = 0x8000;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Bytes → standard padded base64. */
export function toBase64(bytes: Uint8Array): string {
  if (!(bytes instanceof Uint8Array)) throw new TypeError(`expected Uint8Array, got ${typeof bytes}`);
  let bin = '';
  // Chunked: String.fromCharCode(...a) with a large array overflows the argument stack.
  for (let i = 0; i < bytes.length; i += CHUNK) bin += String.fromCharCode(...bytes.subarray(i, i + CHUNK));
  return btoa(bin);
}

/**
 * Standard padded base64 → bytes. Strict: whitespace, URL-safe characters or missing padding are a
 * TypeError naming `what`, so a garbled field isn't silently shortened.
 */
export function fromBase64(text: string, what = 'value'): Uint8Array {
  if (typeof text !== 'string' || !BASE64.test(text))
    throw new TypeError(`${what}: expected standard padded base64, got ${JSON.stringify(String(text).slice(0, 24))}`);
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
