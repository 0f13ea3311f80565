/**
 * ECDSA interoperability (issue 11, defects 1 and 2): signatures made by other signers verify
 * through the API. FIPS 186-5 §6.4.2 accepts both (r, s) and (r, n−s); OpenSSL signs with either,
 * so a key imported from OpenSSL's public key must verify every `openssl dgst -sign` signature,
 * sent as raw base64 (what every other signer produces) and as `kw:v1:`. The oracles are outside
 * Keyward: the `openssl` CLI and node:crypto; high S is computed here with bigint arithmetic on a
 * hand-parsed DER, not with @noble (which Keyward itself uses).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, sign as nodeSign, verify as nodeVerify, createHash, createPublicKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { issueToken } from '../../engine/auth/tokens.js';
import { devBootstrap } from '../../engine/dev.js';
import { startTestServer } from '../helpers/server.js';
import type { TestServer } from '../helpers/server.js';
import { b64 } from '../helpers/wire.js';

const ORDER = {
  p256: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
  p384: 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
} as const;
const SIGNATURES = 40;

// --- a minimal strict DER codec for ECDSA-Sig-Value (SEQUENCE { r INTEGER, s INTEGER }), short form only
function derInt(bytes: Buffer, at: number): { value: bigint; next: number } {
  assert.equal(bytes[at], 0x02, 'INTEGER tag');
  const len = bytes[at + 1]!;
  assert.ok(len < 0x80, 'short-form length');
  const body = bytes.subarray(at + 2, at + 2 + len);
  return { value: BigInt('0x' + body.toString('hex')), next: at + 2 + len };
}
function parseDer(der: Buffer): { r: bigint; s: bigint } {
  assert.equal(der[0], 0x30, 'SEQUENCE tag');
  assert.equal(der[1], der.length - 2, 'SEQUENCE length');
  const r = derInt(der, 2);
  const s = derInt(der, r.next);
  assert.equal(s.next, der.length);
  return { r: r.value, s: s.value };
}
function intBytes(v: bigint): Buffer {
  let hex = v.toString(16);
  if (hex.length % 2) hex = '0' + hex;
  const b = Buffer.from(hex, 'hex');
  return b[0]! & 0x80 ? Buffer.concat([Buffer.of(0), b]) : b;
}
function toDer(r: bigint, s: bigint): Buffer {
  const body = Buffer.concat([
    Buffer.of(0x02, intBytes(r).length),
    intBytes(r),
    Buffer.of(0x02, intBytes(s).length),
    intBytes(s),
  ]);
  return Buffer.concat([Buffer.of(0x30, body.length), body]);
}
const isHighS = (s: bigint, n: bigint) => s > n >> 1n;
/** The other valid signature of the pair: (r, n − s). */
const twin = (der: Buffer, n: bigint) => {
  const { r, s } = parseDer(der);
  return toDer(r, n - s);
};

