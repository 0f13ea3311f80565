/**
 * Wrong inputs thrown at every key operation route over a real server: wrong JSON types, missing and
 * unknown fields, bodies over the limit, truncated JSON, non-JSON content types, bad base64, unknown
 * keys, invalid key names, the wrong key type for the operation, batch edge cases, bad signatures
 * and tampered ciphertexts. Each gets the right 4xx with an UPPER_SNAKE code and a message saying
 * what was expected (or a 200 `{valid: false}` for a bad signature that is well-formed), and the
 * server stays healthy.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { p256 } from '@noble/curves/nist.js';
import { issueToken } from '../../engine/auth/tokens.js';
import { devBootstrap } from '../../engine/dev.js';
import { importFixedRsaKey } from '../helpers/rsa.js';
import { startTestServer } from '../helpers/server.js';
import type { TestServer } from '../helpers/server.js';
import { b64 } from '../helpers/wire.js';

const OP_LIMIT = 8 * 1024 * 1024; // server/routes/keys.ts: operations that take payloads
const BODY_LIMIT = 1024 * 1024; // server/body.ts DEFAULT_BODY_LIMIT: everything else
const MSG = b64('hello');

interface Case {
  name: string;
  method: string;
  path: string;
  body?: unknown;
  raw?: string | Buffer;
  headers?: Record<string, string>;
  admin?: boolean;
  status: number;
  code: string;
  /** What the message must say (it is always non-empty and never the generic 500 text). */
  message?: RegExp;
}

/** Every operation route: a body the schema accepts, which fields are required, the body limit. */
interface Route {
  op: string;
  method: 'POST' | 'GET' | 'DELETE';
  key?: string;
  body?: Record<string, unknown>;
  /** A field and a value of the wrong JSON type for it. */
  wrongType?: [string, unknown];
  required?: string;
  limit?: number;
  admin?: boolean;
}

const ROUTES: Route[] = [
  {
    op: 'encrypt',
    method: 'POST',
    key: 'aes',
    body: { plaintext: MSG },
    wrongType: ['plaintext', 5],
    required: 'plaintext',
    limit: OP_LIMIT,
  },
  {
    op: 'decrypt',
    method: 'POST',
    key: 'aes',
    body: { ciphertext: 'kw:v1:AAAA' },
    wrongType: ['ciphertext', ['kw:v1:AAAA']],
    required: 'ciphertext',
    limit: OP_LIMIT,
  },
  {
    op: 'rewrap',
    method: 'POST',
    key: 'aes',
    body: { ciphertext: 'kw:v1:AAAA' },
    wrongType: ['ciphertext', { v: 1 }],
    required: 'ciphertext',
    limit: OP_LIMIT,
  },
  { op: 'datakey', method: 'POST', key: 'aes', body: { bytes: 32 }, wrongType: ['bytes', '32'], limit: BODY_LIMIT },
  {
    op: 'sign',
    method: 'POST',
    key: 'ed',
    body: { message: MSG },
    wrongType: ['message', true],
    required: 'message',
    limit: OP_LIMIT,
  },
  {
    op: 'verify',
    method: 'POST',
    key: 'ed',
    body: { message: MSG, signature: 'kw:v1:AAAA' },
    wrongType: ['signature', 5],
    required: 'signature',
    limit: OP_LIMIT,
  },
  {
    op: 'hmac',
    method: 'POST',
    key: 'hm',
    body: { message: MSG },
    wrongType: ['message', null],
    required: 'message',
    limit: OP_LIMIT,
  },
  { op: 'encapsulate', method: 'POST', key: 'kem', body: {}, limit: BODY_LIMIT },
  {
    op: 'decapsulate',
    method: 'POST',
    key: 'kem',
    body: { ciphertext: 'AAAA' },
    wrongType: ['keyVersion', '1'],
    required: 'ciphertext',
    limit: BODY_LIMIT,
  },
  { op: 'rotate', method: 'POST', key: 'aes2', body: {}, limit: BODY_LIMIT, admin: true },
  {
    op: 'config',
    method: 'POST',
    key: 'aes',
    body: { deletionAllowed: false },
    wrongType: ['deletionAllowed', 'yes'],
    limit: BODY_LIMIT,
    admin: true,
  },
  {
    op: 'random',
    method: 'POST',
    body: { bytes: 16 },
    wrongType: ['bytes', '16'],
    required: 'bytes',
    limit: BODY_LIMIT,
  },
  { op: 'public', method: 'GET', key: 'ed' },
  { op: 'delete', method: 'DELETE', key: 'aes', admin: true },
];

const pathOf = (r: Route, key = r.key) =>
  r.op === 'random' ? '/v1/random' : r.op === 'delete' ? `/v1/keys/${key}` : `/v1/keys/${key}/${r.op}`;

