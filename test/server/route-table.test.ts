/**
 * server/app.ts routeTable: the routers as one middleware with a precomputed match answer exactly
 * as the routers chained one by one (`routes()` then `allowedMethods()` each, in order) did. Shadow
 * routers carry the real route table (every layer of appRouters, same paths, methods and order) with
 * handlers that name the route, so the comparison covers our routes without running them: every
 * route with its parameters filled, in upper case, with a trailing slash, under every method
 * (TRACE and OPTIONS included), plus unknown, encoded and non-ASCII paths.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import Router from '@koa/router';
import { appRouters, directRoutes, routeTable } from '../../server/app.js';
import { silentLogger } from '../../server/log.js';
import type { AppDeps } from '../../server/deps.js';

/** Enough of an HSM for the routers to be built (no handler runs). */
const deps = {
  hsm: { events: { observe: () => () => {} } },
  log: silentLogger,
  bodyLimit: 1,
  ceremonyRate: { burst: 1, perMinute: 1 },
  metrics: {},
} as unknown as AppDeps;

function shadowRouters(): Router[] {
  return appRouters(deps).map((real, i) => {
    const r = new Router();
    for (const layer of real.stack) {
      assert.ok(layer.methods.length > 0, `router ${i}: a layer without methods (${String(layer.path)})`);
      r.register(layer.path, layer.methods, (ctx: Koa.Context) => {
        ctx.body = `${i} ${String(layer.path)} ${JSON.stringify(ctx.params)}`;
      });
    }
    return r;
  });
}

function serve(app: Koa): Promise<Server> {
  const server = createServer(app.callback());
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/** One request over a raw socket (node's client refuses a path with raw non-ASCII bytes): status, Allow, body. */
function call(server: Server, method: string, path: string): Promise<string> {
  const { port } = server.address() as AddressInfo;
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect(port, '127.0.0.1', () =>
      socket.end(Buffer.from(`${method} ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, 'utf8')),
    );
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const [head = '', body = ''] = text.split('\r\n\r\n');
      const status = head.split(' ')[1];
      const allow = /\r\nallow: ([^\r]*)/i.exec(head)?.[1] ?? '';
      resolve(`${status} allow=${allow} ${body}`);
    });
  });
}

describe('routeTable', () => {
  let chained: Server;
  let table: Server;
  let paths: string[];
  before(async () => {
    const a = new Koa();
    a.silent = true;
    for (const r of shadowRouters()) {
      a.use(r.routes());
      a.use(r.allowedMethods({ throw: false }));
    }
    const b = new Koa();
    b.silent = true;
    b.use(routeTable(shadowRouters()));
    chained = await serve(a);
    table = await serve(b);
    const set = new Set<string>([
      '/',
      '/v1',
      '/v1/',
      '/nope',
      '/v1/keysx',
      '/v1/key',
      '/v1/%6Beys/k/encrypt',
      '/v1/kéys/k',
      '/v1/keyſ/k/encrypt',
      '/V1/TRANSIT/KEYS/A',
      '/metrics/',
      '/openapi.json/x',
      '/v1/transit/unknown/x',
      '/v1/sys/HEALTH',
      // The direct routes (routeTable's map) with encoded, undecodable and oddly placed names.
      '/v1/keys/a%2Fb/encrypt',
      '/v1/keys/%E0%A4%A/encrypt',
      '/v1/keys/%ff/sign',
      '/v1/keys//encrypt',
      '/v1/keys/k/encrypt//',
      '/v1/keys/k/k/encrypt',
      '/v1/transit/encrypt/%zz',
      '/v1/transit/encrypt//',
      '/v1/Keys/k/encrypt',
      '/v1/keys/k/Encrypt',
    ]);
    for (const r of shadowRouters())
      for (const layer of r.stack) {
        const p = String(layer.path)
          .replace(/\{[^}]*\}/g, '')
          .replace(/:[A-Za-z_]+/g, 'x1')
          .replace(/\*[A-Za-z_]+/g, 'a/b');
        set.add(p);
        set.add(p.toUpperCase());
        set.add(p + '/');
        set.add(p + '/extra');
        set.add(p.replace(/x1/g, 'caf%C3%A9'));
      }
    paths = [...set];
  });
  after(() => {
    chained?.close();
    table?.close();
  });

  it('answers every route, case, trailing slash and method as the chained routers do', async () => {
    const methods = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE'];
    let compared = 0;
    const statuses = new Set<string>();
    for (const path of paths)
      for (const method of methods) {
        const [x, y] = await Promise.all([call(chained, method, path), call(table, method, path)]);
        assert.equal(y, x, `${method} ${path}`);
        statuses.add(x.slice(0, 3));
        compared++;
      }
    assert.ok(compared > 1000, `compared ${compared}`);
    // The comparison saw every kind of answer: a route, 404, 405 (method not allowed), OPTIONS, 501.
    for (const s of ['200', '404', '405', '501'])
      assert.ok(statuses.has(s), `no ${s} among ${[...statuses].join(',')}`);
  });

  it('calls the data-plane routes directly (the map is not empty, and holds the hot routes)', () => {
    const paths = directRoutes(shadowRouters()).paths;
    for (const p of ['/v1/keys/:name/encrypt', '/v1/keys/:name/sign', '/v1/transit/encrypt/:name'])
      assert.ok(paths.includes(p), `${p} not among ${paths.join(' ')}`);
    // A route the router would try an earlier layer for stays with the router.
    const a = new Router();
    a.post('/v1/keys/:other/encrypt', () => {});
    const b = new Router();
    b.post('/v1/keys/:name/encrypt', () => {});
    b.post('/v1/keys/:name/sign', () => {});
    assert.deepEqual(directRoutes([a, b]).paths, ['/v1/keys/:other/encrypt', '/v1/keys/:name/sign']);
    const c = new Router();
    c.all('/v1/*rest', () => {});
    assert.deepEqual(directRoutes([c, b]).paths, []);
  });

  it('refuses routers that allow different methods (allowedMethods would answer differently)', () => {
    assert.throws(() => routeTable([new Router(), new Router({ methods: ['GET'] })]), /same methods/);
  });
});
