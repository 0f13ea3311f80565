/**
 * /v1/keys and /v1/random: key management and the data-plane operations. Routes parse and shape;
 * the key service and crypto core do the work; every request goes through the policies with the
 * target key (name, type, version, labels) in its input.
 * @module
 */
import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { randomBytes } from 'node:crypto';
import { KeywardError } from '../../lib/errors.js';
import { fromBase64, toBase64 as b64 } from '../../lib/bytes.js';
import { parseWrappingKey, wrappingKeyFingerprint } from '../../engine/crypto/index.js';
import { KeyService } from '../../engine/keys/service.js';
import { assertKeyName } from '../../engine/keys/service.js';
import type { CommitScope, KeyRow } from '../../engine/store/index.js';
import type { AppDeps } from '../deps.js';
import { caller } from '../auth.js';
import { describeIssues, parseBody, parseQuery } from '../body.js';
import { statusFor } from '../errors.js';
import {
  DatakeyBody,
  DecapsulateBody,
  DecryptItem,
  EmptyBody,
  EncryptItem,
  HmacItem,
  KeyConfigBody,
  KeyCreateBody,
  KeyExportBody,
  KeyImportBody,
  KeyListQuery,
  PublicKeyQuery,
  RandomBody,
  RewrapBody,
  SignItem,
  VerifyItem,
  WrappingKeyQuery,
  batchBody,
} from '../schemas.js';

const OP_BODY_LIMIT = 8 * 1024 * 1024;
const bytes = (text: string, field: string) => fromBase64(text, field, undefined, 'VALIDATION_FAILED');
const optBytes = (text: string | undefined, field: string) => (text === undefined ? undefined : bytes(text, field));

/**
 * One item or `{batch: [...]}` (server/schemas.ts batchOf), told apart by the `batch` field before
 * validating, so a wrong field is reported against the form the caller meant rather than as zod's
 * "invalid input" for the union.
 */
async function parseOneOrBatch<S extends z.ZodType>(ctx: Context, item: S): Promise<{ items: z.output<S>[]; batch: boolean }> {
  const raw = await parseBody(ctx, z.unknown(), OP_BODY_LIMIT);
  const isBatch = typeof raw === 'object' && raw !== null && !Array.isArray(raw) && Object.hasOwn(raw, 'batch');
  const schema = isBatch ? batchBody(item) : item;
  const r = schema.safeParse(raw);
  if (!r.success) throw new KeywardError('VALIDATION_FAILED', describeIssues(r.error.issues, schema));
  return { items: isBatch ? (r.data as { batch: z.output<S>[] }).batch : [r.data as z.output<S>], batch: isBatch };
}

/** A batch item's error, shaped like the top-level one; unexpected errors stay generic. */
function itemError(err: unknown): { error: { code: string; message: string } } {
  if (err instanceof KeywardError && statusFor(err.code) !== undefined) return { error: { code: err.code, message: err.message } };
  return { error: { code: 'INTERNAL', message: 'internal error' } };
}

