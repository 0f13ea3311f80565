/**
 * The baseline of bench/api: a bare Koa endpoint, in its own process, doing only what the encrypt
 * route does cryptographically — decode the base64 plaintext of a JSON body and seal it with the
 * crypto core's AES-256-GCM `encrypt` (same header, nonce, AD and `kw:v1:` text) — with no
 * authentication, policy, key lookup, audit, schema validation or request log.
 *
 *   POST /encrypt {plaintext: base64} → {ciphertext, keyVersion: 1}
 *
 * Listens on 127.0.0.1:<argv[2] or 0> and prints `{"addr": "http://127.0.0.1:PORT"}` on stdout.
 * Not a benchmark itself (bench/run.ts only lists bench/*.ts).
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { encrypt } from '../../engine/crypto/aead.js';

const key = new Uint8Array(randomBytes(32));
const keyId = 'key_' + randomBytes(12).toString('hex');

const app = new Koa();
app.silent = true;
app.use(async (ctx) => {
  if (ctx.method !== 'POST' || ctx.path !== '/encrypt') {
    ctx.status = 404;
    return;
  }
  const chunks: Buffer[] = [];
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) chunks.push(chunk);
  const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { plaintext?: unknown };
  if (typeof body.plaintext !== 'string') {
    ctx.status = 400;
    ctx.body = { error: { code: 'VALIDATION_FAILED', message: 'plaintext: expected base64' } };
    return;
  }
  const plaintext = new Uint8Array(Buffer.from(body.plaintext, 'base64'));
  ctx.body = { ciphertext: encrypt({ type: 'aes256-gcm', key, keyId, version: 1, plaintext }), keyVersion: 1 };
});

const server = createServer(app.callback());
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  process.stdout.write(JSON.stringify({ addr: `http://127.0.0.1:${port}` }) + '\n');
});
const stop = () => {
  server.close();
  server.closeAllConnections();
  process.exit(0);
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