/** The cases every route gets, derived from its row. */
function genericCases(r: Route): Case[] {
  const at = (c: Omit<Case, 'method' | 'path' | 'admin'> & { path?: string }): Case => ({
    method: r.method,
    path: pathOf(r),
    admin: r.admin ?? false,
    ...c,
  });
  const out: Case[] = [];
  if (r.key) {
    out.push(
      at({
        name: 'unknown key',
        path: pathOf(r, 'no-such-key'),
        body: r.body,
        status: 404,
        code: 'KEY_NOT_FOUND',
        message: /no key named "no-such-key"/,
      }),
    );
    out.push(
      at({
        name: 'invalid key name',
        path: pathOf(r, 'bad%20name'),
        body: r.body,
        status: 400,
        code: 'VALIDATION_FAILED',
        message: /expected a key name of 1-128 characters/,
      }),
    );
    out.push(
      at({
        name: 'over-long key name',
        path: pathOf(r, 'k'.repeat(129)),
        body: r.body,
        status: 400,
        code: 'VALIDATION_FAILED',
        message: /expected a key name/,
      }),
    );
  }
  if (!r.body) return out;
  const json = JSON.stringify(r.body);
  out.push(
    at({
      name: 'truncated JSON',
      raw: json.slice(0, Math.max(1, json.length - 2)),
      headers: { 'content-type': 'application/json' },
      status: 400,
      code: 'INVALID_JSON',
      message: /not valid JSON/,
    }),
    at({
      name: 'garbage instead of JSON',
      raw: 'plaintext=AAAA',
      headers: { 'content-type': 'application/json' },
      status: 400,
      code: 'INVALID_JSON',
      message: /not valid JSON/,
    }),
    at({
      name: 'text/plain content type',
      raw: json,
      headers: { 'content-type': 'text/plain' },
      status: 415,
      code: 'UNSUPPORTED_MEDIA_TYPE',
      message: /expected Content-Type application\/json/,
    }),
    at({
      name: 'form content type',
      raw: json,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      status: 415,
      code: 'UNSUPPORTED_MEDIA_TYPE',
      message: /expected Content-Type application\/json/,
    }),
    at({
      name: 'body over the limit',
      raw: JSON.stringify({ ...r.body, pad: 'A'.repeat(r.limit!) }),
      headers: { 'content-type': 'application/json' },
      status: 413,
      code: 'BODY_TOO_LARGE',
      message: new RegExp(`limit is ${r.limit}`),
    }),
    at({
      name: 'unknown field',
      body: { ...r.body, bogus: 1 },
      status: 400,
      code: 'VALIDATION_FAILED',
      message: /unknown field "bogus"; expected (only|no fields)/,
    }),
    at({
      name: 'array body',
      body: [r.body],
      status: 400,
      code: 'VALIDATION_FAILED',
      message: /expected object, received array/,
    }),
    at({
      name: 'null body',
      body: null,
      status: 400,
      code: 'VALIDATION_FAILED',
      message: /expected object, received null/,
    }),
    at({
      name: 'string body',
      body: 'plaintext',
      status: 400,
      code: 'VALIDATION_FAILED',
      message: /expected object, received string/,
    }),
  );
  if (r.wrongType) {
    const [field, value] = r.wrongType;
    out.push(
      at({
        name: `${field} of the wrong JSON type`,
        body: { ...r.body, [field]: value },
        status: 400,
        code: 'VALIDATION_FAILED',
        message: new RegExp(`^${field}: .*expected`),
      }),
    );
  }
  if (r.required) {
    const { [r.required]: _, ...rest } = r.body;
    out.push(
      at({
        name: `missing ${r.required}`,
        body: rest,
        status: 400,
        code: 'VALIDATION_FAILED',
        message: new RegExp(`^${r.required}: is missing$`),
      }),
    );
  }
  return out;
}

const post = (
  name: string,
  path: string,
  body: unknown,
  status: number,
  code: string,
  message?: RegExp,
  admin = false,
): Case => ({ name, method: 'POST', path, body, status, code, admin, ...(message ? { message } : {}) });