describe('ECDSA signatures from other signers verify (FIPS 186-5: high and low S)', { timeout: 300_000 }, () => {
  let s: TestServer;
  let root: string;
  let app: string;
  let dir: string;

  const verify = async (key: string, body: object) => {
    const r = await s.call('POST', `/v1/keys/${key}/verify`, { token: app, body });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body;
  };
  const importPublic = async (name: string, type: string, publicKey: string, extra: object = {}) => {
    const r = await s.call('POST', '/v1/keys', { token: root, body: { name, type, publicKey, ...extra } });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body;
  };

  before(async () => {
    s = await startTestServer();
    root = (await devBootstrap(s.hsm)).rootToken;
    app = (await issueToken(s.hsm.store.db, { principal: 'svc', roles: ['app'], now: new Date() })).token;
    dir = mkdtempSync(join(tmpdir(), 'kw-ecdsa-'));
  });
  after(async () => {
    rmSync(dir, { recursive: true, force: true });
    await s.close();
  });

  it(`openssl P-256: ${SIGNATURES} of ${SIGNATURES} signatures verify as raw base64 and as kw:v1:`, async () => {
    const key = join(dir, 'p256.pem');
    const pub = join(dir, 'p256.pub.pem');
    execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key]);
    execFileSync('openssl', ['ec', '-in', key, '-pubout', '-out', pub], { stdio: 'ignore' });
    const info = await importPublic('openssl-p256', 'ecdsa-p256', readFileSync(pub, 'utf8'));
    assert.equal(info.verifyOnly, true);

    const items: Array<{ message: string; signature: Buffer }> = [];
    let high = 0;
    for (let i = 0; i < SIGNATURES; i++) {
      const msg = join(dir, `m${i}`);
      const sig = join(dir, `m${i}.sig`);
      writeFileSync(msg, `message ${i} signed by openssl`);
      execFileSync('openssl', ['dgst', '-sha256', '-sign', key, '-out', sig, msg]);
      // The oracle: OpenSSL itself accepts every one.
      assert.match(
        execFileSync('openssl', ['dgst', '-sha256', '-verify', pub, '-signature', sig, msg]).toString(),
        /Verified OK/,
      );
      const der = readFileSync(sig);
      if (isHighS(parseDer(der).s, ORDER.p256)) high++;
      items.push({ message: b64(readFileSync(msg)), signature: der });
    }
    // 2^-40 odds that none is high-S: the test would prove nothing then.
    assert.ok(high > 0 && high < SIGNATURES, `openssl produced ${high} high-S signatures of ${SIGNATURES}`);

    for (const form of ['raw', 'kw'] as const) {
      const enc = (sig: Buffer) => (form === 'raw' ? b64(sig) : 'kw:v1:' + b64(sig));
      // One by one (the single-item route) ...
      let valid = 0;
      for (const it of items)
        if ((await verify('openssl-p256', { message: it.message, signature: enc(it.signature) })).valid === true)
          valid++;
      assert.equal(valid, SIGNATURES, `${form}: ${valid} of ${SIGNATURES} verified (${high} were high-S)`);
      // ... and as one batch.
      const b = await verify('openssl-p256', {
        batch: items.map((it) => ({ message: it.message, signature: enc(it.signature) })),
      });
      assert.deepEqual(
        b.batch,
        items.map(() => ({ valid: true })),
        form,
      );
    }
    // Still a real check: the same signatures over other messages are all invalid.
    const wrong = await verify('openssl-p256', {
      batch: items.map((it, i) => ({ message: items[(i + 1) % SIGNATURES]!.message, signature: b64(it.signature) })),
    });
    assert.deepEqual(
      wrong.batch,
      items.map(() => ({ valid: false })),
    );
    assert.equal(info.requireLowS, false, 'key info: verify accepts both S forms by default');
  });

  it('P-384 with high S forced (node:crypto): valid by default, refused by a requireLowS key, low S accepted by both', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    await importPublic('node-p384', 'ecdsa-p384', pem);
    const strict = await importPublic('node-p384-lows', 'ecdsa-p384', pem, { requireLowS: true });
    assert.equal(strict.requireLowS, true, 'key info shows the option');

    for (let i = 0; i < 8; i++) {
      const message = Buffer.from(`p384 message ${i}`);
      const der = nodeSign('sha384', message, privateKey);
      const { s: sv } = parseDer(der);
      const low = isHighS(sv, ORDER.p384) ? twin(der, ORDER.p384) : der;
      const highSig = twin(low, ORDER.p384);
      assert.ok(isHighS(parseDer(highSig).s, ORDER.p384));
      // The oracle: node:crypto (OpenSSL) accepts both members of the pair.
      assert.equal(nodeVerify('sha384', message, publicKey, low), true);
      assert.equal(nodeVerify('sha384', message, publicKey, highSig), true);
      for (const [sig, what] of [
        [low, 'low'],
        [highSig, 'high'],
      ] as const) {
        assert.deepEqual(
          await verify('node-p384', { message: b64(message), signature: b64(sig) }),
          { valid: true },
          `default key, ${what} S`,
        );
        assert.deepEqual(
          await verify('node-p384', { message: b64(message), signature: 'kw:v1:' + b64(sig) }),
          { valid: true },
          `default key, ${what} S, kw:`,
        );
        assert.deepEqual(
          await verify('node-p384-lows', { message: b64(message), signature: b64(sig) }),
          { valid: what === 'low' },
          `requireLowS key, ${what} S`,
        );
      }
      // Prehashed verification takes the same rule.
      const digest = b64(createHash('sha384').update(message).digest());
      assert.deepEqual(
        await verify('node-p384', { message: digest, prehashed: true, signature: b64(highSig) }),
        { valid: true },
        'prehashed, high S',
      );
      assert.deepEqual(
        await verify('node-p384-lows', { message: digest, prehashed: true, signature: b64(highSig) }),
        { valid: false },
        'prehashed, requireLowS, high S',
      );
    }
  });

  it('requireLowS can be set at create and through /config, and only on ECDSA keys', async () => {
    const created = await s.call('POST', '/v1/keys', { token: root, body: { name: 'own-p256', type: 'ecdsa-p256' } });
    assert.equal(created.status, 201);
    assert.equal(created.body.requireLowS, false);
    const message = b64('config toggles the S rule');
    const sig = (await s.call('POST', '/v1/keys/own-p256/sign', { token: app, body: { message } })).body
      .signature as string;
    const highSig = 'kw:v1:' + b64(twin(Buffer.from(sig.slice(6), 'base64'), ORDER.p256));
    assert.deepEqual(await verify('own-p256', { message, signature: highSig }), { valid: true });
    const on = await s.call('POST', '/v1/keys/own-p256/config', { token: root, body: { requireLowS: true } });
    assert.equal(on.status, 200, JSON.stringify(on.body));
    assert.equal(on.body.requireLowS, true);
    assert.equal((await s.call('GET', '/v1/keys/own-p256', { token: root })).body.requireLowS, true);
    assert.deepEqual(await verify('own-p256', { message, signature: highSig }), { valid: false });
    assert.deepEqual(await verify('own-p256', { message, signature: sig }), { valid: true });
    const off = await s.call('POST', '/v1/keys/own-p256/config', { token: root, body: { requireLowS: false } });
    assert.equal(off.body.requireLowS, false);
    assert.deepEqual(await verify('own-p256', { message, signature: highSig }), { valid: true });

    const ed = await s.call('POST', '/v1/keys', {
      token: root,
      body: { name: 'ed-lows', type: 'ed25519', requireLowS: true },
    });
    assert.deepEqual([ed.status, ed.body?.error?.code], [400, 'OPTION_UNSUPPORTED'], JSON.stringify(ed.body));
    assert.match(ed.body.error.message, /requireLowS/);
    await s.call('POST', '/v1/keys', { token: root, body: { name: 'ed-plain', type: 'ed25519' } });
    const cfg = await s.call('POST', '/v1/keys/ed-plain/config', { token: root, body: { requireLowS: true } });
    assert.deepEqual([cfg.status, cfg.body?.error?.code], [400, 'OPTION_UNSUPPORTED'], JSON.stringify(cfg.body));
  });

  it('Keyward still signs low-S only, and openssl and node:crypto verify its signatures', async () => {
    for (const [name, type, hash, n, curveFile] of [
      ['low-p256', 'ecdsa-p256', 'sha256', ORDER.p256, 'p256'],
      ['low-p384', 'ecdsa-p384', 'sha384', ORDER.p384, 'p384'],
    ] as const) {
      assert.equal((await s.call('POST', '/v1/keys', { token: root, body: { name, type } })).status, 201);
      const pem = (await s.call('GET', `/v1/keys/${name}/public?format=pem`, { token: app })).body.publicKey as string;
      const pubFile = join(dir, `${curveFile}-keyward.pub.pem`);
      writeFileSync(pubFile, pem);
      const publicKey = createPublicKey(pem);
      for (let i = 0; i < 24; i++) {
        const message = Buffer.from(`${type} keyward ${i}`);
        const r = await s.call('POST', `/v1/keys/${name}/sign`, { token: app, body: { message: b64(message) } });
        const der = Buffer.from((r.body.signature as string).slice(6), 'base64');
        assert.equal(isHighS(parseDer(der).s, n), false, `${type} signature ${i} is low-S`);
        assert.equal(nodeVerify(hash, message, publicKey, der), true);
        if (i === 0) {
          const msgFile = join(dir, `${curveFile}-kw-msg`);
          const sigFile = join(dir, `${curveFile}-kw-sig`);
          writeFileSync(msgFile, message);
          writeFileSync(sigFile, der);
          assert.match(
            execFileSync('openssl', [
              'dgst',
              `-${hash}`,
              '-verify',
              pubFile,
              '-signature',
              sigFile,
              msgFile,
            ]).toString(),
            /Verified OK/,
          );
        }
      }
    }
  });
});
