/**
 * Shapes a pipeline outcome (engine/pipeline.ts `Outcome`) as the native API's answer: a request that
 * ran is its value (with the route's status); a parked one is `202 Accepted` with the approval and
 * a `Location` to follow it (docs/approvals.md). The Vault transit routes shape it their own way
 * (server/transit/envelope.ts `sendParked`). {@link sendJson} answers a value as JSON.
 * @module
 */
import type { HotContext } from '../direct.js';
import type { Outcome } from '../../engine/hsm.js';

export function respond<T>(
  ctx: HotContext,
  out: Outcome<T>,
  status = 200,
  shape: (value: T) => unknown = (v) => v,
): void {
  if (out.kind === 'parked') {
    ctx.status = 202;
    ctx.body = { ...out.approval };
    ctx.set('Location', `/v1/approvals/${out.approval.approvalId}`);
    // For the request log: parked, not run.
    ctx.state.errorCode = 'APPROVAL_PENDING';
    return;
  }
  sendJson(ctx, shape(out.value), status);
}

/**
 * An answer already spelled as JSON, which {@link sendJson} sends as it is: the data plane's answers,
 * whose strings are base64 or `kw:v<N>:` text (characters JSON writes as they are) and whose numbers
 * are integers, are spelled by hand (`ciphertextAnswer`). JSON.stringify scans every character of a
 * string for one to escape: ~2 µs for a 1 KiB encrypt's ciphertext, more than a percent of the
 * request (issue 14). The text must be what JSON.stringify would give for the value it stands for.
 */
export class JsonText {
  constructor(readonly text: string) {}
}

/** The Content-Type Koa gives an object body (mime-types' `application/json` with its charset). */
export const JSON_TYPE = 'application/json; charset=utf-8';

/**
 * Answers `value` as JSON with `status`: the bytes and headers `ctx.body = value` gives (Koa types an
 * object body as {@link JSON_TYPE} and serializes it with JSON.stringify when it responds), with the
 * text made here and the type set directly, once: Koa's object path removes, types and measures
 * through its generic header setter, which allocates per call (issue 14). Anything but a plain
 * object or array (a string, a Buffer, a stream, a class instance) goes Koa's way.
 */
export function sendJson(ctx: HotContext, value: unknown, status = 200): void {
  ctx.status = status;
  if (value instanceof JsonText) {
    if (!ctx.res.headersSent) ctx.res.setHeader('Content-Type', JSON_TYPE);
    ctx.body = value.text;
    return;
  }
  // Only a plain object or array: Koa answers a string as text, a Buffer or stream as bytes.
  const plain =
    typeof value === 'object' &&
    value !== null &&
    (Array.isArray(value) ||
      Object.getPrototypeOf(value) === Object.prototype ||
      Object.getPrototypeOf(value) === null);
  const text = plain && !ctx.res.headersSent ? (JSON.stringify(value) as string | undefined) : undefined;
  if (text === undefined) {
    ctx.body = value;
    return;
  }
  ctx.res.setHeader('Content-Type', JSON_TYPE);
  ctx.body = text;
}