/** Route-specific wrong inputs. */
const SPECIFIC: Case[] = [
  // base64: the schema's alphabet, then canonical form and padding in the decoder
  post(
    'plaintext not base64',
    '/v1/keys/aes/encrypt',
    { plaintext: '***' },
    400,
    'VALIDATION_FAILED',
    /^plaintext: expected base64/,
  ),
  post(
    'plaintext non-canonical base64',
    '/v1/keys/aes/encrypt',
    { plaintext: 'AB==' },
    400,
    'VALIDATION_FAILED',
    /plaintext/,
  ),
  post(
    'plaintext unpadded base64',
    '/v1/keys/aes/encrypt',
    { plaintext: 'AAA' },
    400,
    'VALIDATION_FAILED',
    /plaintext/,
  ),
  post(
    'aad with whitespace',
    '/v1/keys/aes/encrypt',
    { plaintext: MSG, aad: 'AA AA' },
    400,
    'VALIDATION_FAILED',
    /^aad: expected base64/,
  ),
  post(
    'message url-safe base64',
    '/v1/keys/ed/sign',
    { message: '-_-_' },
    400,
    'VALIDATION_FAILED',
    /^message: expected base64/,
  ),
  post('hmac message non-canonical', '/v1/keys/hm/hmac', { message: 'AAB=' }, 400, 'VALIDATION_FAILED', /message/),
  post(
    'decapsulate ciphertext not base64',
    '/v1/keys/kem/decapsulate',
    { ciphertext: '%%%%' },
    400,
    'VALIDATION_FAILED',
    /^ciphertext: expected base64/,
  ),
  post(
    'verify context not base64',
    '/v1/keys/mldsa/verify',
    { message: MSG, signature: 'kw:v1:AAAA', context: '!' },
    400,
    'VALIDATION_FAILED',
    /^context: expected base64/,
  ),
  post(
    'datakey aad not base64',
    '/v1/keys/aes/datakey',
    { aad: '!!' },
    400,
    'VALIDATION_FAILED',
    /^aad: expected base64/,
  ),
  post(
    'plaintext over the field bound',
    '/v1/keys/aes/encrypt',
    { plaintext: 'A'.repeat(700_004) },
    400,
    'VALIDATION_FAILED',
    /^plaintext: expected at most 700000 base64 characters/,
  ),
  // the wrong key type for the operation
  post(
    'encrypt with an Ed25519 key',
    '/v1/keys/ed/encrypt',
    { plaintext: MSG },
    400,
    'OPERATION_UNSUPPORTED',
    /ed25519 does not support encrypt \(supports: sign, verify\)/,
  ),
  post(
    'decrypt with an HMAC key',
    '/v1/keys/hm/decrypt',
    { ciphertext: 'kw:v1:AAAA' },
    400,
    'OPERATION_UNSUPPORTED',
    /does not support decrypt/,
  ),
  post(
    'rewrap with an ML-KEM key',
    '/v1/keys/kem/rewrap',
    { ciphertext: 'kw:v1:AAAA' },
    400,
    'OPERATION_UNSUPPORTED',
    /does not support rewrap/,
  ),
  post('datakey with an RSA key', '/v1/keys/rsa/datakey', {}, 400, 'OPERATION_UNSUPPORTED', /does not support datakey/),
  post(
    'sign with an AES key',
    '/v1/keys/aes/sign',
    { message: MSG },
    400,
    'OPERATION_UNSUPPORTED',
    /aes256-gcm does not support sign \(supports: encrypt, decrypt, rewrap, datakey\)/,
  ),
  post(
    'verify with an ML-KEM key',
    '/v1/keys/kem/verify',
    { message: MSG, signature: 'kw:v1:AAAA' },
    400,
    'OPERATION_UNSUPPORTED',
    /does not support verify/,
  ),
  post(
    'hmac with an AES key',
    '/v1/keys/aes/hmac',
    { message: MSG },
    400,
    'OPERATION_UNSUPPORTED',
    /does not support hmac/,
  ),
  post(
    'encapsulate with an ECDSA key',
    '/v1/keys/ec/encapsulate',
    {},
    400,
    'OPERATION_UNSUPPORTED',
    /does not support encapsulate/,
  ),
  post(
    'decapsulate with an AES key',
    '/v1/keys/aes/decapsulate',
    { ciphertext: 'AAAA' },
    400,
    'OPERATION_UNSUPPORTED',
    /does not support decapsulate/,
  ),
  {
    name: 'public key of an AES key',
    method: 'GET',
    path: '/v1/keys/aes/public',
    status: 400,
    code: 'KEY_TYPE_MISMATCH',
    message: /has no public key/,
  },
  {
    name: 'X-Wing public key as PEM',
    method: 'GET',
    path: '/v1/keys/xw/public?format=pem',
    status: 400,
    code: 'FORMAT_UNSUPPORTED',
    message: /cannot be exported as pem/,
  },
  {
    name: 'public key in an unknown format',
    method: 'GET',
    path: '/v1/keys/ed/public?format=der',
    status: 400,
    code: 'VALIDATION_FAILED',
    message: /format: expected one of pem, jwk or raw, got "der"/,
  },
  {
    name: 'public key format given twice',
    method: 'GET',
    path: '/v1/keys/ed/public?format=pem&format=raw',
    status: 400,
    code: 'VALIDATION_FAILED',
    message: /format: expected one of pem, jwk or raw, got 2 values/,
  },
  // verify-only and pending-deletion keys
  post(
    'sign with a verify-only key',
    '/v1/keys/vo/sign',
    { message: MSG },
    400,
    'KEY_VERIFY_ONLY',
    /holds only a public key/,
  ),
  post(
    'decapsulate with an encapsulate-only key',
    '/v1/keys/kem-vo/decapsulate',
    { ciphertext: b64(new Uint8Array(1088)) },
    400,
    'KEY_VERIFY_ONLY',
    /holds only a public key/,
  ),
  post('rotate a verify-only key', '/v1/keys/vo/rotate', {}, 400, 'KEY_VERIFY_ONLY', /cannot be rotated/, true),
  post(
    'encrypt with a key pending deletion',
    '/v1/keys/pending/encrypt',
    { plaintext: MSG },
    409,
    'KEY_PENDING_DELETION',
    /scheduled for deletion/,
  ),
  // options the key type cannot honour
  post(
    'ECDSA encoding on Ed25519',
    '/v1/keys/ed/sign',
    { message: MSG, encoding: 'p1363' },
    400,
    'OPTION_UNSUPPORTED',
    /ECDSA only/,
  ),
  post(
    'unknown signature encoding',
    '/v1/keys/ec/sign',
    { message: MSG, encoding: 'pem' },
    400,
    'VALIDATION_FAILED',
    /^encoding: .*expected one of "der"\|"p1363"/,
  ),
  post(
    'prehashed digest of the wrong size',
    '/v1/keys/ec/sign',
    { message: MSG, prehashed: true },
    400,
    'OPTION_INVALID',
    /expected a 32-byte SHA256 digest, got 5 bytes/,
  ),
  post(
    'context on Ed25519',
    '/v1/keys/ed/sign',
    { message: MSG, context: MSG },
    400,
    'OPTION_UNSUPPORTED',
    /context string/,
  ),
  post(
    'ML-DSA context over 255 bytes',
    '/v1/keys/mldsa/sign',
    { message: MSG, context: b64(new Uint8Array(256)) },
    400,
    'OPTION_INVALID',
    /context: expected at most 255 bytes, got 256/,
  ),
  post(
    'keyVersion disagreeing with the kw: version',
    '/v1/keys/aes/decrypt',
    { ciphertext: 'kw:v1:AAAA', keyVersion: 2 },
    400,
    'OPTION_INVALID',
    /keyVersion: the ciphertext names version 1, the request 2/,
  ),
  post(
    'keyVersion disagreeing with the signature',
    '/v1/keys/ed/verify',
    { message: MSG, signature: 'kw:v1:AAAA', keyVersion: 2 },
    400,
    'OPTION_INVALID',
    /keyVersion: the signature names version 1, the request 2/,
  ),
  post(
    'requireLowS on an Ed25519 key',
    '/v1/keys/ed/config',
    { requireLowS: true },
    400,
    'OPTION_UNSUPPORTED',
    /requireLowS: ed25519 keys do not support it/,
    true,
  ),
  post(
    'keyVersion zero',
    '/v1/keys/rsa/decrypt',
    { ciphertext: 'AAAA', keyVersion: 0 },
    400,
    'VALIDATION_FAILED',
    /^keyVersion: .*expected number to be >=1/,
  ),
  post(
    'keyVersion fractional',
    '/v1/keys/kem/decapsulate',
    { ciphertext: 'AAAA', keyVersion: 1.5 },
    400,
    'VALIDATION_FAILED',
    /^keyVersion: .*expected int/,
  ),
  // KEM ciphertexts
  post(
    'ML-KEM ciphertext of the wrong length',
    '/v1/keys/kem/decapsulate',
    { ciphertext: 'AAAA' },
    400,
    'CIPHERTEXT_INVALID',
    /expected 1088 bytes, got 3 bytes/,
  ),
  post(
    'decapsulate a version the key lacks',
    '/v1/keys/kem/decapsulate',
    { ciphertext: 'AAAA', keyVersion: 9 },
    400,
    'KEY_VERSION_DISABLED',
    /accepts versions 1 to 1/,
  ),
  // sizes and counts
  post(
    'datakey of 0 bytes',
    '/v1/keys/aes/datakey',
    { bytes: 0 },
    400,
    'VALIDATION_FAILED',
    /^bytes: .*expected number to be >=1/,
  ),
  post(
    'datakey over 1024 bytes',
    '/v1/keys/aes/datakey',
    { bytes: 1025 },
    400,
    'VALIDATION_FAILED',
    /^bytes: .*expected number to be <=1024/,
  ),
  post('random of 0 bytes', '/v1/random', { bytes: 0 }, 400, 'VALIDATION_FAILED', /^bytes: .*>=1/),
  post('random negative', '/v1/random', { bytes: -1 }, 400, 'VALIDATION_FAILED', /^bytes: .*>=1/),
  post('random over 1024 bytes', '/v1/random', { bytes: 1_000_000 }, 400, 'VALIDATION_FAILED', /^bytes: .*<=1024/),
  post('random fractional', '/v1/random', { bytes: 1.5 }, 400, 'VALIDATION_FAILED', /^bytes: .*expected int/),
  // configuration
  post(
    'config with nothing to change',
    '/v1/keys/aes/config',
    {},
    400,
    'VALIDATION_FAILED',
    /expected minDecryptionVersion, deletionAllowed or requireLowS/,
    true,
  ),
  post(
    'minDecryptionVersion zero',
    '/v1/keys/aes/config',
    { minDecryptionVersion: 0 },
    400,
    'VALIDATION_FAILED',
    /^minDecryptionVersion: .*>=1/,
    true,
  ),
  post(
    'minDecryptionVersion past the latest',
    '/v1/keys/aes/config',
    { minDecryptionVersion: 5 },
    400,
    'VALIDATION_FAILED',
    /minDecryptionVersion: expected 1 to 1 \(the latest version\), got 5/,
    true,
  ),
  post(
    'minDecryptionVersion as a string',
    '/v1/keys/aes/config',
    { minDecryptionVersion: '1' },
    400,
    'VALIDATION_FAILED',
    /^minDecryptionVersion: .*expected number, received string/,
    true,
  ),
  // batches
  post(
    'empty batch',
    '/v1/keys/aes/encrypt',
    { batch: [] },
    400,
    'VALIDATION_FAILED',
    /^batch: .*expected array to have >=1 items/,
  ),
  post(
    'batch of 1001 items',
    '/v1/keys/aes/encrypt',
    { batch: Array.from({ length: 1001 }, () => ({ plaintext: MSG })) },
    400,
    'VALIDATION_FAILED',
    /^batch: .*expected array to have <=1000 items/,
  ),
  post(
    'batch that is not an array',
    '/v1/keys/hm/hmac',
    { batch: { message: MSG } },
    400,
    'VALIDATION_FAILED',
    /^batch: .*expected array, received object/,
  ),
  post(
    'batch with a field beside it',
    '/v1/keys/ed/sign',
    { batch: [{ message: MSG }], encoding: 'der' },
    400,
    'VALIDATION_FAILED',
    /unknown field "encoding"; expected only batch/,
  ),
  post(
    'batch item of the wrong type',
    '/v1/keys/aes/encrypt',
    { batch: [{ plaintext: MSG }, { plaintext: 5 }] },
    400,
    'VALIDATION_FAILED',
    /^batch\.1\.plaintext: .*expected string, received number/,
  ),
  post(
    'batch item with an unknown field',
    '/v1/keys/ed/verify',
    { batch: [{ message: MSG, signature: 'kw:v1:AAAA', extra: 1 }] },
    400,
    'VALIDATION_FAILED',
    /^batch\.0: unknown field "extra"; expected only message, signature/,
  ),
  post(
    'batch items that are not objects',
    '/v1/keys/aes/decrypt',
    { batch: ['kw:v1:AAAA'] },
    400,
    'VALIDATION_FAILED',
    /^batch\.0: .*expected object, received string/,
  ),
  post(
    'batch on an operation without batches',
    '/v1/keys/aes/rewrap',
    { batch: [{ ciphertext: 'kw:v1:AAAA' }] },
    400,
    'VALIDATION_FAILED',
    /unknown field "batch"; expected only ciphertext, aad/,
  ),
];