export function keyRoutes(deps: AppDeps): Router {
  const { hsm } = deps;
  const svc = hsm.keys;
  const r = new Router();

  /**
   * Runs a keyed request: authenticate, then load the key (so strangers can't probe names), decide
   * with the key in the policy input, then `fn`.
   */
  async function keyed<T>(
    ctx: Context,
    operation: string,
    opts: {
      usable?: boolean;
      payloadBytes?: number;
      attributes?: Record<string, string>;
      version?: (row: KeyRow) => number | undefined;
      /** Refuses what could not run, before the request is parked (RequestContext.precheck). */
      precheck?: (row: KeyRow) => void;
      auditDetails?: Record<string, string | number | boolean>;
    },
    fn: (row: KeyRow, commit: CommitScope | undefined) => Promise<T>,
  ): Promise<T> {
    const name = ctx.params.name as string;
    let row: KeyRow | undefined;
    return hsm.request(
      {
        ...caller(ctx),
        operation,
        ...(opts.payloadBytes !== undefined ? { payloadBytes: opts.payloadBytes } : {}),
        ...(opts.attributes ? { attributes: opts.attributes } : {}),
        ...(opts.precheck ? { precheck: () => opts.precheck!(row!) } : {}),
        ...(opts.auditDetails ? { auditDetails: opts.auditDetails } : {}),
        key: async () => {
          row = opts.usable === false ? await svc.row(name) : await svc.usable(name);
          // A version read from attacker input only counts if the key has it; else policies see the latest.
          const v = opts.version?.(row);
          return { name: row.name, type: row.type, version: v !== undefined && v >= 1 && v <= row.latestVersion ? v : row.latestVersion, labels: row.labels };
        },
      },
      (_p, a) => fn(row!, a.commit),
    );
  }

  /** A one-or-batch data operation: one policy decision for the request, per-item results. */
  function operation<S extends z.ZodType>(op: string, item: S, payload: (i: z.output<S>) => number, run: (row: KeyRow, i: z.output<S>) => Promise<unknown>, version?: (i: z.output<S>) => number | undefined) {
    return async (ctx: Context) => {
      const { items, batch } = await parseOneOrBatch(ctx, item);
      const total = items.reduce((n: number, i) => n + payload(i), 0);
      ctx.body = await keyed(
        ctx,
        op,
        { payloadBytes: total, attributes: batch ? { batch: String(items.length) } : {}, version: () => (batch ? undefined : version?.(items[0]!)) },
        async (row) => {
          if (!batch) return run(row, items[0]!);
          const out: unknown[] = [];
          for (const i of items) {
            // try/await, not .catch(): `run` may throw before returning a promise (a bad base64 field).
            try {
              out.push(await run(row, i));
            } catch (err) {
              out.push(itemError(err));
            }
          }
          return { batch: out };
        },
      );
    };
  }

  r.post('/v1/keys', async (ctx: Context) => {
    const body = await parseBody(ctx, KeyCreateBody, deps.bodyLimit);
    ctx.body = await hsm.request(
      { ...caller(ctx), operation: 'key.create', key: { name: body.name, type: body.type, version: 1, labels: body.labels ?? {} }, attributes: { verifyOnly: String(body.publicKey !== undefined) } },
      (p, a) => svc.create({ ...body, by: p.principal, commit: a.commit }),
    );
    ctx.status = 201;
  });

  r.get('/v1/keys', async (ctx: Context) => {
    const { limit, after } = parseQuery(ctx, KeyListQuery);
    ctx.body = await hsm.request({ ...caller(ctx), operation: 'key.list' }, () => svc.list({ limit, after }));
  });

  r.get('/v1/keys/:name', async (ctx: Context) => {
    ctx.body = await keyed(ctx, 'key.read', { usable: false }, (row) => svc.info(row.name));
  });

  r.post('/v1/keys/:name/rotate', async (ctx: Context) => {
    await parseBody(ctx, EmptyBody, deps.bodyLimit);
    ctx.body = await keyed(ctx, 'key.rotate', {}, (row, commit) => svc.rotate(row.name, commit));
  });

  r.post('/v1/keys/:name/config', async (ctx: Context) => {
    const body = await parseBody(ctx, KeyConfigBody, deps.bodyLimit);
    ctx.body = await keyed(ctx, 'key.config', { usable: false, attributes: Object.fromEntries(Object.entries(body).map(([k, v]) => [k, String(v)])) }, (row, commit) => svc.configure(row.name, body, commit));
  });

  r.delete('/v1/keys/:name', async (ctx: Context) => {
    // A key that doesn't allow deletion is refused at once, not parked for approvers.
    const precheck = (row: KeyRow) => KeyService.assertDeletionAllowed(row);
    ctx.body = await keyed(ctx, 'key.delete', { usable: false, precheck }, (row, commit) => svc.scheduleDeletion(row.name, commit));
  });

  r.post(
    '/v1/keys/:name/encrypt',
    operation('encrypt', EncryptItem, (i) => Math.floor((i.plaintext.length * 3) / 4), async (row, i) => svc.encrypt(row, bytes(i.plaintext, 'plaintext'), optBytes(i.aad, 'aad'))),
  );
  r.post(
    '/v1/keys/:name/decrypt',
    operation(
      'decrypt',
      DecryptItem,
      (i) => i.ciphertext.length,
      async (row, i) => ({ plaintext: b64(await svc.decrypt(row, i.ciphertext, optBytes(i.aad, 'aad'), i.keyVersion)) }),
      (i) => i.keyVersion ?? KeyService.versionOf(i.ciphertext),
    ),
  );
  r.post('/v1/keys/:name/rewrap', async (ctx: Context) => {
    const body = await parseBody(ctx, RewrapBody, OP_BODY_LIMIT);
    ctx.body = await keyed(ctx, 'rewrap', { payloadBytes: body.ciphertext.length, version: () => body.keyVersion ?? KeyService.versionOf(body.ciphertext) }, (row) =>
      svc.rewrap(row, body.ciphertext, optBytes(body.aad, 'aad'), body.keyVersion),
    );
  });
  r.post('/v1/keys/:name/datakey', async (ctx: Context) => {
    const body = await parseBody(ctx, DatakeyBody, deps.bodyLimit);
    ctx.body = await keyed(ctx, 'datakey', { payloadBytes: body.bytes ?? 32 }, async (row) => {
      const d = await svc.datakey(row, body.bytes, optBytes(body.aad, 'aad'));
      const out = { plaintext: b64(d.plaintext), ciphertext: d.ciphertext, keyVersion: d.keyVersion };
      d.plaintext.fill(0);
      return out;
    });
  });
  r.post(
    '/v1/keys/:name/sign',
    operation('sign', SignItem, (i) => Math.floor((i.message.length * 3) / 4), (row, i) => svc.sign(row, bytes(i.message, 'message'), { encoding: i.encoding, prehashed: i.prehashed, context: optBytes(i.context, 'context') })),
  );
  r.post(
    '/v1/keys/:name/verify',
    operation(
      'verify',
      VerifyItem,
      (i) => Math.floor((i.message.length * 3) / 4),
      async (row, i) => ({ valid: await svc.verify(row, bytes(i.message, 'message'), i.signature, { encoding: i.encoding, prehashed: i.prehashed, context: optBytes(i.context, 'context'), keyVersion: i.keyVersion }) }),
      (i) => i.keyVersion ?? KeyService.versionOf(i.signature),
    ),
  );
  r.post('/v1/keys/:name/hmac', operation('hmac', HmacItem, (i) => Math.floor((i.message.length * 3) / 4), (row, i) => svc.hmac(row, bytes(i.message, 'message'))));
  r.post('/v1/keys/:name/encapsulate', async (ctx: Context) => {
    await parseBody(ctx, EmptyBody, deps.bodyLimit);
    ctx.body = await keyed(ctx, 'encapsulate', {}, async (row) => {
      const e = await svc.encapsulate(row);
      return { ciphertext: b64(e.ciphertext), sharedSecret: b64(e.sharedSecret), keyVersion: e.keyVersion };
    });
  });
  r.post('/v1/keys/:name/decapsulate', async (ctx: Context) => {
    const body = await parseBody(ctx, DecapsulateBody, deps.bodyLimit);
    ctx.body = await keyed(ctx, 'decapsulate', { version: (row) => body.keyVersion ?? row.latestVersion }, async (row) => ({
      sharedSecret: b64(await svc.decapsulate(row, bytes(body.ciphertext, 'ciphertext'), body.keyVersion ?? row.latestVersion)),
    }));
  });
  r.get('/v1/keys/:name/public', async (ctx: Context) => {
    // `?format=a&format=b` arrives as an array: refused, not silently read as the default.
    const { format } = parseQuery(ctx, PublicKeyQuery);
    ctx.body = await keyed(ctx, 'key.public', {}, (row) => svc.publicKey(row, format));
  });

  // BYOK. The wrapping key is server-wide, like Vault transit's `wrapping_key` (not per key as in AWS
  // KMS GetParametersForImport): import creates the key, so there is no key yet to hang one on.
  r.get('/v1/sys/wrapping-key', async (ctx: Context) => {
    const { algorithm } = parseQuery(ctx, WrappingKeyQuery);
    ctx.body = await hsm.request({ ...caller(ctx), operation: 'key.wrapping-key', attributes: { algorithm } }, () => svc.wrappingKey(algorithm));
  });

  r.post('/v1/keys/:name/import', async (ctx: Context) => {
    const body = await parseBody(ctx, KeyImportBody, deps.bodyLimit);
    const name = ctx.params.name as string;
    assertKeyName(name);
    // The wrapped blob is attacker input and secret-bearing: only its decoded size reaches policies and logs.
    const wrappedKey = bytes(body.wrappedKey, 'wrappedKey');
    ctx.body = await hsm.request(
      { ...caller(ctx), operation: 'key.import', key: { name, type: body.type, version: body.keyVersion ?? 1, labels: body.labels ?? {} }, attributes: { algorithm: body.algorithm, ...(body.keyId ? { keyId: body.keyId } : {}) }, payloadBytes: wrappedKey.length },
      async (p, a) => {
        try {
          const source = body.keyId !== undefined && body.keyVersion !== undefined ? { keyId: body.keyId, version: body.keyVersion } : undefined;
          return await svc.import({ name, type: body.type, algorithm: body.algorithm, wrappedKey, exportable: body.exportable, labels: body.labels, requireLowS: body.requireLowS, by: p.principal, commit: a.commit, source });
        } finally {
          wrappedKey.fill(0);
        }
      },
    );
    ctx.status = 201;
  });

  // Key export under dual control (the default policy asks two operators for `key.export`). One
  // version per request, as import takes one: the wrapping key is parsed before anything else, and
  // what no approval could fix (not exportable, verify-only, no such version) is refused before the
  // request is parked. Only the algorithm and the wrapping key's fingerprint reach the audit record.
  r.post('/v1/keys/:name/export', async (ctx: Context) => {
    const body = await parseBody(ctx, KeyExportBody, deps.bodyLimit);
    const wrappingPublicKey = parseWrappingKey(body.algorithm, body.wrappingKey);
    const fingerprint = wrappingKeyFingerprint(wrappingPublicKey);
    ctx.body = await keyed(
      ctx,
      'key.export',
      {
        attributes: { algorithm: body.algorithm, wrappingKey: fingerprint },
        auditDetails: { algorithm: body.algorithm, wrappingKeyFingerprint: fingerprint },
        version: () => body.keyVersion,
        precheck: (row) => void svc.assertExportable(row, body.keyVersion),
      },
      async (row) => {
        const e = await svc.export(row, { algorithm: body.algorithm, wrappingPublicKey, version: body.keyVersion });
        return {
          name: row.name,
          type: e.type,
          keyVersion: e.keyVersion,
          keyId: e.keyId,
          algorithm: body.algorithm,
          wrappedKey: b64(e.wrappedKey),
          wrappingKeyFingerprint: e.wrappingKeyFingerprint,
          publicKey: e.publicKey ? b64(e.publicKey) : null,
        };
      },
    );
  });

  r.post('/v1/random', async (ctx: Context) => {
    const body = await parseBody(ctx, RandomBody, deps.bodyLimit);
    ctx.body = await hsm.request({ ...caller(ctx), operation: 'random', payloadBytes: body.bytes }, async () => ({ bytes: b64(randomBytes(body.bytes)) }));
  });

  return r;
}
