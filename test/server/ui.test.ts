/**
 * The web console's static route (server/ui.ts): the index for the app's routes, hashed assets with
 * their Content-Type and a year's immutable caching, the CSP on every answer, 404 for unknown assets
 * and for every way out of the directory, and the API untouched beside it. Served from a temporary
 * directory laid out as the Vite build lays out build/ui/, so the test needs no build.
 */
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { Hsm } from '../../engine/hsm.js';
import { createApp } from '../../server/app.js';
import { statusFor } from '../../server/errors.js';
import { createLogger } from '../../server/log.js';
import { UI_CSP } from '../../server/ui.js';
import { openTestStore } from '../helpers/store.js';

const INDEX =
  '<!doctype html><title>Keyward console</title><script type="module" src="/ui/assets/app-1a2b.js"></script>';
const SCRIPT = 'console.log("keyward")';
const STYLE = 'body{margin:0}';

/** A raw GET (fetch would normalize `..` and `%2e%2e` away before they reach the server). */
function rawGet(
  port: number,
  path: string,
  method = 'GET',
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('/ui: the console’s static files', () => {
  let dir: string;
  let port: number;
  let close: () => Promise<void>;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'keyward-ui-'));
    const ui = join(dir, 'ui');
    await mkdir(join(ui, 'assets'), { recursive: true });
    await writeFile(join(ui, 'index.html'), INDEX);
    await writeFile(join(ui, 'assets', 'app-1a2b.js'), SCRIPT);
    await writeFile(join(ui, 'assets', 'app-3c4d.css'), STYLE);
    await writeFile(join(ui, 'assets', 'notes.exe'), 'MZ');
    await writeFile(join(dir, 'secret.txt'), 'outside the console directory');
    const store = await openTestStore();
    const hsm = await Hsm.open({ store, statusOf: statusFor });
    const app = createApp({ hsm, log: createLogger({ write: () => {} }), uiDir: ui });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    port = (server.address() as AddressInfo).port;
    close = async () => {
      await new Promise((r) => server.close(r));
      await hsm.close();
      await rm(dir, { recursive: true, force: true });
    };
  });
  after(() => close());

  it('answers the index, uncached, for /ui/ and for the app’s own routes', async () => {
    for (const path of ['/ui/', '/ui/keys', '/ui/keys/orders', '/ui/audit/', '/ui/approvals?x=1']) {
      const r = await rawGet(port, path);
      assert.equal(r.status, 200, path);
      assert.equal(r.headers['content-type'], 'text/html; charset=utf-8', path);
      assert.equal(r.headers['cache-control'], 'no-store', path);
      assert.equal(r.body, INDEX, path);
      assert.equal(r.headers['content-security-policy'], UI_CSP, path);
      assert.equal(r.headers['x-frame-options'], 'DENY');
      assert.equal(r.headers['x-content-type-options'], 'nosniff');
    }
    const head = await rawGet(port, '/ui/', 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
  });

  it('the CSP allows only the server’s own origin: no inline code, no eval, no other host', () => {
    const directives = new Map(UI_CSP.split('; ').map((d) => [d.split(' ')[0]!, d.split(' ').slice(1)]));
    assert.deepEqual(directives.get('default-src'), ["'self'"]);
    assert.deepEqual(directives.get('script-src'), ["'self'"]);
    assert.deepEqual(directives.get('style-src'), ["'self'"]);
    assert.deepEqual(directives.get('connect-src'), ["'self'"]);
    assert.deepEqual(directives.get('frame-ancestors'), ["'none'"]);
    for (const [, sources] of directives) for (const src of sources) assert.match(src, /^'(self|none)'$/);
  });

  it('/ui redirects to /ui/', async () => {
    const r = await rawGet(port, '/ui');
    assert.equal(r.status, 308);
    assert.equal(r.headers.location, '/ui/');
  });

  it('serves hashed assets with their Content-Type, cached for a year as immutable', async () => {
    const js = await rawGet(port, '/ui/assets/app-1a2b.js');
    assert.equal(js.status, 200);
    assert.equal(js.headers['content-type'], 'text/javascript; charset=utf-8');
    assert.equal(js.headers['cache-control'], 'public, max-age=31536000, immutable');
    assert.equal(js.body, SCRIPT);
    const css = await rawGet(port, '/ui/assets/app-3c4d.css');
    assert.equal(css.headers['content-type'], 'text/css; charset=utf-8');
    assert.equal(css.body, STYLE);
  });

  it('an unknown asset is a 404, never the index', async () => {
    for (const path of ['/ui/assets/missing-0000.js', '/ui/favicon.ico', '/ui/assets/notes.exe', '/ui/assets']) {
      const r = await rawGet(port, path);
      if (path === '/ui/assets') {
        // No extension: an app route, answered with the index (the app says "no such page").
        assert.equal(r.status, 200);
        continue;
      }
      assert.equal(r.status, 404, path);
      assert.equal(JSON.parse(r.body).error.code, 'ROUTE_NOT_FOUND', path);
      assert.equal(r.headers['content-security-policy'], UI_CSP);
    }
  });

  it('no path leaves the console directory', async () => {
    for (const path of [
      '/ui/../secret.txt',
      '/ui/%2e%2e/secret.txt',
      '/ui/assets/%2e%2e/%2e%2e/secret.txt',
      '/ui/..%2fsecret.txt',
      '/ui/..%5csecret.txt',
      '/ui/assets/..\\..\\secret.txt',
      '/ui/%00.js',
      '/ui/%E0%A4%A.js',
      '/ui//etc/passwd.txt',
      '/ui/./index.html',
    ]) {
      const r = await rawGet(port, path);
      assert.notEqual(r.status, 200, `${path} answered 200: ${r.body}`);
      assert.ok(!r.body.includes('outside the console directory'), path);
    }
  });

  it('only GET and HEAD; the API beside it is untouched', async () => {
    const r = await rawGet(port, '/ui/', 'POST');
    assert.equal(r.status, 405);
    assert.equal(JSON.parse(r.body).error.code, 'METHOD_NOT_ALLOWED');
    const api = await rawGet(port, '/v1/sys/seal-status');
    assert.equal(api.status, 200);
    assert.equal(api.headers['content-security-policy'], undefined);
    assert.equal(JSON.parse(api.body).initialized, false);
    const other = await rawGet(port, '/uix');
    assert.equal(other.status, 404);
  });
});
