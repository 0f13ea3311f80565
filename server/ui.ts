/**
 * The web console's static assets at /ui (docs/console.md; docs/architecture.md, "The web console").
 * The console is a single-page app built by `npm run build` (Vite, ui/) into build/ui/; it talks to
 * the server only through the public API, so this file serves files and nothing else: no API, no
 * token, no audit record (the API requests the console makes are decided and audited as any other).
 *
 * - `/ui` redirects to `/ui/`; `/ui/` and any path without a file extension (the app's own routes,
 *   `/ui/keys/orders`) answer the app's index.html, never cached (it names the current asset files);
 * - `/ui/assets/<name>.<ext>`: the built files, whose names carry a content hash, cached for a year
 *   as immutable; the Content-Type comes from a fixed table, an unknown extension is a 404;
 * - a path with an extension that names no built file is a 404 (ROUTE_NOT_FOUND), never the index,
 *   so a missing script fails loudly instead of running HTML as JavaScript;
 * - a path that would leave build/ui/ (`..`, encoded or not, backslashes, NUL) is a 404 too;
 * - every answer carries a Content-Security-Policy that allows only the server's own origin
 *   ('self') for scripts, styles, images, fonts and fetches, forbids framing, plugins and `<base>`.
 * @module
 */
import { readFile, stat } from 'node:fs/promises';
import { extname, join, resolve, sep } from 'node:path';
import type { Context, Next } from 'koa';
import { packageRoot } from '../engine/policy/toolchain/paths.js';
import { sendError } from './errors.js';

/** Where the console is mounted. */
export const UI_PREFIX = '/ui';

/** Only the server's own origin; no inline script or style, no eval, no framing. */
export const UI_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** The Content-Type of each extension the build emits; anything else is not served. */
const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
  '.map': 'application/json',
};

/** Hashed asset names never change content: a year, immutable. */
const ASSET_CACHE = 'public, max-age=31536000, immutable';

/** build/ui/ under the package root, where `npm run build` writes the console. */
export function defaultUiDir(): string {
  return join(packageRoot(), 'build', 'ui');
}

/**
 * Koa middleware serving the console from `dir` (default {@link defaultUiDir}) under {@link UI_PREFIX};
 * every other path goes on to the API: to `api` when given (the app's routes, called from here
 * rather than as a Koa layer of their own, one dispatch less per request), else to `next`.
 */
export function consoleAssets(dir: string = defaultUiDir(), api?: (ctx: Context, next: Next) => Promise<void>) {
  const root = resolve(dir);
  // Every other path passes through without an async frame of its own (this runs on every request).
  return function consoleOrNext(ctx: Context, next: Next): Promise<void> {
    const path = ctx.path;
    if (path !== UI_PREFIX && !path.startsWith(UI_PREFIX + '/')) return api ? api(ctx, next) : next();
    return serveConsole(ctx, path);
  };

  async function serveConsole(ctx: Context, path: string): Promise<void> {
    ctx.set('Content-Security-Policy', UI_CSP);
    ctx.set('X-Frame-Options', 'DENY');
    ctx.set('Referrer-Policy', 'no-referrer');
    ctx.set('Cross-Origin-Opener-Policy', 'same-origin');
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
      ctx.set('Allow', 'GET, HEAD');
      return sendError(
        ctx,
        'METHOD_NOT_ALLOWED',
        `${ctx.method.slice(0, 20)} is not allowed on the console; allowed: GET, HEAD`,
      );
    }
    if (path === UI_PREFIX) {
      ctx.status = 308;
      ctx.redirect(UI_PREFIX + '/');
      return;
    }
    const rel = relativeAssetPath(ctx.path.slice(UI_PREFIX.length + 1));
    if (rel === undefined) return notFound(ctx);
    const ext = extname(rel).toLowerCase();
    if (ext === '') return sendFile(ctx, join(root, 'index.html'), TYPES['.html']!, 'no-store', true);
    const type = TYPES[ext];
    if (type === undefined) return notFound(ctx);
    const file = resolve(root, rel);
    if (!file.startsWith(root + sep)) return notFound(ctx);
    return sendFile(ctx, file, type, rel.startsWith('assets/') ? ASSET_CACHE : 'no-cache', false);
  }
}

/**
 * The path under the console's directory, decoded, or undefined when it is not a plain relative
 * path: a `..` or `.` segment, an empty segment, a backslash, a NUL or a bad %-escape.
 */
function relativeAssetPath(raw: string): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    return undefined;
  }
  if (decoded === '') return '';
  if (decoded.includes('\\') || decoded.includes('\0')) return undefined;
  const segments = decoded.split('/');
  // A trailing slash on an app route (`/ui/keys/`) is that route.
  if (segments[segments.length - 1] === '') segments.pop();
  if (segments.some((s) => s === '' || s === '.' || s === '..')) return undefined;
  return segments.join('/');
}

async function sendFile(ctx: Context, file: string, type: string, cache: string, isIndex: boolean): Promise<void> {
  let body: Buffer;
  try {
    if (!(await stat(file)).isFile()) return notFound(ctx);
    body = await readFile(file);
  } catch {
    if (isIndex)
      return sendError(
        ctx,
        'ROUTE_NOT_FOUND',
        'the web console is not built on this server: run `npm run build` (it writes build/ui/)',
      );
    return notFound(ctx);
  }
  ctx.status = 200;
  ctx.set('Cache-Control', cache);
  ctx.type = type;
  ctx.body = body;
}

function notFound(ctx: Context): void {
  sendError(ctx, 'ROUTE_NOT_FOUND', `no console asset at ${ctx.path.slice(0, 200)}`);
}