describe('wrong inputs on every key route', { timeout: 600_000 }, () => {
  let s: TestServer;
  let root: string;
  let app: string;

  async function expectCase(c: Case): Promise<void> {
    const res = await s.call(c.method, c.path, {
      token: c.admin ? root : app,
      ...(c.raw !== undefined ? { raw: c.raw } : c.body !== undefined ? { body: c.body } : {}),
      ...(c.headers ? { headers: c.headers } : {}),
    });
    assert.equal(
      res.status,
      c.status,
      `${c.name}: expected ${c.status} ${c.code}, got ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`,
    );
    assert.equal(res.body?.error?.code, c.code, `${c.name}: ${JSON.stringify(res.body).slice(0, 300)}`);
    assert.match(res.body.error.code, /^[A-Z][A-Z0-9_]*$/);
    const message: unknown = res.body.error.message;
    assert.ok(
      typeof message === 'string' && message.length > 0 && message !== 'internal error',
      `${c.name}: message ${JSON.stringify(message)}`,
    );
    if (c.message) assert.match(message, c.message, c.name);
  }

  async function assertHealthy(): Promise<void> {
    assert.equal((await s.call('GET', '/v1/sys/health')).status, 200, 'the server still answers health');
  }

  before(async () => {
    s = await startTestServer();
    root = (await devBootstrap(s.hsm)).rootToken;
    app = (await issueToken(s.hsm.store.db, { principal: 'svc', roles: ['app'], now: new Date() })).token;
    const keys: Array<[string, string]> = [
      ['aes', 'aes256-gcm'],
      ['aes2', 'aes256-gcm'],
      ['other-aes', 'aes256-gcm'],
      ['hm', 'hmac-sha256'],
      ['ed', 'ed25519'],
      ['other-ed', 'ed25519'],
      ['ec', 'ecdsa-p256'],
      ['ec-lows', 'ecdsa-p256'],
      ['rsa', 'rsa-3072'],
      ['mldsa', 'ml-dsa-44'],
      ['kem', 'ml-kem-768'],
      ['xw', 'x-wing'],
      ['pending', 'aes256-gcm'],
    ];
    for (const [name, type] of keys) {
      // Some rsa-3072 key: a fixture key imported, not a generation (test/helpers/rsa.ts).
      if (type === 'rsa-3072') {
        await importFixedRsaKey(s, root, name);
        continue;
      }
      const r = await s.call('POST', '/v1/keys', { token: root, body: { name, type } });
      assert.equal(r.status, 201, JSON.stringify(r.body));
    }
    const edPem = (await s.call('GET', '/v1/keys/ed/public?format=pem', { token: app })).body.publicKey;
    assert.equal(
      (await s.call('POST', '/v1/keys', { token: root, body: { name: 'vo', type: 'ed25519', publicKey: edPem } }))
        .status,
      201,
    );
    const kemRaw = (await s.call('GET', '/v1/keys/kem/public?format=raw', { token: app })).body.publicKey;
    assert.equal(
      (
        await s.call('POST', '/v1/keys', {
          token: root,
          body: { name: 'kem-vo', type: 'ml-kem-768', publicKey: kemRaw },
        })
      ).status,
      201,
    );
    assert.equal(
      (await s.call('POST', '/v1/keys/ec-lows/config', { token: root, body: { requireLowS: true } })).status,
      200,
    );
    // Scheduled through the service: over REST, deletion is parked for dual-control approval.
    await s.hsm.keys.configure('pending', { deletionAllowed: true });
    await s.hsm.keys.scheduleDeletion('pending');
  });
  after(() => s.close());

  for (const route of ROUTES) {
    for (const c of genericCases(route)) {
      it(`${route.method} ${route.op}: ${c.name} → ${c.status} ${c.code}`, async () => {
        await expectCase(c);
        await assertHealthy();
      });
    }
  }

  for (const c of SPECIFIC) {
    it(`${c.method} ${c.path.split('/').pop()}: ${c.name} → ${c.status} ${c.code}`, async () => {
      await expectCase(c);
      await assertHealthy();
    });
  }

  it('a body over the limit without a Content-Length (chunked) → 413 BODY_TOO_LARGE', async () => {
    const url = new URL('/v1/keys/aes/encrypt', s.url);
    const res = await new Promise<{ status: number; body: any }>((resolve, reject) => {
      const req = request(
        url,
        { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${app}` } },
        (r) => {
          let text = '';
          r.on('data', (d: Buffer) => (text += d.toString()));
          r.on('end', () => resolve({ status: r.statusCode ?? 0, body: JSON.parse(text) }));
        },
      );
      // The server closes the connection once it has said no, which may fail our write: only a
      // failure with no 413 to show for it fails the test.
      req.on('error', (e: NodeJS.ErrnoException) =>
        setTimeout(() => reject(new Error(`no 413 before the connection failed: ${e.code ?? e.message}`)), 2000),
      );
      req.write('{"plaintext":"');
      const chunk = 'A'.repeat(1024 * 1024);
      for (let i = 0; i < 9; i++) req.write(chunk);
      req.end('"}');
    });
    assert.equal(res.status, 413);
    assert.equal(res.body.error.code, 'BODY_TOO_LARGE');
    assert.match(res.body.error.message, /exceeds the limit of 8388608 bytes/);
    await assertHealthy();
  });

  it('X-Wing: a ciphertext whose X25519 part is a low-order point → 400 CIPHERTEXT_INVALID, not a 500', async () => {
    const enc = await s.call('POST', '/v1/keys/xw/encapsulate', { token: app, body: {} });
    assert.equal(enc.status, 200);
    const ct = Buffer.from(enc.body.ciphertext, 'base64');
    for (const point of [new Uint8Array(32), Uint8Array.of(1, ...new Uint8Array(31))]) {
      ct.set(point, ct.length - 32);
      await expectCase(
        post(
          'x-wing low order',
          '/v1/keys/xw/decapsulate',
          { ciphertext: ct.toString('base64') },
          400,
          'CIPHERTEXT_INVALID',
          /X25519 part is a low-order point/,
        ),
      );
    }
    await assertHealthy();
  });

  it('verify answers 200 {valid: false} for well-formed but truncated, modified, wrong-key (and, where low S is required, high-S) signatures; 400 SIGNATURE_FORMAT for malformed ones', async () => {
    const sign = async (key: string, extra: object = {}) => {
      const r = await s.call('POST', `/v1/keys/${key}/sign`, { token: app, body: { message: MSG, ...extra } });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return r.body.signature as string;
    };
    const flip = (sig: string, at: number) => {
      const raw = Buffer.from(sig.slice(6), 'base64');
      raw[at < 0 ? raw.length + at : at]! ^= 0x01;
      return sig.slice(0, 6) + raw.toString('base64');
    };
    const ecSig = await sign('ec');
    const der = Buffer.from((await sign('ec-lows')).slice(6), 'base64');
    const parsed = p256.Signature.fromBytes(der, 'der');
    const highS = 'kw:v1:' + b64(new p256.Signature(parsed.r, p256.Point.Fn.ORDER - parsed.s).toBytes('der'));
    const table: Array<[string, string, string, object?]> = [];
    const malformed: Array<[string, string, string]> = [];
    for (const key of ['ed', 'ec', 'mldsa', 'rsa']) {
      const good = await sign(key);
      malformed.push(
        [key, 'nonsense', 'not a signature'],
        [key, 'bad base64', 'kw:v1:!!!!'],
        [key, 'no version', 'kw::' + good.slice(6)],
        [key, 'version 0', 'kw:v0:' + good.slice(6)],
        [key, 'huge version', 'kw:v99999999999:' + good.slice(6)],
        [key, 'raw with a line break', good.slice(6, 10) + '\n' + good.slice(10)],
      );
      table.push(
        [key, 'empty body', 'kw:v1:'],
        [key, 'version the key lacks', 'kw:v2:' + good.slice(6)],
        [key, 'truncated', good.slice(0, -8)],
        [key, 'raw, truncated', good.slice(6, -8)],
        [key, 'one byte short', 'kw:v1:' + b64(Buffer.from(good.slice(6), 'base64').subarray(1))],
        [key, 'one byte more', 'kw:v1:' + b64(Buffer.concat([Buffer.from(good.slice(6), 'base64'), Buffer.of(0)]))],
        [key, 'first byte flipped', flip(good, 0)],
        [key, 'last byte flipped', flip(good, -1)],
        [key, 'signature of another message', good, { message: b64('other') }],
      );
    }
    table.push(
      ['other-ed', 'another key’s signature', await sign('ed')],
      ['ec-lows', 'high S on a requireLowS key', highS],
      ['ec', 'DER given as p1363', ecSig, { encoding: 'p1363' }],
      ['ec', 'p1363 given as DER', await sign('ec', { encoding: 'p1363' })],
      ['mldsa', 'another context', await sign('mldsa', { context: b64('ctx-a') }), { context: b64('ctx-b') }],
    );
    for (const [key, what, signature, extra] of table) {
      const r = await s.call('POST', `/v1/keys/${key}/verify`, {
        token: app,
        body: { message: MSG, signature, ...extra },
      });
      assert.deepEqual(
        [r.status, r.body],
        [200, { valid: false }],
        `${key}: ${what}: ${JSON.stringify(r.body).slice(0, 200)}`,
      );
    }
    // Neither kw:v<N>:<base64> nor standard base64: the request's error, never a silent false.
    for (const [key, what, signature] of malformed) {
      const r = await s.call('POST', `/v1/keys/${key}/verify`, { token: app, body: { message: MSG, signature } });
      assert.deepEqual(
        [r.status, r.body?.error?.code],
        [400, 'SIGNATURE_FORMAT'],
        `${key}: ${what}: ${JSON.stringify(r.body).slice(0, 200)}`,
      );
      assert.match(r.body.error.message, /^signature: expected kw:v<version>:<base64> or standard base64/);
    }
    // The same signatures in one batch: one {valid: false} each, in order.
    const batch = table
      .filter(([key, , , extra]) => key === 'ed' && !extra)
      .map(([, , signature]) => ({ message: MSG, signature }));
    const b = await s.call('POST', '/v1/keys/ed/verify', { token: app, body: { batch } });
    assert.equal(b.status, 200);
    assert.deepEqual(
      b.body.batch,
      batch.map(() => ({ valid: false })),
    );
    await assertHealthy();
  });

  it('decrypt: every tampering is the one generic 400 DECRYPTION_FAILED; malformed text is CIPHERTEXT_FORMAT', async () => {
    const enc = await s.call('POST', '/v1/keys/aes/encrypt', { token: app, body: { plaintext: MSG, aad: b64('ctx') } });
    const ct: string = enc.body.ciphertext;
    const raw = Buffer.from(ct.slice(6), 'base64');
    const at = (i: number) => {
      const t = Buffer.from(raw);
      t[i < 0 ? t.length + i : i]! ^= 0x80;
      return 'kw:v1:' + t.toString('base64');
    };
    const foreign = (
      await s.call('POST', '/v1/keys/other-aes/encrypt', { token: app, body: { plaintext: MSG, aad: b64('ctx') } })
    ).body.ciphertext;
    const noAad = (await s.call('POST', '/v1/keys/aes/encrypt', { token: app, body: { plaintext: MSG } })).body
      .ciphertext;
    const variants: Array<[string, object]> = [
      ['first byte flipped', { ciphertext: at(0), aad: b64('ctx') }],
      ['a middle byte flipped', { ciphertext: at(raw.length >> 1), aad: b64('ctx') }],
      ['tag byte flipped', { ciphertext: at(-1), aad: b64('ctx') }],
      ['tag cut off', { ciphertext: 'kw:v1:' + raw.subarray(0, -16).toString('base64'), aad: b64('ctx') }],
      [
        'one byte appended',
        { ciphertext: 'kw:v1:' + Buffer.concat([raw, Buffer.of(0)]).toString('base64'), aad: b64('ctx') },
      ],
      ['empty body', { ciphertext: 'kw:v1:', aad: b64('ctx') }],
      ['wrong aad', { ciphertext: ct, aad: b64('cty') }],
      ['aad missing', { ciphertext: ct }],
      ['aad added', { ciphertext: noAad, aad: b64('ctx') }],
      ['another key’s ciphertext', { ciphertext: foreign, aad: b64('ctx') }],
      ['version rewritten', { ciphertext: ct.replace('kw:v1:', 'kw:v2:'), aad: b64('ctx') }],
      ['raw body, wrong aad', { ciphertext: ct.slice(6), aad: b64('cty') }],
      ['raw body, tag flipped', { ciphertext: at(-1).slice(6), aad: b64('ctx') }],
    ];
    // Syntax errors are told apart: they are independent of the key, so no oracle.
    for (const [what, ciphertext] of [
      ['version 0', ct.replace('kw:v1:', 'kw:v0:')],
      ['bad base64 body', 'kw:v1:***'],
      ['not a ciphertext', 'hello'],
    ]) {
      const r = await s.call('POST', '/v1/keys/aes/decrypt', { token: app, body: { ciphertext, aad: b64('ctx') } });
      assert.deepEqual(
        [r.status, r.body?.error?.code],
        [400, 'CIPHERTEXT_FORMAT'],
        `${what}: ${JSON.stringify(r.body)}`,
      );
    }
    // The raw body (no prefix) is the latest version's ciphertext: it decrypts.
    assert.deepEqual(
      (await s.call('POST', '/v1/keys/aes/decrypt', { token: app, body: { ciphertext: ct.slice(6), aad: b64('ctx') } }))
        .body,
      { plaintext: MSG },
    );
    const messages = new Set<string>();
    for (const [what, body] of variants) {
      const r = await s.call('POST', '/v1/keys/aes/decrypt', { token: app, body });
      assert.deepEqual(
        [r.status, r.body?.error?.code],
        [400, 'DECRYPTION_FAILED'],
        `${what}: ${JSON.stringify(r.body)}`,
      );
      messages.add(r.body.error.message);
    }
    // RSA-OAEP: garbage, wrong length, and a ciphertext for another key, all the same answer.
    for (const ciphertext of [
      'AAAA',
      b64(new Uint8Array(384)),
      b64(new Uint8Array(384).fill(0xff)),
      'kw:v1:' + b64(new Uint8Array(384)),
    ]) {
      const r = await s.call('POST', '/v1/keys/rsa/decrypt', { token: app, body: { ciphertext } });
      assert.deepEqual(
        [r.status, r.body?.error?.code],
        [400, 'DECRYPTION_FAILED'],
        `rsa ${ciphertext.slice(0, 12)}: ${JSON.stringify(r.body)}`,
      );
      messages.add(r.body.error.message);
    }
    assert.deepEqual([...messages], ['decryption failed'], 'one generic message: no oracle');
    await assertHealthy();
  });

  it('mixed batches: per-item results and errors, in order', async () => {
    const enc = await s.call('POST', '/v1/keys/aes/encrypt', {
      token: app,
      body: { batch: [{ plaintext: b64('a') }, { plaintext: b64('b') }, { plaintext: 'AB==' }] },
    });
    assert.equal(enc.status, 200, JSON.stringify(enc.body));
    assert.match(enc.body.batch[0].ciphertext, /^kw:v1:/);
    assert.match(enc.body.batch[1].ciphertext, /^kw:v1:/);
    assert.equal(enc.body.batch[2].error.code, 'VALIDATION_FAILED');
    assert.match(enc.body.batch[2].error.message, /plaintext/);

    const dec = await s.call('POST', '/v1/keys/aes/decrypt', {
      token: app,
      body: {
        batch: [
          { ciphertext: enc.body.batch[1].ciphertext },
          { ciphertext: 'kw:v1:AAAA' },
          { ciphertext: enc.body.batch[0].ciphertext, aad: b64('x') },
          { ciphertext: enc.body.batch[0].ciphertext },
          { ciphertext: enc.body.batch[0].ciphertext, keyVersion: 1 },
        ],
      },
    });
    assert.equal(dec.status, 200);
    assert.deepEqual(
      dec.body.batch.map((i: any) => i.plaintext ?? i.error.code),
      [b64('b'), 'DECRYPTION_FAILED', 'DECRYPTION_FAILED', b64('a'), b64('a')],
    );

    const sig = await s.call('POST', '/v1/keys/ec/sign', {
      token: app,
      body: {
        batch: [
          { message: MSG },
          { message: MSG, prehashed: true },
          { message: MSG, encoding: 'p1363' },
          { message: MSG, context: MSG },
          { message: 'AAB=' },
        ],
      },
    });
    assert.equal(sig.status, 200);
    assert.deepEqual(
      sig.body.batch.map((i: any) => (i.signature ? 'ok' : i.error.code)),
      ['ok', 'OPTION_INVALID', 'ok', 'OPTION_UNSUPPORTED', 'VALIDATION_FAILED'],
    );
    const ver = await s.call('POST', '/v1/keys/ec/verify', {
      token: app,
      body: {
        batch: [
          { message: MSG, signature: sig.body.batch[0].signature },
          { message: MSG, signature: 'junk' },
          { message: MSG, signature: sig.body.batch[2].signature, encoding: 'p1363' },
          { message: MSG, signature: 'junk', context: MSG },
        ],
      },
    });
    assert.equal(ver.status, 200);
    assert.deepEqual(
      ver.body.batch.map((i: any) => i.valid ?? i.error.code),
      [true, false, true, 'OPTION_UNSUPPORTED'],
    );
    const mac = await s.call('POST', '/v1/keys/hm/hmac', {
      token: app,
      body: { batch: [{ message: MSG }, { message: 'AAB=' }, { message: MSG }] },
    });
    assert.equal(mac.status, 200);
    assert.deepEqual(
      mac.body.batch.map((i: any) => (i.hmac ? i.hmac : i.error.code)),
      [mac.body.batch[0].hmac, 'VALIDATION_FAILED', mac.body.batch[0].hmac],
    );
    // 1000 items is the most a batch may carry.
    const full = await s.call('POST', '/v1/keys/hm/hmac', {
      token: app,
      body: { batch: Array.from({ length: 1000 }, () => ({ message: MSG })) },
    });
    assert.equal(full.status, 200);
    assert.equal(full.body.batch.length, 1000);
    await assertHealthy();
  });
});
